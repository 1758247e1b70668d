"""docs/operations.md names real commands and options, and its examples work."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from typer.main import get_command

from cli.main import app
from cli.verify.draw import read_key
from expert_draw.config import load_settings

ROOT = Path(__file__).resolve().parents[3]
GUIDE = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
COMPOSE = (ROOT / "docs" / "deploy" / "compose.yaml").read_text(encoding="utf-8")


def code(text: str) -> list[str]:
    """The code blocks and inline code spans of a Markdown text, continuations joined."""
    blocks = re.findall(r"```\w*\n(.*?)```", text, flags=re.DOTALL)
    prose = re.sub(r"```\w*\n.*?```", "", text, flags=re.DOTALL)
    spans = re.findall(r"`([^`\n]+)`", prose.replace("\n", " "))
    return [b.replace("\\\n", " ") for b in blocks] + spans


def mentions(text: str) -> list[list[str]]:
    """Each `expert-draw …` command in the text's code, as tokens (placeholders dropped)."""
    found = []
    for snippet in code(text):
        # The command, or the image (`expert-draw:TAG db upgrade`); not a path or a name.
        pattern = r"(?<![\w/.:-])(?<!--name )(?<!exec )expert-draw(?::\S+)?((?: +[^\s`\"|()]+)+)"
        for match in re.finditer(pattern, snippet):
            tokens = match.group(1).split()
            if not re.fullmatch(r"[a-z][a-z-]*", tokens[0]):  # `expert-draw COMMAND`, `-t … .`
                continue
            found.append(tokens)
    return found


def resolve(tokens: list[str]) -> tuple[Any, list[str]]:
    """The click command the tokens name, and the option names used with it."""
    command: Any = get_command(app)
    rest = list(tokens)
    while rest and hasattr(command, "list_commands"):
        context = type(command).context_class(command)
        sub = command.get_command(context, rest[0])
        assert sub is not None, f"no command {' '.join(tokens)!r}"
        command, rest = sub, rest[1:]
    words = [t.strip("[]") for t in rest]  # `[--overlap N]`: optional, still an option
    options = [t.split("=")[0] for t in words if re.fullmatch(r"--?[a-z][a-z-]*(=.*)?", t)]
    return command, options


def test_every_command_and_option_in_the_guide_exists() -> None:
    commands = mentions(GUIDE)
    assert len(commands) > 20
    for tokens in commands:
        command, options = resolve(tokens)
        known = {name for param in command.params for name in param.opts}
        known |= {"--help"}
        for option in options:
            assert option in known, f"expert-draw {' '.join(tokens)}: no option {option}"


def test_the_compose_commands_exist() -> None:
    checked = []
    for listed in re.findall(r"\[(\"[^]]+)\]", COMPOSE):
        words = [w.strip().strip('"') for w in listed.split(",")]
        if words[0] == "CMD" and words[1] == "expert-draw":
            words = words[2:]
        elif words[0] not in {"db", "serve"}:  # `command:` is the entry point's arguments
            continue
        command, options = resolve(words)
        known = {name for param in command.params for name in param.opts}
        assert set(options) <= known, words
        checked.append(command.name)
    assert sorted(checked) == ["health", "health", "upgrade"]


def guide_block(language: str, first_line: str) -> str:
    blocks = re.findall(rf"```{language}\n(.*?)```", GUIDE, flags=re.DOTALL)
    chosen = [b for b in blocks if b.lstrip().startswith(first_line)]
    assert len(chosen) == 1, first_line
    return str(chosen[0])


def test_the_settings_example_loads() -> None:
    text = guide_block("toml", "# /etc/expert-draw/expert-draw.toml")
    text = re.sub(r"<64 hex digits[^>]*>", "0" * 64, text)
    settings = load_settings(None, **tomllib.loads(text))
    assert settings.draws is not None
    assert settings.audit.signing_key == Path("/run/secrets/log_key")


def test_the_escrow_key_recipe_writes_keys_the_commands_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recipe = guide_block("sh", "python -c")
    code = re.search(r'python -c "(.*)"', recipe, flags=re.DOTALL)
    assert code is not None
    subprocess.run([sys.executable, "-c", code.group(1)], cwd=tmp_path, check=True)
    private = read_key(tmp_path / "bureau-01.key")
    assert (tmp_path / "bureau-01.key").stat().st_mode & 0o077 == 0
    public = (tmp_path / "bureau-01.pub").read_text(encoding="ascii").strip()
    derived = X25519PrivateKey.from_private_bytes(private).public_key().public_bytes_raw()
    assert public == derived.hex()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(subprocess.CalledProcessError):  # it never overwrites a key
        subprocess.run([sys.executable, "-c", code.group(1)], check=True, capture_output=True)
