"""The replay vectors (draw-v1.md §15) regenerate, and the shipped replay meets each one.

``expert_draw.core.replay`` (through ``verify replay`` for the exit codes) and
``tests.vectors.replay_reference`` (a second implementation written from §15 alone) must reach
every case's declared outcome: the exit code, whether the openings contradict the log,
each opened draw's verdict, failed checks and unverified codes, and the experts listed
CHANGED_BEFORE.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
from typer.testing import CliRunner

from audit_log import canonical
from audit_log.export import ENTRIES
from cli.main import app
from expert_draw.core.replay import OpeningsError, parse_openings, replay
from tests.vectors import replay_cases, replay_reference

if TYPE_CHECKING:
    from pathlib import Path

VECTORS = replay_cases.OUT
CASES = sorted(p.name for p in VECTORS.iterdir() if p.is_dir())


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}  # fmt: skip


def test_vectors_regenerate_byte_for_byte(tmp_path: Path) -> None:
    replay_cases.generate(tmp_path / "out")
    committed, fresh = _files(VECTORS), _files(tmp_path / "out")
    assert sorted(committed) == sorted(fresh)
    for path, value in committed.items():
        assert value == fresh[path], path


def test_the_vectors_cover_the_checks() -> None:
    """A golden case, both kinds of PARTIAL, every check failing, and every exit code."""
    expected = [_expected(c) for c in CASES]
    assert expected[0]["exit_code"] == 0
    assert {e["exit_code"] for e in expected} == {0, 1, 3, 4}
    failed = {c for e in expected for d in e["draws"].values() for c in d["checks"]}
    assert failed == {"INPUTS", "POLICY", "OPENING", "ROOTS", "MEMBERS", "REASONS"}
    unverified = {c for e in expected for d in e["draws"].values() for c in d["unverified"]}
    assert {"A11", "E3", "SAME_PROJECT"} <= unverified
    assert any(e["openings_contradict_log"] for e in expected)


def _expected(case: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((VECTORS / case / "expected.json").read_text("utf-8"))
    return data


def shipped(case: Path) -> dict[str, Any]:
    """The shipped replay's outcome, in the shape of expected.json."""
    try:
        openings = parse_openings((case / "openings.json").read_bytes())
    except OpeningsError:
        return {"exit_code": 4, "openings_contradict_log": False, "draws": {},
                "changed_before": {}}  # fmt: skip
    lines = (case / "export" / ENTRIES).read_bytes().splitlines()
    entries = [canonical.loads(line) for line in lines]
    report = replay(entries, openings, origin=entries[0]["log"])
    return {
        "exit_code": report.exit_code,
        "openings_contradict_log": bool(report.problems),
        "draws": {
            d.draw_id: {"verdict": d.verdict, "checks": sorted({f.check for f in d.findings}),
                        "unverified": sorted({c for key in d.unverified for c in key.split(",")})}
            for d in report.draws
        },
        "changed_before": {d.draw_id: sorted(c.expert for c in d.lookback if c.changed)
                           for d in report.draws if any(c.changed for c in d.lookback)},
    }  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_the_shipped_replay_meets_each_vector(case: str) -> None:
    expected = _expected(case)
    del expected["description"]
    assert shipped(VECTORS / case) == expected


@pytest.mark.parametrize("case", CASES)
def test_verify_replay_exits_as_declared(case: str) -> None:
    folder = VECTORS / case
    result = CliRunner().invoke(app, [
        "verify", "replay", str(folder / "openings.json"), "--export", str(folder / "export"),
        "--trust", str(folder / "trust.toml"), "--json",
    ], catch_exceptions=False)  # fmt: skip
    assert result.exit_code == _expected(case)["exit_code"], result.output


@pytest.mark.parametrize("case", CASES)
def test_an_implementation_written_from_the_spec_agrees(case: str) -> None:
    """tests/vectors/replay_reference.py was written from draw-v1 §15 alone."""
    expected = _expected(case)
    del expected["description"]
    assert replay_reference.run(VECTORS / case) == expected
