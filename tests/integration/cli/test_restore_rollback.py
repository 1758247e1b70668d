"""Backup and restore of an older database (issue 7): the service starts on the restored
copy (it is internally consistent), but a supervisor who pinned a later state sees the
log go back, and `verify log` reports ROLLBACK (exit 2)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

from cli.server import start_service
from expert_draw.config import load_settings
from tests.integration.cli.conftest import run
from tests.support.tables import SHARED_DATA

if TYPE_CHECKING:
    from cli.server import RunningService

SAMPLES = Path(__file__).resolve().parents[3] / "docs" / "samples"


def serve(var: Path) -> tuple[RunningService, list[str]]:
    settings = load_settings(var / "expert-draw.toml", listen="127.0.0.1:0",
                             health_listen="127.0.0.1:0")  # fmt: skip
    running = start_service(settings)
    target = ["--client-config", str(var / "client.toml"), "--target",
              f"127.0.0.1:{running.port}"]  # fmt: skip
    return running, target


def export_and_verify(var: Path, target: list[str], name: str) -> tuple[int, str]:
    exported = run("log", "export", str(var / name), "-p", "supervisor", *target)
    assert exported.exit_code == 0, exported.output
    checked = run("verify", "log", "--export", str(var / name), "--trust",
                  str(var / "trust.toml"), "--state", str(var / "pinned"))  # fmt: skip
    return checked.exit_code, checked.output


def test_restoring_an_older_backup_is_a_rollback_to_a_pinned_supervisor(tmp_path: Path) -> None:
    var = tmp_path / "var"
    assert run("dev", "init", "--var", str(var), "--data-dir", str(SHARED_DATA)).exit_code == 0
    assert run("db", "upgrade", "--config", str(var / "expert-draw.toml")).exit_code == 0
    database = var / "expert-draw.db"
    running, target = serve(var)
    try:
        imported = run("experts", "import", str(SAMPLES / "experts-import.csv"), *target)
        assert imported.exit_code == 0, imported.output
        assert export_and_verify(var, target, "export-1")[0] == 0  # pins the state
        backup = tmp_path / "backup.db"
        with sqlite3.connect(database) as live, sqlite3.connect(backup) as copy:
            live.backup(copy)  # SQLite's online backup, the service running
        imported = run("experts", "import", str(SAMPLES / "experts-demo.csv"), *target)
        assert imported.exit_code == 0, imported.output
        assert export_and_verify(var, target, "export-2")[0] == 0  # pins the later state
    finally:
        running.stop(grace=0)
    for leftover in (database.with_name(database.name + "-wal"),
                     database.with_name(database.name + "-shm")):  # fmt: skip
        leftover.unlink(missing_ok=True)
    backup.replace(database)  # the restore
    running, target = serve(var)
    try:
        code, output = export_and_verify(var, target, "export-3")
    finally:
        running.stop(grace=0)
    assert code == 2, output
    assert "ROLLBACK" in output
