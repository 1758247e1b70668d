"""Emergency re-anchoring (audit-log.md §7): supervisors' threshold statement, a new key."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import TYPE_CHECKING

from audit_log import canonical, merkle, note, trust
from audit_log.verify import Category, verify_log
from tests.support.small_logs import KEY, entries, seal, write
from tests.vectors.generate import ORIGIN, signer

if TYPE_CHECKING:
    from pathlib import Path

    from audit_log.note import Signer

TX = [2, 1, 3, 1, 2]  # checkpoint sizes 1, 3, 4, 7, 8, 10; seq 7 is a transaction of its own
Q, ANCHOR = 7, 4
BUREAU = [signer(f"re-anchor key {i}", f"bureau-{i}.example/reanchor") for i in range(3)]
NEW = signer("re-anchored log key")
TRUST = trust.parse(
    f'version = 1\nlog_vkey = "{KEY.verifier}"\n'
    f"reanchor_keys = {json.dumps([str(b.verifier) for b in BUREAU])}\n"
    "reanchor_threshold = 2\n"
)


def statement(
    signers: list[Signer], *, size: int = ANCHOR, root: bytes | None = None, new: str = ""
) -> str:
    value = {"new_vkey": new or str(NEW.verifier), "origin": ORIGIN, "trusted_prefix_size": size,
             "trusted_root": (root if root is not None else ROOTS[size]).hex()}  # fmt: skip
    return note.sign(canonical.dumps(value).decode() + "\n", signers)


def _roots() -> dict[int, bytes]:
    items, _ = entries(TX)
    compact, roots, prev = merkle.CompactRange(), {}, "0" * 64
    for seq, item in enumerate(items[:Q]):
        body = replace(item, seq=seq, prev=prev).encode()
        prev = merkle.leaf_hash(body).hex()
        compact.append(merkle.leaf_hash(body))
        roots[seq + 1] = compact.root()
    return roots


ROOTS = _roots()


def log(tmp_path: Path, text: str, *, old_after: bool = False) -> Path:
    items, sizes = entries(TX)
    items[Q] = replace(items[Q], kind="key.reanchor", subj="log", data={"statement": text})
    bodies, notes = seal(
        items, sizes, keys_at=lambda size: [KEY if size <= Q or old_after else NEW]
    )
    return write(tmp_path, bodies, notes)


def test_a_valid_reanchor_moves_to_the_new_key_and_reports_the_suspect_entries(
    tmp_path: Path,
) -> None:
    report = verify_log(log(tmp_path, statement(BUREAU[:2])), TRUST)
    assert [(f.category, f.seq) for f in report.findings] == [(Category.REANCHORED, ANCHOR)]
    assert report.exit_code == 3
    assert report.size == 10


def test_the_old_key_cannot_sign_after_the_reanchor(tmp_path: Path) -> None:
    report = verify_log(log(tmp_path, statement(BUREAU[:2]), old_after=True), TRUST)
    assert Category.REJECT in [f.category for f in report.findings]


def test_statements_that_do_not_hold(tmp_path: Path) -> None:
    cases = {
        "one signature": statement(BUREAU[:1]),
        "unknown signers": statement(
            [signer("x", "elsewhere.example/k"), signer("y", "elsewhere.example/j")]
        ),
        "wrong root": statement(BUREAU[1:], root=bytes(32)),
        "anchor not checkpointed": statement(BUREAU[1:], size=5),
        "anchor beyond the entry": statement(BUREAU[1:], size=9, root=bytes(32)),
        "an old key as the new one": statement(BUREAU[1:], new=str(KEY.verifier)),
        "not a statement": note.sign("hello\n", BUREAU[:2]),
        "missing members": note.sign(
            canonical.dumps({"origin": ORIGIN}).decode() + "\n", BUREAU[:2]
        ),
    }
    for name, text in cases.items():
        report = verify_log(log(tmp_path / name.replace(" ", "-"), text), TRUST)
        assert (report.findings[0].category, report.findings[0].seq) == (
            Category.BAD_ROTATION,
            Q,
        ), name


def test_no_reanchor_keys_pinned(tmp_path: Path) -> None:
    plain = trust.parse(f'version = 1\nlog_vkey = "{KEY.verifier}"\n')
    report = verify_log(log(tmp_path, statement(BUREAU[:2])), plain)
    assert (report.findings[0].category, report.findings[0].seq) == (Category.BAD_ROTATION, Q)
    assert "no re-anchor keys" in report.findings[0].msg


def test_anchoring_at_the_entry_itself_reports_nothing(tmp_path: Path) -> None:
    report = verify_log(log(tmp_path, statement(BUREAU[:2], size=Q)), TRUST)
    assert report.findings == []


def test_a_size_that_is_not_an_integer(tmp_path: Path) -> None:
    value = {"new_vkey": str(NEW.verifier), "origin": ORIGIN, "trusted_prefix_size": "4",
             "trusted_root": ROOTS[ANCHOR].hex()}  # fmt: skip
    text = note.sign(canonical.dumps(value).decode() + "\n", BUREAU[:2])
    report = verify_log(log(tmp_path, text), TRUST)
    assert (report.findings[0].category, report.findings[0].seq) == (Category.BAD_ROTATION, Q)
