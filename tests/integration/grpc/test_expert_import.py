"""ImportExperts on SQLite and PostgreSQL: all or nothing, idempotent, every problem named."""

from __future__ import annotations

from typing import TYPE_CHECKING

import grpc
import pytest
from sqlalchemy import func, select

from expert_draw.adapters.db.models import expert_table
from expert_draw.api.v1 import expert_service_pb2 as pb
from expert_draw.api.v1 import expert_service_pb2_grpc as pb_grpc
from tests.integration.grpc.helpers import error_info, field_violations
from tests.support import experts as sample

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from cli.server import RunningService


@pytest.fixture
def stub(
    service: RunningService, connect: Callable[[int, str | None], grpc.Channel]
) -> pb_grpc.ExpertServiceStub:
    return pb_grpc.ExpertServiceStub(connect(service.port, "admin"))


def send(stub: pb_grpc.ExpertServiceStub, experts: Sequence[pb.Expert], *, request_id: str = "", validate_only: bool = False,
         first_row: int = 2, batch: int = 2) -> pb.ImportExpertsResponse:  # fmt: skip
    messages = [
        pb.ImportExpertsRequest(request_id=request_id, validate_only=validate_only, first_row=first_row + i,
                                experts=list(experts[i : i + batch]))
        for i in range(0, len(experts), batch)
    ]  # fmt: skip
    return stub.ImportExperts(iter(messages), timeout=30)


def count(service: RunningService) -> int:
    with service.audit.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(expert_table)).scalar_one())


def test_import_then_reimport_changes_nothing(
    service: RunningService, stub: pb_grpc.ExpertServiceStub
) -> None:
    rows = [sample.expert(n) for n in range(300, 305)]
    before = count(service)
    checked = send(stub, rows, validate_only=True)
    assert (checked.created_count, checked.unchanged_count, checked.committed) == (5, 0, False)
    assert count(service) == before
    done = send(stub, rows, request_id="import-300")
    assert (done.created_count, done.unchanged_count, done.committed) == (5, 0, True)
    assert count(service) == before + 5
    assert (
        send(stub, rows, request_id="import-300").created_count == 5
    )  # a retry: the original result
    again = send(stub, rows, request_id="import-300-again")
    assert (again.created_count, again.unchanged_count) == (0, 5)
    assert count(service) == before + 5


def test_one_bad_row_imports_nothing_and_every_problem_is_listed(
    service: RunningService, stub: pb_grpc.ExpertServiceStub
) -> None:
    rows = [sample.expert(n) for n in range(310, 316)]
    rows[1].phone = "123"
    rows[3].disciplines[0] = "editions/2018/disciplines/A01"
    rows[3].affiliations[0].start_date.month = 13
    rows[4].resident_id_number = rows[0].resident_id_number
    before = count(service)
    checked = send(stub, rows, validate_only=True, first_row=10)
    listed = sorted((p.row, p.field) for p in checked.problems)
    assert listed == [(11, "phone"), (13, "affiliations[0].start_date"), (13, "disciplines[0]"),
                      (14, "resident_id_number")]  # fmt: skip
    assert [p.row for p in checked.problems] == sorted(p.row for p in checked.problems)
    assert checked.problem_count == 4
    assert checked.created_count == 3  # rows 10, 12 and 15
    with pytest.raises(grpc.RpcError) as caught:
        send(stub, rows, request_id="import-310", first_row=10)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "rows[11].phone" in field_violations(caught.value)
    assert count(service) == before


def test_a_row_already_in_the_library_with_other_content(
    service: RunningService, stub: pb_grpc.ExpertServiceStub
) -> None:
    stub.CreateExpert(
        pb.CreateExpertRequest(expert=sample.expert(320), request_id="create-320"), timeout=10
    )
    changed = sample.expert(320, phone="13700000000")
    checked = send(stub, [changed], validate_only=True)
    assert [(p.row, p.field) for p in checked.problems] == [(2, "resident_id_number")]
    assert "UpdateExpert" in checked.problems[0].description


def test_limits(
    service: RunningService, stub: pb_grpc.ExpertServiceStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        stub.ImportExperts(iter([]), timeout=10)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    monkeypatch.setattr("expert_draw.adapters.grpc.expert_servicer.MAX_IMPORT_ROWS", 3)
    with pytest.raises(grpc.RpcError) as caught:
        send(stub, [sample.expert(n) for n in range(330, 334)])
    assert caught.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert error_info(caught.value).reason == "IMPORT_TOO_LARGE"
    with pytest.raises(grpc.RpcError) as caught:
        send(stub, [sample.expert(335)], request_id="bad id")
    assert field_violations(caught.value) == ["request_id"]


def test_many_problems_fit_in_the_status(
    service: RunningService, stub: pb_grpc.ExpertServiceStub
) -> None:
    rows = [sample.expert(n, phone="1", region_code="0") for n in range(340, 440)]
    with pytest.raises(grpc.RpcError) as caught:
        send(stub, rows, request_id="import-340", batch=50)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert len(field_violations(caught.value)) == 20
    assert error_info(caught.value).metadata["violations"] == "200"
    assert "200 problems" in (caught.value.details() or "")
    checked = send(stub, rows, validate_only=True, batch=50)
    assert checked.problem_count == 200
    assert len(checked.problems) == 200


def test_a_failed_append_leaves_nothing(
    service: RunningService, stub: pb_grpc.ExpertServiceStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = count(service)

    def fail(*args: object, **kwargs: object) -> None:
        raise RuntimeError("injected")

    monkeypatch.setattr(service.audit.store, "append", fail)
    with pytest.raises(grpc.RpcError) as caught:
        send(stub, [sample.expert(n) for n in range(450, 454)], request_id="import-450")
    assert caught.value.code() is grpc.StatusCode.INTERNAL
    assert count(service) == before


def test_malformed_numbers_are_problems_not_internal(stub: pb_grpc.ExpertServiceStub) -> None:
    rows = [sample.expert(460), sample.expert(461, resident_id_number="12345"),
            sample.expert(462, resident_id_number="11010519751312001X"), sample.expert(463, resident_id_number="")]  # fmt: skip
    with pytest.raises(grpc.RpcError) as caught:
        send(stub, rows, request_id="import-460")
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert sorted(field_violations(caught.value)) == [
        "rows[3].resident_id_number", "rows[4].resident_id_number", "rows[5].resident_id_number",
    ]  # fmt: skip


def test_row_numbers_are_bounded(stub: pb_grpc.ExpertServiceStub) -> None:
    for first_row in (0, -3, 2**31 - 1):
        with pytest.raises(grpc.RpcError) as caught:
            send(
                stub,
                [sample.expert(464), sample.expert(465)],
                validate_only=True,
                first_row=first_row,
            )
        assert field_violations(caught.value) == ["first_row"], first_row


def test_a_deleted_expert_is_not_silently_unchanged(stub: pb_grpc.ExpertServiceStub) -> None:
    created = stub.CreateExpert(
        pb.CreateExpertRequest(expert=sample.expert(466), request_id="c-466"), timeout=10
    )
    stub.DeleteExpert(
        pb.DeleteExpertRequest(name=created.expert.name, reason="退出", request_id="d-466"),
        timeout=10,
    )
    checked = send(stub, [sample.expert(466)], validate_only=True)
    assert [(p.row, p.field) for p in checked.problems] == [(2, "resident_id_number")]
    assert "undelete" in checked.problems[0].description


def test_concurrent_retries_of_one_import(
    service: RunningService, stub: pb_grpc.ExpertServiceStub
) -> None:
    import threading

    rows = [sample.expert(n) for n in range(470, 520)]
    results: list[object] = [None] * 3
    barrier = threading.Barrier(3)

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = send(stub, rows, request_id="import-470", batch=10).created_count
        except grpc.RpcError as exc:
            results[index] = exc.code()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [50, 50, 50]


def test_an_import_whose_copy_commits_while_it_checks_gets_the_copys_outcome(
    service: RunningService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A copy of the import (the client's early retry) that commits after this call
    looked the request up but before it checked its rows: every row is there, and the
    answer is the copy's outcome (50 created), not "50 unchanged"."""
    from audit_log.entry import Who
    from expert_draw.adapters.experts import ExpertLibrary, ImportRow
    from expert_draw.adapters.grpc.expert_servicer import draft_from_pb

    if service.engine.dialect.name == "sqlite":
        pytest.skip("SQLite serializes the two at BEGIN IMMEDIATE: no such gap")
    assert service.draws is not None
    serving = service.draws._library

    def library() -> ExpertLibrary:
        return ExpertLibrary(service.engine, service.audit, serving._cipher,
                             serving._catalog, clock_ms=service.audit.clock_ms)  # fmt: skip

    rows = [ImportRow(i + 1, draft_from_pb(sample.expert(n))[0], ())
            for i, n in enumerate(range(530, 580))]  # fmt: skip
    who = Who("admin", "dev:admin", "replica-1")
    reader, copy = library(), library()
    check = reader._check_rows

    def copy_commits_then_check(conn: object, checked: object) -> object:
        copy.import_experts(who, "import-530", rows, validate_only=False)
        return check(conn, checked)  # type: ignore[arg-type]

    monkeypatch.setattr(reader, "_check_rows", copy_commits_then_check)
    result = reader.import_experts(who, "import-530", rows, validate_only=False)
    assert (result.created, result.unchanged, result.committed) == (50, 0, True)
