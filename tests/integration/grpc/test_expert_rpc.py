"""ExpertService over mTLS, on SQLite and PostgreSQL: records, protection, audit entries."""

from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from sqlalchemy import func, select

from audit_log.entry import Entry, Who, commitment
from expert_draw.adapters.db.models import (
    expert_affiliation_table,
    expert_discipline_table,
    expert_salt_table,
    expert_table,
)
from expert_draw.adapters.experts import ExpertFilter, ExpertLibrary, StoredExpert
from expert_draw.adapters.memo import Rendered
from expert_draw.adapters.protection import FieldCipher, load_data_keys
from expert_draw.api.v1 import audit_service_pb2 as audit_pb
from expert_draw.api.v1 import audit_service_pb2_grpc as audit_grpc
from expert_draw.api.v1 import expert_service_pb2 as pb
from expert_draw.api.v1 import expert_service_pb2_grpc as pb_grpc
from expert_draw.app.classification import ClassificationCatalog
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


def library(service: RunningService) -> ExpertLibrary:
    """A second handle on the service's library (same database and keys)."""
    settings = service.settings
    cipher = FieldCipher(load_data_keys(settings.path(settings.library.data_keys)))
    return ExpertLibrary(
        service.audit.engine,
        service.audit,
        cipher,
        ClassificationCatalog([]),
        clock_ms=service.audit.clock_ms,
    )


def table_counts(service: RunningService) -> list[int]:
    tables = (expert_table, expert_salt_table, expert_discipline_table, expert_affiliation_table)
    with service.audit.engine.connect() as conn:
        return [int(conn.execute(select(func.count()).select_from(t)).scalar_one()) for t in tables]


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
    assert (created.full_name, created.resident_id_number, created.phone, created.email) == (
        "",
        "",
        "",
        "",
    )  # input only
    masked = created.masked
    assert masked.full_name == source.full_name[0] + "**"
    assert (
        masked.resident_id_number
        == source.resident_id_number[:6] + "*" * 11 + source.resident_id_number[-1]
    )
    assert masked.phone == source.phone[:3] + "****" + source.phone[-4:]
    assert masked.email == "***@example.cn"
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
    # Each commitment opens with its salt, kept outside the log and encrypted there.
    salts = library(service).salts(created.name[8:], record["version"])
    with service.audit.engine.connect() as conn:
        sealed = b"".join(bytes(r.salts_enc) for r in conn.execute(select(expert_salt_table)))
    assert all(salt not in sealed and salt.hex().encode() not in sealed for salt in salts.values())
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


def test_reveal_is_for_admins_and_every_call_is_logged(
    service: RunningService,
    connect: Callable[[int, str | None], grpc.Channel],
    admin: pb_grpc.ExpertServiceStub,
    supervisor: pb_grpc.ExpertServiceStub,
) -> None:
    source = sample.expert(103)
    created = create(admin, 103)
    got = supervisor.GetExpert(pb.GetExpertRequest(name=created.name), timeout=5).expert
    assert got.masked == created.masked
    assert got.full_name == ""
    request = pb.RevealExpertRequest(name=created.name, purpose="电话通知评标")
    first = admin.RevealExpert(request, timeout=5)
    assert (first.full_name, first.resident_id_number, first.phone, first.email) == (
        source.full_name, source.resident_id_number, source.phone, source.email,
    )  # fmt: skip
    assert (first.birth_date.year, first.birth_date.month, first.birth_date.day) == (1975, 3, 12)
    assert first.gender == pb.RevealExpertResponse.GENDER_MALE
    second = admin.RevealExpert(request, timeout=5)  # the same call again is a new disclosure
    logged = entries(service, connect, created.name)
    assert [e.kind for e in logged] == [
        "expert.create", "confidential.grant", "confidential.access",
        "confidential.grant", "confidential.access",
    ]  # fmt: skip
    assert [e.seq for e in logged if e.kind == "confidential.access"] == [
        first.access_seq,
        second.access_seq,
    ]
    grant = logged[1]
    assert grant.data == {"grantee": "dev:admin", "purpose": "电话通知评标"}
    assert logged[2].data == {"purpose": "电话通知评标", "pseuds": []}
    with pytest.raises(grpc.RpcError) as caught:
        supervisor.RevealExpert(request, timeout=5)
    assert caught.value.code() is grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as caught:
        admin.RevealExpert(pb.RevealExpertRequest(name=created.name, purpose=" \x1b "), timeout=5)
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


def test_reads_serve_the_version_another_replica_wrote(
    service: RunningService,
    admin: pb_grpc.ExpertServiceStub,
    supervisor: pb_grpc.ExpertServiceStub,
) -> None:
    """GetExpert and ListExperts memoize each record's rendering by version, and pages.

    Changes made through a second library on the same database (as another replica
    makes them) are served at the next read, in both RPCs: a changed record and a page
    that lost a record.
    """
    made = create(admin, 170, region_code="540102")

    def served() -> tuple[pb.Expert, pb.Expert]:
        got = supervisor.GetExpert(pb.GetExpertRequest(name=made.name), timeout=5).expert
        page = supervisor.ListExperts(
            pb.ListExpertsRequest(region_prefix="540102", page_size=10), timeout=5
        )
        assert [e.name for e in page.experts] == [made.name]
        return got, page.experts[0]

    assert served() == (made, made)
    other, who = library(service), Who("admin", "another-replica", "replica-2")
    expert_uuid = made.name.removeprefix("experts/")
    suspended = other.suspend(
        who, expert_uuid, etag=made.etag, reason="暂停", start_ms=None, end_ms=None,
        request_id="other-170a",
    )  # fmt: skip
    for seen in served():
        assert seen.etag == suspended.etag != made.etag
        assert seen.current_status == pb.StatusPeriod.STATUS_SUSPENDED
        assert len(seen.status_periods) == len(made.status_periods) + 1
    deleted = other.delete(who, expert_uuid, suspended.etag, "退出", "other-170b")
    erased = other.erase(
        who, expert_uuid, etag=deleted.etag, reason="PIPL", request_id="other-170c"
    )
    got = supervisor.GetExpert(pb.GetExpertRequest(name=made.name), timeout=5).expert
    assert got.erased
    assert not got.HasField("masked")
    assert got.etag == erased.etag
    assert got.state == pb.Expert.STATE_DELETED
    # The memoized page of the active experts is read again: the log has grown.
    page = supervisor.ListExperts(
        pb.ListExpertsRequest(region_prefix="540102", page_size=10), timeout=5
    )
    assert (list(page.experts), page.total_size) == ([], 0)


def test_a_full_memo_starts_again_without_dropping_a_page(
    admin: pb_grpc.ExpertServiceStub, service: RunningService
) -> None:
    made = [create(admin, n, region_code="540103") for n in range(171, 175)]
    rendered: Rendered[StoredExpert, str] = Rendered(lambda stored: stored.name, limit=1)
    other, where = library(service), ExpertFilter(region_prefix="540103")
    for _ in range(2):
        names, _token, total = other.list_experts(where, 10, "", rendered)
        assert names == [e.name for e in made]
        assert total == len(made)


def test_a_record_read_whole_renders_one_version_even_when_it_changes_meanwhile(
    admin: pb_grpc.ExpertServiceStub, service: RunningService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A memo miss reads the row, then its status periods: another replica's change
    committed between the two must not be memoized under the older version."""
    made = create(admin, 175, region_code="540104")
    expert_uuid = made.name.removeprefix("experts/")
    reader, other = library(service), library(service)
    who = Who("admin", "another-replica", "replica-2")
    children = reader._children  # the gap between the two reads
    changed: list[StoredExpert] = []

    def change_then_read(conn: Any, ids: Any) -> Any:
        if not changed:
            changed.append(other.suspend(
                who, expert_uuid, etag=made.etag, reason="暂停", start_ms=None, end_ms=None,
                request_id="other-175",
            ))  # fmt: skip
        return children(conn, ids)

    monkeypatch.setattr(reader, "_children", change_then_read)
    rendered: Rendered[StoredExpert, tuple[int, int]] = Rendered(
        lambda stored: (stored.version, len(stored.periods))
    )
    version, periods = reader.get_rendered(expert_uuid, rendered)
    assert changed
    assert periods == (1 if version == changed[0].version else 0), (version, periods)


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
    restored = admin.UndeleteExpert(
        pb.UndeleteExpertRequest(name=created.name, reason="误删恢复", request_id="undel-120"),
        timeout=5,
    ).expert
    assert restored.state == pb.Expert.STATE_ACTIVE
    assert not restored.HasField("delete_time")
    with pytest.raises(grpc.RpcError) as caught:
        admin.UndeleteExpert(
            pb.UndeleteExpertRequest(name=created.name, reason="x", request_id="undel-120b"),
            timeout=5,
        )
    assert error_info(caught.value).reason == "EXPERT_NOT_DELETED"
    admin.DeleteExpert(
        pb.DeleteExpertRequest(name=created.name, reason="再次退出", request_id="del-120d"),
        timeout=5,
    )
    gone = admin.ListExperts(
        pb.ListExpertsRequest(region_prefix="440305", state=pb.Expert.STATE_DELETED), timeout=5
    )
    assert [e.name for e in gone.experts] == [created.name]
    assert [e.kind for e in entries(service, connect, created.name)] == [
        "expert.create",
        "expert.delete",
        "expert.status",
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

    before = table_counts(service)
    monkeypatch.setattr(service.audit.store, "append", fail)
    with pytest.raises(grpc.RpcError) as caught:
        create(admin, 130)
    assert caught.value.code() is grpc.StatusCode.INTERNAL
    monkeypatch.undo()
    assert table_counts(service) == before
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


def run_together(calls: list[Callable[[], object]]) -> list[object]:
    """Start the calls at the same moment; return results or raised errors, in order."""
    barrier = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = calls[index]()
        except grpc.RpcError as exc:
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_concurrent_retries_and_duplicates(admin: pb_grpc.ExpertServiceStub) -> None:
    # The same request twice at once (a client retry racing its original): both get the
    # one expert it created.
    same = run_together([lambda: create(admin, 140, request_id="race-140")] * 2)
    created_twice = [r for r in same if isinstance(r, pb.Expert)]
    assert len(created_twice) == 2, same
    assert created_twice[0].name == created_twice[1].name
    # The same person under two request ids at once: one is created, one refused.
    both = run_together([lambda: create(admin, 141, request_id="race-141a"),
                         lambda: create(admin, 141, request_id="race-141b")])  # fmt: skip
    codes = sorted(r.code().name if isinstance(r, grpc.RpcError) else "OK" for r in both)
    assert codes == ["ALREADY_EXISTS", "OK"]
    # The same delete twice at once: both see the one deletion.
    created = create(admin, 142)
    request = pb.DeleteExpertRequest(name=created.name, reason="并发", request_id="race-del-142")
    deletes = run_together([lambda: admin.DeleteExpert(request, timeout=10)] * 2)
    assert all(isinstance(r, pb.DeleteExpertResponse) for r in deletes), deletes


def test_control_characters_in_free_text_are_refused(admin: pb_grpc.ExpertServiceStub) -> None:
    bad = sample.expert(143)
    bad.title.title_name = "高级\u202e工程师"
    bad.qualifications[0].qualification_name = "一级\x1b[31m建造师"
    bad.affiliations[0].organization_name = "某公司\x00"
    with pytest.raises(grpc.RpcError) as caught:
        admin.CreateExpert(pb.CreateExpertRequest(expert=bad, request_id="ctl-143"), timeout=5)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert sorted(field_violations(caught.value)) == [
        "expert.affiliations[0].organization_name",
        "expert.qualifications[0].qualification_name",
        "expert.title.title_name",
    ]


def test_oversized_and_unparsable_repeated_fields(admin: pb_grpc.ExpertServiceStub) -> None:
    huge = sample.expert(144, disciplines=["nonsense"] * 5000)
    with pytest.raises(grpc.RpcError) as caught:
        admin.CreateExpert(pb.CreateExpertRequest(expert=huge, request_id="huge-144"), timeout=5)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(caught.value) == ["expert.disciplines"]
    many = sample.expert(145)
    many.ClearField("affiliations")
    many.affiliations.extend(
        pb.Affiliation(kind=pb.Affiliation.KIND_RELATIVE, organization_code="X", start_date=sample.day(2010),
                       end_date=sample.day(2009), organization_name="\x00")
        for _ in range(200)
    )  # fmt: skip
    with pytest.raises(grpc.RpcError) as caught:
        admin.CreateExpert(pb.CreateExpertRequest(expert=many, request_id="many-145"), timeout=5)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT  # 600 violations, 20 sent
    assert len(field_violations(caught.value)) == 20
    assert error_info(caught.value).metadata["violations"] == "600"
    # An unparsable name keeps its index: both bad entries are named.
    mixed = sample.expert(146, disciplines=["nonsense", "editions/2018/disciplines/C99"])
    with pytest.raises(grpc.RpcError) as caught:
        admin.CreateExpert(pb.CreateExpertRequest(expert=mixed, request_id="mixed-146"), timeout=5)
    assert field_violations(caught.value) == ["expert.disciplines[0]", "expert.disciplines[1]"]


def test_identity_hash_column_fits_the_longest_key_id() -> None:
    longest = len("k" * 32) + 1 + 64  # key ids are at most 32 characters (protection.py)
    assert expert_table.c.id_hash.type.length >= longest  # type: ignore[attr-defined]


def test_legacy_experts_are_counted_and_codes_suggested(
    service: RunningService,
    connect: Callable[[int, str | None], grpc.Channel],
    admin: pb_grpc.ExpertServiceStub,
) -> None:
    from expert_draw.api.v1 import classification_service_pb2 as cpb
    from expert_draw.api.v1 import classification_service_pb2_grpc as cpb_grpc

    legacy = [create(admin, n, region_code="650102", disciplines=["editions/2010-trial/disciplines/A0101"])
              for n in (150, 151)]  # fmt: skip
    create(admin, 152, region_code="650102")
    listed = admin.ListExperts(
        pb.ListExpertsRequest(region_prefix="65", legacy_only=True, page_size=1), timeout=5
    )
    assert listed.total_size == 2
    assert [e.name for e in listed.experts] == [legacy[0].name]
    everyone = admin.ListExperts(pb.ListExpertsRequest(region_prefix="65"), timeout=5)
    assert everyone.total_size == 3
    catalog = cpb_grpc.ClassificationServiceStub(connect(service.port, "admin"))
    suggested = catalog.SuggestDisciplineMappings(
        cpb.SuggestDisciplineMappingsRequest(
            name="editions/2010-trial/disciplines/A0101", max_suggestions=3
        ),
        timeout=5,
    )
    assert suggested.source.name == "editions/2010-trial/disciplines/A0101"
    assert 0 < len(suggested.suggestions) <= 3
    assert all(s.discipline.name.startswith("editions/2018/") for s in suggested.suggestions)
    with pytest.raises(grpc.RpcError) as caught:
        catalog.SuggestDisciplineMappings(
            cpb.SuggestDisciplineMappingsRequest(
                name="editions/2010-trial/disciplines/A0101", max_suggestions=99
            ),
            timeout=5,
        )
    assert field_violations(caught.value) == ["max_suggestions"]
