"""Beacon draws with a recorded drand quicknet round (these machines are offline).

The service runs on a clock set in September 2023, so that a draw committed then waits
for round 657,413, whose signature is recorded in the spec (§7). The whole path is real:
commit with R = round_at(t_commit) + 100, nonce before time(R) - 30 s, AWAITING_BEACON,
the BLS check in-process, and a bundle that the offline verifier accepts.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from audit_log.entry import Entry
from audit_log.note import Verifier
from expert_draw.api.v1 import audit_service_pb2 as audit_pb
from expert_draw.api.v1 import audit_service_pb2_grpc as audit_grpc
from expert_draw.api.v1 import draw_service_pb2 as pb
from expert_draw.api.v1 import draw_service_pb2_grpc as pb_grpc
from expert_draw.api.v1 import expert_service_pb2 as expert_pb
from expert_draw.api.v1 import expert_service_pb2_grpc as expert_grpc
from expert_draw.core import eds1
from expert_draw.core.verify_draw import DrawTrust, verify_bundle
from tests.integration.grpc.helpers import error_info
from tests.support import experts as sample
from tests.support.databases import new_sqlite_url
from tests.support.service import ORIGIN, client_channel, start

if TYPE_CHECKING:
    from collections.abc import Iterator

    from cli.server import RunningService
    from tests.support.pki import Pki

ROUND = 657_413
SIGNATURE = bytes.fromhex(
    "b713718a38ae728dfd477991af2822e08d2f305e47718cef9f7848ce4050e7be"
    "41076862b98fad56e91a6b85b89cd97b"
)
BASE = 1000 * eds1.round_time(ROUND - 100)  # a commit in the next 3 s waits for ROUND
DAY_MS = 86_400_000


class Clock:
    """The service's clock, set by the test."""

    def __init__(self, now_ms: int) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms


@pytest.fixture(scope="module")
def clock() -> Clock:
    return Clock(BASE - 600_000)


@pytest.fixture(scope="module")
def service(
    pki: Pki, tmp_path_factory: pytest.TempPathFactory, clock: Clock
) -> Iterator[RunningService]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("cli.server._now_ms", clock)
        running = start(pki, new_sqlite_url(tmp_path_factory.mktemp("beacon")))
        with client_channel(pki, running.port, "admin") as channel:
            admin = expert_grpc.ExpertServiceStub(channel)
            for n in range(300, 318):
                expert = sample.expert(n, declaration_date=sample.day(2020),
                                       training_date=sample.day(2020))  # fmt: skip
                admin.CreateExpert(expert_pb.CreateExpertRequest(
                    expert=expert, request_id=f"b-{n}"), timeout=10)  # fmt: skip
        yield running
        running.stop(grace=0)


@pytest.fixture
def stubs(service: RunningService, pki: Pki) -> Iterator[dict[str, Any]]:
    channels = {role: client_channel(pki, service.port, role)
                for role in ("trading_system", "supervisor")}  # fmt: skip
    yield {
        "requester": pb_grpc.DrawServiceStub(channels["trading_system"]),
        "supervisor": pb_grpc.DrawServiceStub(channels["supervisor"]),
        "audit": audit_grpc.AuditServiceStub(channels["supervisor"]),
    }
    for channel in channels.values():
        channel.close()


def stamp(ms: int) -> Timestamp:
    value = Timestamp()
    value.FromMilliseconds(ms)
    return value


def create(requester: pb_grpc.DrawServiceStub, tender: str, day: int) -> pb.CreateDrawResponse:
    start_ms = BASE + day * DAY_MS
    return requester.CreateDraw(pb.CreateDrawRequest(
        tender_id=tender, lot_id="1", project_code=tender,
        disciplines=[pb.DisciplineQuota(discipline="editions/2018/disciplines/A0101",
                                        seats=5, reserves=1)],
        conflicts=pb.ConflictInputs(tenderer=sample.uscc(8000)),
        evaluation_start_time=stamp(start_ms), evaluation_end_time=stamp(start_ms + DAY_MS),
        venue_region="120101", use_beacon=True, request_id=f"create-{tender}",
    ), timeout=30)  # fmt: skip


def test_a_beacon_draw_waits_for_its_round_and_verifies(
    clock: Clock, stubs: dict[str, Any]
) -> None:
    requester, supervisor = stubs["requester"], stubs["supervisor"]
    clock.now_ms = BASE + 500
    first = create(requester, "BEACON-1", 5)
    clock.now_ms = BASE + 1500
    second = create(requester, "BEACON-2", 7)
    for created in (first, second):
        assert created.draw.round == ROUND
        assert created.draw.beacon
        commit = Entry.decode(created.commit_entry).data
        params = eds1.Params.decode(bytes.fromhex(commit["params"]))
        assert (params.delta, params.margin_s) == (100, 30)
        assert created.draw.nonce_deadline.ToMilliseconds() == 1000 * (eds1.round_time(ROUND) - 30)
    clock.now_ms = BASE + 60_000
    for created in (first, second):
        waiting = requester.ExecuteDraw(pb.ExecuteDrawRequest(
            name=created.draw.name, nonce=os.urandom(32), request_id=f"x-{created.draw.name[6:]}"),
            timeout=30)  # fmt: skip
        assert waiting.draw.state == pb.Draw.STATE_AWAITING_BEACON
        assert list(waiting.panel) == []
    name = first.draw.name
    with pytest.raises(grpc.RpcError) as caught:  # the nonce is logged: no abort now
        requester.CancelDraw(
            pb.CancelDrawRequest(name=name, reason="TENDER_CANCELLED", request_id="cancel-early"),
            timeout=30,
        )
    assert error_info(caught.value).reason == "NONCE_GIVEN"
    bad = bytearray(SIGNATURE)
    bad[-1] ^= 1
    for round_, signature in ((ROUND - 1, SIGNATURE), (ROUND, bytes(bad))):
        with pytest.raises(grpc.RpcError) as caught:
            requester.SubmitBeacon(pb.SubmitBeaconRequest(
                name=name, round=round_, signature=signature, request_id=os.urandom(4).hex()),
                timeout=30)  # fmt: skip
        assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert error_info(caught.value).reason == "BAD_BEACON"
    with pytest.raises(grpc.RpcError) as caught:
        requester.SubmitBeacon(
            pb.SubmitBeaconRequest(name=name, round=ROUND, signature=SIGNATURE, request_id="early"),
            timeout=30,
        )
    assert error_info(caught.value).reason == "ROUND_NOT_DUE"
    clock.now_ms = 1000 * eds1.round_time(ROUND) + 1000
    done = requester.SubmitBeacon(
        pb.SubmitBeaconRequest(name=name, round=ROUND, signature=SIGNATURE, request_id="on-time"),
        timeout=30,
    )
    assert done.draw.state == pb.Draw.STATE_EXECUTED
    assert len(done.panel) == 5
    # A supervisor may bring the round too; the requester's identities are not shown.
    by_supervisor = supervisor.SubmitBeacon(
        pb.SubmitBeaconRequest(
            name=second.draw.name, round=ROUND, signature=SIGNATURE, request_id="sup"
        ),
        timeout=30,
    )
    assert by_supervisor.draw.state == pb.Draw.STATE_EXECUTED
    assert list(by_supervisor.panel) == []
    info = stubs["audit"].GetServiceInfo(audit_pb.GetServiceInfoRequest(), timeout=5)
    trust = DrawTrust(ORIGIN, (Verifier.parse(info.log_vkey),))
    for created in (first, second):
        body = b"".join(c.chunk for c in supervisor.GetProofBundle(
            pb.GetProofBundleRequest(name=created.draw.name), timeout=30))  # fmt: skip
        report = verify_bundle(body, trust)
        assert report.state == "EXECUTED"
    kinds = [Entry.decode(e.body).kind for e in stubs["audit"].ListEntries(
        audit_pb.ListEntriesRequest(subject=second.draw.name), timeout=10).entries]  # fmt: skip
    assert kinds[-2:] == ["confidential.grant", "draw.publish"]  # no access: not the requester
    late_nonce_expires_the_draw(clock, requester)


def late_nonce_expires_the_draw(clock: Clock, requester: pb_grpc.DrawServiceStub) -> None:
    """A nonce at time(R) - margin is too late: logged, and the draw expires.

    Part of the test above: the log's times only move forward, so it runs last.
    """
    clock.now_ms += 5_000
    created = create(requester, "BEACON-LATE", 9)
    r = created.draw.round
    clock.now_ms = 1000 * (eds1.round_time(r) - 30)  # exactly at the margin: too late
    with pytest.raises(grpc.RpcError) as caught:
        requester.ExecuteDraw(
            pb.ExecuteDrawRequest(name=created.draw.name, nonce=os.urandom(32), request_id="late"),
            timeout=30,
        )
    assert error_info(caught.value).reason == "LATE_NONCE"
    got = requester.GetDraw(pb.GetDrawRequest(name=created.draw.name), timeout=10).draw
    assert (got.state, got.end_reason) == (pb.Draw.STATE_EXPIRED, "LATE_NONCE")
