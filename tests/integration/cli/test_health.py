"""`expert-draw health`: the plaintext health probe (the image's HEALTHCHECK)."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

import pytest
from typer.testing import CliRunner

from cli.main import app
from expert_draw.adapters.grpc.server import (
    BUSINESS_SERVICES,
    build_health_server,
    mark_serving,
    new_health_servicer,
)

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from grpc_health.v1 import health

    from cli.server import RunningService


def probe(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["health", *args], catch_exceptions=False)
    return result.exit_code, result.output


@pytest.fixture
def bare_health() -> Iterator[tuple[health.HealthServicer, int]]:
    """The service's health servicer on its own plaintext server, before it is marked SERVING."""
    servicer = new_health_servicer()
    server, port = build_health_server("127.0.0.1:0", servicer)
    server.start()
    yield servicer, port
    server.stop(0).wait()


def test_serving_service_passes(dev_service: tuple[RunningService, Path]) -> None:
    running, _ = dev_service
    assert running.health_port is not None
    code, output = probe("--target", f"127.0.0.1:{running.health_port}")
    assert code == 0, output
    assert f"server at 127.0.0.1:{running.health_port}: SERVING" in output


def test_each_business_service_is_serving(dev_service: tuple[RunningService, Path]) -> None:
    running, _ = dev_service
    for name in BUSINESS_SERVICES:
        code, output = probe("--target", f"127.0.0.1:{running.health_port}", "--service", name)
        assert code == 0, output
        assert f"service {name!r}" in output


def test_target_comes_from_the_health_listen_variable(
    dev_service: tuple[RunningService, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    running, _ = dev_service
    monkeypatch.setenv("EXPERT_DRAW_HEALTH_LISTEN", f"127.0.0.1:{running.health_port}")
    code, output = probe()
    assert code == 0, output
    assert "SERVING" in output


def test_unknown_service_fails(dev_service: tuple[RunningService, Path]) -> None:
    running, _ = dev_service
    code, output = probe(
        "--target", f"127.0.0.1:{running.health_port}", "--service", "no.such.Service"
    )
    assert code == 1
    assert "unhealthy: service 'no.such.Service' is unknown" in output


def test_closed_port_fails() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code, output = probe("--target", f"127.0.0.1:{port}", "--timeout", "2")
    assert code == 1
    assert f"unhealthy: health check at 127.0.0.1:{port} failed: UNAVAILABLE" in output


def test_not_serving_until_ready_and_after_shutdown_starts(
    bare_health: tuple[health.HealthServicer, int],
) -> None:
    servicer, port = bare_health
    target = f"127.0.0.1:{port}"
    code, output = probe("--target", target)
    assert code == 1
    assert f"unhealthy: server at {target} is NOT_SERVING" in output
    mark_serving(servicer)
    assert probe("--target", target)[0] == 0
    servicer.enter_graceful_shutdown()
    code, output = probe("--target", target)
    assert code == 1
    assert "NOT_SERVING" in output


def test_silent_port_fails_at_the_deadline() -> None:
    with socket.socket() as sock:  # accepts connections (backlog) but never speaks HTTP/2
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        code, output = probe("--target", f"127.0.0.1:{port}", "--timeout", "0.5")
    assert code == 1
    assert f"unhealthy: no answer from 127.0.0.1:{port} within 0.5 s" in output
