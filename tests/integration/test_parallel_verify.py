"""Parsing in worker processes gives exactly the serial verifier's reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from audit_log import trust, verify
from audit_log.verify import Options, verify_log
from tests.support.small_logs import TRUST, build, write
from tests.vectors import generate

VECTORS = Path(generate.__file__).parent / "audit_log"
EXPECTED = json.loads((VECTORS / "logs" / "expected.json").read_text(encoding="utf-8"))


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(verify, "PARALLEL_MIN_ENTRIES", 0)
    monkeypatch.setattr(verify, "CHUNK_BYTES", 700)  # a few lines per chunk


def test_vector_logs_in_worker_processes() -> None:
    pinned = trust.load(VECTORS / "trust.toml")
    for folder, expected in sorted(EXPECTED.items()):
        serial = verify_log(VECTORS / folder, pinned)
        parallel = verify_log(VECTORS / folder, pinned, Options(workers=2))
        assert parallel.findings == serial.findings, expected["description"]
        assert (parallel.size, parallel.root, parallel.new_state) == (
            serial.size,
            serial.root,
            serial.new_state,
        )
        found = (
            [str(parallel.findings[0].category), parallel.findings[0].seq]
            if parallel.findings
            else None
        )
        assert (parallel.exit_code, found) == (expected["exit_code"], expected["first"])


def test_edits_and_moves_in_worker_processes(tmp_path: Path) -> None:
    bodies, notes = build([3, 1, 2, 4, 1, 1, 2, 3, 1, 2])
    cases = {"clean": bodies, "edited": [*bodies[:7], bodies[7].replace(b'"reason":"r', b'"reason":"R', 1), *bodies[8:]],
             "deleted": bodies[:5] + bodies[6:], "moved": [*bodies[:4], bodies[9], *bodies[5:9], bodies[4], *bodies[10:]]}  # fmt: skip
    # Lines end at b"\n" only: a raw CR inside an entry is a non-canonical entry, not a
    # line break (bytes.splitlines would have cut the line in two).
    cases["carriage return"] = [
        *bodies[:6],
        bodies[6].replace(b'"reason":"r', b'"reason":"\rr', 1),
        *bodies[7:],
    ]
    for name, lines in cases.items():
        folder = write(tmp_path / name, lines, notes)
        serial = verify_log(folder, TRUST)
        parallel = verify_log(folder, TRUST, Options(workers=2))
        assert parallel.findings == serial.findings, name
        assert parallel.new_state == serial.new_state, name
    first = verify_log(tmp_path / "carriage return", TRUST, Options(workers=2)).findings[0]
    assert (str(first.category), first.seq) == ("NONCANONICAL", 6)
    assert "Invalid control character" in first.msg  # the whole line was parsed
