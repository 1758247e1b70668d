"""Writes first: while a write is in progress, reads run at most N at once; alone, freely."""

from __future__ import annotations

import threading
import time
from typing import Any
from unittest import mock

import grpc
import pytest

from expert_draw.adapters.grpc.access import SERVICE_ROLES
from expert_draw.adapters.grpc.limits import NEITHER, READS, WritesFirst

CREATE_DRAW = "/expert_draw.api.v1.DrawService/CreateDraw"
LIST_EXPERTS = "/expert_draw.api.v1.ExpertService/ListExperts"
NEVER = 30.0  # a poll so long that only a wake-up lets a waiting read in


def _until(condition: Any, seconds: float = 2) -> bool:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.005)
    return bool(condition())


def _handler(gate: WritesFirst, method: str, behavior: Any, *, stream: bool = False) -> Any:
    factory = (
        grpc.unary_stream_rpc_method_handler if stream else grpc.unary_unary_rpc_method_handler
    )
    handler: grpc.RpcMethodHandler[Any, Any] = factory(behavior)
    details = mock.Mock(spec=grpc.HandlerCallDetails, method=method)
    wrapped = gate.intercept_service(lambda _details: handler, details)
    assert wrapped is not None
    return wrapped.unary_stream if stream else wrapped.unary_unary


def _background(call: Any, context: Any = None) -> threading.Thread:
    thread = threading.Thread(target=call, args=(None, context or _active()), daemon=True)
    thread.start()
    return thread


def _active() -> Any:
    return mock.Mock(is_active=lambda: True)


def _a_write(gate: WritesFirst) -> threading.Event:
    """Start a CreateDraw that runs until the event is set."""
    release = threading.Event()
    _background(_handler(gate, CREATE_DRAW, lambda _r, _c: release.wait(NEVER)))
    assert _until(lambda: gate.in_progress()[0] == 1)
    return release


def _a_read(gate: WritesFirst) -> threading.Event:
    """Start a read waiting for a slot (waking only when woken); set once it has one."""
    entered = threading.Event()

    def read() -> None:
        if gate.enter_read(lambda: True, poll=NEVER):
            entered.set()

    threading.Thread(target=read, daemon=True).start()
    return entered


def test_reads_alone_never_wait() -> None:
    gate = WritesFirst(reads=1)
    assert all(gate.enter_read(lambda: True) for _ in range(5))
    assert gate.in_progress() == (0, 5)


def _one_waiting() -> tuple[WritesFirst, threading.Event, threading.Event]:
    """A write runs, a read holds the one slot, another read waits for it."""
    gate = WritesFirst(reads=1)
    release = _a_write(gate)
    assert gate.enter_read(lambda: True)
    waiting = _a_read(gate)
    assert _until(lambda: len(gate._waiting) == 1)
    return gate, release, waiting


def test_during_a_write_reads_wait_for_a_slot_in_arrival_order_then_for_no_write() -> None:
    gate, release, first = _one_waiting()
    second = _a_read(gate)
    assert _until(lambda: len(gate._waiting) == 2)
    assert not first.wait(0.2)  # the slot is taken and a write runs
    gate.leave_read()
    assert first.wait(2)  # woken: the slot came back, to the first in line
    assert not second.wait(0.2)
    release.set()  # no write left: reads run freely
    assert second.wait(2)
    assert _until(lambda: gate.in_progress() == (0, 2))


def test_a_read_arriving_as_a_slot_frees_does_not_pass_one_waiting() -> None:
    gate, release, waiting = _one_waiting()
    with gate._changed:  # the slot frees and a read arrives before the waiting one wakes
        gate.leave_read()
        assert not gate.enter_read(lambda: False, poll=0.01)  # it queued behind, then left
    assert waiting.wait(2)  # the one that waited got the slot
    assert gate.in_progress() == (1, 1)
    release.set()


def test_a_read_whose_client_gave_up_leaves_its_place() -> None:
    gate = WritesFirst(reads=1)
    release = _a_write(gate)
    read = _handler(gate, LIST_EXPERTS, lambda _r, _c: "listed")
    holder = threading.Event()
    _background(_handler(gate, LIST_EXPERTS, lambda _r, _c: holder.wait(NEVER)))
    assert _until(lambda: gate.in_progress() == (1, 1))
    gone = mock.Mock(is_active=lambda: False, abort=mock.Mock(side_effect=RuntimeError("aborted")))
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="aborted"):
        read(None, gone)
    assert time.monotonic() - started < 1
    gone.abort.assert_called_once_with(grpc.StatusCode.CANCELLED, mock.ANY)
    assert gate.in_progress() == (1, 1)
    assert not gate._waiting
    holder.set()
    release.set()


def test_the_interceptor_counts_unary_writes_only() -> None:
    """A draw holds a second ListExperts back; the health check and streams (a proof
    bundle being downloaded, an import being uploaded) neither wait nor count."""
    gate = WritesFirst(reads=1)
    release = _a_write(gate)
    reading = threading.Event()
    read = _handler(gate, LIST_EXPERTS, lambda _r, _c: reading.wait(NEVER))
    first = _background(read)
    assert _until(lambda: gate.in_progress() == (1, 1))
    second = _background(read)
    second.join(0.2)
    assert second.is_alive()  # held back
    health = _handler(gate, "/grpc.health.v1.Health/Check", lambda _r, _c: "served")
    assert health(None, _active()) == "served"
    streamed = threading.Event()

    def bundle(_r: object, _c: object) -> Any:
        yield b"chunk"
        streamed.wait(NEVER)

    chunks = _handler(gate, "/expert_draw.api.v1.DrawService/GetProofBundle", bundle, stream=True)
    assert next(iter(chunks(None, _active()))) == b"chunk"
    assert gate.in_progress() == (1, 1)  # the open stream is no write
    uploaded = threading.Event()

    def upload(requests: Any, _c: object) -> str:
        uploaded.wait(NEVER)  # a client still sending its rows
        return "imported"

    handler: grpc.RpcMethodHandler[Any, Any] = grpc.stream_unary_rpc_method_handler(upload)
    details = mock.Mock(spec=grpc.HandlerCallDetails,
                        method="/expert_draw.api.v1.ExpertService/ImportExperts")  # fmt: skip
    importing = gate.intercept_service(lambda _details: handler, details)
    assert importing is not None
    importer = _background(importing.stream_unary)
    importer.join(0.1)
    assert importer.is_alive()
    assert gate.in_progress() == (1, 1)  # the open upload is no write either
    uploaded.set()
    importer.join(2)
    release.set()
    assert _until(lambda: gate.in_progress() == (0, 2))
    reading.set()
    streamed.set()
    first.join(2)
    second.join(2)
    assert gate.in_progress() == (0, 0)


def test_reads_are_methods_of_the_access_table_and_append_nothing() -> None:
    """Each listed read or neither is a real method (a typo would make it a write), and
    no call that appends to the log (a disclosure, a receipt, a published bundle, a
    request) is a read."""
    methods = {f"/{service}/{name}" for service, names in SERVICE_ROLES.items() for name in names}
    assert methods >= READS | NEITHER
    assert not READS & NEITHER
    appending = {"GetPanel", "RevealExpert", "GetProofBundle", "GetExpertReceipt", "RequestAccess"}
    assert not {m for m in READS if m.rsplit("/", 1)[1] in appending}
    assert all(m.rsplit("/", 1)[1].startswith(("Get", "List", "Search", "Suggest")) for m in READS)
