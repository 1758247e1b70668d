"""ExpertService over mTLS, on SQLite and PostgreSQL: records, protection, audit entries."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import grpc
import pytest
from sqlalchemy import func, select

from audit_log.entry import Entry, commitment
from expert_draw.adapters.db.models import expert_salt_table, expert_table
from expert_draw.api.v1 import audit_service_pb2 as audit_pb
from expert_draw.api.v1 import audit_service_pb2_grpc as audit_grpc
from expert_draw.api.v1 import expert_service_pb2 as pb
from expert_draw.api.v1 import expert_service_pb2_grpc as pb_grpc
from tests.integration.grpc.helpers import error_info, field_violations
from tests.support import experts as sample

if TYPE_CHECKING:
    from collections.abc import Callable

    from cli.server import RunningService


@pytest.fixture
def admin(
    service: RunningService, connect: Callable[[int, str | None], grpc.Channel]
) -> pb_grpc.ExpertServiceStub:
    return pb_grpc.ExpertServiceStub(connect(service.port, "admin"))


@pytest.fixture
def supervisor(
    service: RunningService, connect: Callable[[int, str | None], grpc.Channel]
) -> pb_grpc.ExpertServiceStub:
    return pb_grpc.ExpertServiceStub(connect(service.port, "supervisor"))


def create(
    stub: pb_grpc.ExpertServiceStub, n: int, request_id: str | None = None, **changes: object
) -> pb.Expert:
    request = pb.CreateExpertRequest(
        expert=sample.expert(n, **changes), request_id=request_id or f"create-{n}"
    )
    return stub.CreateExpert(request, timeout=10).expert


def entries(
    service: RunningService, connect: Callable[[int, str | None], grpc.Channel], subject: str
) -> list[Entry]:
    audit = audit_grpc.AuditServiceStub(connect(service.port, "supervisor"))
    listed = audit.ListEntries(
        audit_pb.ListEntriesRequest(subject=subject, page_size=100), timeout=5
    )
    return [Entry.decode(e.body) for e in listed.entries]


def test_create_masks_personal_fields_and_logs_only_commitments(
    service: RunningService,
    connect: Callable[[int, str | None], grpc.Channel],
    admin: pb_grpc.ExpertServiceStub,
) -> None:
    source = sample.expert(101)
    created = create(admin, 101)
    assert created.name.startswith("experts/")
    assert len(created.name) == len("experts/") + 36
    assert created.full_name == source.full_name[0] + "**"
    assert (
        created.resident_id_number
        == source.resident_id_number[:6] + "*" * 10 + source.resident_id_number[-2:]
    )
    assert created.phone == source.phone[:3] + "****" + source.phone[-4:]
    assert created.email == "***@example.cn"
    assert not created.HasField("birth_date")
    assert created.state == pb.Expert.STATE_ACTIVE
    assert created.etag == 'W/"1"'
    assert list(created.disciplines) == list(source.disciplines)
    assert created.affiliations[1].end_date.year == 2020
    [entry] = entries(service, connect, created.name)
    assert entry.kind == "expert.create"
    assert entry.who.sub == "dev:admin"
    assert entry.who.role == "admin"
    body = json.dumps(entry.to_json(), ensure_ascii=False)
    for secret in (
        source.full_name,
        source.resident_id_number,
        source.phone,
        source.email,
        "1975-03-12",
    ):
        assert secret not in body
    record = entry.data["record"]
    assert record["region"] == "120101"
    assert record["disciplines"] == ["2018/A010102"]
    assert record["affiliations"][0] == {
        "kind": "employer",
        "org": sample.uscc(101),
        "start": "2005-01-01",
        "end": None,
    }
    # Each commitment opens with its salt, kept outside the log.
    with service.audit.engine.connect() as conn:
        row_id = conn.execute(
            select(expert_table.c.id).where(expert_table.c.uuid == created.name[8:])
        ).scalar_one()
        salts = {r.attribute: bytes(r.salt) for r in conn.execute(
            select(expert_salt_table).where(expert_salt_table.c.expert_id == row_id))}  # fmt: skip
    assert record["resident_id_number_commit"] == commitment(
        salts["resident_id_number"], source.resident_id_number
    )
    assert record["birth_date_commit"] == commitment(salts["birth_date"], "1975-03-12")
    assert record["gender_commit"] == commitment(salts["gender"], "male")


def test_personal_fields_are_encrypted_at_rest(
    service: RunningService, admin: pb_grpc.ExpertServiceStub
) -> None:
    source = sample.expert(102)
    created = create(admin, 102)
    with service.audit.engine.connect() as conn:
        row = conn.execute(
            select(expert_table).where(expert_table.c.uuid == created.name[8:])
        ).one()
    stored = b"".join(
        bytes(v) if isinstance(v, bytes | memoryview) else str(v).encode() for v in row
    )
    for secret in (source.full_name, source.resident_id_number, source.phone, source.email):
        assert secret.encode() not in stored
    assert row.id_hash.startswith("h1:")


def test_full_view_is_for_admins_and_logged(
    service: RunningService,
    connect: Callable[[int, str | None], grpc.Channel],
    admin: pb_grpc.ExpertServiceStub,
    supervisor: pb_grpc.ExpertServiceStub,
) -> None:
    source = sample.expert(103)
    created = create(admin, 103)
    basic = supervisor.GetExpert(pb.GetExpertRequest(name=created.name), timeout=5).expert
    assert basic.full_name == created.full_name
    full_request = pb.GetExpertRequest(
        name=created.name, view=pb.EXPERT_VIEW_FULL, purpose="电话通知评标", request_id="reveal-103"
    )
    full = admin.GetExpert(full_request, timeout=5).expert
    assert (full.full_name, full.resident_id_number, full.phone) == (
        source.full_name,
        source.resident_id_number,
        source.phone,
    )
    assert (full.birth_date.year, full.birth_date.month, full.birth_date.day) == (1975, 3, 12)
    admin.GetExpert(full_request, timeout=5)  # a retry logs nothing more
    kinds = [e.kind for e in entries(service, connect, created.name)]
    assert kinds == ["expert.create", "confidential.access"]
    with pytest.raises(grpc.RpcError) as caught:
        supervisor.GetExpert(full_request, timeout=5)
    assert caught.value.code() is grpc.StatusCode.PERMISSION_DENIED
    assert error_info(caught.value).reason == "VIEW_NOT_ALLOWED"
    with pytest.raises(grpc.RpcError) as caught:
        admin.GetExpert(pb.GetExpertRequest(name=created.name, view=pb.EXPERT_VIEW_FULL), timeout=5)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(caught.value) == ["purpose"]


def test_trading_systems_cannot_read_the_library(
    service: RunningService, connect: Callable[[int, str | None], grpc.Channel]
) -> None:
    stub = pb_grpc.ExpertServiceStub(connect(service.port, "trading_system"))
    with pytest.raises(grpc.RpcError) as listed:
        stub.ListExperts(pb.ListExpertsRequest(), timeout=5)
    with pytest.raises(grpc.RpcError) as got:
        stub.GetExpert(pb.GetExpertRequest(name="experts/x"), timeout=5)
    assert listed.value.code() is got.value.code() is grpc.StatusCode.PERMISSION_DENIED


def test_same_person_twice_is_already_exists(admin: pb_grpc.ExpertServiceStub) -> None:
    create(admin, 104)
    with pytest.raises(grpc.RpcError) as caught:
        create(admin, 104, request_id="create-104-again", full_name="另一个")
    assert caught.value.code() is grpc.StatusCode.ALREADY_EXISTS
    assert error_info(caught.value).reason == "EXPERT_ALREADY_EXISTS"
    assert "1975" not in (caught.value.details() or "")


def test_retry_returns_the_original_and_reuse_is_refused(
    service: RunningService,
    connect: Callable[[int, str | None], grpc.Channel],
    admin: pb_grpc.ExpertServiceStub,
) -> None:
    first = create(admin, 105, request_id="retry-105")
    again = create(admin, 105, request_id="retry-105")
    assert again.name == first.name
    assert len(entries(service, connect, first.name)) == 1
    with pytest.raises(grpc.RpcError) as caught:
        create(admin, 106, request_id="retry-105")
    assert caught.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert error_info(caught.value).reason == "REQUEST_ID_REUSED"


def test_every_invalid_field_is_reported(admin: pb_grpc.ExpertServiceStub) -> None:
    bad = sample.expert(
        107,
        full_name="",
        resident_id_number="110105197503121230",
        phone="12345",
        email="not-an-email",
        disciplines=["editions/2018/disciplines/A01", "editions/2018/disciplines/Z999", "nonsense"],
        region_code="990000",
        work_start_date=sample.day(2020, 2, 30),
        library_type=pb.Expert.LIBRARY_TYPE_UNSPECIFIED,
        affiliations=[pb.Affiliation(kind=pb.Affiliation.KIND_EMPLOYER, organization_code="91110000000000000X",
                                     start_date=sample.day(2010), end_date=sample.day(2009))],
    )  # fmt: skip
    with pytest.raises(grpc.RpcError) as caught:
        admin.CreateExpert(pb.CreateExpertRequest(expert=bad, request_id="bad 107"), timeout=5)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert error_info(caught.value).reason == "INVALID_REQUEST"
    assert sorted(field_violations(caught.value)) == sorted([
        "expert.full_name", "expert.resident_id_number", "expert.phone", "expert.email",
        "expert.disciplines[0]", "expert.disciplines[1]", "expert.disciplines[2]",
        "expert.region_code", "expert.work_start_date", "expert.library_type",
        "expert.affiliations[0].organization_code", "expert.affiliations[0].end_date", "request_id",
    ])  # fmt: skip
    assert "110105197503121230" not in (caught.value.details() or "")


def test_list_filters_and_pages(
    admin: pb_grpc.ExpertServiceStub, supervisor: pb_grpc.ExpertServiceStub
) -> None:
    made = [create(admin, n, region_code="310115" if n % 2 else "310104") for n in range(110, 117)]
    region = supervisor.ListExperts(
        pb.ListExpertsRequest(region_prefix="31", page_size=3), timeout=5
    )
    names, token = [e.name for e in region.experts], region.next_page_token
    while token:
        page = supervisor.ListExperts(
            pb.ListExpertsRequest(region_prefix="31", page_size=3, page_token=token), timeout=5
        )
        names += [e.name for e in page.experts]
        token = page.next_page_token
    assert names == [e.name for e in made]
    county = supervisor.ListExperts(
        pb.ListExpertsRequest(region_prefix="310104", page_size=100), timeout=5
    )
    assert [e.name for e in county.experts] == [e.name for e in made if e.region_code == "310104"]
    subtree = supervisor.ListExperts(
        pb.ListExpertsRequest(
            region_prefix="31", discipline="editions/2018/disciplines/A0101", page_size=100
        ),
        timeout=5,
    )
    assert len(subtree.experts) == len(made)
    leaf = supervisor.ListExperts(
        pb.ListExpertsRequest(
            region_prefix="31", discipline="editions/2018/disciplines/A010101", page_size=100
        ),
        timeout=5,
    )
    assert [e.name for e in leaf.experts] == [
        e.name for e in made if e.disciplines[0].endswith("A010101")
    ]
    with pytest.raises(grpc.RpcError) as caught:
        supervisor.ListExperts(
            pb.ListExpertsRequest(region_prefix="31", page_token=region.next_page_token + "x"),
            timeout=5,
        )
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as caught:
        supervisor.ListExperts(pb.ListExpertsRequest(region_prefix="3", discipline="x"), timeout=5)
    assert sorted(field_violations(caught.value)) == ["discipline", "region_prefix"]
    with pytest.raises(grpc.RpcError) as caught:
        supervisor.ListExperts(
            pb.ListExpertsRequest(discipline="editions/2018/disciplines/A99"), timeout=5
        )
    assert caught.value.code() is grpc.StatusCode.NOT_FOUND


def test_delete_is_soft_checked_and_logged(
    service: RunningService,
    connect: Callable[[int, str | None], grpc.Channel],
    admin: pb_grpc.ExpertServiceStub,
) -> None:
    created = create(admin, 120, region_code="440305")
    with pytest.raises(grpc.RpcError) as caught:
        admin.DeleteExpert(
            pb.DeleteExpertRequest(
                name=created.name, etag='W/"7"', reason="退出", request_id="del-120"
            ),
            timeout=5,
        )
    assert caught.value.code() is grpc.StatusCode.ABORTED
    assert error_info(caught.value).reason == "ETAG_MISMATCH"
    request = pb.DeleteExpertRequest(
        name=created.name, etag=created.etag, reason="本人申请退出专家库", request_id="del-120b"
    )
    deleted = admin.DeleteExpert(request, timeout=5).expert
    assert deleted.state == pb.Expert.STATE_DELETED
    assert deleted.HasField("delete_time")
    assert deleted.etag == 'W/"2"'
    assert admin.DeleteExpert(request, timeout=5).expert.etag == deleted.etag  # retry
    with pytest.raises(grpc.RpcError) as caught:
        admin.DeleteExpert(
            pb.DeleteExpertRequest(name=created.name, reason="again", request_id="del-120c"),
            timeout=5,
        )
    assert error_info(caught.value).reason == "EXPERT_DELETED"
    active = admin.ListExperts(pb.ListExpertsRequest(region_prefix="440305"), timeout=5)
    assert created.name not in [e.name for e in active.experts]
    gone = admin.ListExperts(
        pb.ListExpertsRequest(region_prefix="440305", state=pb.Expert.STATE_DELETED), timeout=5
    )
    assert [e.name for e in gone.experts] == [created.name]
    assert [e.kind for e in entries(service, connect, created.name)] == [
        "expert.create",
        "expert.delete",
    ]
    assert (
        admin.GetExpert(pb.GetExpertRequest(name=created.name), timeout=5).expert.state
        == pb.Expert.STATE_DELETED
    )


def test_nothing_is_half_written_when_the_append_fails(
    service: RunningService, admin: pb_grpc.ExpertServiceStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise RuntimeError("injected after the record's inserts")

    with service.audit.engine.connect() as conn:
        before = conn.execute(select(func.count()).select_from(expert_table)).scalar_one()
    monkeypatch.setattr(service.audit.store, "append", fail)
    with pytest.raises(grpc.RpcError) as caught:
        create(admin, 130)
    assert caught.value.code() is grpc.StatusCode.INTERNAL
    monkeypatch.undo()
    with service.audit.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(expert_table)).scalar_one() == before
    assert create(admin, 130).state == pb.Expert.STATE_ACTIVE


def test_legacy_only_experts_are_kept_and_flagged(admin: pb_grpc.ExpertServiceStub) -> None:
    legacy = create(admin, 131, disciplines=["editions/2010-trial/disciplines/A01"])
    assert legacy.legacy_only


def test_bad_names(admin: pb_grpc.ExpertServiceStub) -> None:
    for name in (
        "experts/ABC",
        "expert/0b7f6c2e-8a1d-4c3b-9e2f-5a6b7c8d9e0f",
        "",
        "experts/0B7F6C2E-8A1D-4C3B-9E2F-5A6B7C8D9E0F",
    ):
        with pytest.raises(grpc.RpcError) as caught:
            admin.GetExpert(pb.GetExpertRequest(name=name), timeout=5)
        assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT, name
        assert field_violations(caught.value) == ["name"]
