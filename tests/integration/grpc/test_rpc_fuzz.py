"""Hostile input against every RPC of every business service, on both databases.

Requests are generated from the message descriptors (so a new RPC or field is fuzzed
without touching this file): random and huge strings, odd but valid UTF-8, random
bytes, integer extremes, unknown enum numbers, extreme Timestamps, random FieldMasks,
real resource names of other callers. Whatever comes in, the answer is never INTERNAL,
UNKNOWN or DATA_LOSS, the server stays healthy, and a refused request writes nothing.

Also here: strings that are not UTF-8 on the wire, forged and replayed page tokens, and
a second trading system against every DrawService RPC that names the first one's draw.
"""

from __future__ import annotations

import base64
import itertools
import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from google.protobuf import descriptor as _descriptor
from google.protobuf.field_mask_pb2 import FieldMask
from google.protobuf.message_factory import GetMessageClass
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlmodel import SQLModel

from audit_log import sqlstore
from expert_draw.adapters.grpc.access import SERVICE_ROLES, allowed_roles
from expert_draw.api.v1 import audit_service_pb2 as audit_pb
from expert_draw.api.v1 import audit_service_pb2_grpc as audit_grpc
from expert_draw.api.v1 import classification_service_pb2 as class_pb
from expert_draw.api.v1 import classification_service_pb2_grpc as class_grpc
from expert_draw.api.v1 import draw_service_pb2 as draw_pb
from expert_draw.api.v1 import draw_service_pb2_grpc as draw_grpc
from expert_draw.api.v1 import expert_service_pb2 as expert_pb
from expert_draw.api.v1 import expert_service_pb2_grpc as expert_grpc
from expert_draw.api.v1 import stats_service_pb2 as stats_pb
from expert_draw.core import paging
from tests.integration.grpc.helpers import error_info, field_violations
from tests.support import experts as sample
from tests.support.service import client_channel

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from google.protobuf.message import Message

    from cli.server import RunningService
    from tests.support.pki import Pki

FD = _descriptor.FieldDescriptor
Code = grpc.StatusCode
NEVER = frozenset({Code.INTERNAL, Code.UNKNOWN, Code.DATA_LOSS})
# A refusal with one of these codes must leave every table as it was. FAILED_PRECONDITION
# is left out on purpose: some refusals are evidence and are logged (a second nonce).
REFUSALS = frozenset({Code.INVALID_ARGUMENT, Code.NOT_FOUND, Code.PERMISSION_DENIED,
                      Code.UNAUTHENTICATED, Code.ALREADY_EXISTS, Code.ABORTED,
                      Code.OUT_OF_RANGE, Code.RESOURCE_EXHAUSTED})  # fmt: skip
ROLES = ("admin", "supervisor", "trading_system", "trading_system_b", "unmapped")
FUZZ = settings(
    max_examples=int(os.environ.get("RPC_FUZZ_EXAMPLES", "12")),
    deadline=None,
    derandomize=False,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                           HealthCheck.data_too_large],
)  # fmt: skip
MODULES = (audit_pb, class_pb, draw_pb, expert_pb, stats_pb)
SERVICES = [s for m in MODULES for s in m.DESCRIPTOR.services_by_name.values()]
METHODS = [m for s in SERVICES for m in s.methods]
DAY_MS = 86_400_000
A0101 = "editions/2018/disciplines/A0101"
LIBRARY = 24
HUGE = 1_000_000  # under the 4 MiB message limit, with room for the rest
_ids = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}-{next(_ids)}-{os.getpid()}"


def path_of(method: _descriptor.MethodDescriptor) -> str:
    return f"/{method.containing_service.full_name}/{method.name}"


def test_every_business_service_is_fuzzed() -> None:
    """The services fuzzed here are every expert_draw service the access table knows."""
    known = {name for name in SERVICE_ROLES if name.startswith("expert_draw.")}
    assert {s.full_name for s in SERVICES} == known


# -- a request for any descriptor ---------------------------------------------------------

ODD_TEXT = [
    "", " ", "\x00", "a\x00b", "\t\n\r", "\u200b", "\ufeff", "\u202e\u202dabc", "e\u0301",
    "\u00e9", "\U0010ffff", "\ufffd", "\ud7ff", "\ue000", "𝕏𝕐", "👩‍👩‍👧", "字" * 70,
    "A" * 65, "a" * 57, "..", "../../etc/passwd", "%00", "' OR 1=1 --", "\\x00", "null",
    "draws/", "draws/-", "draws/A", "draws/" + "a" * 57, "experts/", "entries/-1",
    "entries/" + "9" * 19, "checkpoints/" + "9" * 18, "editions/2018/disciplines/",
    "editions/../disciplines/A01", "editions/2018/disciplines/A0101/x", "0" * 64,
]  # fmt: skip
INT_BOUNDS = {
    FD.TYPE_INT32: (-(2**31), 2**31 - 1), FD.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FD.TYPE_SFIXED32: (-(2**31), 2**31 - 1), FD.TYPE_INT64: (-(2**63), 2**63 - 1),
    FD.TYPE_SINT64: (-(2**63), 2**63 - 1), FD.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FD.TYPE_UINT32: (0, 2**32 - 1), FD.TYPE_FIXED32: (0, 2**32 - 1),
    FD.TYPE_UINT64: (0, 2**64 - 1), FD.TYPE_FIXED64: (0, 2**64 - 1),
}  # fmt: skip


def integers(low: int, high: int) -> st.SearchStrategy[int]:
    edges = [v for v in (0, 1, -1, 2, 20, 50, 99, 100, 1000, 1001, 2**31 - 1, -(2**31),
                         2**53 - 1, 2**53, 2**63 - 2, 2**63 - 1, -(2**63), 2**64 - 1)
             if low <= v <= high]  # fmt: skip
    return st.one_of(st.sampled_from(edges), st.integers(low, high))


@dataclass
class Pools:
    """Real values of the running service a fuzzer can use: names, ids, tokens."""

    strings: list[str] = field(default_factory=list)
    blobs: list[bytes] = field(default_factory=list)


def strings(pools: Pools) -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(pools.strings),
        st.sampled_from(ODD_TEXT),
        st.text(max_size=40),
        st.from_regex(r"[A-Za-z0-9._:-]{1,64}", fullmatch=True),  # request ids
        st.builds(
            lambda prefix, rest: prefix + rest,
            st.sampled_from(
                [
                    "draws/",
                    "experts/",
                    "entries/",
                    "checkpoints/",
                    "editions/",
                    "editions/2018/disciplines/",
                    "editions/2010-trial/",
                ]
            ),
            st.text(max_size=24),
        ),
    )


def blobs(pools: Pools) -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.sampled_from(pools.blobs),
        st.binary(max_size=64),
        st.sampled_from([8, 16, 32, 48]).flatmap(lambda n: st.binary(min_size=n, max_size=n)),
    )


def timestamps() -> st.SearchStrategy[Timestamp]:
    seconds = st.one_of(
        integers(-(2**63), 2**63 - 1),
        st.integers(-62_135_596_800, 253_402_300_799),  # Timestamp's valid range
        st.just(int(time.time()) + 5 * 86_400),
    )
    nanos = st.one_of(st.just(0), integers(-(2**31), 2**31 - 1), st.integers(0, 999_999_999))
    return st.builds(lambda s, n: Timestamp(seconds=s, nanos=n), seconds, nanos)


def field_values(  # noqa: PLR0911 - one strategy per field type
    fd: _descriptor.FieldDescriptor, pools: Pools, depth: int
) -> st.SearchStrategy[Any] | None:
    """A strategy for one value of ``fd`` (None: leave the field unset)."""
    kind = fd.type
    if kind == FD.TYPE_STRING:
        return strings(pools)
    if kind == FD.TYPE_BYTES:
        return blobs(pools)
    if kind in INT_BOUNDS:
        return integers(*INT_BOUNDS[kind])
    if kind == FD.TYPE_BOOL:
        return st.booleans()
    if kind in (FD.TYPE_DOUBLE, FD.TYPE_FLOAT):
        return st.floats(width=64 if kind == FD.TYPE_DOUBLE else 32)
    if kind == FD.TYPE_ENUM:
        assert fd.enum_type is not None
        known = [v.number for v in fd.enum_type.values]
        return st.one_of(st.sampled_from(known), integers(-(2**31), 2**31 - 1))
    if kind == FD.TYPE_MESSAGE:
        assert fd.message_type is not None
        return messages(fd.message_type, pools, depth + 1)
    raise AssertionError(f"field type {kind} of {fd.full_name} is not fuzzed")  # pragma: no cover


def messages(
    descriptor: _descriptor.Descriptor, pools: Pools, depth: int = 0
) -> st.SearchStrategy[Message] | None:
    """Arbitrary instances of ``descriptor`` (None below the depth limit)."""
    if descriptor.full_name == "google.protobuf.Timestamp":
        return timestamps()
    if descriptor.full_name == "google.protobuf.FieldMask":
        paths = st.lists(st.one_of(
            st.sampled_from([f.name for f in expert_pb.Expert.DESCRIPTOR.fields]),
            st.sampled_from(["", "*", "title.level", "affiliations.0", "name.x"]),
            st.text(max_size=20)), max_size=5)  # fmt: skip
        return st.builds(lambda p: FieldMask(paths=p), paths)
    if depth > 2:
        return None
    assert not descriptor.GetOptions().map_entry, "map fields need a strategy"
    fields = [(fd, field_values(fd, pools, depth)) for fd in descriptor.fields]
    return _compose(GetMessageClass(descriptor), fields)


def _compose(
    cls: type[Message], fields: list[tuple[_descriptor.FieldDescriptor, Any]]
) -> st.SearchStrategy[Message]:
    @st.composite
    def build(draw: st.DrawFn) -> Message:
        message = cls()
        for fd, values in fields:
            if values is None or not draw(st.booleans()):
                continue
            target = getattr(message, fd.name)
            if fd.is_repeated:
                items = draw(st.lists(values, max_size=3))
                if fd.type == FD.TYPE_MESSAGE:
                    for item in items:
                        target.add().CopyFrom(item)
                else:
                    target.extend(items)
            elif fd.type == FD.TYPE_MESSAGE:
                target.CopyFrom(draw(values))
            else:
                setattr(message, fd.name, draw(values))
        return message

    return build()


class Fuzzed:
    """A fuzzed request whose repr stays short (a failing example may hold 1 MB)."""

    def __init__(self, message: Message) -> None:
        self.message = message

    def __repr__(self) -> str:
        text = repr(self.message)
        return text if len(text) <= 600 else f"{text[:600]}... ({len(text)} characters)"


@st.composite
def requests(draw: st.DrawFn, descriptor: _descriptor.Descriptor, pools: Pools) -> Fuzzed:
    """A fuzzed request; one in four has a string or bytes field of about 1 MB."""
    strategy = messages(descriptor, pools)
    assert strategy is not None
    message = draw(strategy)
    big = [fd for fd in descriptor.fields if fd.type in (FD.TYPE_STRING, FD.TYPE_BYTES)]
    if big and draw(st.integers(0, 3)) == 0:
        fd = draw(st.sampled_from(big))
        unit = draw(st.sampled_from(["a", "字", "draws/a", "\u0301"]))
        value: str | bytes = unit * (HUGE // len(unit.encode()))
        if fd.type == FD.TYPE_BYTES:
            value = value.encode()  # type: ignore[union-attr]
        if fd.is_repeated:
            getattr(message, fd.name).append(value)
        else:
            setattr(message, fd.name, value)
    return Fuzzed(message)


# -- calling any method ---------------------------------------------------------------------


def send(
    channel: grpc.Channel,
    method: _descriptor.MethodDescriptor,
    batch: Sequence[Any],
    serializer: Callable[[Any], bytes] | None,
    timeout: float,
) -> None:
    """Call ``method`` with ``batch`` (one request unless client-streaming); responses
    of a server-streaming method are read to the end."""
    factories: dict[tuple[bool, bool], Any] = {
        (False, False): channel.unary_unary, (True, False): channel.stream_unary,
        (False, True): channel.unary_stream, (True, True): channel.stream_stream,
    }  # fmt: skip
    factory = factories[method.client_streaming, method.server_streaming]
    reply = GetMessageClass(method.output_type).FromString
    stub = factory(path_of(method), request_serializer=serializer, response_deserializer=reply)
    result = stub(iter(batch) if method.client_streaming else batch[0], timeout=timeout)
    if method.server_streaming:
        for _ in result:
            pass


def invoke(
    channel: grpc.Channel, method: _descriptor.MethodDescriptor, batch: Sequence[Message]
) -> grpc.StatusCode:
    """Call ``method`` with ``batch`` (one request unless client-streaming); the status.

    Server-streaming responses are read to the end (or the deadline, for a stream
    that follows the log).
    """
    timeout = 0.5 if method.server_streaming else 30.0
    try:
        send(channel, method, batch, lambda m: m.SerializeToString(), timeout)
    except grpc.RpcError as error:
        code: grpc.StatusCode = error.code()
        if code in NEVER:
            raise AssertionError(f"{path_of(method)}: {code.name} {error.details()}") from error
        return code
    return Code.OK


TABLES = sorted({*SQLModel.metadata.tables.values(), *sqlstore.metadata.tables.values()},
                key=lambda t: t.name)  # fmt: skip


def _business(counts: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in counts.items() if not k.startswith("audit_") and k != "log size"}


def snapshot(service: RunningService) -> dict[str, int]:
    """The row count of every table (library, draws, audit log: entries, head, requests
    and checkpoints) in one query, and the log's size from its head row."""
    counts = [select(func.count()).select_from(t).scalar_subquery() for t in TABLES]
    size = select(func.coalesce(func.max(sqlstore.head_table.c.size), -1)).scalar_subquery()
    with service.engine.connect() as conn:
        row = conn.execute(select(*counts, size)).one()
    return {**{t.name: int(n) for t, n in zip(TABLES, row, strict=False)}, "log size": int(row[-1])}


# -- the module's world: a library, draws, names and tokens of other callers ----------------


@dataclass
class World:
    service: RunningService
    channels: dict[str, grpc.Channel]
    pools: Pools
    draw_a: str = ""  # trading system A's executed draw
    panel_a: list[bytes] = field(default_factory=list)
    tokens: dict[str, str] = field(default_factory=dict)  # method -> a real next_page_token

    def __repr__(self) -> str:
        return f"World({self.draw_a})"

    def draws(self, role: str) -> draw_grpc.DrawServiceStub:
        return draw_grpc.DrawServiceStub(self.channels[role])


def stamp(ms: int) -> Timestamp:
    value = Timestamp()
    value.FromMilliseconds(ms)
    return value


def draw_request(tenderer: int, days: int) -> draw_pb.CreateDrawRequest:
    start = int(time.time() * 1000) + days * DAY_MS
    return draw_pb.CreateDrawRequest(
        tender_id=unique("T"), lot_id="1", project_code=unique("P"), project_name="某道路工程",
        disciplines=[draw_pb.DisciplineQuota(discipline=A0101, seats=5, reserves=2)],
        conflicts=draw_pb.ConflictInputs(tenderer=sample.uscc(tenderer)),
        evaluation_start_time=stamp(start), evaluation_end_time=stamp(start + DAY_MS // 2),
        venue_region="120101", request_id=unique("create"),
    )  # fmt: skip


def executed_draw(world: World, role: str, tenderer: int, days: int) -> draw_pb.ExecuteDrawResponse:
    stub = world.draws(role)
    draw = stub.CreateDraw(draw_request(tenderer, days), timeout=30).draw
    return stub.ExecuteDraw(
        draw_pb.ExecuteDrawRequest(name=draw.name, nonce=os.urandom(32), request_id=unique("ex")),
        timeout=30,
    )


@pytest.fixture(scope="module")
def world(service: RunningService, pki: Pki) -> Iterator[World]:
    channels = {role: client_channel(pki, service.port, role) for role in ROLES}
    world = World(service, channels, Pools())
    admin = expert_grpc.ExpertServiceStub(channels["admin"])
    experts = [
        admin.CreateExpert(
            expert_pb.CreateExpertRequest(expert=sample.expert(n), request_id=f"lib-{n}"),
            timeout=10,
        ).expert
        for n in range(300, 300 + LIBRARY)
    ]
    done_a = executed_draw(world, "trading_system", 9300, 3)
    world.draw_a = done_a.draw.name
    world.panel_a = [m.pseudonym for m in done_a.panel]
    done_b = executed_draw(world, "trading_system_b", 9301, 5)
    committed = world.draws("trading_system").CreateDraw(draw_request(9302, 7), timeout=30).draw
    for role, method, message in (
        ("supervisor", "ListDraws", draw_pb.ListDrawsRequest(page_size=1)),
        ("trading_system", "ListDraws", draw_pb.ListDrawsRequest(page_size=1)),
        ("supervisor", "ListEntries", audit_pb.ListEntriesRequest(page_size=1)),
        ("supervisor", "ListCheckpoints", audit_pb.ListCheckpointsRequest(page_size=1)),
        ("admin", "ListExperts", expert_pb.ListExpertsRequest(page_size=1)),
        ("admin", "ListEditions", class_pb.ListEditionsRequest(page_size=1)),
        ("admin", "ListDisciplines",
         class_pb.ListDisciplinesRequest(parent="editions/2018", page_size=1)),
        ("admin", "SearchDisciplines",
         class_pb.SearchDisciplinesRequest(parent="editions/2018", query="A01", page_size=1)),
    ):  # fmt: skip
        token = unary(world, role, method, message).next_page_token  # type: ignore[attr-defined]
        assert token, method
        world.tokens[f"{role}:{method}"] = token
    world.pools.strings = [
        world.draw_a, done_b.draw.name, committed.name, *(e.name for e in experts),
        *(m.expert for m in done_a.panel), "entries/0", "entries/1", "checkpoints/1",
        "editions/2018", "editions/2010-trial", A0101, "editions/2018/disciplines/A010101",
        "A0101", "120101", "TENDER_CANCELLED", "SIGNED_DECLINE", "sms", "STATE_EXECUTED",
        sample.uscc(1), sample.resident_id(1), *world.tokens.values(),
    ]  # fmt: skip
    world.pools.blobs = [*world.panel_a, *(m.pseudonym for m in done_b.panel), os.urandom(32),
                         bytes(48), b"evidence"]  # fmt: skip
    yield world
    for channel in channels.values():
        channel.close()


def unary(world: World, role: str, method: str, message: Message) -> Message:
    service = {
        "ListDraws": draw_grpc.DrawServiceStub, "ListEntries": audit_grpc.AuditServiceStub,
        "ListCheckpoints": audit_grpc.AuditServiceStub,
        "ListExperts": expert_grpc.ExpertServiceStub,
    }.get(method, class_grpc.ClassificationServiceStub)  # fmt: skip
    stub = service(world.channels[role])
    result: Message = getattr(stub, method)(message, timeout=10)
    return result


def healthy(world: World) -> None:
    """The server answers a health check and a read on the main port."""
    stub = health_pb2_grpc.HealthStub(world.channels["admin"])
    answer = stub.Check(health_pb2.HealthCheckRequest(), timeout=10)
    assert answer.status == health_pb2.HealthCheckResponse.SERVING
    audit = audit_grpc.AuditServiceStub(world.channels["admin"])
    audit.GetServiceInfo(audit_pb.GetServiceInfoRequest(), timeout=10)


# -- 1. every RPC, every role, fuzzed --------------------------------------------------------


def _role_for(method: _descriptor.MethodDescriptor) -> st.SearchStrategy[str]:
    allowed = sorted(r.value for r in allowed_roles(path_of(method)))
    mapped = {"trading_system": ["trading_system", "trading_system_b"]}
    callers = [c for r in allowed for c in mapped.get(r, [r])]
    # Mostly a role that gets past the access check; sometimes any role at all.
    if not callers:
        return st.sampled_from(ROLES)
    return st.integers(0, 4).flatmap(
        lambda n: st.sampled_from(ROLES) if n == 0 else st.sampled_from(callers)
    )


@pytest.mark.parametrize("method", METHODS, ids=lambda m: f"{m.containing_service.name}.{m.name}")
def test_fuzzed_requests_are_never_internal_and_refusals_write_nothing(
    world: World, method: _descriptor.MethodDescriptor
) -> None:
    """Every RPC of every business service, as every role, with fuzzed requests."""

    @FUZZ
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        role = data.draw(_role_for(method), label="role")
        count = data.draw(st.integers(1, 3)) if method.client_streaming else 1
        batch = [data.draw(requests(method.input_type, world.pools)).message for _ in range(count)]
        before = snapshot(world.service)
        code = invoke(world.channels[role], method, batch)
        event(code.name)  # see --hypothesis-show-statistics
        after = snapshot(world.service)
        assert after["audit_entry"] == after["log size"], "the log's head and entries disagree"
        if code in REFUSALS:
            assert after == before, f"{method.name} as {role}: {code.name} wrote"
        if code is Code.FAILED_PRECONDITION:  # a refusal may be logged, but changes nothing else
            assert _business(after) == _business(before), f"{method.name} as {role} wrote"
        if code is Code.DEADLINE_EXCEEDED:
            assert method.server_streaming, f"{method.name} timed out"

    run()
    healthy(world)


def test_times_out_of_range_are_invalid_not_internal(world: World) -> None:
    """Regression: Timestamp.ToMilliseconds raises ValueError beyond year 9999 or for
    negative nanos, and CreateDraw and RecordOpening answered INTERNAL."""
    stub = world.draws("trading_system")
    for start, end in ((Timestamp(seconds=1_796_128_587), Timestamp(seconds=2**53 - 1)),
                       (Timestamp(seconds=-(2**63)), Timestamp(seconds=1_796_128_587)),
                       (Timestamp(seconds=1_796_128_587, nanos=-1),
                        Timestamp(seconds=1_796_128_600, nanos=2**31 - 1))):  # fmt: skip
        message = draw_request(9303, 9)
        message.evaluation_start_time.CopyFrom(start)
        message.evaluation_end_time.CopyFrom(end)
        before = snapshot(world.service)
        with pytest.raises(grpc.RpcError) as caught:
            stub.CreateDraw(message, timeout=30)
        assert caught.value.code() is Code.INVALID_ARGUMENT, caught.value
        assert {"evaluation_start_time", "evaluation_end_time"} & set(
            field_violations(caught.value)
        )
        assert snapshot(world.service) == before
    for stamp_ in (Timestamp(seconds=2**62), Timestamp(seconds=5, nanos=-5)):
        before = snapshot(world.service)
        with pytest.raises(grpc.RpcError) as caught:
            stub.RecordOpening(
                draw_pb.RecordOpeningRequest(name=world.draw_a, open_time=stamp_,
                                             request_id=unique("open")),
                timeout=10,
            )  # fmt: skip
        assert caught.value.code() is Code.INVALID_ARGUMENT, caught.value
        assert field_violations(caught.value) == ["open_time"]
        assert snapshot(world.service) == before


def test_beacon_rounds_beyond_the_logs_integers_are_invalid(world: World) -> None:
    """Regression: a round above 2^53 - 1 reached the log's canonical encoding (aud1
    integers) and SubmitBeacon answered INTERNAL (CanonicalError)."""
    for round_ in (2**53, 99_277_104_605_131_120, 2**64 - 1):
        before = snapshot(world.service)
        with pytest.raises(grpc.RpcError) as caught:
            world.draws("trading_system").SubmitBeacon(
                draw_pb.SubmitBeaconRequest(name=world.draw_a, round=round_, signature=bytes(48),
                                            request_id=unique("beacon")),
                timeout=10,
            )  # fmt: skip
        assert caught.value.code() is Code.INVALID_ARGUMENT, caught.value
        assert field_violations(caught.value) == ["round"]
        assert snapshot(world.service) == before


def test_entry_filters_with_control_characters_are_invalid(world: World) -> None:
    """Regression (found by this fuzzer in CI): ListEntries with subject "\\x00" answered
    INTERNAL on PostgreSQL, which refuses a NUL in a text parameter."""
    stub = audit_grpc.AuditServiceStub(world.channels["supervisor"])
    for name, value in (("subject", "\x00"), ("subject", "draws/\n"), ("kind", "draw.\x00")):
        asked = audit_pb.ListEntriesRequest()
        setattr(asked, name, value)
        with pytest.raises(grpc.RpcError) as caught:
            stub.ListEntries(asked, timeout=10)
        assert caught.value.code() is Code.INVALID_ARGUMENT, caught.value
        assert field_violations(caught.value) == [name]


# -- 2. strings that are not UTF-8 on the wire ----------------------------------------------


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _length_delimited(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


BAD_UTF8 = [b"\xff\xfe", b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"ok\xc0\xafok"]


def _bad_strings(
    descriptor: _descriptor.Descriptor, depth: int = 0
) -> Iterator[tuple[str, Callable[[bytes], bytes]]]:
    """(field path, wire bytes of a message whose string at that path is ``payload``)."""
    for fd in descriptor.fields:
        name = fd.name + ("[0]" if fd.is_repeated else "")
        if fd.type == FD.TYPE_STRING:
            yield name, _field_wire(fd.number)
        elif fd.message_type is not None and depth < 2:
            for path, inner in _bad_strings(fd.message_type, depth + 1):
                yield f"{name}.{path}", _field_wire(fd.number, inner)


def _field_wire(
    number: int, inner: Callable[[bytes], bytes] | None = None
) -> Callable[[bytes], bytes]:
    def wire(payload: bytes) -> bytes:
        return _length_delimited(number, payload if inner is None else inner(payload))

    return wire


def _raw_call(
    channel: grpc.Channel, method: _descriptor.MethodDescriptor, wire: bytes
) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        send(channel, method, [wire], None, 10)
    return caught.value


STRING_METHODS = [m for m in METHODS if any(True for _ in _bad_strings(m.input_type))]


@pytest.mark.parametrize("method", STRING_METHODS, ids=lambda m: m.name)
def test_strings_that_are_not_utf8_are_invalid_argument(
    world: World, method: _descriptor.MethodDescriptor
) -> None:
    """Every string field (nested ones too) of every request, carrying bytes that are not
    UTF-8: INVALID_ARGUMENT (gRPC itself would answer INTERNAL "Exception deserializing
    request!"), and nothing is written."""
    allowed = sorted(r.value for r in allowed_roles(path_of(method)))
    channel = world.channels[allowed[0]]
    for i, (path, wire_of) in enumerate(_bad_strings(method.input_type)):
        before = snapshot(world.service)
        error = _raw_call(channel, method, wire_of(BAD_UTF8[i % len(BAD_UTF8)]))
        assert error.code() is Code.INVALID_ARGUMENT, (path, error)
        assert error_info(error).reason == "INVALID_REQUEST"
        assert field_violations(error) == [path]
        assert snapshot(world.service) == before, path


def test_malformed_wire_bytes_are_invalid_argument(world: World) -> None:
    """Truncated varints, lengths past the end, a group tag: INVALID_ARGUMENT too; a
    caller without the role still gets PERMISSION_DENIED first."""
    method = draw_pb.DESCRIPTOR.services_by_name["DrawService"].methods_by_name["GetDraw"]
    for wire in (
        b"\x0a\xff\xff\xff\xff\x0f",
        b"\x0a\x05ab",
        b"\x08",
        b"\x0b",
        b"\xff",
        b"\x0a\x05\xff\xff",
    ):
        error = _raw_call(world.channels["trading_system"], method, wire)
        assert error.code() is Code.INVALID_ARGUMENT, (wire, error)
        assert field_violations(error) == [""]
    error = _raw_call(world.channels["admin"], method, b"\x0a\x02\xff\xfe")
    assert error.code() is Code.PERMISSION_DENIED, error


# -- 3. page tokens and page sizes ------------------------------------------------------------

LIST_METHODS = [m for m in METHODS if "page_token" in m.input_type.fields_by_name]
# method -> (role, the request's other fields, the repeated field of the response)
LISTS: dict[str, tuple[str, dict[str, Any], str]] = {
    "ListDraws": ("trading_system", {}, "draws"),
    "ListEntries": ("supervisor", {}, "entries"),
    "ListCheckpoints": ("supervisor", {}, "checkpoints"),
    "ListExperts": ("admin", {}, "experts"),
    "ListEditions": ("admin", {}, "editions"),
    "ListDisciplines": ("admin", {"parent": "editions/2018"}, "disciplines"),
    "SearchDisciplines": ("admin", {"parent": "editions/2018", "query": "A01"}, "results"),
}


def list_call(
    world: World, method: _descriptor.MethodDescriptor, role: str | None = None, **fields: Any
) -> Message:
    default_role, base, _ = LISTS[method.name]
    message = GetMessageClass(method.input_type)(**{**base, **fields})
    reply = GetMessageClass(method.output_type).FromString
    call: Any = world.channels[role or default_role].unary_unary(
        path_of(method), request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=reply,
    )  # fmt: skip
    result: Message = call(message, timeout=10)
    return result


def test_every_list_method_is_covered() -> None:
    assert {m.name for m in LIST_METHODS} == set(LISTS)


def _forgeries(world: World, method: str) -> list[str]:
    own = world.tokens[f"{LISTS[method][0]}:{method}"]
    raw = base64.urlsafe_b64decode(own + "=" * (-len(own) % 4))
    flipped = raw[:-1] + bytes([raw[-1] ^ 1])  # the query key's last bit
    return [
        own[:-3], own[:4], own + "AAAA", "!!!!", "%%%", "A" * 65, "=" * 8, "\u5b57" * 10,
        base64.urlsafe_b64encode(flipped).decode().rstrip("="),
        base64.urlsafe_b64encode(b"p2" + raw[2:]).decode(),
        base64.urlsafe_b64encode(b"k1" + bytes(16)).decode(),
        base64.urlsafe_b64encode(b"p1" + bytes(12)).decode(),
        *(t for k, t in world.tokens.items() if not k.endswith(f":{method}")),  # other methods
    ]  # fmt: skip


@pytest.mark.parametrize("method", LIST_METHODS, ids=lambda m: m.name)
def test_forged_and_foreign_page_tokens_are_invalid(
    world: World, method: _descriptor.MethodDescriptor
) -> None:
    """Truncated, garbage, bit-flipped, version-swapped, and other List methods' tokens."""
    for token in _forgeries(world, method.name):
        with pytest.raises(grpc.RpcError) as caught:
            list_call(world, method, page_token=token)
        assert caught.value.code() is Code.INVALID_ARGUMENT, (token, caught.value)
        assert field_violations(caught.value) == ["page_token"], token


@pytest.mark.parametrize("method", LIST_METHODS, ids=lambda m: m.name)
def test_page_sizes_are_capped_and_negative_is_invalid(
    world: World, method: _descriptor.MethodDescriptor
) -> None:
    items = LISTS[method.name][2]
    page = list_call(world, method, page_size=2**31 - 1)
    assert len(getattr(page, items)) <= paging.MAX_PAGE_SIZE
    for size in (-1, -(2**31)):
        with pytest.raises(grpc.RpcError) as caught:
            list_call(world, method, page_size=size)
        assert caught.value.code() is Code.INVALID_ARGUMENT
        assert field_violations(caught.value) == ["page_size"]


def _reposition(token: str, position: int) -> str:
    """``token`` with its position replaced: the query key stays, so it is accepted as
    belonging to the query (the key is a hash of the query, no secret)."""
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    width = 8 if raw[:2] == b"k1" else 4  # keyset cursors: u64; offsets: u32
    body = raw[:2] + position.to_bytes(width, "big") + raw[2 + width :]
    return base64.urlsafe_b64encode(body).decode().rstrip("=")


@pytest.mark.parametrize("method", LIST_METHODS, ids=lambda m: m.name)
def test_well_keyed_tokens_at_any_position_are_never_internal(
    world: World, method: _descriptor.MethodDescriptor
) -> None:
    """Regression: a keyset token past 2^31 - 1 reached PostgreSQL's INTEGER id column of
    draws and experts and came back INTERNAL ("integer out of range")."""
    for key, token in world.tokens.items():
        role, name = key.split(":")
        if name != method.name:
            continue
        for position in (0, 1, 2**31 - 1, 2**31, 2**32 - 1, 2**53, 2**63 - 3, 2**63, 2**64 - 1):
            width = 8 if token.startswith("azE") else 4  # "k1" in base64
            if position >= 2 ** (8 * width):
                continue
            forged = _reposition(token, position)
            error: grpc.RpcError | None = None
            try:
                list_call(world, method, role, page_token=forged, page_size=1)
            except grpc.RpcError as exc:
                error = exc
            if error is not None:
                assert error.code() is Code.INVALID_ARGUMENT, (role, position, error)
                assert field_violations(error) == ["page_token"]


def _all_draws(world: World, role: str) -> set[str]:
    names: set[str] = set()
    token = ""
    while True:
        page = world.draws(role).ListDraws(
            draw_pb.ListDrawsRequest(page_size=1, page_token=token), timeout=10
        )
        names.update(d.name for d in page.draws)
        token = page.next_page_token
        if not token:
            return names


def test_another_trading_systems_tokens_show_it_nothing(world: World) -> None:
    """B replaying A's ListDraws token, or the supervisors' one: INVALID_ARGUMENT. A
    token B forges with B's own query key (the key is no secret) at any position still
    lists only B's draws."""
    method = draw_pb.DESCRIPTOR.services_by_name["DrawService"].methods_by_name["ListDraws"]
    for token in (world.tokens["trading_system:ListDraws"], world.tokens["supervisor:ListDraws"]):
        with pytest.raises(grpc.RpcError) as caught:
            list_call(world, method, "trading_system_b", page_token=token)
        assert caught.value.code() is Code.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as caught:
        list_call(world, method, "trading_system",
                  page_token=world.tokens["supervisor:ListDraws"])  # fmt: skip
    assert caught.value.code() is Code.INVALID_ARGUMENT
    mine = _all_draws(world, "trading_system_b")
    assert mine
    assert world.draw_a not in mine
    assert not mine & _all_draws(world, "trading_system")
    key = paging.query_key("draws", "client:trading-02", "")
    for position in (0, 1, 2, 10**6, 2**31 - 1):
        token = paging.encode_cursor(position, key)
        page = list_call(world, method, "trading_system_b", page_token=token, page_size=1000)
        assert {d.name for d in page.draws} <= mine  # type: ignore[attr-defined]
    for position in (2**31, paging.MAX_CURSOR - 1, paging.MAX_CURSOR):
        with pytest.raises(grpc.RpcError) as caught:
            list_call(world, method, "trading_system_b",
                      page_token=paging.encode_cursor(position, key))  # fmt: skip
        assert caught.value.code() is Code.INVALID_ARGUMENT


# -- 5. a trading system never reads or acts on another one's draw ---------------------------

DRAW_SERVICE = draw_pb.DESCRIPTOR.services_by_name["DrawService"]
NAMED = [m for m in DRAW_SERVICE.methods if "name" in m.input_type.fields_by_name]


def _well_formed(method: str, draw: str, pseud: bytes, expert: str) -> dict[str, Any]:
    """Fields that pass every check but ownership (so a refusal is about the owner)."""
    rid = unique("b")
    table: dict[str, dict[str, Any]] = {
        "GetDraw": {}, "GetPanel": {}, "GetProofBundle": {}, "CloseCommittee": {"request_id": rid},
        "ExecuteDraw": {"nonce": os.urandom(32), "request_id": rid},
        "SubmitBeacon": {"round": 1, "signature": bytes(48), "request_id": rid},
        "RecordNotification": {"pseudonym": pseud, "channel": "sms", "evidence": b"log",
                               "request_id": rid},
        "RecordAcceptance": {"pseudonym": pseud, "evidence": b"signed", "request_id": rid},
        "RecordDecline": {"pseudonym": pseud, "reason": "SIGNED_DECLINE", "evidence": b"signed",
                          "request_id": rid},
        "StrikeMember": {"pseudonym": pseud, "evidence": b"minutes", "request_id": rid},
        "RecordOpening": {"open_time": stamp(int(time.time() * 1000)), "request_id": rid},
        "RecordAward": {"evidence": b"notice", "request_id": rid},
        "CancelDraw": {"reason": "TENDER_CANCELLED", "request_id": rid},
        "GetExpertReceipt": {"expert": expert, "purpose": "查询"},
        "ReportEscrowOpening": {"key_id": bytes(8), "reason": "复核", "request_id": rid},
        "RequestAccess": {"purpose": "核查", "request_id": rid},
    }  # fmt: skip
    return table[method] | {"name": draw}


def test_every_draw_rpc_of_another_trading_system_is_refused(world: World) -> None:
    """Trading system B against A's executed draw, through every DrawService RPC that
    takes a draw name (found from the descriptors): NOT_FOUND or PERMISSION_DENIED,
    nothing written, and A's draw unchanged."""
    done = executed_draw(world, "trading_system", 9304, 11)
    draw, member = done.draw, done.panel[0]
    assert {m.name for m in NAMED} >= {"GetDraw", "ExecuteDraw", "CancelDraw", "GetProofBundle"}
    owner = world.draws("trading_system")
    before_draw = owner.GetDraw(draw_pb.GetDrawRequest(name=draw.name), timeout=10).draw
    for method in NAMED:
        fields = _well_formed(method.name, draw.name, member.pseudonym, member.expert)
        request = GetMessageClass(method.input_type)(**fields)
        before = snapshot(world.service)
        code = invoke(world.channels["trading_system_b"], method, [request])
        assert code in {Code.NOT_FOUND, Code.PERMISSION_DENIED}, (method.name, code)
        assert snapshot(world.service) == before, method.name
    after = owner.GetDraw(draw_pb.GetDrawRequest(name=draw.name), timeout=10).draw
    assert after == before_draw
    # The same requests are well formed: the owner gets past validation with them.
    for name in ("GetDraw", "GetPanel", "RecordNotification"):
        method = DRAW_SERVICE.methods_by_name[name]
        fields = _well_formed(name, draw.name, member.pseudonym, member.expert)
        assert invoke(world.channels["trading_system"], method,
                      [GetMessageClass(method.input_type)(**fields)]) is Code.OK  # fmt: skip


def test_superseding_another_trading_systems_draw_is_refused(world: World) -> None:
    """CreateDraw by B naming A's draw in ``supersedes``: refused, no draw is written."""
    message = draw_request(9305, 13)
    message.supersedes = world.draw_a
    before = snapshot(world.service)
    with pytest.raises(grpc.RpcError) as caught:
        world.draws("trading_system_b").CreateDraw(message, timeout=30)
    code = caught.value.code()
    assert code in {Code.NOT_FOUND, Code.PERMISSION_DENIED, Code.FAILED_PRECONDITION}, code
    assert snapshot(world.service) == before
    assert world.draw_a.removeprefix("draws/") not in (caught.value.details() or "")


# -- 6. valid requests with one or two hostile fields, and raw wire bytes ---------------------


def fuzz_fields(data: st.DataObject, message: Message, pools: Pools) -> None:
    """Replace one or two fields of ``message`` with fuzzed values."""
    fields: list[Any] = list(message.DESCRIPTOR.fields)
    chosen = data.draw(st.lists(st.sampled_from(fields), min_size=1, max_size=2,
                                unique_by=lambda f: f.name), label="fields")  # fmt: skip
    for fd in chosen:
        values = field_values(fd, pools, 0)
        if values is None:
            continue
        message.ClearField(fd.name)
        target = getattr(message, fd.name)
        if fd.is_repeated:
            items = data.draw(st.lists(values, max_size=3), label=fd.name)
            if fd.type == FD.TYPE_MESSAGE:
                for item in items:
                    target.add().CopyFrom(item)
            else:
                target.extend(items)
        elif fd.type == FD.TYPE_MESSAGE:
            target.CopyFrom(data.draw(values, label=fd.name))
        else:
            setattr(message, fd.name, data.draw(values, label=fd.name))


@pytest.fixture(scope="module")
def own_draw(world: World) -> draw_pb.ExecuteDrawResponse:
    """An executed draw of trading system A that the seeded fuzzing may change."""
    return executed_draw(world, "trading_system", 9306, 15)


@FUZZ
@given(data=st.data())
def test_one_fuzzed_field_of_a_valid_draw_request_is_never_internal(
    world: World, own_draw: draw_pb.ExecuteDrawResponse, data: st.DataObject
) -> None:
    """Random fields rarely pass validation together, so here a valid request of the
    draw's owner gets one or two fields fuzzed: the checks past validation (state,
    ownership, idempotency, the log) see hostile values too."""
    method = data.draw(st.sampled_from([*NAMED, DRAW_SERVICE.methods_by_name["CreateDraw"]]),
                       label="method")  # fmt: skip
    member = data.draw(st.sampled_from(list(own_draw.panel)), label="member")
    cls = GetMessageClass(method.input_type)
    message: Message
    if method.name == "CreateDraw":
        message = draw_request(9307, data.draw(st.integers(17, 60), label="day"))
    else:
        message = cls(**_well_formed(method.name, own_draw.draw.name, member.pseudonym,
                                     member.expert))  # fmt: skip
    fuzz_fields(data, message, world.pools)
    role = {
        "ReportEscrowOpening": "supervisor",
        "RequestAccess": "supervisor",
        "GetExpertReceipt": "admin",
    }.get(method.name, "trading_system")
    before = snapshot(world.service)
    code = invoke(world.channels[role], method, [message])
    after = snapshot(world.service)
    assert after["audit_entry"] == after["log size"]
    if code in REFUSALS:
        assert after == before, f"{method.name}: {code.name} wrote"
    if code is Code.FAILED_PRECONDITION:
        assert _business(after) == _business(before), f"{method.name}: {code.name} wrote"


EXPERT_SERVICE = expert_pb.DESCRIPTOR.services_by_name["ExpertService"]


def _expert_seed(method: str, target: str, n: int) -> dict[str, Any]:
    """Valid-looking fields of an ExpertService request, by field name."""
    now = int(time.time() * 1000)
    seeds: dict[str, Any] = {
        "name": target, "reason": "年度复核", "purpose": "复核", "request_id": unique("x"),
        "start_time": stamp(now + DAY_MS), "end_time": stamp(now + 10 * DAY_MS),
        "event_time": stamp(now - DAY_MS), "effective_time": stamp(now),
        "blacklist_end_time": stamp(now + 365 * DAY_MS), "evaluation_date": sample.day(2025, 6, 1),
        "evidence_sha256": "ab" * 32, "kind": 1, "score": 80, "first_row": 1,
        "affiliation": expert_pb.Affiliation(
            kind=expert_pb.Affiliation.KIND_EMPLOYER, organization_code=sample.uscc(n),
            start_date=sample.day(2024, 1, 1)),
        "expert": sample.expert(n) if method != "UpdateExpert" else expert_pb.Expert(
            name=target, phone=f"139{n:08d}"),
        "update_mask": FieldMask(paths=["phone"]), "experts": [sample.expert(n)],
    }  # fmt: skip
    fields = GetMessageClass(
        EXPERT_SERVICE.methods_by_name[method].input_type
    ).DESCRIPTOR.fields_by_name
    return {k: v for k, v in seeds.items() if k in fields}


@pytest.fixture(scope="module")
def target_expert(world: World) -> str:
    admin = expert_grpc.ExpertServiceStub(world.channels["admin"])
    request = expert_pb.CreateExpertRequest(expert=sample.expert(700), request_id="target-700")
    return admin.CreateExpert(request, timeout=10).expert.name


@FUZZ
@given(data=st.data())
def test_one_fuzzed_field_of_a_valid_expert_request_is_never_internal(
    world: World, target_expert: str, data: st.DataObject
) -> None:
    """The same for the expert library: an admin's valid request, one or two fields
    fuzzed, against one record that the successful calls keep changing."""
    method = data.draw(st.sampled_from(list(EXPERT_SERVICE.methods)), label="method")
    number = data.draw(st.integers(701, 999), label="n")
    message = GetMessageClass(method.input_type)(**_expert_seed(method.name, target_expert, number))
    fuzz_fields(data, message, world.pools)
    before = snapshot(world.service)
    batch = [message]
    code = invoke(world.channels["admin"], method, batch)
    after = snapshot(world.service)
    assert after["audit_entry"] == after["log size"]
    if code in REFUSALS:
        assert after == before, f"{method.name}: {code.name} wrote"
    if code is Code.FAILED_PRECONDITION:
        assert _business(after) == _business(before), f"{method.name}: {code.name} wrote"


@FUZZ
@given(data=st.data())
def test_arbitrary_wire_bytes_are_never_internal(world: World, data: st.DataObject) -> None:
    """Any bytes as the request body of any method (garbage, or a valid request with
    unknown or garbage fields appended): a clear status, and refusals write nothing."""
    method = data.draw(st.sampled_from(METHODS), label="method")
    role = data.draw(_role_for(method), label="role")
    valid = data.draw(requests(method.input_type, world.pools), label="request").message
    wire = data.draw(st.one_of(
        st.binary(max_size=200),
        st.binary(max_size=60).map(lambda tail: valid.SerializeToString() + tail),
        st.tuples(st.integers(20, 536_870_911), st.binary(max_size=30)).map(
            lambda t: valid.SerializeToString() + _length_delimited(t[0], t[1])),
    ), label="wire")  # fmt: skip
    before = snapshot(world.service)
    code = Code.OK
    try:
        send(world.channels[role], method, [wire], None, 0.5 if method.server_streaming else 30)
    except grpc.RpcError as error:
        code = error.code()
    assert code not in NEVER, (method.name, code)
    if code in REFUSALS:
        assert snapshot(world.service) == before, f"{method.name}: {code.name} wrote"
