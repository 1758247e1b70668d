"""The tamper catalogue (audit-log.md §10) on SQLite and PostgreSQL.

A clean ~1,000-entry log of single- and multi-entry transactions is tampered with by
raw SQL (bypassing the app and, on PostgreSQL, the triggers), exported straight from the
tables, and verified offline. T-22, T-23 and T-24 are in tests/integration/db and
tests/unit/audit_log; T-27 (remove each verifier check in turn) is
tests/property/test_verifier_mutations.py; T-25 comes with the draw; the witness variants
of T-9 and T-16 come with the supervision issue.
"""

from __future__ import annotations

import base64
import itertools
import json
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pytest

from audit_log import checkpoint as cp
from audit_log import merkle, state
from audit_log import trust as trust_module
from audit_log.entry import Entry
from audit_log.export import CHECKPOINTS, checkpoint_line
from audit_log.note import Signer
from audit_log.receipt import Receipt
from audit_log.verify import Category, Options, Report, verify_log
from tests.support import tamper
from tests.support.databases import new_postgres_url, new_sqlite_url
from tests.support.service import ORIGIN, log_key_file, make_audit_log

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from sqlalchemy.engine import Engine

    from tests.support.pki import Pki

_names = itertools.count()
DEFAULT = Options()


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def base(
    request: pytest.FixtureRequest, pki: Pki, tmp_path_factory: pytest.TempPathFactory
) -> tamper.BaseLog:
    if request.param == "sqlite":
        url = new_sqlite_url(tmp_path_factory.mktemp("tamper"))
    else:
        url = new_postgres_url(request.getfixturevalue("pg_server_url"))
    engine = tamper.engine_for(url)
    try:
        return tamper.build(make_audit_log(engine, pki), url)
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def signer(pki: Pki) -> Signer:
    return Signer.parse(log_key_file(pki).read_text().strip())


@pytest.fixture(scope="module")
def trust(signer: Signer) -> trust_module.Trust:
    return trust_module.parse(f'version = 1\nlog_vkey = "{signer.verifier}"\n')


@pytest.fixture
def copy(base: tamper.BaseLog, tmp_path: Path) -> Iterator[Engine]:
    engine = tamper.engine_for(tamper.copy_database(base, tmp_path, f"tamper_{next(_names)}"))
    yield engine
    engine.dispose()


def middle(base: tamper.BaseLog) -> int:
    """A single-entry transaction after another single-entry one, near the middle."""
    for (prev_first, prev_count), (first, count) in itertools.pairwise(base.transactions):
        if first >= base.size // 2 and count == 1 and prev_count == 1:
            del prev_first
            return first
    raise AssertionError


def check(
    engine: Engine, folder: Path, trust: trust_module.Trust, *, options: Options = DEFAULT,
    state_dir: Path | None = None, receipts: dict[int, str] | None = None,
) -> Report:  # fmt: skip
    export = tamper.export(engine, folder / "export")
    receipts_dir = None
    if receipts is not None:
        receipts_dir = folder / "receipts"
        receipts_dir.mkdir()
        for index, text in receipts.items():
            (receipts_dir / f"{index}.tlog-proof").write_text(text)
    return verify_log(export, trust, options, state_dir=state_dir, receipts_dir=receipts_dir)


def first(report: Report) -> tuple[Category, int | None]:
    assert report.findings, "no finding"
    return report.findings[0].category, report.findings[0].seq


def pin(base: tamper.BaseLog, trust: trust_module.Trust, folder: Path) -> Path:
    """Verify the clean log once and pin its state, as a supervisor would have."""
    engine = tamper.engine_for(base.url)
    try:
        report = check(engine, folder / "clean", trust)
    finally:
        engine.dispose()
    assert report.exit_code == 0
    assert report.new_state is not None
    state.save(folder / "state", report.new_state)
    return folder / "state"


def test_clean_log_verifies(
    base: tamper.BaseLog, copy: Engine, trust: trust_module.Trust, tmp_path: Path
) -> None:
    report = check(
        copy, tmp_path, trust, receipts=base.receipts, options=Options(all_signatures=True)
    )
    assert report.findings == []
    assert report.size == base.size >= 1000
    assert len(base.receipts) >= 10


def edit_reason(data: bytes) -> bytes:
    changed = data.replace(b'"reason":"r', b'"reason":"R', 1)
    assert changed != data
    return changed


def test_t1_flip_a_byte(
    base: tamper.BaseLog, copy: Engine, trust: trust_module.Trust, tmp_path: Path
) -> None:
    seq = middle(base)
    tamper.set_body(copy, seq, edit_reason(tamper.body(copy, seq)))
    assert first(check(copy, tmp_path, trust)) == (Category.TAMPER, seq)


def test_t2_edit_and_rehash(
    base: tamper.BaseLog, copy: Engine, trust: trust_module.Trust, tmp_path: Path
) -> None:
    seq = middle(base)
    new = edit_reason(tamper.body(copy, seq))
    tamper.set_body(copy, seq, new, rehash=True)
    assert first(check(copy, tmp_path, trust)) == (Category.TAMPER, seq)


def test_t3_edit_and_rechain_without_key(
    base: tamper.BaseLog, copy: Engine, trust: trust_module.Trust, tmp_path: Path
) -> None:
    seq = middle(base)
    entries = tamper.entries(copy)
    entries[seq] = replace(entries[seq], data={"reason": "rewritten"})
    prev = merkle.leaf_hash(entries[seq - 1].encode())
    for index in range(seq, len(entries)):
        entries[index] = replace(entries[index], prev=prev.hex())
        data = entries[index].encode()
        tamper.set_body(copy, index, data, rehash=True)
        prev = merkle.leaf_hash(data)
    assert first(check(copy, tmp_path, trust)) == (Category.TAMPER, seq)


def test_t4_delete_a_row(
    base: tamper.BaseLog, copy: Engine, trust: trust_module.Trust, tmp_path: Path
) -> None:
    seq = middle(base)
    tamper.raw(copy, "DELETE FROM audit_entry WHERE seq = :s", s=seq)
    assert first(check(copy, tmp_path, trust)) == (Category.GAP, seq)


def test_t5_delete_and_renumber(
    base: tamper.BaseLog, copy: Engine, trust: trust_module.Trust, tmp_path: Path
) -> None:
    seq = middle(base)
    entries = tamper.entries(copy)
    tamper.raw(copy, "DELETE FROM audit_entry WHERE seq >= :s", s=seq)
    for index in range(seq + 1, len(entries)):
        data = replace(entries[index], seq=index - 1).encode()
        tamper.raw(copy, "INSERT INTO audit_entry (log_id, seq, body, leaf_hash, req, kind, subj) VALUES (1, :s, :b, :h, :r, 'k', 's')",
                   s=index - 1, b=data, h=merkle.leaf_hash(data), r=f"renumbered-{index}")  # fmt: skip
    assert first(check(copy, tmp_path, trust)) == (Category.TAMPER, seq)


def test_t6_swap_two_rows_seq(
    base: tamper.BaseLog, copy: Engine, trust: trust_module.Trust, tmp_path: Path
) -> None:
    seq = middle(base)
    tamper.raw(copy, "UPDATE audit_entry SET seq = 999999999 WHERE seq = :s", s=seq)
    tamper.raw(copy, "UPDATE audit_entry SET seq = :s WHERE seq = :o", s=seq, o=seq + 50)
    tamper.raw(copy, "UPDATE audit_entry SET seq = :o WHERE seq = 999999999", o=seq + 50)
    assert first(check(copy, tmp_path, trust)) == (Category.TAMPER, seq)


def test_t7_swap_two_bodies(
    base: tamper.BaseLog, copy: Engine, trust: trust_module.Trust, tmp_path: Path
) -> None:
    seq = middle(base)
    a, b = tamper.body(copy, seq), tamper.body(copy, seq + 50)
    tamper.set_body(copy, seq, b)
    tamper.set_body(copy, seq + 50, a)
    assert first(check(copy, tmp_path, trust)) == (Category.TAMPER, seq)


def test_t8_truncate_keeping_checkpoints(
    base: tamper.BaseLog, copy: Engine, trust: trust_module.Trust, tmp_path: Path
) -> None:
    tamper.raw(copy, "DELETE FROM audit_entry WHERE seq >= 900")
    assert first(check(copy, tmp_path, trust)) == (Category.TRUNCATION, 900)


def test_t9_truncate_with_checkpoints(
    base: tamper.BaseLog, copy: Engine, trust: trust_module.Trust, tmp_path: Path
) -> None:
    pinned = pin(base, trust, tmp_path)
    cut = max(s for s in tamper.checkpoint_sizes(copy) if s <= 900)  # a transaction boundary
    tamper.raw(copy, "DELETE FROM audit_entry WHERE seq >= :c", c=cut)
    tamper.raw(copy, "DELETE FROM audit_checkpoint WHERE size > :c", c=cut)
    without = check(copy, tmp_path / "a", trust)
    assert without.exit_code == 0  # undetectable without an external copy: hence pins and receipts
    assert first(check(copy, tmp_path / "b", trust, state_dir=pinned))[0] is Category.ROLLBACK
    late = {i: t for i, t in base.receipts.items() if i >= cut}
    assert late
    assert first(check(copy, tmp_path / "c", trust, receipts=late))[0] is Category.ROLLBACK


def test_t10_unsigned_tail(
    base: tamper.BaseLog, copy: Engine, trust: trust_module.Trust, tmp_path: Path
) -> None:
    last = tamper.entries(copy)[-1]
    prev = merkle.leaf_hash(last.encode())
    extra = replace(last, seq=last.seq + 1, prev=prev.hex(), req="dev:admin/extra#0").encode()
    tamper.raw(copy, "INSERT INTO audit_entry (log_id, seq, body, leaf_hash, req, kind, subj) VALUES (1, :s, :b, :h, 'extra', 'k', 's')",
               s=last.seq + 1, b=extra, h=merkle.leaf_hash(extra))  # fmt: skip
    report = check(copy, tmp_path / "a", trust)
    assert (report.exit_code, first(report)) == (3, (Category.UNSIGNED_TAIL, last.seq + 1))
    assert check(copy, tmp_path / "b", trust, options=Options(strict=True)).exit_code == 3


def test_t11_entry_of_another_origin(
    base: tamper.BaseLog, copy: Engine, trust: trust_module.Trust, tmp_path: Path
) -> None:
    seq = middle(base)
    foreign = replace(Entry.decode(tamper.body(copy, seq)), log="other.example/log").encode()
    tamper.set_body(copy, seq, foreign)
    assert first(check(copy, tmp_path, trust)) == (Category.TAMPER, seq)


@pytest.mark.parametrize(
    "variant",
    ["spaces", "key order", "unicode escape", "duplicate key", "float", "nan"],
)
def test_t12_noncanonical(
    base: tamper.BaseLog, copy: Engine, trust: trust_module.Trust, tmp_path: Path, variant: str
) -> None:
    seq = middle(base)
    data = tamper.body(copy, seq)
    bad = {
        "spaces": data.replace(b'","', b'", "', 1),
        "key order": data.replace(b'{"data":', b'{"v":1,"data":', 1).replace(b',"v":1,', b",", 1),
        "unicode escape": data.replace(b'"reason":"r', b'"reason":"\\u0072', 1),
        "duplicate key": data.replace(b'{"data":', b'{"v":2,"data":', 1),
        "float": data.replace(b'"v":1,', b'"v":1.0,', 1),
        "nan": data.replace(b'"ts":', b'"ts":NaN,"x":', 1),
    }[variant]
    assert bad != data
    tamper.set_body(copy, seq, bad, rehash=True)
    assert first(check(copy, tmp_path, trust)) == (Category.NONCANONICAL, seq)


def test_t13_t14_node_and_head_edits_do_not_affect_the_verifier(
    copy: Engine, trust: trust_module.Trust, tmp_path: Path
) -> None:
    tamper.raw(copy, "UPDATE audit_node SET hash = :h WHERE level = 3", h=bytes(32))
    tamper.raw(copy, "UPDATE audit_head SET size = size + 5, root = :h", h=bytes(32))
    assert check(copy, tmp_path, trust).findings == []  # the service's self-check catches these


def test_t15_equivocation(
    base: tamper.BaseLog, copy: Engine, trust: trust_module.Trust, signer: Signer, tmp_path: Path
) -> None:
    seq = middle(base)
    export = tamper.export(copy, tmp_path / "export")
    other = cp.sign(cp.Checkpoint(ORIGIN, seq + 1, bytes(32)), [signer])
    with (export / CHECKPOINTS).open("rb") as handle:
        lines = handle.readlines()
    index = next(i for i, line in enumerate(lines) if f'"size":{seq + 1}}}'.encode() in line)
    lines.insert(index + 1, checkpoint_line(seq + 1, other))
    (export / CHECKPOINTS).write_bytes(b"".join(lines))
    report = verify_log(export, trust)
    assert (report.exit_code, report.findings[0].category) == (2, Category.EQUIVOCATION)
    assert other in report.findings[0].msg


def forked(copy: Engine, seq: int, signer: Signer) -> None:
    entries = tamper.entries(copy)
    entries[seq] = replace(entries[seq], data={"reason": "history rewritten"})
    tamper.rewrite(copy, entries, [signer], ORIGIN)


def test_t16_resigned_rewritten_history(
    base: tamper.BaseLog, copy: Engine, trust: trust_module.Trust, signer: Signer, tmp_path: Path
) -> None:
    pinned = pin(base, trust, tmp_path)
    seq = middle(base)
    forked(copy, seq, signer)
    assert check(copy, tmp_path / "a", trust).exit_code == 0  # consistent in itself
    assert first(check(copy, tmp_path / "b", trust, state_dir=pinned))[0] is Category.FORK
    later = {i: t for i, t in base.receipts.items() if i >= seq}
    assert first(check(copy, tmp_path / "c", trust, receipts=later))[0] is Category.FORK


def test_t17_restore_an_old_backup(
    base: tamper.BaseLog, pki: Pki, trust: trust_module.Trust, tmp_path: Path
) -> None:
    newer_url = tamper.copy_database(base, tmp_path, f"tamper_{next(_names)}")
    newer = tamper.engine_for(newer_url)
    try:
        tamper.build(make_audit_log(newer, pki), newer_url, target=base.size + 50, prefix="later")
        report = check(newer, tmp_path / "newer", trust)
        assert report.exit_code == 0
        assert report.new_state is not None
        state.save(tmp_path / "state", report.new_state)
    finally:
        newer.dispose()
    old = tamper.engine_for(base.url)
    try:
        assert (
            first(check(old, tmp_path / "old", trust, state_dir=tmp_path / "state"))[0]
            is Category.ROLLBACK
        )
    finally:
        old.dispose()


def test_t18_swapped_key_and_resigned(
    copy: Engine, trust: trust_module.Trust, tmp_path: Path
) -> None:
    attacker = Signer.generate(ORIGIN)
    entries = tamper.entries(copy)
    entries[0] = replace(entries[0], data={**entries[0].data, "vkeys": [str(attacker.verifier)]})
    tamper.rewrite(copy, entries, [attacker], ORIGIN)
    assert first(check(copy, tmp_path, trust)) == (Category.BAD_SIGNATURE, 0)


def rotate_at(copy: Engine, seq: int, data: dict[str, Any]) -> list[Entry]:
    entries = tamper.entries(copy)
    entries[seq] = replace(entries[seq], kind="key.rotate", subj="log", data=data)
    return entries


def test_t19_forged_rotation(
    base: tamper.BaseLog, copy: Engine, trust: trust_module.Trust, signer: Signer, tmp_path: Path
) -> None:
    seq = middle(base)
    new = Signer.generate(ORIGIN)
    forged = rotate_at(copy, seq, {"old_vkey": str(Signer.generate(ORIGIN).verifier), "new_vkey": str(new.verifier),
                                   "reason": "forged", "from_size": seq + 5})  # fmt: skip
    tamper.rewrite(copy, forged, [signer], ORIGIN)
    assert first(check(copy, tmp_path, trust)) == (Category.BAD_ROTATION, seq)


def test_t19_rotation_without_dual_signature(
    base: tamper.BaseLog, copy: Engine, trust: trust_module.Trust, signer: Signer, tmp_path: Path
) -> None:
    seq = middle(base)
    new = Signer.generate(ORIGIN)
    honest = rotate_at(copy, seq, {"old_vkey": str(signer.verifier), "new_vkey": str(new.verifier),
                                   "reason": "planned", "from_size": seq + 5})  # fmt: skip
    tamper.rewrite(copy, honest, [signer], ORIGIN)  # signed with the old key only
    assert first(check(copy, tmp_path, trust)) == (Category.BAD_ROTATION, seq)


def planned_rotation(
    copy: Engine, seq: int, old: Signer, new: Signer, overlap: int
) -> tuple[list[Entry], Any]:
    entries = rotate_at(copy, seq, {"old_vkey": str(old.verifier), "new_vkey": str(new.verifier),
                                    "reason": "planned", "from_size": seq + 1 + overlap})  # fmt: skip

    def signers(size: int) -> list[Signer]:
        if size <= seq:
            return [old]
        return [old, new] if size < seq + 1 + overlap else [new]

    return entries, signers


@pytest.mark.parametrize("overlap", [1, 7])
def test_a_planned_rotation_verifies(
    base: tamper.BaseLog,
    copy: Engine,
    trust: trust_module.Trust,
    signer: Signer,
    tmp_path: Path,
    overlap: int,
) -> None:
    seq = middle(base)
    entries, signers = planned_rotation(copy, seq, signer, Signer.generate(ORIGIN), overlap)
    tamper.rewrite(copy, entries, signers, ORIGIN)
    report = check(copy, tmp_path, trust, options=Options(all_signatures=True))
    assert report.findings == []
    assert report.new_state is not None
    assert [(f, u) for _, f, u in report.new_state.keys] == [
        (0, seq + 1 + overlap),
        (seq + 1, None),
    ]


def test_t19_old_key_after_its_period(
    base: tamper.BaseLog, copy: Engine, trust: trust_module.Trust, signer: Signer, tmp_path: Path
) -> None:
    seq = middle(base)
    new = Signer.generate(ORIGIN)
    entries, _ = planned_rotation(copy, seq, signer, new, 2)
    tamper.rewrite(
        copy,
        entries,
        lambda size: [signer] if size <= seq else [signer, new] if size < seq + 3 else [signer],
        ORIGIN,
    )
    report = check(copy, tmp_path, trust, options=Options(all_signatures=True))
    assert first(report)[0] is Category.REJECT


NEWEST_NOTE_EDITS: dict[str, Callable[[str, Signer], str]] = {
    "bad known-key signature": lambda n, s: n[:-8] + ("A" if n[-8] != "A" else "B") + n[-7:],
    "only unknown keys": lambda n, s: cp.sign(cp.parse_unverified(n), [Signer.generate(ORIGIN)]),
    "wrong origin": lambda n, s: cp.sign(replace(cp.parse_unverified(n), origin="other.example/log"), [s]),
    "more than 16 signatures": lambda n, s: n + "".join(Signer.generate(f"k{i}.example").signature_line(b"x\n") for i in range(16)),
    "duplicate line": lambda n, s: n + n.rsplit("\n\n", 1)[1],
    "ascii dash": lambda n, s: n.replace("—", "-"),
    "leading zero size": lambda n, s: n.replace(f"\n{cp.parse_unverified(n).size}\n", f"\n0{cp.parse_unverified(n).size}\n", 1),
    "plus size": lambda n, s: n.replace(f"\n{cp.parse_unverified(n).size}\n", f"\n+{cp.parse_unverified(n).size}\n", 1),
    "crlf": lambda n, s: n.replace("\n", "\r\n"),
    "no final newline": lambda n, s: n[:-1],
    "non-canonical base64": lambda n, s: n.replace(base64.b64encode(cp.parse_unverified(n).root).decode(), base64.b64encode(cp.parse_unverified(n).root).decode().rstrip("="), 1),
    "31-byte root": lambda n, s: n.replace(base64.b64encode(cp.parse_unverified(n).root).decode(), base64.b64encode(cp.parse_unverified(n).root[:31]).decode(), 1),
    "33-byte root": lambda n, s: n.replace(base64.b64encode(cp.parse_unverified(n).root).decode(), base64.b64encode(cp.parse_unverified(n).root + b"\x00").decode(), 1),
    "extension line": lambda n, s: n.replace("\n\n", "\nextension\n\n", 1),
}  # fmt: skip


@pytest.mark.parametrize("edit", sorted(NEWEST_NOTE_EDITS))
def test_t20_t21_newest_note_is_rejected(
    copy: Engine, trust: trust_module.Trust, signer: Signer, tmp_path: Path, edit: str
) -> None:
    sizes = tamper.checkpoint_sizes(copy)
    export = tamper.export(copy, tmp_path / "export")
    lines = (export / CHECKPOINTS).read_bytes().splitlines(keepends=True)
    note = str(json.loads(lines[-1])["note"])
    lines[-1] = checkpoint_line(sizes[-1], NEWEST_NOTE_EDITS[edit](note, signer))
    (export / CHECKPOINTS).write_bytes(b"".join(lines))
    report = verify_log(export, trust)
    assert report.exit_code == 1
    assert report.findings[0].category in {Category.REJECT, Category.BAD_SIGNATURE}


def test_t26_receipt_from_a_forked_tree(
    base: tamper.BaseLog, copy: Engine, trust: trust_module.Trust, signer: Signer, tmp_path: Path
) -> None:
    seq = middle(base)
    forked(copy, seq, signer)
    earlier = min(i for i in base.receipts if i < seq)
    sizes = [s for s in tamper.checkpoint_sizes(copy) if s > seq]
    leaves = [merkle.leaf_hash(e.encode()) for e in tamper.entries(copy)][: sizes[0]]
    nodes: dict[tuple[int, int], bytes] = {}
    compact = merkle.CompactRange()
    for i, leaf in enumerate(leaves):
        nodes[(0, i)] = leaf
        nodes.update({(lv, ix): h for lv, ix, h in compact.append(leaf)})
    note = cp.sign(cp.Checkpoint(ORIGIN, sizes[0], compact.root()), [signer])
    proof = merkle.inclusion_proof(earlier, sizes[0], lambda lv, ix: nodes[(lv, ix)])
    fake = Receipt(earlier, tuple(proof), note).format()
    clean = tamper.engine_for(base.url)
    try:
        report = check(clean, tmp_path / "clean", trust, receipts={earlier: fake})
    finally:
        clean.dispose()
    assert first(report) == (Category.FORK, earlier)


def test_t28_corrupt_signature_of_a_right_checkpoint(
    base: tamper.BaseLog, copy: Engine, trust: trust_module.Trust, tmp_path: Path
) -> None:
    seq = middle(base)
    note = tamper.note(copy, seq + 1)
    tamper.raw(
        copy,
        "UPDATE audit_checkpoint SET note = :n WHERE size = :s",
        n=note[:-8] + ("A" if note[-8] != "A" else "B") + note[-7:],
        s=seq + 1,
    )
    assert check(copy, tmp_path / "a", trust).findings == []
    report = check(copy, tmp_path / "b", trust, options=Options(all_signatures=True))
    assert first(report)[0] in {Category.REJECT, Category.BAD_SIGNATURE}


def test_t29_changed_root_keeps_its_signature(
    base: tamper.BaseLog, copy: Engine, trust: trust_module.Trust, tmp_path: Path
) -> None:
    seq = middle(base)
    note = tamper.note(copy, seq + 1)
    root = base64.b64encode(cp.parse_unverified(note).root).decode()
    tamper.raw(
        copy,
        "UPDATE audit_checkpoint SET note = :n WHERE size = :s",
        n=note.replace(root, base64.b64encode(bytes(32)).decode(), 1),
        s=seq + 1,
    )
    assert first(check(copy, tmp_path, trust)) == (Category.BAD_SIGNATURE, seq)
