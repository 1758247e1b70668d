"""The verifier's less travelled paths: malformed inputs, legacy state, odd receipts."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Self

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


def test_progress_is_reported(tmp_path: Path) -> None:
    bodies, notes = build([4100])
    seen: list[tuple[int, int]] = []
    report = verify_log(
        write(tmp_path, bodies, notes),
        TRUST,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert report.findings == []
    assert seen == [(4096, len(bodies))]


def test_a_repeated_line_is_tamper_and_a_gap_before_garbage_too(
    log: tuple[Path, list[bytes], dict[int, str]],
) -> None:
    folder, bodies, notes = log
    lines = [b + b"\n" for b in bodies]
    write(folder, [line.rstrip(b"\n") for line in [*lines[:3], lines[2], *lines[3:]]], notes)
    assert first(verify_log(folder, TRUST)) == (Category.TAMPER, 3)  # line 4 holds seq 2
    (folder / ENTRIES).write_bytes(b"".join([*lines[:3], *lines[4:5], b"garbage\n", *lines[6:]]))
    assert (
        first(verify_log(folder, TRUST))[0] is Category.TAMPER
    )  # a jump, then no entry to confirm a gap


def test_rotation_to_an_unparsable_key(tmp_path: Path) -> None:
    items, sizes = entries(TX)
    items[3] = replace(items[3], kind="key.rotate", subj="log",
                       data={"old_vkey": str(KEY.verifier), "new_vkey": f"{ORIGIN}+1234abcd+AAAA",
                             "reason": "x", "from_size": 9})  # fmt: skip
    bodies, notes = seal(items, sizes)
    report = verify_log(write(tmp_path, bodies, notes), TRUST)
    assert first(report) == (Category.BAD_ROTATION, 3)
    assert "key.rotate:" in report.findings[0].msg


def test_foreign_signatures_where_they_matter(
    log: tuple[Path, list[bytes], dict[int, str]], tmp_path: Path
) -> None:
    folder, bodies, notes = log
    stranger = Signer.generate(ORIGIN)
    size = len(bodies)
    forged = cp.sign(cp.parse_unverified(notes[size]), [stranger])  # the right root, an unknown key
    edit_checkpoints(folder, lambda lines: [*lines[:-1], checkpoint_line(size, forged)])
    assert first(verify_log(folder, TRUST)) == (Category.REJECT, size - 1)  # the newest must verify
    write(folder, bodies, notes)
    receipts = tmp_path / "receipts"
    receipts.mkdir()
    (receipts / "foreign").write_text(
        Receipt(1, (), cp.sign(cp.parse_unverified(notes[3]), [stranger])).format()
    )
    assert first(verify_log(folder, TRUST, receipts_dir=receipts))[0] is Category.REJECT


def test_receipts_beyond_the_log_or_at_sizes_without_a_line(
    log: tuple[Path, list[bytes], dict[int, str]], tmp_path: Path
) -> None:
    folder, bodies, notes = log
    receipts = tmp_path / "receipts"
    receipts.mkdir()
    beyond = cp.sign(cp.Checkpoint(ORIGIN, 100, bytes(32)), [KEY])
    (receipts / "beyond").write_text(Receipt(50, (bytes(32),) * 7, beyond).format())
    assert first(verify_log(folder, TRUST, receipts_dir=receipts)) == (Category.ROLLBACK, 50)
    (receipts / "beyond").unlink()
    # A receipt into size 3, whose checkpoint line was dropped from the export.
    from audit_log import merkle

    nodes: dict[tuple[int, int], bytes] = {}
    compact = merkle.CompactRange()
    for i, body in enumerate(bodies[:3]):
        nodes[(0, i)] = merkle.leaf_hash(body)
        for level, index, value in compact.append(nodes[(0, i)]):
            nodes[(level, index)] = value
    proof = merkle.inclusion_proof(1, 3, lambda lv, ix: nodes[(lv, ix)])
    (receipts / "dropped").write_text(Receipt(1, tuple(proof), notes[3]).format())
    edit_checkpoints(folder, lambda lines: [line for line in lines if b'"size":3}' not in line])
    assert verify_log(folder, TRUST, receipts_dir=receipts).findings == []


def test_oversized_and_non_utf8_entries(log: tuple[Path, list[bytes], dict[int, str]]) -> None:
    folder, bodies, notes = log
    huge = bodies[2].replace(b'"reason":"r', b'"reason":"' + b"x" * 70_000 + b"r", 1)
    write(folder, [*bodies[:2], huge, *bodies[3:]], notes)
    assert first(verify_log(folder, TRUST)) == (Category.SCHEMA, 2)
    write(
        folder,
        [*bodies[:2], bodies[2].replace(b'"reason":"r', b'"reason":"\xff', 1), *bodies[3:]],
        notes,
    )
    assert first(verify_log(folder, TRUST)) == (Category.NONCANONICAL, 2)


def test_a_dead_worker_pool(
    log: tuple[Path, list[bytes], dict[int, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    import concurrent.futures
    from concurrent.futures.process import BrokenProcessPool

    from audit_log import verify

    folder, _, _ = log
    monkeypatch.setattr(verify, "PARALLEL_MIN_ENTRIES", 0)

    class Broken:
        def __init__(self, *args: object, **kwargs: object) -> None:
            pass

        def __enter__(self) -> Self:
            return self

        def __exit__(self, *exc: object) -> None:
            pass

        def submit(self, *args: object) -> concurrent.futures.Future[object]:
            future: concurrent.futures.Future[object] = concurrent.futures.Future()
            future.set_exception(BrokenProcessPool("gone"))
            return future

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", Broken)
    assert verify_log(folder, TRUST, Options(workers=2)).findings == []  # parsed here instead

    def dying(*args: object) -> object:
        raise OSError("worker died")

    monkeypatch.setattr(verify, "_parallel_records", dying)
    report = verify_log(folder, TRUST, Options(workers=2))
    assert (report.exit_code, first(report)[0]) == (4, Category.USAGE)


def test_a_forged_second_root_is_not_equivocation(
    log: tuple[Path, list[bytes], dict[int, str]],
) -> None:
    folder, _, _ = log
    stranger = Signer.generate(ORIGIN)
    forged = cp.sign(
        cp.Checkpoint(ORIGIN, 3, bytes(32)), [stranger]
    )  # another root, not validly signed
    edit_checkpoints(folder, lambda lines: [*lines[:2], checkpoint_line(3, forged), *lines[2:]])
    report = verify_log(folder, TRUST)
    assert Category.EQUIVOCATION not in [f.category for f in report.findings]
    assert first(report)[0] is Category.BAD_SIGNATURE  # the altered note is caught at its size
