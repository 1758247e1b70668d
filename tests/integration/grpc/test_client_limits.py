"""One client cannot starve the others (issue 7): with `[grpc] max_calls_per_client`
calls in progress, its next call is refused at once with RESOURCE_EXHAUSTED, while
another client's calls are served; the slot comes back when a call ends."""

from __future__ import annotations

import concurrent.futures
import threading
import time
from typing import TYPE_CHECKING, Any

import grpc
import pytest

from expert_draw.api.v1 import expert_service_pb2 as pb
from expert_draw.api.v1 import expert_service_pb2_grpc as pb_grpc
from tests.integration.grpc.helpers import error_info
from tests.support.databases import new_sqlite_url
from tests.support.service import client_channel, start

if TYPE_CHECKING:
    from collections.abc import Iterator

    from cli.server import RunningService
    from tests.support.pki import Pki

WORKERS, PER_CLIENT = 4, 2


def _serving(pki: Pki, tmp: pytest.TempPathFactory, **limits: int) -> Iterator[RunningService]:
    running = start(pki, new_sqlite_url(tmp.mktemp("db")),
                    grpc={**limits, "grace_seconds": 1.0, "drain_seconds": 0.0})  # fmt: skip
    yield running
    running.stop(grace=0)


@pytest.fixture(scope="module")
def limited(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    yield from _serving(pki, tmp_path_factory, max_workers=WORKERS, max_calls_per_client=PER_CLIENT)


def test_a_client_holding_its_calls_gets_resource_exhausted_and_others_are_served(
    limited: RunningService, pki: Pki
) -> None:
    """The abusive client keeps PER_CLIENT import streams open (they wait for rows that
    never come); its next call is refused, another client is answered; once the streams
    end, the abusive client is served again."""
    release = threading.Event()

    def never_ending() -> Iterator[pb.ImportExpertsRequest]:
        release.wait(30)
        yield from ()  # sends nothing until released

    with client_channel(pki, limited.port, "admin") as abusive:
        stub = pb_grpc.ExpertServiceStub(abusive)
        held = [stub.ImportExperts.future(never_ending(), timeout=60) for _ in range(PER_CLIENT)]
        for future in held:  # the server sends initial metadata once a handler runs
            assert future.initial_metadata()
        with pytest.raises(grpc.RpcError) as caught:
            stub.ListExperts(pb.ListExpertsRequest(page_size=1), timeout=10)
        assert caught.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert error_info(caught.value).reason == "TOO_MANY_CALLS"
        with client_channel(pki, limited.port, "supervisor") as other:
            started = time.monotonic()
            listed = pb_grpc.ExpertServiceStub(other).ListExperts(
                pb.ListExpertsRequest(page_size=1), timeout=10)  # fmt: skip
            assert listed.total_size == 0
            assert time.monotonic() - started < 5  # served, not queued behind the streams
        release.set()
        for future in held:
            future.exception(timeout=30)  # ended (an import of no rows is refused)
        assert stub.ListExperts(pb.ListExpertsRequest(page_size=1), timeout=10).total_size == 0


def test_large_pages_weigh_more_and_run_alone(limited: RunningService, pki: Pki) -> None:
    """A list call weighs 1 more per 100 items asked for: while one open stream holds a
    slot, a page of 50 (weight 1) still fits the client's limit of 2, a page of 1,000
    (weight 11) does not; with nothing in progress, the large page runs alone."""
    from expert_draw.adapters.grpc.limits import weight

    assert [weight(pb.ListExpertsRequest(page_size=n)) for n in (0, 50, 100, 1000, 10**9)] == [
        1, 1, 2, 11, 11]  # fmt: skip
    release = threading.Event()

    def never_ending() -> Iterator[pb.ImportExpertsRequest]:
        release.wait(30)
        yield from ()

    with client_channel(pki, limited.port, "admin") as channel:
        stub = pb_grpc.ExpertServiceStub(channel)
        held = stub.ImportExperts.future(never_ending(), timeout=60)
        assert held.initial_metadata()  # the stream holds one slot
        stub.ListExperts(pb.ListExpertsRequest(page_size=50), timeout=10)  # 1 + 1 <= 2
        with pytest.raises(grpc.RpcError) as caught:
            stub.ListExperts(pb.ListExpertsRequest(page_size=1000), timeout=10)
        assert error_info(caught.value).reason == "TOO_MANY_CALLS"
        release.set()
        held.exception(timeout=30)
        assert stub.ListExperts(pb.ListExpertsRequest(page_size=1000), timeout=10) is not None


STREAMS = 3


@pytest.fixture(scope="module")
def few_streams(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    yield from _serving(pki, tmp_path_factory, max_workers=12, max_calls_per_client=8,
                        max_streams_per_connection=STREAMS)  # fmt: skip


def test_calls_beyond_the_streams_of_a_connection_wait_in_the_client(
    few_streams: RunningService, pki: Pki
) -> None:
    """A connection may have `max_streams_per_connection` calls open: the client holds
    the others back (they never reach the service, so they cannot queue there in front
    of other clients' calls), and sends each when one of its open calls ends. The
    per-client limit (8 here) is not what holds them back."""
    release = threading.Event()

    def never_ending() -> Iterator[pb.ImportExpertsRequest]:
        release.wait(30)
        yield from ()

    def begun(call: Any) -> bool:  # a grpc future, which is also a grpc.Call
        return bool(call.initial_metadata())  # sent once a handler runs

    with client_channel(pki, few_streams.port, "admin") as channel:
        stub = pb_grpc.ExpertServiceStub(channel)
        stub.ListExperts(pb.ListExpertsRequest(page_size=1), timeout=10)  # connected
        calls = [stub.ImportExperts.future(never_ending(), timeout=60) for _ in range(STREAMS + 2)]
        with concurrent.futures.ThreadPoolExecutor(len(calls)) as pool:
            started = [pool.submit(begun, call) for call in calls]
            done, _ = concurrent.futures.wait(started, timeout=3)
            assert len(done) == STREAMS  # the others were not sent
            assert not any(call.done() for call in calls)  # nor refused
            release.set()
            for call, ran in zip(calls, started, strict=True):
                ended = call.exception(timeout=30)  # an import of no rows is refused
                assert isinstance(ended, grpc.RpcError)
                # Sent once a call ended, and run; or sent in the moment before the
                # server released the ended call's stream, and refused unprocessed.
                assert ran.result(timeout=30) or (
                    ended.code() is grpc.StatusCode.UNAVAILABLE
                    and "error code 7" in (ended.details() or "")
                ), ended
