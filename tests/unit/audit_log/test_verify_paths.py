"""The verifier's less travelled paths: malformed inputs, legacy state, odd receipts."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import pytest

from audit_log import canonical, state
from audit_log import checkpoint as cp
from audit_log.export import CHECKPOINTS, ENTRIES, checkpoint_line
from audit_log.note import Signer
from audit_log.receipt import Receipt
from audit_log.verify import Category, Options, verify_log
from tests.support.small_logs import KEY, TRUST, build, entries, seal, write
from tests.vectors.generate import ORIGIN

if TYPE_CHECKING:
    from pathlib import Path

TX = [2, 1, 3, 1, 2]


def first(report: object) -> tuple[Category, int | None]:
    findings = report.findings  # type: ignore[attr-defined]
    assert findings
    return findings[0].category, findings[0].seq


@pytest.fixture
def log(tmp_path: Path) -> tuple[Path, list[bytes], dict[int, str]]:
    bodies, notes = build(TX)
    return write(tmp_path / "export", bodies, notes), bodies, notes


def edit_checkpoints(folder: Path, change: object) -> None:
    lines = (folder / CHECKPOINTS).read_bytes().splitlines(keepends=True)
    (folder / CHECKPOINTS).write_bytes(b"".join(change(lines)))  # type: ignore[operator]


@pytest.mark.parametrize(
    "change",
    [
        lambda lines: [lines[1], lines[0], *lines[2:]],  # sizes out of order
        lambda lines: [*lines[:-1], lines[-1].replace(b'","size"', b'", "size"')],  # not canonical
        lambda lines: [*lines[:-1], canonical.dumps({"note": "x", "size": 1, "extra": 1}) + b"\n"],
        lambda lines: [*lines[:-1], canonical.dumps({"note": 5, "size": 1}) + b"\n"],
        lambda lines: [*lines[:-1], canonical.dumps({"note": "no note", "size": 1}) + b"\n"],
        lambda lines: [*lines[:-1], lines[-1].rstrip(b"\n")],  # no final newline
    ],
    ids=["order", "non-canonical", "members", "types", "note syntax", "newline"],
)
def test_malformed_checkpoint_lines_are_rejected(
    log: tuple[Path, list[bytes], dict[int, str]], change: object
) -> None:
    folder, _, _ = log
    edit_checkpoints(folder, change)
    assert first(verify_log(folder, TRUST))[0] is Category.REJECT


def test_note_of_another_size_or_origin(log: tuple[Path, list[bytes], dict[int, str]]) -> None:
    folder, _, notes = log
    elsewhere = cp.sign(cp.Checkpoint("other.example/log", 3, bytes(32)), [KEY])
    edit_checkpoints(folder, lambda lines: [*lines, checkpoint_line(99, notes[3])])
    assert first(verify_log(folder, TRUST))[0] is Category.REJECT
    edit_checkpoints(folder, lambda lines: [*lines[:-1], checkpoint_line(3, elsewhere)])
    assert first(verify_log(folder, TRUST))[0] is Category.REJECT


def test_repeated_lines_count_once(log: tuple[Path, list[bytes], dict[int, str]]) -> None:
    folder, _, _ = log
    edit_checkpoints(folder, lambda lines: [lines[0], *lines])
    assert verify_log(folder, TRUST).findings == []


def test_last_entry_without_newline(log: tuple[Path, list[bytes], dict[int, str]]) -> None:
    folder, bodies, _ = log
    (folder / ENTRIES).write_bytes((folder / ENTRIES).read_bytes().rstrip(b"\n"))
    assert first(verify_log(folder, TRUST)) == (Category.REJECT, len(bodies) - 1)


def test_schema_violation_and_reanchor(tmp_path: Path) -> None:
    items, sizes = entries(TX)
    items[3] = replace(items[3], kind="key.reanchor", subj="log", data={"statement": "x"})
    bodies, notes = seal(items, sizes)
    assert first(verify_log(write(tmp_path / "a", bodies, notes), TRUST)) == (
        Category.BAD_ROTATION,
        3,
    )
    bodies[2] = bodies[2].replace(b'"kind":"expert.delete"', b'"kind":"expert.unknown"')
    assert first(verify_log(write(tmp_path / "b", bodies, notes), TRUST)) == (Category.SCHEMA, 2)


def test_rotation_naming_a_malformed_key(tmp_path: Path) -> None:
    items, sizes = entries(TX)
    bad = str(Signer.generate(ORIGIN).verifier)
    bad = bad[: bad.index("+") + 1] + "00000000" + bad[bad.index("+") + 9 :]  # wrong key ID
    items[3] = replace(items[3], kind="key.rotate", subj="log",
                       data={"old_vkey": str(KEY.verifier), "new_vkey": bad, "reason": "x", "from_size": 9})  # fmt: skip
    bodies, notes = seal(items, sizes)
    assert first(verify_log(write(tmp_path, bodies, notes), TRUST)) == (Category.BAD_ROTATION, 3)


def test_strict_stops_at_the_unsigned_tail(tmp_path: Path) -> None:
    bodies, notes = build(TX)
    kept = {s: n for s, n in notes.items() if s < len(bodies)}
    report = verify_log(write(tmp_path, bodies, kept), TRUST, Options(strict=True))
    assert [f.category for f in report.findings] == [Category.UNSIGNED_TAIL]
    assert report.exit_code == 3
    assert report.new_state is None  # a stopped run pins nothing
    json = report.to_json()
    assert json["exit_code"] == 3
    assert json["findings"][0]["category"] == "UNSIGNED TAIL"


def test_unreadable_inputs_are_usage_errors(tmp_path: Path) -> None:
    report = verify_log(tmp_path / "missing", TRUST)
    assert (report.exit_code, report.findings[0].category) == (4, Category.USAGE)


def test_since_with_a_state_without_compact_range(
    log: tuple[Path, list[bytes], dict[int, str]], tmp_path: Path
) -> None:
    folder, bodies, _ = log
    clean = verify_log(folder, TRUST)
    assert clean.new_state is not None
    legacy = replace(
        clean.new_state, size=3, root=clean.new_state.root, compact=(), last_leaf=b"", offset=0
    )
    from audit_log import merkle

    prefix = merkle.CompactRange()
    for body in bodies[:3]:
        prefix.append(merkle.leaf_hash(body))
    state.save(tmp_path / "legacy", replace(legacy, root=prefix.root()))
    assert (
        verify_log(folder, TRUST, Options(since=True), state_dir=tmp_path / "legacy").findings == []
    )
    state.save(tmp_path / "forked", replace(legacy, root=bytes(32)))
    assert (
        first(verify_log(folder, TRUST, Options(since=True), state_dir=tmp_path / "forked"))[0]
        is Category.FORK
    )
    damaged = replace(clean.new_state, root=bytes(32))
    state.save(tmp_path / "damaged", damaged)
    assert (
        first(verify_log(folder, TRUST, Options(since=True), state_dir=tmp_path / "damaged"))[0]
        is Category.FORK
    )


def test_receipt_problems(log: tuple[Path, list[bytes], dict[int, str]], tmp_path: Path) -> None:
    folder, bodies, notes = log
    receipts = tmp_path / "receipts"
    receipts.mkdir()
    (receipts / "garbage").write_text("not a receipt")
    assert first(verify_log(folder, TRUST, receipts_dir=receipts))[0] is Category.REJECT
    (receipts / "garbage").unlink()
    newest = notes[len(bodies)]
    (receipts / "bad-proof").write_text(Receipt(1, (bytes(32),) * 4, newest).format())
    assert first(verify_log(folder, TRUST, receipts_dir=receipts)) == (Category.PROOF, 1)
