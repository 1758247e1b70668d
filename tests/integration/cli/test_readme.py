"""The README's commands are the real ones: targets exist, tour commands run."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from typer.testing import CliRunner

from cli.main import app

if TYPE_CHECKING:
    from cli.server import RunningService

ROOT = Path(__file__).resolve().parents[3]
README = (ROOT / "README.md").read_text(encoding="utf-8")
MAKEFILE = (ROOT / "Makefile").read_text(encoding="utf-8")
EXPECTED_EXIT = {"validate": 3}  # the 2010 table has defects: exit 3 by design


def code_blocks(text: str) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", text, flags=re.DOTALL)


def tour_commands() -> list[list[str]]:
    return [
        shlex.split(line.split("#")[0])[1:]
        for block in code_blocks(README)
        for line in block.splitlines()
        if line.startswith("expert-draw ")
    ]


def test_two_commands_are_make_targets_and_ci_runs_them() -> None:
    first = code_blocks(README)[0]
    assert [line.split()[:2] for line in first.splitlines()] == [
        ["make", "serve"],
        ["make", "test"],
    ]
    for target in ("serve", "test", "lint"):
        assert re.search(rf"^{target}:", MAKEFILE, flags=re.MULTILINE)
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "make test" in ci
    assert "make lint" in ci


def test_serve_banner_commands_are_in_the_tour() -> None:
    banner = re.findall(r"@echo \"  \$\(BIN\)/expert-draw ([^#\"]+)", MAKEFILE)
    assert banner
    tour = {" ".join(c) for c in tour_commands()}
    for command in banner:
        assert command.strip() in tour


@pytest.mark.parametrize("args", tour_commands(), ids=" ".join)
def test_tour_command_runs(
    args: list[str],
    dev_service: tuple[RunningService, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    running, var = dev_service
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("EXPERT_DRAW_CLIENT_CONFIG", str(var / "client.toml"))
    monkeypatch.setenv("EXPERT_DRAW_TARGET", f"127.0.0.1:{running.port}")
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code == EXPECTED_EXIT.get(args[1], 0), result.output
