"""CreateDraw assesses and freezes before the audit head lock, then re-validates under it
(issue 7), on SQLite and on PostgreSQL.

A change that lands between the two (here, made by a hook right after the first
assessment) must reach the pool: a candidate suspended in between is frozen with E6.
A change that cannot touch the pool (an expert of another discipline, a seat among
other experts) must not cost a second assessment.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from google.protobuf.timestamp_pb2 import Timestamp

from expert_draw.api.v1 import draw_service_pb2 as pb
from expert_draw.api.v1 import draw_service_pb2_grpc as pb_grpc
from expert_draw.api.v1 import expert_service_pb2 as expert_pb
from expert_draw.api.v1 import expert_service_pb2_grpc as expert_grpc
from tests.support import experts as sample

if TYPE_CHECKING:
    from collections.abc import Callable

    import grpc
    import pytest

    from cli.server import RunningService

DAY_MS = 86_400_000
CODE, OTHER = "A010301", "A010302"


def stamp(ms: int) -> Timestamp:
    value = Timestamp()
    value.FromMilliseconds(ms)
    return value


def _create(requester: pb_grpc.DrawServiceStub, supervisor: pb_grpc.DrawServiceStub, tag: str,
            day: int) -> Any:  # fmt: skip
    tender = f"PREP-{tag}-{os.getpid()}"
    approval = supervisor.ApprovePoolOverride(pb.ApprovePoolOverrideRequest(
        tender_id=tender, lot_id="1", codes=[CODE], reason="小库测试",
        request_id=f"prep-ov-{tag}-{os.getpid()}"), timeout=10)  # fmt: skip
    start = int(time.time() * 1000) + day * DAY_MS
    return requester.CreateDraw(pb.CreateDrawRequest(
        tender_id=tender, lot_id="1", project_code=tender,
        disciplines=[pb.DisciplineQuota(discipline=f"editions/2018/disciplines/{CODE}", seats=5,
                                        reserves=1)],
        conflicts=pb.ConflictInputs(tenderer=sample.uscc(9800)),
        evaluation_start_time=stamp(start), evaluation_end_time=stamp(start + DAY_MS // 3),
        venue_region="120101", override_seq=approval.override_seq,
        request_id=f"prep-{tag}-{os.getpid()}",
    ), timeout=30).draw  # fmt: skip


def _excluded(draw: Any) -> dict[str, int]:
    return {c.reason: c.count for c in draw.excluded_counts}


def test_a_change_between_assessment_and_lock_reaches_the_pool(
    service: RunningService, connect: Callable[[int, str | None], grpc.Channel],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    admin = expert_grpc.ExpertServiceStub(connect(service.port, "admin"))
    names = [admin.CreateExpert(expert_pb.CreateExpertRequest(
        expert=sample.expert(n, disciplines=[f"editions/2018/disciplines/{CODE}"]),
        request_id=f"prep-e-{n}-{os.getpid()}"), timeout=10).expert.name for n in range(760, 768)]  # fmt: skip
    requester = pb_grpc.DrawServiceStub(connect(service.port, "trading_system"))
    supervisor = pb_grpc.DrawServiceStub(connect(service.port, "supervisor"))
    draws = service.draws
    assert draws is not None
    original = draws._prepare  # the hook under test
    hooks: list[Callable[[], object]] = []

    def prepare(*args: Any, **kwargs: Any) -> Any:
        found = original(*args, **kwargs)
        while hooks:
            hooks.pop()()
        return found

    monkeypatch.setattr(draws, "_prepare", prepare)

    # 1. A candidate suspended after the assessment: re-assessed under the lock.
    hooks.append(lambda: admin.SuspendExpert(expert_pb.SuspendExpertRequest(
        name=names[0], reason="被投诉", request_id=f"prep-sus-{os.getpid()}"), timeout=10))  # fmt: skip
    before = draws.refreezes
    first = _create(requester, supervisor, "a", 300)
    assert draws.refreezes == before + 1
    assert _excluded(first) == {"E6": 1}

    # 2. An expert created in between (of another discipline, but a new record's codes are
    # not looked at to decide): re-assessed, and the pool is the same.
    hooks.append(lambda: admin.CreateExpert(expert_pb.CreateExpertRequest(
        expert=sample.expert(768, disciplines=[f"editions/2018/disciplines/{OTHER}"]),
        request_id=f"prep-other-{os.getpid()}"), timeout=10))  # fmt: skip
    second = _create(requester, supervisor, "b", 310)
    assert draws.refreezes == before + 2
    assert _excluded(second) == {"E6": 1}

    # 3. A change to a non-candidate's record (not its codes): no second assessment.
    other = admin.ListExperts(expert_pb.ListExpertsRequest(
        discipline=f"editions/2018/disciplines/{OTHER}"), timeout=10).experts[0]  # fmt: skip
    hooks.append(lambda: admin.SuspendExpert(expert_pb.SuspendExpertRequest(
        name=other.name, reason="请假", request_id=f"prep-sus-other-{os.getpid()}"), timeout=10))  # fmt: skip
    third = _create(requester, supervisor, "c", 320)
    assert draws.refreezes == before + 2
    assert _excluded(third) == {"E6": 1}

    # 4. A non-candidate given the requested code in between (an expert.update of its
    # disciplines, whose body alone is read under the lock): re-assessed, and it joins.
    from google.protobuf.field_mask_pb2 import FieldMask

    gains = admin.CreateExpert(expert_pb.CreateExpertRequest(
        expert=sample.expert(769, disciplines=[f"editions/2018/disciplines/{OTHER}"]),
        request_id=f"prep-gains-{os.getpid()}"), timeout=10).expert  # fmt: skip
    hooks.append(lambda: admin.UpdateExpert(expert_pb.UpdateExpertRequest(
        expert=expert_pb.Expert(name=gains.name, etag=gains.etag,
                                disciplines=[f"editions/2018/disciplines/{CODE}"]),
        update_mask=FieldMask(paths=["disciplines"]),
        request_id=f"prep-codes-{os.getpid()}"), timeout=10))  # fmt: skip
    fourth = _create(requester, supervisor, "d", 330)
    assert draws.refreezes == before + 3
    assert sum(c.count for c in fourth.counts) == sum(c.count for c in third.counts) + 1
