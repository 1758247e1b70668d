"""The README's commands are the real ones: targets exist, tour commands run."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

from typer.testing import CliRunner

from cli.main import app

if TYPE_CHECKING:
    import pytest

    from cli.server import RunningService

ROOT = Path(__file__).resolve().parents[3]
README = (ROOT / "README.md").read_text(encoding="utf-8")
MAKEFILE = (ROOT / "Makefile").read_text(encoding="utf-8")
# The 2010 table has defects, and the tour's draw follows a fresh import (pool changes in
# the look-back window): exit 3 by design for both.
EXPECTED_EXIT = {"validate": 3, "draw": 3}


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


def test_tour_runs_in_order(
    dev_service: tuple[RunningService, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tour's commands, in order, against a service set up like `make serve`.

    Paths in the README are relative to the repository root after `make serve`; here
    `var/` is the test service's folder.
    """
    running, var = dev_service
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("EXPERT_DRAW_CLIENT_CONFIG", str(var / "client.toml"))
    monkeypatch.setenv("EXPERT_DRAW_TARGET", f"127.0.0.1:{running.port}")
    commands = tour_commands()
    assert len(commands) >= 10
    for args in commands:
        local = [a.replace("var/", f"{var}/", 1) if a.startswith("var/") else a for a in args]
        result = CliRunner().invoke(app, local, catch_exceptions=False)
        assert result.exit_code == EXPECTED_EXIT.get(args[1], 0), (
            f"{' '.join(args)}\n{result.output}"
        )


def other_language_commands() -> list[str]:
    """The command lines of the README's "Other languages" block."""
    section = README.split("## Other languages", 1)[1]
    block = re.search(r"```\n(.*?)```", section, flags=re.DOTALL)
    assert block is not None
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_other_language_commands_run(dev_service: tuple[RunningService, Path]) -> None:
    """The Node.js client and `buf curl` lines, as a user runs them after `make serve`
    (here against the test service: its port and its `var/`), on the tour's demo library."""
    import json
    import subprocess

    running, var = dev_service
    imported = CliRunner().invoke(app, [
        "experts", "import", str(ROOT / "docs/samples/experts-demo.csv"), "--client-config",
        str(var / "client.toml"), "--target", f"127.0.0.1:{running.port}",
    ])  # fmt: skip
    assert imported.exit_code == 0, imported.output  # idempotent: the tour may have run
    setup, node, curl = other_language_commands()
    assert setup.startswith("make proto-deps")
    for line in (setup, node, curl):
        local = line.replace("127.0.0.1:50051", f"127.0.0.1:{running.port}").replace(
            " var/", f" {var}/"
        )
        done = subprocess.run(local, shell=True, cwd=ROOT, capture_output=True, text=True,  # noqa: S602 - the README's own line
                              timeout=300, check=False)  # fmt: skip
        assert done.returncode == 0, f"{line}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        if line is node:
            assert json.loads(done.stdout)["state"] == "STATE_EXECUTED"
        if line is curl:
            assert json.loads(done.stdout) == {"status": "SERVING"}
