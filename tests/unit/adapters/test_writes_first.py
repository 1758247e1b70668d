"""Writes first: while a write is in progress, reads run at most N at once; alone, freely."""

from __future__ import annotations

import threading
import time
from typing import Any
from unittest import mock

import grpc

from expert_draw.adapters.grpc.access import SERVICE_ROLES
from expert_draw.adapters.grpc.limits import NEITHER, READS, WritesFirst


def _entered(gate: WritesFirst) -> threading.Event:
    """Start a read in a thread; the event is set once it has its slot."""
    entered = threading.Event()

    def read() -> None:
        if gate.enter_read(lambda: True, poll=0.01):
            entered.set()

    threading.Thread(target=read, daemon=True).start()
    return entered


def test_reads_alone_never_wait() -> None:
    gate = WritesFirst(reads=1)
    assert all(gate.enter_read(lambda: True) for _ in range(5))
    assert gate.in_progress() == (0, 5)


def test_during_a_write_a_read_waits_for_the_slot_then_for_no_write() -> None:
    gate = WritesFirst(reads=1)
    gate._begin_write()
    assert gate.enter_read(lambda: True)  # the one slot
    second = _entered(gate)
    assert not second.wait(0.2)  # waits: the slot is taken and a write runs
    gate.leave_read()
    assert second.wait(2)  # the slot came back
    third = _entered(gate)
    assert not third.wait(0.2)
    gate._end_write()
    assert third.wait(2)  # no write left: reads run freely
    assert gate.in_progress() == (0, 2)


def test_a_read_whose_client_gave_up_leaves_without_a_slot() -> None:
    gate = WritesFirst(reads=1)
    gate._begin_write()
    assert gate.enter_read(lambda: True)
    gone = threading.Event()
    started = time.monotonic()
    gone.set()
    assert not gate.enter_read(lambda: not gone.is_set(), poll=0.01)
    assert time.monotonic() - started < 1
    assert gate.in_progress() == (1, 1)


def test_reads_are_methods_of_the_access_table() -> None:
    """Each listed read or neither is a real method (a typo would make it a write)."""
    methods = {f"/{service}/{name}" for service, names in SERVICE_ROLES.items() for name in names}
    assert methods >= READS | NEITHER
    assert not READS & NEITHER
    # Calls that append to the log (disclosures, proofs that log access) are not reads.
    assert not {m for m in READS if m.rsplit("/", 1)[1] in {"GetPanel", "RevealExpert"}}


def _handler(gate: WritesFirst, method: str, behavior: Any) -> Any:
    handler: grpc.RpcMethodHandler[Any, Any] = grpc.unary_unary_rpc_method_handler(behavior)
    details = mock.Mock(spec=grpc.HandlerCallDetails, method=method)
    wrapped = gate.intercept_service(lambda _details: handler, details)
    assert wrapped is not None
    return wrapped.unary_unary


def test_the_interceptor_counts_writes_and_holds_reads_back() -> None:
    """A draw in progress holds a second ListExperts back; the health check never waits."""
    gate = WritesFirst(reads=1)
    release, reading = threading.Event(), threading.Event()
    draw = _handler(
        gate, "/expert_draw.api.v1.DrawService/CreateDraw", lambda _r, _c: release.wait(5)
    )
    read = _handler(
        gate, "/expert_draw.api.v1.ExpertService/ListExperts", lambda _r, _c: reading.wait(5)
    )
    health = _handler(gate, "/grpc.health.v1.Health/Check", lambda _r, _c: "served")
    context = mock.Mock(is_active=lambda: True)
    threading.Thread(target=draw, args=(None, context), daemon=True).start()
    first = threading.Thread(target=read, args=(None, context), daemon=True)
    first.start()
    deadline = time.monotonic() + 2
    while gate.in_progress() != (1, 1) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert gate.in_progress() == (1, 1)
    second = threading.Thread(target=read, args=(None, context), daemon=True)
    second.start()
    second.join(0.2)
    assert second.is_alive()  # held back
    assert gate.in_progress() == (1, 1)
    assert health(None, context) == "served"
    release.set()  # the draw ends: nothing holds reads back
    deadline = time.monotonic() + 2
    while gate.in_progress() != (0, 2) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert gate.in_progress() == (0, 2)
    reading.set()
    first.join(2)
    second.join(2)
    assert gate.in_progress() == (0, 0)
