"""Server wiring: health port, reflection, shutdown, internal errors, logs, start-up."""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from sqlalchemy import func, select

from cli.logs import configure_logging
from expert_draw.adapters.db.engine import make_engine
from expert_draw.adapters.db.models import EditionLoadRow
from expert_draw.api.v1 import classification_service_pb2 as pb
from expert_draw.api.v1 import classification_service_pb2_grpc as pb_grpc
from expert_draw.app.classification import ClassificationCatalog
from expert_draw.errors import ConfigurationError, PreconditionError
from tests.integration.grpc.helpers import error_info
from tests.support.service import EDITIONS, start

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from cli.server import RunningService
    from tests.support.pki import Pki


@pytest.fixture
def running(pki: Pki, db_url: str) -> Any:
    service = start(pki, db_url)
    yield service
    service.stop(grace=0)


def health_check(port: int, service_name: str = "") -> int:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        return int(
            stub.Check(health_pb2.HealthCheckRequest(service=service_name), timeout=5).status
        )


def test_health_port_is_plaintext_and_health_only(running: RunningService) -> None:
    assert running.health_port
    assert health_check(running.health_port) == health_pb2.HealthCheckResponse.SERVING
    name = "expert_draw.api.v1.ClassificationService"
    assert health_check(running.health_port, name) == health_pb2.HealthCheckResponse.SERVING
    with (
        grpc.insecure_channel(f"127.0.0.1:{running.health_port}") as channel,
        pytest.raises(grpc.RpcError) as caught,
    ):
        pb_grpc.ClassificationServiceStub(channel).ListEditions(pb.ListEditionsRequest(), timeout=5)
    assert caught.value.code() is grpc.StatusCode.UNIMPLEMENTED


def test_reflection_lists_every_service(running: RunningService, connect: Any) -> None:
    database = ProtoReflectionDescriptorDatabase(connect(running.port, "trading_system"))
    assert set(database.get_services()) == {
        "expert_draw.api.v1.ClassificationService",
        "expert_draw.api.v1.AuditService",
        "expert_draw.api.v1.ExpertService",
        "expert_draw.api.v1.DrawService",
        "expert_draw.api.v1.StatsService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    }
    descriptor = database.FindFileContainingSymbol("expert_draw.api.v1.ClassificationService")
    assert descriptor.name == "expert_draw/api/v1/classification_service.proto"


def test_graceful_shutdown_finishes_in_flight_calls(
    pki: Pki, db_url: str, connect: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = start(pki, db_url)
    started = threading.Event()
    original = ClassificationCatalog.list_editions

    def slow(self: ClassificationCatalog, *args: Any) -> Any:
        started.set()
        time.sleep(0.5)
        return original(self, *args)

    monkeypatch.setattr(ClassificationCatalog, "list_editions", slow)
    stub = pb_grpc.ClassificationServiceStub(connect(service.port, "admin"))
    result: dict[str, Any] = {}
    caller = threading.Thread(
        target=lambda: result.update(r=stub.ListEditions(pb.ListEditionsRequest(), timeout=10))
    )
    caller.start()
    assert started.wait(5)
    stopper = threading.Thread(target=service.stop, kwargs={"grace": 5})
    stopper.start()
    time.sleep(0.1)
    assert service.health_port
    with pytest.raises(grpc.RpcError):  # the health port closed at once
        health_check(service.health_port)
    caller.join(10)
    stopper.join(10)
    assert len(result["r"].editions) == 2
    with pytest.raises(grpc.RpcError) as caught:
        stub.ListEditions(pb.ListEditionsRequest(), timeout=2)
    assert caught.value.code() is grpc.StatusCode.UNAVAILABLE


@pytest.fixture
def json_logs(caplog: pytest.LogCaptureFixture) -> Callable[[str], list[dict[str, Any]]]:
    configure_logging("info", "json")
    caplog.set_level(logging.INFO)

    def records(event: str) -> list[dict[str, Any]]:
        return [
            r.msg for r in caplog.records if isinstance(r.msg, dict) and r.msg.get("event") == event
        ]

    return records


def test_unexpected_exception_is_internal_with_incident_and_no_leak(
    running: RunningService, connect: Any, monkeypatch: pytest.MonkeyPatch, json_logs: Any
) -> None:
    secret = "110101199003077777"

    def broken(*_args: Any) -> Any:
        msg = f"exploded near {secret}"
        raise RuntimeError(msg)

    monkeypatch.setattr(ClassificationCatalog, "list_editions", broken)
    stub = pb_grpc.ClassificationServiceStub(connect(running.port, "admin"))
    with pytest.raises(grpc.RpcError) as caught:
        stub.ListEditions(pb.ListEditionsRequest(), timeout=5)
    error = caught.value
    assert error.code() is grpc.StatusCode.INTERNAL
    details = error.details() or ""
    assert secret not in details
    assert "Traceback" not in details
    incident = error_info(error).metadata["incident_id"]
    assert incident in details
    (logged,) = json_logs("rpc.internal_error")
    assert logged["incident_id"] == incident
    assert logged["error_type"] == "RuntimeError"


def test_one_log_line_per_rpc(running: RunningService, connect: Any, json_logs: Any) -> None:
    stub = pb_grpc.ClassificationServiceStub(connect(running.port, "trading_system"))
    stub.ListEditions(pb.ListEditionsRequest(), timeout=5, metadata=(("x-request-id", "req-1"),))
    with pytest.raises(grpc.RpcError):
        stub.GetEdition(
            pb.GetEditionRequest(name="editions/nope"),
            timeout=5,
            metadata=(("x-request-id", "req-2"),),
        )
    lines = {line["request_id"]: line for line in json_logs("rpc")}
    ok, missing = lines["req-1"], lines["req-2"]
    assert ok["status"] == "OK"
    assert missing["status"] == "NOT_FOUND"
    for line in (ok, missing):
        assert line["role"] == "trading_system"
        assert line["principal"] == "client:trading-01"
        assert line["method"].startswith("/expert_draw.api.v1.ClassificationService/")
        assert isinstance(line["duration_ms"], float)
        json.dumps(line)


def test_insecure_port_only_when_configured(pki: Pki, db_url: str) -> None:
    insecure = {"listen": "127.0.0.1:0", "principal": "dev:local", "role": "supervisor"}
    service = start(pki, db_url, insecure=insecure)
    try:
        assert service.insecure_port
        with grpc.insecure_channel(f"127.0.0.1:{service.insecure_port}") as channel:
            response = pb_grpc.ClassificationServiceStub(channel).ListEditions(
                pb.ListEditionsRequest(), timeout=5
            )
        assert response.total_size == 2
    finally:
        service.stop(grace=0)


def test_missing_edition_file_stops_start_naming_the_setting(
    pki: Pki, db_url: str, tmp_path: Path
) -> None:
    editions = [{**EDITIONS[0], "path": str(tmp_path / "gone.csv")}]
    with pytest.raises(ConfigurationError, match=r"classification\.editions\[0\]\.path \(2018\)"):
        start(pki, db_url, classification={"editions": editions})


def test_table_that_is_not_an_edition_stops_start(pki: Pki, db_url: str, tmp_path: Path) -> None:
    (tmp_path / "bad.csv").write_text("id,title\n1,x\n", encoding="utf-8")
    editions = [{**EDITIONS[0], "path": str(tmp_path / "bad.csv")}]
    with pytest.raises(ConfigurationError, match="header"):
        start(pki, db_url, classification={"editions": editions})


def test_unmigrated_database_refuses_to_start(pki: Pki, empty_db_url: str) -> None:
    with pytest.raises(PreconditionError, match="expert-draw db upgrade") as caught:
        start(pki, empty_db_url)
    assert caught.value.reason == "SCHEMA_OUT_OF_DATE"


def test_port_in_use_is_a_clear_error(pki: Pki, db_url: str, running: RunningService) -> None:
    with pytest.raises(ConfigurationError, match="cannot listen"):
        start(pki, db_url, listen=f"127.0.0.1:{running.port}")


def count_loads(url: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return int(
                connection.execute(select(func.count()).select_from(EditionLoadRow)).scalar_one()
            )
    finally:
        engine.dispose()


def test_edition_loads_are_recorded_once_per_digest(
    pki: Pki, db_url: str, tmp_path: Path, connect: Any
) -> None:
    first = start(pki, db_url)
    stub = pb_grpc.ClassificationServiceStub(connect(first.port, "admin"))
    load_time = stub.GetEdition(
        pb.GetEditionRequest(name="editions/2018"), timeout=5
    ).edition.load_time
    first.stop(grace=0)
    assert count_loads(db_url) == 2
    second = start(pki, db_url)
    stub = pb_grpc.ClassificationServiceStub(connect(second.port, "admin"))
    assert (
        stub.GetEdition(pb.GetEditionRequest(name="editions/2018"), timeout=5).edition.load_time
        == load_time
    )
    second.stop(grace=0)
    assert count_loads(db_url) == 2
    changed = tmp_path / "2018-corrected.csv"
    shutil.copyfile(EDITIONS[0]["path"], changed)
    with changed.open("a", encoding="utf-8") as handle:
        handle.write("C1399,新增服务,2,C13\n")
    third = start(pki, db_url, classification={"editions": [{**EDITIONS[0], "path": str(changed)}]})
    third.stop(grace=0)
    assert count_loads(db_url) == 3


def test_client_cancelling_a_stream_is_no_incident(
    running: RunningService, connect: Any, json_logs: Any
) -> None:
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    stub = reflection_pb2_grpc.ServerReflectionStub(connect(running.port, "supervisor"))
    requests = threading.Event()

    def request_stream() -> Any:
        yield reflection_pb2.ServerReflectionRequest(list_services="")
        requests.wait(5)

    responses = stub.ServerReflectionInfo(
        request_stream(), timeout=5, metadata=(("x-request-id", "cancel-me"),)
    )
    next(responses)
    responses.cancel()  # the request stream stays open: a cancel, not a half-close
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not [
        r for r in json_logs("rpc") if r["request_id"] == "cancel-me"
    ]:
        time.sleep(0.05)
    requests.set()
    (line,) = [r for r in json_logs("rpc") if r["request_id"] == "cancel-me"]
    # gRPC may surface the cancel as the end of the request stream (the handler then
    # returns normally): either way the call is logged once and is no incident.
    assert line["status"] in {"CANCELLED", "OK"}
    assert [r for r in json_logs("rpc.internal_error") if r["request_id"] == "cancel-me"] == []


def test_oversized_request_is_resource_exhausted(running: RunningService, connect: Any) -> None:
    stub = pb_grpc.ClassificationServiceStub(connect(running.port, "admin"))
    huge = "电" * (running.settings.grpc.max_message_bytes // 3 + 1)
    with pytest.raises(grpc.RpcError) as caught:
        stub.SearchDisciplines(
            pb.SearchDisciplinesRequest(parent="editions/2018", query=huge), timeout=10
        )
    assert caught.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED


def test_deadlines_are_respected_and_logged(
    running: RunningService, connect: Any, monkeypatch: pytest.MonkeyPatch, json_logs: Any
) -> None:
    original = ClassificationCatalog.list_editions

    def slow(self: ClassificationCatalog, *args: Any) -> Any:
        time.sleep(0.6)
        return original(self, *args)

    monkeypatch.setattr(ClassificationCatalog, "list_editions", slow)
    stub = pb_grpc.ClassificationServiceStub(connect(running.port, "admin"))
    with pytest.raises(grpc.RpcError) as caught:
        stub.ListEditions(
            pb.ListEditionsRequest(), timeout=0.2, metadata=(("x-request-id", "too-slow"),)
        )
    assert caught.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not [
        r for r in json_logs("rpc") if r["request_id"] == "too-slow"
    ]:
        time.sleep(0.05)
    (line,) = [r for r in json_logs("rpc") if r["request_id"] == "too-slow"]
    assert line["status"] == "DEADLINE_EXCEEDED"
