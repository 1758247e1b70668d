"""Hypothesis against CreateExpert on both databases: valid records are stored, each kind
of invalid one gets INVALID_ARGUMENT naming its field, and nothing gets INTERNAL."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import TYPE_CHECKING

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from classification import read_edition
from expert_draw.api.v1 import expert_service_pb2 as pb
from expert_draw.api.v1 import expert_service_pb2_grpc as pb_grpc
from expert_draw.core import experts as experts_module
from expert_draw.core.identifiers import USCC_ALPHABET, resident_id_check, uscc_check
from tests.integration.grpc.helpers import field_violations
from tests.support import experts as sample
from tests.support.service import client_channel
from tests.support.tables import TABLE_2018

if TYPE_CHECKING:
    from cli.server import RunningService
    from tests.support.pki import Pki

EDITION = read_edition(TABLE_2018, "2018").edition
DEEP = sorted(d.code for d in EDITION if d.level >= 2)
BROAD = sorted(d.code for d in EDITION if d.level < 2)
COUNTER = itertools.count(1)
FUZZ = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def stub(service: RunningService, pki: Pki) -> pb_grpc.ExpertServiceStub:
    return pb_grpc.ExpertServiceStub(client_channel(pki, service.port, "admin"))


@st.composite
def resident_ids(draw: st.DrawFn, *, valid: bool = True) -> str:
    region = draw(st.sampled_from(["110105", "120101", "310115", "440305", "650102"]))
    birth = draw(st.dates(dt.date(1940, 1, 1), dt.date(2000, 12, 31))).strftime("%Y%m%d")
    first17 = region + birth + f"{draw(st.integers(0, 999)):03d}"
    check = resident_id_check(first17)
    if valid:
        return first17 + check
    return first17 + draw(st.sampled_from([c for c in "0123456789X" if c != check]))


@st.composite
def credit_codes(draw: st.DrawFn, *, valid: bool = True) -> str:
    first17 = "".join(draw(st.lists(st.sampled_from(USCC_ALPHABET), min_size=17, max_size=17)))
    check = uscc_check(first17)
    if valid:
        return first17 + check
    return first17 + draw(st.sampled_from([c for c in USCC_ALPHABET if c != check]))


@st.composite
def valid_experts(draw: st.DrawFn) -> pb.Expert:
    n = next(COUNTER)
    message = sample.expert(n)
    message.resident_id_number = draw(resident_ids())
    message.affiliations[0].organization_code = draw(credit_codes())
    codes = draw(st.lists(st.sampled_from(DEEP), min_size=1, max_size=4, unique=True))
    message.ClearField("disciplines")
    message.disciplines.extend(f"editions/2018/disciplines/{c}" for c in codes)
    return message


def call(stub: pb_grpc.ExpertServiceStub, message: pb.Expert) -> grpc.RpcError | None:
    try:
        stub.CreateExpert(
            pb.CreateExpertRequest(expert=message, request_id=f"fuzz-{next(COUNTER)}"), timeout=10
        )
    except grpc.RpcError as exc:
        return exc
    return None


@FUZZ
@given(st.data())
def test_valid_records_are_stored(stub: pb_grpc.ExpertServiceStub, data: st.DataObject) -> None:
    error = call(stub, data.draw(valid_experts()))
    # The same random 身份证号 twice is the only expected refusal.
    assert error is None or error.code() is grpc.StatusCode.ALREADY_EXISTS, error


@st.composite
def broken(draw: st.DrawFn, kind: str) -> tuple[pb.Expert, str]:
    """A valid expert with one field made invalid, and the field a violation must name."""
    message = draw(valid_experts())
    return message, _break(message, kind, draw)


def _break(message: pb.Expert, kind: str, draw: st.DrawFn) -> str:  # noqa: PLR0911 - one per kind
    if kind == "resident_id":
        message.resident_id_number = draw(resident_ids(valid=False))
        return "expert.resident_id_number"
    if kind == "credit_code":
        message.affiliations[0].organization_code = draw(credit_codes(valid=False))
        return "expert.affiliations[0].organization_code"
    if kind == "broad_discipline":
        message.disciplines[0] = f"editions/2018/disciplines/{draw(st.sampled_from(BROAD))}"
        return "expert.disciplines[0]"
    if kind == "unknown_discipline":
        message.disciplines[0] = f"editions/2018/disciplines/C{draw(st.integers(90, 99))}"
        return "expert.disciplines[0]"
    if kind == "malformed_discipline":
        message.disciplines[0] = draw(st.text(max_size=30))
        return "expert.disciplines[0]"
    if kind == "date":
        message.work_start_date.CopyFrom(
            sample.day(
                draw(st.integers(1, 9999)), draw(st.integers(13, 99)), draw(st.integers(0, 99))
            )
        )
        return "expert.work_start_date"
    if kind == "phone":
        message.phone = draw(
            st.text(max_size=15).filter(lambda s: not (len(s) == 11 and s.startswith("1")))
        )
        return "expert.phone"
    message.region_code = draw(
        st.text(max_size=8).filter(lambda s: not (len(s) == 6 and s.isdigit()))
    )
    return "expert.region_code"


KINDS = ["resident_id", "credit_code", "broad_discipline", "unknown_discipline", "malformed_discipline",
         "date", "phone", "region"]  # fmt: skip


@FUZZ
@given(st.data(), st.sampled_from(KINDS))
def test_each_invalid_field_is_named(
    stub: pb_grpc.ExpertServiceStub, data: st.DataObject, kind: str
) -> None:
    message, field = data.draw(broken(kind))
    error = call(stub, message)
    assert error is not None, f"{kind}: accepted"
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT, error
    assert field in field_violations(error)


@FUZZ
@given(
    st.text(max_size=80), st.text(max_size=30), st.text(max_size=30), st.text(max_size=300),
    st.lists(st.text(max_size=60), max_size=12), st.integers(-5, 2**31 - 1),
    st.integers(-(2**31), 2**31 - 1), st.integers(0, 10_000), st.integers(-5, 40),
)  # fmt: skip
def test_garbage_is_never_internal(
    stub: pb_grpc.ExpertServiceStub,
    name: str,
    number: str,
    phone: str,
    email: str,
    disciplines: list[str],
    level: int,
    library: int,
    year: int,
    month: int,
) -> None:
    message = pb.Expert(
        full_name=name, resident_id_number=number, phone=phone, email=email, disciplines=disciplines,
        title=pb.Title(level=level, title_name=name, obtained_date=sample.day(year, month, 1)),  # type: ignore[arg-type]
        library_type=library,  # type: ignore[arg-type]
        affiliations=[pb.Affiliation(kind=library, organization_code=number, start_date=sample.day(year))],  # type: ignore[arg-type]
    )  # fmt: skip
    error = call(stub, message)
    assert error is not None
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT, error
    assert field_violations(error)


@FUZZ
@given(
    st.lists(
        st.tuples(st.text(max_size=20), st.text(max_size=20), st.integers(-5, 40)),
        min_size=1,
        max_size=4,
    ),
    st.integers(-(2**31), 2**31 - 1),
    st.booleans(),
)
def test_import_garbage_is_never_internal(
    stub: pb_grpc.ExpertServiceStub,
    cells: list[tuple[str, str, int]],
    first_row: int,
    validate_only: bool,
) -> None:
    rows = [
        pb.Expert(resident_id_number=number, phone=phone, full_name=number, region_code=phone,
                  disciplines=[phone], title=pb.Title(level=level, obtained_date=sample.day(2000, level % 14, 1)))  # type: ignore[arg-type]
        for number, phone, level in cells
    ]  # fmt: skip
    request = pb.ImportExpertsRequest(request_id=f"fuzz-import-{next(COUNTER)}", validate_only=validate_only,
                                      first_row=first_row, experts=rows)  # fmt: skip
    outcome: grpc.RpcError | pb.ImportExpertsResponse
    try:
        outcome = stub.ImportExperts(iter([request]), timeout=10)
    except grpc.RpcError as error:
        outcome = error
    if isinstance(outcome, grpc.RpcError):
        assert outcome.code() is grpc.StatusCode.INVALID_ARGUMENT, outcome
        assert field_violations(outcome)
    else:
        assert validate_only
        assert outcome.problem_count > 0


@FUZZ
@given(
    st.lists(st.sampled_from([*sorted(experts_module.UPDATABLE), "resident_id_number", "name", "title.level", ""]),
             max_size=4),
    st.text(max_size=12), st.text(max_size=12), st.integers(-3, 9),
)  # fmt: skip
def test_update_garbage_is_never_internal(
    stub: pb_grpc.ExpertServiceStub, paths: list[str], phone: str, region: str, number: int
) -> None:
    target = stub.CreateExpert(pb.CreateExpertRequest(expert=sample.expert(900), request_id="fuzz-update-target"),
                               timeout=10).expert  # fmt: skip
    change = pb.Expert(name=target.name, phone=phone, region_code=region, email=phone)
    change.education = number  # type: ignore[assignment]  # unknown enum numbers too
    change.library_type = number  # type: ignore[assignment]
    change.review = number  # type: ignore[assignment]
    request = pb.UpdateExpertRequest(expert=change, update_mask=FieldMask(paths=paths),
                                     request_id=f"fuzz-update-{next(COUNTER)}")  # fmt: skip
    failed: grpc.RpcError | None = None
    try:
        stub.UpdateExpert(request, timeout=10)
    except grpc.RpcError as error:
        failed = error
    if failed is not None:
        assert failed.code() in {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.ABORTED}, failed
