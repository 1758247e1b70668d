"""Two draws with overlapping evaluation windows, executed at the same moment, never
seat the same expert (the BUSY check and the seating are one transaction under the
head lock), on SQLite and on PostgreSQL.

Each round uses a pool of 8 experts of its own discipline and two draws of 5 seats
(1 reserve) for the same day: at least 2 of the second draw's seats are busy, and its
replacements come from the 3 experts left, or the draw is cancelled (REPL_EXHAUSTED).
"""

from __future__ import annotations

import os
import threading
import time
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import select

from audit_log.note import Verifier
from expert_draw.adapters.db.models import draw_member_table, draw_table
from expert_draw.api.v1 import audit_service_pb2 as audit_pb
from expert_draw.api.v1 import audit_service_pb2_grpc as audit_grpc
from expert_draw.api.v1 import draw_service_pb2 as pb
from expert_draw.api.v1 import draw_service_pb2_grpc as pb_grpc
from expert_draw.api.v1 import expert_service_pb2 as expert_pb
from expert_draw.api.v1 import expert_service_pb2_grpc as expert_grpc
from expert_draw.core.verify_draw import DrawTrust, verify_bundle
from tests.support import experts as sample
from tests.support.service import ORIGIN

if TYPE_CHECKING:
    from collections.abc import Callable

    from cli.server import RunningService

DAY_MS = 86_400_000
CODES = ["A010201", "A010202", "A010203"]


def stamp(ms: int) -> Timestamp:
    value = Timestamp()
    value.FromMilliseconds(ms)
    return value


def seated(service: RunningService, draw_name: str) -> set[int]:
    """Expert row ids holding a seat of the draw now."""
    m, t = draw_member_table, draw_table
    with service.engine.connect() as conn:
        return {int(r.expert_id) for r in conn.execute(
            select(m.c.expert_id).join(t, t.c.id == m.c.draw_id).where(
                t.c.draw_id == draw_name.removeprefix("draws/"), m.c.seat.is_not(None),
                m.c.left.is_(False)))}  # fmt: skip


@pytest.mark.parametrize("code", CODES)
def test_simultaneous_executions_never_seat_anyone_twice(
    service: RunningService,
    connect: Callable[[int, str | None], grpc.Channel],
    code: str,
) -> None:
    admin = expert_grpc.ExpertServiceStub(connect(service.port, "admin"))
    base = 700 + 10 * CODES.index(code)
    for n in range(base, base + 8):
        admin.CreateExpert(expert_pb.CreateExpertRequest(
            expert=sample.expert(n, disciplines=[f"editions/2018/disciplines/{code}"]),
            request_id=f"conc-{code}-{n}-{os.getpid()}"), timeout=10)  # fmt: skip
    supervisor = pb_grpc.DrawServiceStub(connect(service.port, "supervisor"))
    requester = pb_grpc.DrawServiceStub(connect(service.port, "trading_system"))
    start = int(time.time() * 1000) + (60 + CODES.index(code)) * DAY_MS
    names = []
    for lot in ("1", "2"):
        tender = f"CONC-{code}-{os.getpid()}"
        approval = supervisor.ApprovePoolOverride(pb.ApprovePoolOverrideRequest(
            tender_id=tender, lot_id=lot, codes=[code], reason="小库测试",
            request_id=f"ov-{code}-{lot}-{os.getpid()}"), timeout=10)  # fmt: skip
        created = requester.CreateDraw(pb.CreateDrawRequest(
            tender_id=tender, lot_id=lot, project_code=f"{tender}-{lot}",
            disciplines=[pb.DisciplineQuota(
                discipline=f"editions/2018/disciplines/{code}", seats=5, reserves=1)],
            conflicts=pb.ConflictInputs(tenderer=sample.uscc(9900)),
            evaluation_start_time=stamp(start), evaluation_end_time=stamp(start + DAY_MS),
            venue_region="120101", override_seq=approval.override_seq,
            request_id=f"c-{code}-{lot}-{os.getpid()}",
        ), timeout=30)  # fmt: skip
        names.append(created.draw.name)
    barrier = threading.Barrier(2)
    results: dict[str, Any] = {}

    def execute(name: str) -> None:
        barrier.wait()
        try:
            results[name] = requester.ExecuteDraw(
                pb.ExecuteDrawRequest(name=name, nonce=os.urandom(32), request_id=f"x-{name[6:]}"),
                timeout=30,
            )
        except grpc.RpcError as exc:  # pragma: no cover - reported by the assertion below
            results[name] = exc

    threads = [threading.Thread(target=execute, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    states = [results[n].draw.state for n in names]
    assert states.count(pb.Draw.STATE_EXECUTED) >= 1, results
    assert set(states) <= {pb.Draw.STATE_EXECUTED, pb.Draw.STATE_CANCELLED}
    first, second = (seated(service, n) for n in names)
    assert not first & second
    for name in names:
        if results[name].draw.state == pb.Draw.STATE_EXECUTED:
            assert len(seated(service, name)) == 5
    # Both bundles verify, BUSY strikes at execution included.
    info = audit_grpc.AuditServiceStub(connect(service.port, "supervisor")).GetServiceInfo(
        audit_pb.GetServiceInfoRequest(), timeout=5)  # fmt: skip
    trust = DrawTrust(ORIGIN, (Verifier.parse(info.log_vkey),))
    for name in names:
        body = b"".join(c.chunk for c in supervisor.GetProofBundle(
            pb.GetProofBundleRequest(name=name), timeout=30))  # fmt: skip
        assert verify_bundle(body, trust).exit_code in {0, 3}


def test_simultaneous_creates_for_one_tender_lot_leave_one_live_draw(
    service: RunningService, connect: Callable[[int, str | None], grpc.Channel]
) -> None:
    """Two CreateDraw calls at once for one tender-lot: one commits, the other is told
    the lot has a live draw (PostgreSQL: no two live draws from a race)."""
    admin = expert_grpc.ExpertServiceStub(connect(service.port, "admin"))
    for n in range(800, 816):
        admin.CreateExpert(expert_pb.CreateExpertRequest(
            expert=sample.expert(n, disciplines=["editions/2018/disciplines/A010204"]),
            request_id=f"race-{n}-{os.getpid()}"), timeout=10)  # fmt: skip
    requester = pb_grpc.DrawServiceStub(connect(service.port, "trading_system"))
    start = int(time.time() * 1000) + 90 * DAY_MS
    barrier = threading.Barrier(2)
    outcomes: list[Any] = []

    def create(number: int) -> None:
        barrier.wait()
        try:
            outcomes.append(requester.CreateDraw(pb.CreateDrawRequest(
                tender_id=f"RACE-{os.getpid()}", lot_id="1", project_code=f"RACE-P{number}",
                disciplines=[pb.DisciplineQuota(
                    discipline="editions/2018/disciplines/A010204", seats=5)],
                conflicts=pb.ConflictInputs(tenderer=sample.uscc(9901)),
                evaluation_start_time=stamp(start), evaluation_end_time=stamp(start + DAY_MS),
                venue_region="120101", request_id=f"race-{number}-{os.getpid()}",
            ), timeout=30))  # fmt: skip
        except grpc.RpcError as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=create, args=(n,)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    errors = [o for o in outcomes if isinstance(o, grpc.RpcError)]
    assert len(errors) == 1, outcomes
    assert errors[0].code() is grpc.StatusCode.FAILED_PRECONDITION
