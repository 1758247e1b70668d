"""Decoding rich error details in tests; calls sent as concurrent twins."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

if TYPE_CHECKING:
    from collections.abc import Callable


def error_info(error: grpc.RpcError) -> error_details_pb2.ErrorInfo:
    status = rpc_status.from_call(error)
    assert status is not None, "the error carries no rich status"
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info
    raise AssertionError("no ErrorInfo in the status details")


def field_violations(error: grpc.RpcError) -> list[str]:
    status = rpc_status.from_call(error)
    assert status is not None
    for detail in status.details:
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(bad):
            return [v.field for v in bad.field_violations]
    return []


def twins(call: Callable[[], Any], copies: int = 4) -> list[Any]:
    """``call`` from ``copies`` threads released at once: each result or RpcError."""
    barrier = threading.Barrier(copies)
    results: list[Any] = [None] * copies

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = call()
        except grpc.RpcError as exc:
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(copies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results
