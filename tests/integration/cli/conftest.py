"""Fixtures for CLI tests: a service set up exactly as `make serve` does."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from typer.testing import CliRunner

from cli.main import app
from cli.server import start_service
from expert_draw.adapters.db import migrate
from expert_draw.config import load_settings
from tests.support.tables import SHARED_DATA

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from cli.server import RunningService


def run(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


@pytest.fixture(scope="package")
def dev_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningService, Path]]:
    """What `make serve` does: dev init, db upgrade, serve (here on a free port)."""
    var = tmp_path_factory.mktemp("var")
    result = run("dev", "init", "--var", str(var), "--data-dir", str(SHARED_DATA))
    assert result.exit_code == 0, result.output
    assert "created dev PKI" in result.output
    config = var / "expert-draw.toml"
    result = run("db", "upgrade", "--config", str(config))
    assert result.exit_code == 0, result.output
    assert f"empty -> {migrate.head_revision()}" in result.output
    settings = load_settings(config, listen="127.0.0.1:0", health_listen="127.0.0.1:0")
    running = start_service(settings)
    yield running, var
    running.stop(grace=0)


def client_args(dev_service: tuple[RunningService, Path], profile: str = "admin") -> list[str]:
    """Client options that reach the test service with a dev profile."""
    running, var = dev_service
    return [
        "--client-config",
        str(var / "client.toml"),
        "--target",
        f"127.0.0.1:{running.port}",
        "-p",
        profile,
    ]
