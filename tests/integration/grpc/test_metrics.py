"""Prometheus metrics of a running service: RPCs, draws, audit appends, self-check.

One module service with ``[metrics] listen`` on port 0 and a library of 24 experts (12 in
A010101, 12 in A010102). The ``activity`` fixture scrapes, makes a fixed set of calls (a
committed and executed draw, a refused one, an invalid one, classification reads),
scrapes again, and the tests compare the two scrapes.
"""

from __future__ import annotations

import os
import re
import sys
import time
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select, update

from audit_log.sqlstore import PendingEntry, entry_table
from expert_draw import __version__
from expert_draw.adapters.audit import pending
from expert_draw.adapters.db.engine import make_engine, write_transaction
from expert_draw.api.v1 import audit_service_pb2 as audit_pb
from expert_draw.api.v1 import audit_service_pb2_grpc as audit_grpc
from expert_draw.api.v1 import classification_service_pb2 as classification_pb
from expert_draw.api.v1 import classification_service_pb2_grpc as classification_grpc
from expert_draw.api.v1 import draw_service_pb2 as pb
from expert_draw.api.v1 import draw_service_pb2_grpc as pb_grpc
from expert_draw.api.v1 import expert_service_pb2 as expert_pb
from expert_draw.api.v1 import expert_service_pb2_grpc as expert_grpc
from expert_draw.errors import ConfigurationError
from tests.integration.grpc.helpers import error_info
from tests.support import experts as sample
from tests.support.databases import new_postgres_url, new_sqlite_url
from tests.support.service import (
    RULES,
    client_channel,
    make_audit_log,
    service_settings,
    start,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

    from cli.server import RunningService
    from tests.support.pki import Pki

DAY_MS = 86_400_000
A0101 = "editions/2018/disciplines/A0101"
A010102 = "editions/2018/disciplines/A010102"
LIBRARY = 24
DRAW = "expert_draw.api.v1.DrawService"
CLASSIFICATION = "expert_draw.api.v1.ClassificationService"
METRICS = {"listen": "127.0.0.1:0"}

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape_text(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return str(response.read().decode("utf-8"))


def parse(text: str) -> Samples:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def stamp(ms: int) -> Timestamp:
    stamped = Timestamp()
    stamped.FromMilliseconds(ms)
    return stamped


def draw_request(
    tag: str, *, discipline: str = A0101, seats: int = 5, days: int = 3
) -> pb.CreateDrawRequest:
    """A CreateDraw request for a fresh tender-lot (after test_draw_rpc.request)."""
    start_ms = int(time.time() * 1000) + days * DAY_MS
    return pb.CreateDrawRequest(
        tender_id=f"T-METRICS-{tag}-{os.getpid()}", lot_id="1",
        project_code=f"P-METRICS-{tag}-{os.getpid()}", project_name="某道路工程",
        disciplines=[pb.DisciplineQuota(discipline=discipline, seats=seats, reserves=2)],
        conflicts=pb.ConflictInputs(tenderer=sample.uscc(9000)),
        evaluation_start_time=stamp(start_ms),
        evaluation_end_time=stamp(start_ms + DAY_MS // 2),
        venue_region="120101", request_id=f"metrics-create-{tag}-{os.getpid()}",
    )  # fmt: skip


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def metered(
    request: pytest.FixtureRequest, pki: Pki, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningService]:
    """A running service with metrics on, and the module's experts."""
    if request.param == "sqlite":
        url = new_sqlite_url(tmp_path_factory.mktemp("db"))
    else:
        url = new_postgres_url(request.getfixturevalue("pg_server_url"))
    running = start(pki, url, metrics=METRICS)
    with client_channel(pki, running.port, "admin") as channel:
        admin = expert_grpc.ExpertServiceStub(channel)
        for n in range(100, 100 + LIBRARY):
            admin.CreateExpert(
                expert_pb.CreateExpertRequest(expert=sample.expert(n), request_id=f"lib-{n}"),
                timeout=10,
            )
    yield running
    running.stop(grace=0)


@dataclass
class Activity:
    before: Samples
    after: Samples
    text: str
    secrets: list[str]  # request content that must appear nowhere in the scrape
    pool_size: int
    log_growth: int


def log_size(channel: grpc.Channel) -> int:
    stub = audit_grpc.AuditServiceStub(channel)
    return int(stub.GetCheckpoint(audit_pb.GetCheckpointRequest(), timeout=5).checkpoint.size)


@pytest.fixture(scope="module")
def activity(metered: RunningService, pki: Pki) -> Activity:
    """Scrape, make the module's calls, scrape again."""
    port = metered.metrics_port
    assert port is not None
    tag = str(time.time_ns())
    with (
        client_channel(pki, metered.port, "trading_system") as trading,
        client_channel(pki, metered.port, "supervisor") as supervising,
    ):
        draws = pb_grpc.DrawServiceStub(trading)
        classification = classification_grpc.ClassificationServiceStub(supervising)
        size_before = log_size(supervising)
        before = parse(scrape_text(port))
        classification.ListEditions(classification_pb.ListEditionsRequest(), timeout=5)
        classification.GetEdition(
            classification_pb.GetEditionRequest(name="editions/2018"), timeout=5
        )
        with pytest.raises(grpc.RpcError) as invalid:  # an even committee
            draws.CreateDraw(draw_request(f"{tag}-even", seats=4), timeout=10)
        assert invalid.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(grpc.RpcError) as refused:  # 12 experts < 3 x 5 seats
            draws.CreateDraw(draw_request(f"{tag}-short", discipline=A010102), timeout=30)
        assert refused.value.code() is grpc.StatusCode.FAILED_PRECONDITION
        created = draws.CreateDraw(draw_request(tag, days=5), timeout=30).draw
        executed = draws.ExecuteDraw(
            pb.ExecuteDrawRequest(
                name=created.name, nonce=os.urandom(32), request_id=f"metrics-ex-{tag}"
            ),
            timeout=30,
        )
        text = scrape_text(port)
        size_after = log_size(supervising)
    [pool] = created.counts
    request = draw_request(tag)
    secrets = [
        request.tender_id, request.project_code, request.project_name,
        created.name, created.name.removeprefix("draws/"), sample.uscc(9000),
        *(member.expert for member in executed.panel),
        *(member.expert.removeprefix("experts/") for member in executed.panel),
        *(rule["subject_cn"] for rule in RULES), *(rule["principal"] for rule in RULES),
    ]  # fmt: skip
    return Activity(before, parse(text), text, secrets, pool.count, size_after - size_before)


def delta(activity: Activity, name: str, **labels: str) -> float:
    return value(activity.after, name, **labels) - value(activity.before, name, **labels)


def test_rpcs_are_counted_by_method_and_status(activity: Activity) -> None:
    """Each call lands once under its method and status; its duration is observed."""
    calls = "expert_draw_rpc_requests_total"
    assert delta(activity, calls, service=CLASSIFICATION, method="ListEditions", code="OK") == 1
    assert delta(activity, calls, service=CLASSIFICATION, method="GetEdition", code="OK") == 1
    assert delta(activity, calls, service=DRAW, method="CreateDraw", code="OK") == 1
    assert delta(activity, calls, service=DRAW, method="CreateDraw", code="INVALID_ARGUMENT") == 1
    assert (
        delta(activity, calls, service=DRAW, method="CreateDraw", code="FAILED_PRECONDITION") == 1
    )
    assert delta(activity, calls, service=DRAW, method="ExecuteDraw", code="OK") == 1
    timed = "expert_draw_rpc_duration_seconds_count"
    assert delta(activity, timed, service=DRAW, method="CreateDraw") == 3
    assert delta(activity, timed, service=DRAW, method="ExecuteDraw") == 1
    assert delta(activity, "expert_draw_rpc_duration_seconds_sum", service=DRAW,
                 method="ExecuteDraw") > 0  # fmt: skip
    # The smallest bucket is 1 ms and the largest finite one 10 s.
    buckets = {
        dict(labels)["le"]
        for name, labels in activity.after
        if name == "expert_draw_rpc_duration_seconds_bucket"
    }
    assert {"0.001", "10.0", "+Inf"} <= buckets


def test_draw_outcomes_and_audit_entries_are_counted(activity: Activity) -> None:
    """One committed, one refused, one executed draw; entries by kind, appends."""
    draws = "expert_draw_draws_total"
    assert delta(activity, draws, outcome="committed") == 1
    assert delta(activity, draws, outcome="refused") == 1
    assert delta(activity, draws, outcome="executed") == 1
    for outcome in ("cancelled", "expired", "closed", "awarded"):
        assert delta(activity, draws, outcome=outcome) == 0
    entries = "expert_draw_audit_entries_total"
    assert delta(activity, entries, kind="draw.request") == 2
    assert delta(activity, entries, kind="draw.cancel") == 1
    assert delta(activity, entries, kind="pool.freeze") == 1
    assert delta(activity, entries, kind="draw.commit") == 1
    assert delta(activity, entries, kind="draw.nonce") == 1
    assert delta(activity, entries, kind="draw.execute") == 1
    # Every entry the log grew by is counted once, under its kind.
    total = sum(
        delta(activity, entries, **dict(labels))
        for name, labels in activity.after
        if name == "expert_draw_audit_entries_total"
    )
    assert total == activity.log_growth
    # The refusal, the commit and the execution: one append (one checkpoint) each.
    assert delta(activity, "expert_draw_audit_appends_total") == 3


def test_build_info_and_checks_start_at_zero(activity: Activity) -> None:
    assert value(activity.after, "expert_draw_build_info", version=__version__) == 1
    for check in ("audit_self_check", "beacon_signature"):
        assert value(activity.after, "expert_draw_verification_failures_total", check=check) == 0


def test_no_label_reveals_request_content(activity: Activity) -> None:
    """No discipline code, pool size, tender, project, draw, expert or certificate."""
    labels = {
        (name, key, label)
        for name, pairs in activity.after
        for key, label in pairs
    }  # fmt: skip
    assert labels, "the scrape has labels to check"
    discipline = re.compile(r"[A-Z]\d{4,6}")
    for name, key, label in labels:
        assert not discipline.search(label), (name, key, label)
        assert label not in {str(activity.pool_size), str(LIBRARY), "12"}, (name, key, label)
        for secret in activity.secrets:
            assert secret not in label, (name, key, label)
    assert activity.pool_size == LIBRARY  # the pool size checked above is the real one
    for secret in activity.secrets:
        assert secret not in activity.text, secret
    # The label names are the fixed ones.
    assert {key for _, key, _ in labels} <= {"service", "method", "code", "le", "outcome",
                                             "kind", "check", "version"}  # fmt: skip


def test_metrics_are_off_unless_configured(
    pki: Pki, tmp_path_factory: pytest.TempPathFactory
) -> None:
    running = start(pki, new_sqlite_url(tmp_path_factory.mktemp("db")))
    try:
        assert running.metrics is None
        assert running.metrics_port is None
    finally:
        running.stop(grace=0)


def test_failed_self_check_is_counted(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> None:
    """A stored leaf hash that no longer matches its entry: one failed self-check."""
    url = new_sqlite_url(tmp_path_factory.mktemp("db"))
    start(pki, url).stop(grace=0)  # creates the log
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            last = conn.execute(
                select(entry_table.c.seq).order_by(entry_table.c.seq.desc())
            ).first()
            assert last is not None
            conn.execute(
                update(entry_table).where(entry_table.c.seq == last.seq).values(leaf_hash=bytes(32))
            )
    finally:
        engine.dispose()
    running = start(pki, url, metrics=METRICS)
    try:
        assert running.audit.writes_refused is not None
        assert running.metrics_port is not None
        samples = parse(scrape_text(running.metrics_port))
        failures = "expert_draw_verification_failures_total"
        assert value(samples, failures, check="audit_self_check") == 1
        assert value(samples, failures, check="beacon_signature") == 0
    finally:
        running.stop(grace=0)


def test_opentelemetry_interceptor_traces_calls(
    pki: Pki, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """With [metrics] opentelemetry, every call gets a server span."""
    pytest.importorskip("opentelemetry.instrumentation.grpc")
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):  # the global provider is set only once
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    running = start(
        pki,
        new_sqlite_url(tmp_path_factory.mktemp("db")),
        metrics={**METRICS, "opentelemetry": True},
    )
    try:
        with client_channel(pki, running.port, "supervisor") as channel:
            stub = classification_grpc.ClassificationServiceStub(channel)
            stub.ListEditions(classification_pb.ListEditionsRequest(), timeout=5)
            with pytest.raises(grpc.RpcError) as caught:  # rich errors pass through its context
                stub.ListEditions(classification_pb.ListEditionsRequest(page_size=-1), timeout=5)
            assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
            assert error_info(caught.value).domain == "expertdraw.api"
        assert running.metrics_port is not None
        samples = parse(scrape_text(running.metrics_port))
    finally:
        running.stop(grace=0)
    spans = [s for s in exporter.get_finished_spans() if s.name.endswith("/ListEditions")]
    assert len(spans) == 2
    assert spans[0].name == f"/{CLASSIFICATION}/ListEditions"
    calls = "expert_draw_rpc_requests_total"
    for code in ("OK", "INVALID_ARGUMENT"):
        assert value(samples, calls, service=CLASSIFICATION, method="ListEditions", code=code) == 1


def test_opentelemetry_without_the_extra_is_a_configuration_error(
    pki: Pki, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A None entry in sys.modules makes the import fail as if it were not installed.
    monkeypatch.setitem(sys.modules, "opentelemetry.instrumentation.grpc", None)
    url = new_sqlite_url(tmp_path_factory.mktemp("db"))
    with pytest.raises(ConfigurationError, match=r"metrics\.opentelemetry.*expert-draw\[otel\]"):
        start(pki, url, metrics={"opentelemetry": True})


def test_metrics_address_in_use_is_a_configuration_error(
    metered: RunningService, pki: Pki, tmp_path_factory: pytest.TempPathFactory
) -> None:
    url = new_sqlite_url(tmp_path_factory.mktemp("db"))
    taken: Any = {"listen": f"127.0.0.1:{metered.metrics_port}"}
    with pytest.raises(ConfigurationError, match=r"metrics\.listen"):
        start(pki, url, metrics=taken)


def test_audit_observers_see_committed_appends_only(
    pki: Pki, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Appends in a rolled-back transaction are never reported; each committed one is,
    once, with its kinds in order; a failing observer does not fail the commit."""
    engine = make_engine(new_sqlite_url(tmp_path_factory.mktemp("db")))
    try:
        audit = make_audit_log(engine, pki)
        seen: list[tuple[str, ...]] = []

        def broken(_kinds: tuple[str, ...]) -> None:
            raise RuntimeError

        audit.observe(seen.append)
        audit.observe(broken)

        def escrow(reason: str) -> PendingEntry:
            return pending("key.escrow", "log", {"add": [], "remove": [], "reason": reason})

        def rolled_back() -> None:
            with write_transaction(engine) as conn:
                audit.append(conn, who=audit.service_who(), request_id="observe-1", payload=1,
                             pending=[escrow("rolled back")])  # fmt: skip
                raise LookupError

        with pytest.raises(LookupError):
            rolled_back()
        assert seen == []
        with write_transaction(engine) as conn:
            audit.append(conn, who=audit.service_who(), request_id="observe-2", payload=2,
                         pending=[escrow("a"), escrow("b")])  # fmt: skip
            audit.append(conn, who=audit.service_who(), request_id="observe-3", payload=3,
                         pending=[escrow("c")])  # fmt: skip
        assert seen == [("key.escrow", "key.escrow"), ("key.escrow",)]
        with engine.connect() as conn:  # a read-only transaction reports nothing
            conn.execute(select(entry_table.c.seq)).all()
            conn.commit()
        assert len(seen) == 2
        with engine.connect() as conn:
            count = conn.execute(select(entry_table.c.seq)).all()
        assert len(count) == 4  # log.init and the three committed entries
    finally:
        engine.dispose()


def test_metrics_settings_from_the_environment(pki: Pki, monkeypatch: pytest.MonkeyPatch) -> None:
    assert service_settings(pki, "sqlite://").metrics.listen is None
    monkeypatch.setenv("EXPERT_DRAW_METRICS__LISTEN", "0.0.0.0:9464")
    monkeypatch.setenv("EXPERT_DRAW_METRICS__OPENTELEMETRY", "true")
    settings = service_settings(pki, "sqlite://")
    assert (settings.metrics.listen, settings.metrics.opentelemetry) == ("0.0.0.0:9464", True)
    monkeypatch.setenv("EXPERT_DRAW_METRICS__LISTEN", "9464")
    with pytest.raises(ConfigurationError, match=r"metrics\.listen: expected host:port"):
        service_settings(pki, "sqlite://")
