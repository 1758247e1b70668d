"""ClassificationService end to end over mTLS, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import grpc
import pytest

from expert_draw.api.v1 import classification_service_pb2 as pb
from expert_draw.api.v1 import classification_service_pb2_grpc as pb_grpc
from tests.integration.grpc.helpers import error_info, field_violations

if TYPE_CHECKING:
    from collections.abc import Callable

    from cli.server import RunningService


@pytest.fixture
def stub(
    service: RunningService, connect: Callable[[int, str | None], grpc.Channel]
) -> pb_grpc.ClassificationServiceStub:
    return pb_grpc.ClassificationServiceStub(connect(service.port, "supervisor"))


def test_list_editions_current_first_with_defect_reports(
    stub: pb_grpc.ClassificationServiceStub,
) -> None:
    response = stub.ListEditions(pb.ListEditionsRequest(), timeout=5)
    assert [e.name for e in response.editions] == ["editions/2018", "editions/2010-trial"]
    assert response.total_size == 2
    current, legacy = response.editions
    assert current.state == pb.Edition.STATE_CURRENT
    assert legacy.state == pb.Edition.STATE_LEGACY
    assert list(current.level_counts) == [3, 31, 313, 1793]
    assert current.row_count == current.discipline_count == 2140
    assert re.fullmatch("[0-9a-f]{64}", current.table_sha256)
    assert len(current.defects) == 29
    assert current.defects[0].kind == pb.Defect.KIND_PARENT_PREFIX_MISMATCH
    assert current.defects[0].text == "parent_prefix_mismatch:A051801"
    assert current.load_time.seconds > 1_700_000_000
    assert [d.text for d in legacy.defects] == ["duplicate_code:A040405", "duplicate_code:B011305"]
    assert legacy.discipline_count == 1739


def test_editions_page_one_at_a_time(stub: pb_grpc.ClassificationServiceStub) -> None:
    first = stub.ListEditions(pb.ListEditionsRequest(page_size=1), timeout=5)
    second = stub.ListEditions(
        pb.ListEditionsRequest(page_size=1, page_token=first.next_page_token), timeout=5
    )
    assert [first.editions[0].name, second.editions[0].name] == [
        "editions/2018",
        "editions/2010-trial",
    ]
    assert second.next_page_token == ""


def test_get_discipline_with_path(stub: pb_grpc.ClassificationServiceStub) -> None:
    got = stub.GetDiscipline(
        pb.GetDisciplineRequest(name="editions/2018/disciplines/A051801"), timeout=5
    )
    d = got.discipline
    assert (d.code, d.level, d.child_count) == ("A051801", 3, 0)
    assert d.parent == "editions/2018/disciplines/A0518"  # re-parented by prefix
    assert list(d.ancestors) == [
        "editions/2018/disciplines/A", "editions/2018/disciplines/A05", "editions/2018/disciplines/A0518",
    ]  # fmt: skip
    assert d.path_display_name.startswith("工程类 / ")


def test_list_all_disciplines_across_pages(stub: pb_grpc.ClassificationServiceStub) -> None:
    request = pb.ListDisciplinesRequest(parent="editions/2018", page_size=700)
    codes: list[str] = []
    while True:
        response = stub.ListDisciplines(request, timeout=5)
        assert response.total_size == 2140
        codes.extend(d.code for d in response.disciplines)
        if not response.next_page_token:
            break
        request.page_token = response.next_page_token
    assert len(codes) == 2140
    assert codes == sorted(codes)


def test_list_subtree_and_children(stub: pb_grpc.ClassificationServiceStub) -> None:
    below = stub.ListDisciplines(
        pb.ListDisciplinesRequest(
            parent="editions/2018", ancestor="editions/2018/disciplines/A0518"
        ),
        timeout=5,
    )
    assert [d.code for d in below.disciplines] == [f"A0518{n:02d}" for n in range(1, 6)]
    roots = stub.ListDisciplines(
        pb.ListDisciplinesRequest(parent="editions/2018", children_only=True), timeout=5
    )
    assert [d.code for d in roots.disciplines] == ["A", "B", "C"]
    first_level = stub.ListDisciplines(
        pb.ListDisciplinesRequest(
            parent="editions/2018", ancestor="editions/2018/disciplines/A", children_only=True
        ),
        timeout=5,
    )
    assert len(first_level.disciplines) == 9


def test_search_by_name_and_code(stub: pb_grpc.ClassificationServiceStub) -> None:
    found = stub.SearchDisciplines(
        pb.SearchDisciplinesRequest(parent="editions/2018", query="电气"), timeout=5
    )
    assert found.results[0].match_kind == pb.DisciplineMatch.MATCH_KIND_NAME_EXACT
    assert found.results[0].discipline.display_name == "电气"
    assert found.total_size >= 10
    by_code = stub.SearchDisciplines(
        pb.SearchDisciplinesRequest(parent="editions/2018", query="a080105"), timeout=5
    )
    assert [r.discipline.code for r in by_code.results] == ["A080105"]
    path = stub.SearchDisciplines(
        pb.SearchDisciplinesRequest(parent="editions/2018", query="建筑工程 电气"), timeout=5
    )
    assert "A080105" in [r.discipline.code for r in path.results]


@pytest.mark.parametrize(
    ("call", "request_message", "code", "reason", "field"),
    [
        ("GetEdition", pb.GetEditionRequest(name="editions/2030"), grpc.StatusCode.NOT_FOUND, "EDITION_NOT_FOUND", None),
        ("GetEdition", pb.GetEditionRequest(name="2018"), grpc.StatusCode.INVALID_ARGUMENT, "INVALID_REQUEST", "name"),
        ("GetDiscipline", pb.GetDisciplineRequest(name="editions/2018/disciplines/A99"), grpc.StatusCode.NOT_FOUND, "DISCIPLINE_NOT_FOUND", None),
        ("GetDiscipline", pb.GetDisciplineRequest(name=""), grpc.StatusCode.INVALID_ARGUMENT, "INVALID_REQUEST", "name"),
        ("ListDisciplines", pb.ListDisciplinesRequest(parent="editions/2018", page_size=-1), grpc.StatusCode.INVALID_ARGUMENT, "INVALID_REQUEST", "page_size"),
        ("ListDisciplines", pb.ListDisciplinesRequest(parent="editions/2018", page_token="forged"), grpc.StatusCode.INVALID_ARGUMENT, "INVALID_PAGE_TOKEN", "page_token"),
        ("ListDisciplines", pb.ListDisciplinesRequest(parent="editions/2018", ancestor="editions/2010-trial/disciplines/A"), grpc.StatusCode.INVALID_ARGUMENT, "INVALID_REQUEST", "ancestor"),
        ("ListDisciplines", pb.ListDisciplinesRequest(parent="editions/2018", ancestor="editions/2018/disciplines/A0999"), grpc.StatusCode.NOT_FOUND, "DISCIPLINE_NOT_FOUND", None),
        ("SearchDisciplines", pb.SearchDisciplinesRequest(parent="editions/2018", query="  "), grpc.StatusCode.INVALID_ARGUMENT, "INVALID_REQUEST", "query"),
        ("SearchDisciplines", pb.SearchDisciplinesRequest(parent="editions/2018", query="电" * 101), grpc.StatusCode.INVALID_ARGUMENT, "INVALID_REQUEST", "query"),
        ("SearchDisciplines", pb.SearchDisciplinesRequest(parent="editions/x", query="电"), grpc.StatusCode.NOT_FOUND, "EDITION_NOT_FOUND", None),
    ],
)  # fmt: skip
def test_bad_requests_get_clear_statuses(
    stub: pb_grpc.ClassificationServiceStub,
    call: str,
    request_message: object,
    code: grpc.StatusCode,
    reason: str,
    field: str | None,
) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        getattr(stub, call)(request_message, timeout=5)
    error = caught.value
    assert error.code() is code
    info = error_info(error)
    assert (info.domain, info.reason) == ("expertdraw.api", reason)
    if field is not None:
        assert field_violations(error) == [field]


def test_token_from_another_query_is_refused(stub: pb_grpc.ClassificationServiceStub) -> None:
    first = stub.SearchDisciplines(
        pb.SearchDisciplinesRequest(parent="editions/2018", query="工程", page_size=2), timeout=5
    )
    with pytest.raises(grpc.RpcError) as caught:
        stub.SearchDisciplines(
            pb.SearchDisciplinesRequest(
                parent="editions/2018", query="电气", page_token=first.next_page_token
            ),
            timeout=5,
        )
    assert error_info(caught.value).reason == "INVALID_PAGE_TOKEN"


def test_request_id_is_echoed(stub: pb_grpc.ClassificationServiceStub) -> None:
    _, call = stub.ListEditions.with_call(
        pb.ListEditionsRequest(), timeout=5, metadata=(("x-request-id", "abc-1"),)
    )
    assert ("x-request-id", "abc-1") in call.initial_metadata()
    _, call = stub.ListEditions.with_call(
        pb.ListEditionsRequest(), timeout=5, metadata=(("x-request-id", "bad id!"),)
    )
    generated = dict(call.initial_metadata())["x-request-id"]
    assert re.fullmatch("[0-9a-f]{32}", str(generated))
