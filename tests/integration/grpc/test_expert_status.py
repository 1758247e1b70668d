"""Status periods, credit events and history over gRPC, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import time
from typing import TYPE_CHECKING

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from audit_log import canonical
from audit_log.entry import Entry
from expert_draw.api.v1 import audit_service_pb2 as audit_pb
from expert_draw.api.v1 import audit_service_pb2_grpc as audit_grpc
from expert_draw.api.v1 import expert_service_pb2 as pb
from expert_draw.api.v1 import expert_service_pb2_grpc as pb_grpc
from tests.integration.grpc.helpers import error_info, field_violations
from tests.support import experts as sample

if TYPE_CHECKING:
    from collections.abc import Callable

    from cli.server import RunningService

DAY_MS = 86_400_000
EVIDENCE = hashlib.sha256(b"decision 2026-17").hexdigest()
S = pb.StatusPeriod


@pytest.fixture
def admin(
    service: RunningService, connect: Callable[[int, str | None], grpc.Channel]
) -> pb_grpc.ExpertServiceStub:
    return pb_grpc.ExpertServiceStub(connect(service.port, "admin"))


def stamp(ms: int) -> Timestamp:
    value = Timestamp()
    value.FromMilliseconds(ms)
    return value


def now_ms() -> int:
    return int(time.time() * 1000)


def new(admin: pb_grpc.ExpertServiceStub, n: int) -> pb.Expert:
    request = pb.CreateExpertRequest(expert=sample.expert(n), request_id=f"status-{n}")
    return admin.CreateExpert(request, timeout=10).expert


def kinds(
    service: RunningService, connect: Callable[[int, str | None], grpc.Channel], name: str
) -> list[Entry]:
    audit = audit_grpc.AuditServiceStub(connect(service.port, "supervisor"))
    listed = audit.ListEntries(audit_pb.ListEntriesRequest(subject=name, page_size=100), timeout=5)
    return [Entry.decode(e.body) for e in listed.entries]


def test_suspend_and_reinstate(service: RunningService, connect: Callable[[int, str | None], grpc.Channel],
                               admin: pb_grpc.ExpertServiceStub) -> None:  # fmt: skip
    expert = new(admin, 500)
    assert expert.current_status == S.STATUS_ACTIVE
    suspended = admin.SuspendExpert(pb.SuspendExpertRequest(
        name=expert.name, etag=expert.etag, reason="被投诉，调查中", request_id="sus-500"), timeout=5).expert  # fmt: skip
    assert suspended.current_status == S.STATUS_SUSPENDED
    assert suspended.etag == 'W/"2"'
    [period] = suspended.status_periods
    assert period.status == S.STATUS_SUSPENDED
    assert not period.HasField("end_time")
    with pytest.raises(grpc.RpcError) as caught:  # a stale etag
        admin.SuspendExpert(pb.SuspendExpertRequest(name=expert.name, etag=expert.etag, reason="x",
                                                    request_id="sus-500b"), timeout=5)  # fmt: skip
    assert caught.value.code() is grpc.StatusCode.ABORTED
    back = admin.ReinstateExpert(pb.ReinstateExpertRequest(name=expert.name, reason="调查结束",
                                                           request_id="re-500"), timeout=5).expert  # fmt: skip
    assert back.current_status == S.STATUS_ACTIVE
    assert back.status_periods[0].HasField("end_time")  # ended, not removed
    with pytest.raises(grpc.RpcError) as caught:
        admin.ReinstateExpert(
            pb.ReinstateExpertRequest(name=expert.name, reason="again", request_id="re-500b"),
            timeout=5,
        )
    assert error_info(caught.value).reason == "NOTHING_TO_REINSTATE"
    logged = kinds(service, connect, expert.name)
    assert [e.kind for e in logged] == ["expert.create", "expert.status", "expert.status"]
    assert logged[1].data["status"] == "suspended"
    assert logged[1].data["valid_to"] is None
    # The reinstatement logs the period it ended, with its end.
    assert logged[2].data["status"] == "suspended"
    assert logged[2].data["valid_from"] == logged[1].data["valid_from"]
    assert logged[2].data["valid_to"] is not None


def test_leave_periods(admin: pb_grpc.ExpertServiceStub) -> None:
    expert = new(admin, 501)
    start = now_ms() + 2 * DAY_MS
    on_leave = admin.RecordLeave(pb.RecordLeaveRequest(
        name=expert.name, reason="出差", start_time=stamp(start), end_time=stamp(start + 5 * DAY_MS),
        request_id="leave-501"), timeout=5).expert  # fmt: skip
    assert on_leave.current_status == S.STATUS_ACTIVE  # the leave is in the future
    assert on_leave.status_periods[0].status == S.STATUS_ON_LEAVE
    for request, field in (
        (pb.RecordLeaveRequest(name=expert.name, reason="x", start_time=stamp(start), end_time=stamp(start - 1),
                               request_id="leave-501b"), "end_time"),
        (pb.RecordLeaveRequest(name=expert.name, reason="x", start_time=stamp(start),
                               end_time=stamp(start + 400 * DAY_MS), request_id="leave-501c"), "end_time"),
        (pb.RecordLeaveRequest(name=expert.name, reason="x", request_id="leave-501d"), "start_time"),
        (pb.RecordLeaveRequest(name=expert.name, reason="x", start_time=Timestamp(seconds=-5),
                               end_time=stamp(start), request_id="leave-501e"), "start_time"),
        (pb.RecordLeaveRequest(name=expert.name, reason="", start_time=stamp(start),
                               end_time=stamp(start + DAY_MS), request_id="leave-501f"), "reason"),
    ):  # fmt: skip
        with pytest.raises(grpc.RpcError) as caught:
            admin.RecordLeave(request, timeout=5)
        assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert field in field_violations(caught.value)
    # A second leave with the same start would make the log's reinstatements ambiguous
    # (a replay folds an expert.status with a held status and start as its end, §15).
    with pytest.raises(grpc.RpcError) as caught:
        admin.RecordLeave(pb.RecordLeaveRequest(
            name=expert.name, reason="又出差", start_time=stamp(start),
            end_time=stamp(start + DAY_MS), request_id="leave-501g"), timeout=5)  # fmt: skip
    assert error_info(caught.value).reason == "PERIOD_EXISTS"


def test_penalty_blacklists_and_reinstatement_ends_it(
    service: RunningService,
    connect: Callable[[int, str | None], grpc.Channel],
    admin: pb_grpc.ExpertServiceStub,
) -> None:
    expert = new(admin, 502)
    barred = admin.RecordPenalty(pb.RecordPenaltyRequest(
        name=expert.name, kind=pb.PENALTY_KIND_UNDECLARED_CONFLICT, reason="应回避未回避",
        evidence_sha256=EVIDENCE, blacklist=True, blacklist_end_time=stamp(now_ms() + 365 * DAY_MS),
        request_id="pen-502"), timeout=5).expert  # fmt: skip
    assert barred.current_status == S.STATUS_BLACKLISTED
    assert [(c.code, c.evidence_sha256) for c in barred.credit_events] == [
        ("undeclared_conflict", EVIDENCE)
    ]
    logged = kinds(service, connect, expert.name)
    assert [e.kind for e in logged][-2:] == ["credit.event", "expert.status"]
    at = barred.credit_events[0].event_time.ToMilliseconds()
    bound = canonical.dumps(
        {"code": "undeclared_conflict", "event_ms": at, "evidence_sha256": EVIDENCE}
    )
    assert logged[-2].data == {
        "code": "undeclared_conflict",
        "evidence_hash": hashlib.sha256(bound).hexdigest(),
        "due_ts": None,
    }
    assert logged[-1].data["reason"] == "penalty:undeclared_conflict"
    assert all("应回避" not in str(e.to_json()) for e in logged)  # the reason stays out
    back = admin.ReinstateExpert(pb.ReinstateExpertRequest(name=expert.name, reason="复议撤销",
                                                           request_id="re-502"), timeout=5).expert  # fmt: skip
    assert back.current_status == S.STATUS_ACTIVE
    for request, field in (
        (pb.RecordPenaltyRequest(name=expert.name, reason="x", evidence_sha256=EVIDENCE, request_id="pen-b"), "kind"),
        (pb.RecordPenaltyRequest(name=expert.name, kind=pb.PENALTY_KIND_NO_SHOW, reason="x",
                                 evidence_sha256="XYZ", request_id="pen-c"), "evidence_sha256"),
        (pb.RecordPenaltyRequest(name=expert.name, kind=pb.PENALTY_KIND_NO_SHOW, reason="x", evidence_sha256=EVIDENCE,
                                 blacklist=True, event_time=stamp(now_ms()),
                                 blacklist_end_time=stamp(now_ms() - DAY_MS), request_id="pen-d"),
         "blacklist_end_time"),
    ):  # fmt: skip
        with pytest.raises(grpc.RpcError) as caught:
            admin.RecordPenalty(request, timeout=5)
        assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert field in field_violations(caught.value)


def test_scores(admin: pb_grpc.ExpertServiceStub) -> None:
    expert = new(admin, 503)
    scored = admin.RecordEvaluationScore(pb.RecordEvaluationScoreRequest(
        name=expert.name, score=87, evaluation_date=sample.day(2026, 11, 20), evidence_sha256=EVIDENCE,
        request_id="score-503"), timeout=5).expert  # fmt: skip
    assert [c.code for c in scored.credit_events] == ["score:87"]
    assert scored.current_status == S.STATUS_ACTIVE
    for score, day, field in ((101, sample.day(2026, 1, 1), "score"), (50, sample.day(2099, 1, 1), "evaluation_date"),
                              (50, sample.day(2026, 2, 30), "evaluation_date")):  # fmt: skip
        with pytest.raises(grpc.RpcError) as caught:
            admin.RecordEvaluationScore(pb.RecordEvaluationScoreRequest(
                name=expert.name, score=score, evaluation_date=day, evidence_sha256=EVIDENCE,
                request_id=f"score-503-{score}-{day.year}-{day.day}"), timeout=5)  # fmt: skip
        assert field_violations(caught.value) == [field]


def test_death_is_final(admin: pb_grpc.ExpertServiceStub) -> None:
    expert = new(admin, 504)
    gone = admin.RetireExpert(pb.RetireExpertRequest(name=expert.name, kind=pb.RetireExpertRequest.KIND_DECEASED,
                                                     reason="病故", request_id="ret-504"), timeout=5).expert  # fmt: skip
    assert gone.current_status == S.STATUS_DECEASED
    with pytest.raises(grpc.RpcError) as caught:
        admin.SuspendExpert(
            pb.SuspendExpertRequest(name=expert.name, reason="x", request_id="sus-504"), timeout=5
        )
    assert error_info(caught.value).reason == "EXPERT_DECEASED"
    with pytest.raises(grpc.RpcError) as caught:  # not even retirement: death is final
        admin.RetireExpert(pb.RetireExpertRequest(name=expert.name, kind=pb.RetireExpertRequest.KIND_RETIRED,
                                                  reason="x", request_id="ret-504b"), timeout=5)  # fmt: skip
    assert error_info(caught.value).reason == "EXPERT_DECEASED"
    with pytest.raises(grpc.RpcError) as caught:
        admin.RetireExpert(
            pb.RetireExpertRequest(name=expert.name, reason="x", request_id="ret-504c"), timeout=5
        )
    assert field_violations(caught.value) == ["kind"]
    retired = new(admin, 505)
    later = admin.RetireExpert(pb.RetireExpertRequest(
        name=retired.name, kind=pb.RetireExpertRequest.KIND_RETIRED, reason="年满退出",
        effective_time=stamp(now_ms() + 30 * DAY_MS), request_id="ret-505"), timeout=5).expert  # fmt: skip
    assert later.current_status == S.STATUS_ACTIVE  # until the effective date


def test_add_affiliation(service: RunningService, connect: Callable[[int, str | None], grpc.Channel],
                         admin: pb_grpc.ExpertServiceStub) -> None:  # fmt: skip
    expert = new(admin, 506)
    added = admin.AddAffiliation(pb.AddAffiliationRequest(
        name=expert.name, etag=expert.etag, request_id="aff-506",
        affiliation=pb.Affiliation(kind=pb.Affiliation.KIND_DECLARED_AVOID, organization_code=sample.uscc(9506).lower(),
                                   organization_name="前雇主", start_date=sample.day(2024, 5, 1))), timeout=5).expert  # fmt: skip
    assert len(added.affiliations) == 3
    assert added.affiliations[2].organization_code == sample.uscc(9506)
    update = kinds(service, connect, expert.name)[-1]
    assert update.kind == "expert.update"
    assert update.data["field"] == "affiliations"
    assert update.data["value"][2] == {
        "kind": "declared_avoid",
        "org": sample.uscc(9506),
        "start": "2024-05-01",
        "end": None,
    }
    with pytest.raises(grpc.RpcError) as caught:
        admin.AddAffiliation(pb.AddAffiliationRequest(
            name=expert.name, request_id="aff-506b",
            affiliation=pb.Affiliation(kind=pb.Affiliation.KIND_EMPLOYER, organization_code="BAD",
                                       start_date=sample.day(2024, 13, 1))), timeout=5)  # fmt: skip
    assert sorted(field_violations(caught.value)) == ["affiliation.start_date"]
    with pytest.raises(grpc.RpcError) as caught:
        admin.AddAffiliation(pb.AddAffiliationRequest(
            name=expert.name, request_id="aff-506c",
            affiliation=pb.Affiliation(kind=pb.Affiliation.KIND_EMPLOYER, organization_code="BAD",
                                       start_date=sample.day(2024, 1, 1))), timeout=5)  # fmt: skip
    assert field_violations(caught.value) == ["affiliation.organization_code"]


def test_changes_to_a_deleted_expert_are_refused(admin: pb_grpc.ExpertServiceStub) -> None:
    expert = new(admin, 507)
    admin.DeleteExpert(
        pb.DeleteExpertRequest(name=expert.name, reason="退出", request_id="del-507"), timeout=5
    )
    with pytest.raises(grpc.RpcError) as caught:
        admin.SuspendExpert(
            pb.SuspendExpertRequest(name=expert.name, reason="x", request_id="sus-507"), timeout=5
        )
    assert error_info(caught.value).reason == "EXPERT_DELETED"


def test_update_with_mask_and_etag(service: RunningService, connect: Callable[[int, str | None], grpc.Channel],
                                   admin: pb_grpc.ExpertServiceStub) -> None:  # fmt: skip
    from google.protobuf.field_mask_pb2 import FieldMask

    expert = new(admin, 510)
    change = pb.Expert(name=expert.name, etag=expert.etag, phone="13599998888", region_code="310115",
                       disciplines=["editions/2018/disciplines/C010101"])  # fmt: skip
    mask = FieldMask(paths=["phone", "region_code", "disciplines"])
    updated = admin.UpdateExpert(pb.UpdateExpertRequest(expert=change, update_mask=mask, request_id="up-510"),
                                 timeout=5).expert  # fmt: skip
    assert updated.masked.phone == "135****8888"
    assert updated.region_code == "310115"
    assert list(updated.disciplines) == ["editions/2018/disciplines/C010101"]
    assert updated.etag == 'W/"2"'
    assert updated.title.title_name == expert.title.title_name  # unmasked fields unchanged
    logged = kinds(service, connect, expert.name)[1:]
    assert sorted(e.data["field"] for e in logged) == ["disciplines", "phone_commit", "region"]
    phone = next(e for e in logged if e.data["field"] == "phone_commit")
    assert set(phone.data["value"]) == {"commit", "version"}
    assert "13599998888" not in str(phone.to_json())
    same = admin.UpdateExpert(pb.UpdateExpertRequest(
        expert=pb.Expert(name=expert.name, region_code="310115"), update_mask=FieldMask(paths=["region_code"]),
        request_id="up-510-same"), timeout=5).expert  # fmt: skip
    assert same.etag == updated.etag  # nothing changed, nothing written
    for attempt, (change, paths, field) in enumerate((
        (pb.Expert(name=expert.name, etag=expert.etag, region_code="110105"), ["region_code"], None),
        (pb.Expert(name=expert.name, resident_id_number="x"), ["resident_id_number"], "update_mask"),
        (pb.Expert(name=expert.name), [], "update_mask"),
        (pb.Expert(name=expert.name, phone="1"), ["phone"], "expert.phone"),
        (pb.Expert(name=expert.name, disciplines=["nonsense"]), ["disciplines"], "expert.disciplines[0]"),
    )):  # fmt: skip
        with pytest.raises(grpc.RpcError) as caught:
            admin.UpdateExpert(pb.UpdateExpertRequest(expert=change, update_mask=FieldMask(paths=paths),
                                                      request_id=f"up-510-bad-{attempt}"), timeout=5)  # fmt: skip
        if field is None:
            assert caught.value.code() is grpc.StatusCode.ABORTED  # the etag of version 1
        else:
            assert field in field_violations(caught.value), field
    # A broken field outside the mask is not looked at.
    ignored = pb.Expert(name=expert.name, phone="1", email="13600001111@example.cn")
    admin.UpdateExpert(pb.UpdateExpertRequest(expert=ignored, update_mask=FieldMask(paths=["email"]),
                                              request_id="up-510-email"), timeout=5)  # fmt: skip


def test_erasure(service: RunningService, connect: Callable[[int, str | None], grpc.Channel],
                 admin: pb_grpc.ExpertServiceStub) -> None:  # fmt: skip
    from sqlalchemy import select

    from expert_draw.adapters.db.models import expert_salt_table, expert_table

    expert = new(admin, 520)
    erase = pb.EraseExpertRequest(
        name=expert.name, reason="本人申请删除个人信息", request_id="erase-520"
    )
    with pytest.raises(grpc.RpcError) as caught:
        admin.EraseExpert(erase, timeout=5)
    assert error_info(caught.value).reason == "EXPERT_NOT_DELETED"
    admin.DeleteExpert(
        pb.DeleteExpertRequest(name=expert.name, reason="退出", request_id="del-520"), timeout=5
    )
    erased = admin.EraseExpert(erase, timeout=5).expert
    assert erased.erased
    assert not erased.HasField("masked")
    assert erased.region_code == expert.region_code  # the profile stays (终身负责)
    assert [a.organization_name for a in erased.affiliations] == ["", ""]  # names may identify
    with service.audit.engine.connect() as conn:
        row = conn.execute(select(expert_table).where(expert_table.c.uuid == expert.name[8:])).one()
        salts = conn.execute(
            select(expert_salt_table).where(expert_salt_table.c.expert_id == row.id)
        ).all()
    assert (row.full_name_enc, row.resident_id_enc, row.phone_enc, row.email_enc) == (
        None,
        None,
        None,
        None,
    )
    assert salts == []
    with pytest.raises(grpc.RpcError) as caught:
        admin.RevealExpert(pb.RevealExpertRequest(name=expert.name, purpose="核对"), timeout=5)
    assert error_info(caught.value).reason == "EXPERT_ERASED"
    undelete = pb.UndeleteExpertRequest(name=expert.name, reason="x", request_id="undel-520")
    with pytest.raises(grpc.RpcError) as caught:
        admin.UndeleteExpert(undelete, timeout=5)
    assert error_info(caught.value).reason == "EXPERT_ERASED"
    assert admin.EraseExpert(erase, timeout=5).expert.etag == erased.etag  # a retry
    # The person may register again; the log still checks out.
    create = pb.CreateExpertRequest(expert=sample.expert(520), request_id="status-520-again")
    again = admin.CreateExpert(create, timeout=10).expert
    assert again.name != expert.name
    assert kinds(service, connect, expert.name)[-1].data == {"field": "personal", "value": "erased"}
    assert service.audit.self_check(64) == []


def test_list_by_status_now_agrees_with_each_record(admin: pb_grpc.ExpertServiceStub) -> None:
    region = "460105"
    made = {key: admin.CreateExpert(pb.CreateExpertRequest(expert=sample.expert(n, region_code=region),
                                                           request_id=f"now-{n}"), timeout=10).expert
            for key, n in (("active", 530), ("suspended", 531), ("future_leave", 532), ("both", 533), ("dead", 534))}  # fmt: skip
    now = now_ms()
    admin.SuspendExpert(
        pb.SuspendExpertRequest(name=made["suspended"].name, reason="x", request_id="now-s1"),
        timeout=5,
    )
    admin.RecordLeave(pb.RecordLeaveRequest(name=made["future_leave"].name, reason="x", start_time=stamp(now + DAY_MS),
                                            end_time=stamp(now + 3 * DAY_MS), request_id="now-l1"), timeout=5)  # fmt: skip
    admin.SuspendExpert(pb.SuspendExpertRequest(name=made["both"].name, reason="x", end_time=stamp(now + DAY_MS),
                                                request_id="now-s2"), timeout=5)  # fmt: skip
    admin.RecordPenalty(pb.RecordPenaltyRequest(name=made["both"].name, kind=pb.PENALTY_KIND_MISCONDUCT, reason="x",
                                                evidence_sha256=EVIDENCE, blacklist=True, request_id="now-p1"), timeout=5)  # fmt: skip
    admin.RetireExpert(pb.RetireExpertRequest(name=made["dead"].name, kind=pb.RetireExpertRequest.KIND_DECEASED,
                                              reason="x", request_id="now-r1"), timeout=5)  # fmt: skip
    expected = {
        S.STATUS_ACTIVE: {"active", "future_leave"},
        S.STATUS_SUSPENDED: {"suspended"},
        S.STATUS_BLACKLISTED: {"both"},  # blacklisting wins over the overlapping suspension
        S.STATUS_ON_LEAVE: set(),
        S.STATUS_DECEASED: {"dead"},
    }
    by_name = {e.name: key for key, e in made.items()}
    for status, keys in expected.items():
        listed = admin.ListExperts(
            pb.ListExpertsRequest(region_prefix=region, current_status=status), timeout=5
        )
        assert {by_name[e.name] for e in listed.experts} == keys, S.Status.Name(status)
        assert all(e.current_status == status for e in listed.experts)
        assert listed.total_size == len(keys)


def test_retries_without_times_return_the_original(admin: pb_grpc.ExpertServiceStub) -> None:
    expert = new(admin, 540)
    suspend = pb.SuspendExpertRequest(name=expert.name, reason="复核", request_id="retry-sus-540")
    first = admin.SuspendExpert(suspend, timeout=5).expert
    time.sleep(0.01)
    assert admin.SuspendExpert(suspend, timeout=5).expert == first
    penalty = pb.RecordPenaltyRequest(name=expert.name, kind=pb.PENALTY_KIND_NO_SHOW, reason="缺席",
                                      evidence_sha256=EVIDENCE, request_id="retry-pen-540")  # fmt: skip
    once = admin.RecordPenalty(penalty, timeout=5).expert
    time.sleep(0.01)
    assert admin.RecordPenalty(penalty, timeout=5).expert == once
    retire = pb.RetireExpertRequest(name=expert.name, kind=pb.RetireExpertRequest.KIND_RETIRED, reason="退出",
                                    request_id="retry-ret-540")  # fmt: skip
    gone = admin.RetireExpert(retire, timeout=5).expert
    time.sleep(0.01)
    assert admin.RetireExpert(retire, timeout=5).expert == gone


def test_history_cannot_be_rewritten_and_leaves_end_early(admin: pb_grpc.ExpertServiceStub) -> None:
    expert = new(admin, 541)
    past = now_ms() - 2 * DAY_MS
    for call, request in (
        ("SuspendExpert", pb.SuspendExpertRequest(name=expert.name, reason="x", start_time=stamp(past),
                                                  request_id="past-1")),
        ("RecordLeave", pb.RecordLeaveRequest(name=expert.name, reason="x", start_time=stamp(past),
                                              end_time=stamp(past + DAY_MS), request_id="past-2")),
        ("RetireExpert", pb.RetireExpertRequest(name=expert.name, kind=pb.RetireExpertRequest.KIND_RETIRED,
                                                reason="x", effective_time=stamp(past), request_id="past-3")),
    ):  # fmt: skip
        with pytest.raises(grpc.RpcError) as caught:
            getattr(admin, call)(request, timeout=5)
        assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT, call
    start = now_ms() + DAY_MS
    admin.RecordLeave(pb.RecordLeaveRequest(name=expert.name, reason="出国", start_time=stamp(start),
                                            end_time=stamp(start + 5 * DAY_MS), request_id="leave-541"), timeout=5)  # fmt: skip
    back = admin.ReinstateExpert(pb.ReinstateExpertRequest(name=expert.name, reason="行程取消",
                                                           request_id="re-541"), timeout=5).expert  # fmt: skip
    [leave] = back.status_periods
    assert leave.end_time == leave.start_time  # cancelled: covers nothing
    with pytest.raises(grpc.RpcError) as caught:
        admin.RecordEvaluationScore(pb.RecordEvaluationScoreRequest(
            name=expert.name, score=80, evaluation_date=sample.day(1, 1, 1), evidence_sha256=EVIDENCE,
            request_id="score-541"), timeout=5)  # fmt: skip
    assert field_violations(caught.value) == ["evaluation_date"]
    with pytest.raises(grpc.RpcError) as caught:
        admin.RecordPenalty(pb.RecordPenaltyRequest(
            name=expert.name, kind=pb.PENALTY_KIND_NO_SHOW, reason="x", evidence_sha256=EVIDENCE,
            blacklist_end_time=stamp(start), request_id="pen-541"), timeout=5)  # fmt: skip
    assert field_violations(caught.value) == ["blacklist_end_time"]
