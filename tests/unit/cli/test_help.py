"""Every command, argument and option of `expert-draw` explains itself, and --help runs."""

from __future__ import annotations

from typing import Any

from typer.main import get_command
from typer.testing import CliRunner

from cli.main import app


def commands() -> list[tuple[list[str], Any]]:
    found: list[tuple[list[str], Any]] = []

    def walk(command: Any, path: list[str]) -> None:
        found.append((path, command))
        if hasattr(command, "list_commands"):  # a group (typer may vendor its own click)
            context = type(command).context_class(command)
            for name in command.list_commands(context):
                sub = command.get_command(context, name)
                assert sub is not None
                walk(sub, [*path, name])

    walk(get_command(app), [])
    return found


def test_every_command_argument_and_option_has_help() -> None:
    missing = []
    for path, command in commands():
        if path and not (command.help or command.short_help):
            missing.append(f"{' '.join(path)}: no help")
        missing += [
            f"{' '.join(path)} {param.name}: no help"
            for param in command.params
            if not getattr(param, "help", None)
        ]
    assert missing == []
    assert len(commands()) > 25  # the walk saw the whole tree


def test_help_runs_for_every_command() -> None:
    runner = CliRunner()
    for path, _ in commands():
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage" in result.output
