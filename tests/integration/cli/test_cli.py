"""The expert-draw CLI: the make-serve path end to end, client commands, offline checks."""

from __future__ import annotations

import json
import stat
from typing import TYPE_CHECKING, Any

import pytest

from cli.main import app
from tests.integration.cli.conftest import client_args, run
from tests.support.tables import TABLE_2010, TABLE_2018, csv_bytes

if TYPE_CHECKING:
    from pathlib import Path

    from cli.server import RunningService


def test_dev_init_keeps_existing_files_and_protects_keys(
    dev_service: tuple[RunningService, Path],
) -> None:
    _, var = dev_service
    before = (var / "pki" / "ca.pem").read_bytes()
    result = run("dev", "init", "--var", str(var))
    assert result.exit_code == 0
    assert result.output == ""
    assert (var / "pki" / "ca.pem").read_bytes() == before
    for key in (var / "pki").rglob("*.key"):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600


@pytest.mark.parametrize("profile", ["admin", "trading_system", "supervisor"])
def test_search_with_each_dev_profile(
    dev_service: tuple[RunningService, Path], profile: str
) -> None:
    result = run("classification", "search", "电气", "--json", *client_args(dev_service, profile))
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert rows[0]["discipline"]["display_name"] == "电气"
    assert rows[0]["match_kind"] == "MATCH_KIND_NAME_EXACT"


def test_table_output_and_other_commands(dev_service: tuple[RunningService, Path]) -> None:
    args = client_args(dev_service)
    editions = run("classification", "editions", *args)
    assert editions.exit_code == 0
    assert "2010-trial" in editions.output
    assert "legacy" in editions.output
    edition = run("classification", "edition", "2018", *args)
    assert "parent_prefix_mismatch:A051801" in edition.output
    got = run("classification", "get", "a080105", *args)
    assert "电气工程" in got.output
    listed = run("classification", "list", "--under", "A0518", "--json", *args)
    assert [d["code"] for d in json.loads(listed.stdout)] == [f"A0518{n:02d}" for n in range(1, 6)]
    children = run("classification", "list", "--children", "--json", "-e", "2010-trial", *args)
    assert [d["code"] for d in json.loads(children.stdout)] == ["A", "B", "C"]
    limited = run("classification", "list", "--limit", "1500", "--json", *args)
    assert len(json.loads(limited.stdout)) == 1500


def test_rpc_errors_are_reported_with_reason(dev_service: tuple[RunningService, Path]) -> None:
    result = run("classification", "get", "A99", *client_args(dev_service))
    assert result.exit_code == 1
    assert "NOT_FOUND" in result.output
    assert "reason: DISCIPLINE_NOT_FOUND" in result.output
    bad = run("classification", "get", "A0x", *client_args(dev_service))
    assert bad.exit_code == 1
    assert "INVALID_ARGUMENT" in bad.output


def test_unreachable_service_and_bad_profile(dev_service: tuple[RunningService, Path]) -> None:
    _, var = dev_service
    result = run("classification", "editions", "--client-config", str(var / "client.toml"),
                 "--target", "127.0.0.1:1", "--timeout", "1")  # fmt: skip
    assert result.exit_code == 4
    assert "UNAVAILABLE" in result.output
    result = run(
        "classification", "editions", "--client-config", str(var / "client.toml"), "-p", "root"
    )
    assert result.exit_code == 4
    assert "profile 'root'" in result.output


def test_validate_offline(tmp_path: Path) -> None:
    defects = run("classification", "validate", str(TABLE_2018), "--edition-id", "2018")
    assert defects.exit_code == 3
    assert "defects: 29" in defects.output
    report = run(
        "classification", "validate", str(TABLE_2010), "--edition-id", "2010-trial", "--json"
    )
    assert json.loads(report.stdout)["defects"][0]["text"] == "duplicate_code:A040405"
    clean = tmp_path / "clean.csv"
    clean.write_bytes(csv_bytes("A,工程类,0,", "A08,施工,1,A"))
    assert run("classification", "validate", str(clean), "--edition-id", "x").exit_code == 0
    assert (
        run("classification", "validate", str(tmp_path / "none.csv"), "--edition-id", "x").exit_code
        == 4
    )
    notes = tmp_path / "notes.csv"
    notes.write_text("hello\n")
    assert run("classification", "validate", str(notes), "--edition-id", "x").exit_code == 4


def test_serve_with_bad_config_exits_4(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text("listen = 3\n")
    result = run("serve", "--config", str(tmp_path / "bad.toml"))
    assert result.exit_code == 4
    assert "cannot start" in result.output


def test_db_current(dev_service: tuple[RunningService, Path]) -> None:
    _, var = dev_service
    result = run("db", "current", "--config", str(var / "expert-draw.toml"))
    assert result.exit_code == 0
    assert "up to date" in result.output


def test_every_command_and_option_has_help() -> None:
    import typer.main

    seen: list[str] = []

    def walk(command: Any, path: str) -> None:
        seen.append(path)
        assert command.help or command.short_help, f"{path} has no help"
        for param in command.params:
            if param.name in {"help", "install_completion", "show_completion"}:
                continue
            assert getattr(param, "help", None), (
                f"{path} {param.param_type_name} {param.name} has no help"
            )
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, f"{path} {name}")

    walk(typer.main.get_command(app), "expert-draw")
    assert "expert-draw classification search" in seen
    assert "expert-draw serve" in seen
