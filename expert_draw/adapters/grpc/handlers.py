"""Rebuilding a gRPC method handler around a wrapped behaviour (for server interceptors).

A ``grpc.RpcMethodHandler`` holds exactly one of four behaviours. The interceptors of
this service (authentication and logging, the per-client limit, metrics) each wrap it:
:func:`rewrap` builds the handler of the same kind around ``unary(behaviour)`` (a
behaviour that returns one response) or ``streaming(behaviour)`` (one that yields them).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

Behaviour = Callable[..., Any]
# What a server interceptor's intercept_service is given to find the method's handler.
Continuation = Callable[[grpc.HandlerCallDetails], "grpc.RpcMethodHandler[Any, Any] | None"]


def rewrap(
    handler: grpc.RpcMethodHandler[Any, Any],
    *,
    unary: Callable[[Behaviour], Behaviour],
    streaming: Callable[[Behaviour], Behaviour],
    request_deserializer: Callable[[bytes], Any] | None = None,
) -> grpc.RpcMethodHandler[Any, Any]:
    """The handler of the same kind around the wrapped behaviour.

    ``request_deserializer`` replaces the handler's own when given.
    """
    kinds = (
        (handler.unary_unary, grpc.unary_unary_rpc_method_handler, unary),
        (handler.stream_unary, grpc.stream_unary_rpc_method_handler, unary),
        (handler.unary_stream, grpc.unary_stream_rpc_method_handler, streaming),
        (handler.stream_stream, grpc.stream_stream_rpc_method_handler, streaming),
    )
    for behaviour, factory, wrap in kinds:
        if behaviour is not None:
            return factory(
                wrap(behaviour),
                request_deserializer=request_deserializer or handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
    return handler  # pragma: no cover - a handler has one behaviour
