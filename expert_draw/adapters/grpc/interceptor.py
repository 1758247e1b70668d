"""The call interceptor: identity, authorization, error translation, one log line.

For every RPC it (1) takes the caller's identity from the client certificate (or the
fixed identity of the development-only plaintext port), (2) checks the method's allowed
roles, (3) runs the handler, translating service errors once into rich statuses and
unknown exceptions into INTERNAL with an incident id, and (4) logs one line with the
request id, role, principal, method, status and duration. Request ids come from the
``x-request-id`` metadata when well formed, else the service makes one; the response
carries it back in its initial metadata.
"""

from __future__ import annotations

import re
import time
import traceback
import uuid
from typing import TYPE_CHECKING, Any, cast

import grpc
import structlog

from expert_draw.adapters.db.engine import retryable_error
from expert_draw.adapters.grpc.access import authorize
from expert_draw.adapters.grpc.context import set_caller
from expert_draw.adapters.grpc.handlers import Continuation, rewrap
from expert_draw.adapters.grpc.status import internal_status, to_status
from expert_draw.adapters.grpc.wire import bad_utf8_field
from expert_draw.errors import Error, InvalidRequestError, UnimplementedError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from google.protobuf.descriptor import Descriptor

    from expert_draw.adapters.grpc.auth import Authenticator, Identity

_log = structlog.get_logger("expert_draw.rpc")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
REQUEST_ID_KEY = "x-request-id"


def _release_frames(exc: BaseException) -> None:
    """Clear the variables of the finished frames ``exc`` and its causes went through.

    A handler's exception is often in a reference cycle: a frame of its traceback holds
    it in a variable (SQLAlchemy's error handling does). A frame keeps its callers, so
    the cycle kept the handler's frames, the call's context and the call's HTTP/2 stream
    until Python's cyclic collector ran: ended calls counted against the connection's
    `max_streams_per_connection`, and a client within it was refused (REFUSED_STREAM)
    after a database outage. Cleared, each is freed as soon as it is dropped.
    """
    pending: list[BaseException | None] = [exc]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        traceback.clear_frames(current.__traceback__)  # frames still running are skipped
        pending += (current.__cause__, current.__context__)


class _Call:
    """State of one RPC for the log line."""

    def __init__(self, method: str, context: grpc.ServicerContext) -> None:
        self.method = method
        self.context = context
        self.started = time.perf_counter()
        self.metadata = {
            key: value
            for key, value in context.invocation_metadata() or ()
            if isinstance(value, str)
        }
        supplied = self.metadata.get(REQUEST_ID_KEY, "")
        self.request_id = supplied if _REQUEST_ID.fullmatch(supplied) else uuid.uuid4().hex
        self.identity: Identity | None = None
        self.code = grpc.StatusCode.OK

    def fail(self, exc: BaseException) -> grpc.Status | None:
        """Return the status for ``exc`` and remember its code.

        Returns None when the client already went away (cancelled, or past its
        deadline): reading its request stream then raises, and that is no incident.
        """
        if not self.context.is_active():
            return None
        if isinstance(exc, NotImplementedError):
            exc = UnimplementedError(f"{self.method} is not implemented by this server")
        exc = retryable_error(exc) or exc
        if isinstance(exc, Error):
            status = to_status(exc)
            self.code = status.code
            return status
        incident = uuid.uuid4().hex[:16]
        _log.error(
            "rpc.internal_error",
            incident_id=incident,
            request_id=self.request_id,
            method=self.method,
            error_type=type(exc).__name__,
            exc_info=exc,
        )
        self.code = grpc.StatusCode.INTERNAL
        return internal_status(incident)

    def finish(self) -> None:
        """Emit the RPC's log line."""
        code = self.code
        if code is grpc.StatusCode.OK and not self.context.is_active():
            remaining = cast("float | None", self.context.time_remaining())
            expired = remaining is not None and remaining <= 0
            code = grpc.StatusCode.DEADLINE_EXCEEDED if expired else grpc.StatusCode.CANCELLED
        identity = self.identity
        _log.info(
            "rpc",
            request_id=self.request_id,
            method=self.method,
            role=str(identity.role) if identity else None,
            principal=identity.principal if identity else None,
            via=identity.via if identity else None,
            status=code.name,
            duration_ms=round((time.perf_counter() - self.started) * 1000, 3),
        )
        set_caller(None)


class _Unparseable:
    """Stands for a request message that did not parse (a string that is not UTF-8...).

    gRPC answers INTERNAL ("Exception deserializing request!") when a deserializer
    fails; the interceptor's deserializers return this instead, and the wrapped
    handler turns it into INVALID_ARGUMENT. Deserializers run on the server's one
    polling thread, so nothing is worked out here: the bad field is named in
    :meth:`refuse`, on a worker thread, after authorization and inside the caller's
    call limit.
    """

    def __init__(self, descriptor: Descriptor | None, data: bytes, error: str) -> None:
        self.descriptor = descriptor
        self.data = data
        self.error = error

    def refuse(self) -> InvalidRequestError:
        field = None if self.descriptor is None else bad_utf8_field(self.descriptor, self.data)
        _log.info("rpc.unparseable", error_type=self.error, bytes=len(self.data), field=field)
        if field is not None:
            return InvalidRequestError.field(field, "must be UTF-8 text")
        return InvalidRequestError.field("", "the request message does not parse")


def _tolerant(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if deserializer is None:  # pragma: no cover - every service here has one
        return None
    descriptor = getattr(getattr(deserializer, "__self__", None), "DESCRIPTOR", None)

    def deserialize(data: bytes) -> Any:  # noqa: ANN401 - any request message
        try:
            return deserializer(data)
        except Exception as exc:  # noqa: BLE001 - DecodeError, or a parser's own error
            return _Unparseable(descriptor, data, type(exc).__name__)

    return deserialize


def _checked(request: Any, streaming: bool) -> Any:  # noqa: ANN401
    """The request, with unparseable messages raised as INVALID_ARGUMENT."""
    if streaming:
        return _checked_stream(request)
    if isinstance(request, _Unparseable):
        raise request.refuse()
    return request


def _checked_stream(requests: Iterator[Any]) -> Iterator[Any]:
    for request in requests:
        if isinstance(request, _Unparseable):
            raise request.refuse()
        yield request


class CallInterceptor(grpc.ServerInterceptor):
    """Wraps every handler of a server with identity, authorization and logging."""

    def __init__(
        self,
        identify: Callable[[grpc.ServicerContext, dict[str, str]], Identity],
    ) -> None:
        """Use ``identify(context, metadata)`` to authenticate each call."""
        self._identify = identify

    def intercept_service(
        self,
        continuation: Continuation,
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        """Return the handler wrapped for this method."""
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method, streaming = handler_call_details.method, handler.request_streaming
        return rewrap(
            handler,
            unary=lambda b: self._wrap_unary(method, b, streaming),
            streaming=lambda b: self._wrap_stream(method, b, streaming),
            request_deserializer=_tolerant(handler.request_deserializer),
        )

    def _begin(self, call: _Call) -> None:
        call.context.send_initial_metadata(((REQUEST_ID_KEY, call.request_id),))
        call.identity = self._identify(call.context, call.metadata)
        set_caller(call.identity)
        authorize(call.method, call.identity.role)

    def _wrap_unary(
        self,
        method: str,
        behavior: Callable[..., Any],
        streaming: bool,
    ) -> Callable[..., Any]:
        def wrapped(request: Any, context: grpc.ServicerContext) -> Any:  # noqa: ANN401, RET503
            call = _Call(method, context)
            try:
                self._begin(call)
                return behavior(_checked(request, streaming), context)
            except Exception as exc:  # noqa: BLE001 - translated, never leaked
                status = call.fail(exc)
                _release_frames(exc)
            finally:
                call.finish()
            if status is not None:
                context.abort_with_status(status)  # raises

        return wrapped

    def _wrap_stream(
        self,
        method: str,
        behavior: Callable[..., Any],
        streaming: bool,
    ) -> Callable[..., Any]:
        def wrapped(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:  # noqa: ANN401
            call = _Call(method, context)
            status: grpc.Status | None = None
            try:
                self._begin(call)
                yield from behavior(_checked(request, streaming), context)
            except Exception as exc:  # noqa: BLE001 - translated, never leaked
                status = call.fail(exc)
                _release_frames(exc)
            finally:
                call.finish()
            if status is not None:
                context.abort_with_status(status)

        return wrapped


def certificate_identifier(
    authenticator: Authenticator,
) -> Callable[[grpc.ServicerContext, dict[str, str]], Identity]:
    """Identify callers by their verified client certificate."""

    def identify(context: grpc.ServicerContext, metadata: dict[str, str]) -> Identity:
        certs = cast("list[bytes]", context.auth_context().get("x509_pem_cert") or [])
        return authenticator.identify(certs[0] if certs else None, metadata)

    return identify


def fixed_identifier(
    identity: Identity,
) -> Callable[[grpc.ServicerContext, dict[str, str]], Identity]:
    """Give every call the same identity (the development-only plaintext port)."""

    def identify(_context: grpc.ServicerContext, _metadata: dict[str, str]) -> Identity:
        return identity

    return identify
