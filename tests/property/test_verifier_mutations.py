"""T-27: remove each verifier check in turn; at least one tamper case must then fail.

Every case below has the verdict the catalogue asks for with the intact verifier (the
first test). Each mutation replaces one check of ``audit_log.verify`` by a no-op (or the
strict parse by a lenient one); a check that no case notices would be dead weight, or a
hole in this battery.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from audit_log import checkpoint as cp
from audit_log import merkle, state, verify
from audit_log.entry import Entry, parse_req
from audit_log.note import Signer
from audit_log.receipt import Receipt
from audit_log.verify import Category, Options, verify_log
from tests.support.small_logs import KEY, TRUST, build, entries, seal, write
from tests.vectors.generate import ORIGIN

if TYPE_CHECKING:
    from collections.abc import Callable

TX = [1, 3, 2, 1, 2, 3, 1]


@dataclass
class Case:
    name: str
    make: Callable[
        [Path], dict[str, Any]
    ]  # writes inputs under the folder, returns verify_log kwargs
    exit_code: int
    first: Category | None


def plain(
    bodies: list[bytes], notes: dict[int, str], extra: list[tuple[int, str]] | None = None
) -> Callable[[Path], dict[str, Any]]:
    def make(folder: Path) -> dict[str, Any]:
        return {"export_dir": write(folder / "export", bodies, notes, extra)}

    return make


def rewritten(
    change: Callable[[list[Entry], list[int]], None],
    keys: Callable[[int], list[Signer]] | None = None,
) -> tuple[list[bytes], dict[int, str]]:
    items, sizes = entries(TX)
    change(items, sizes)
    if keys is None:
        return seal(items, sizes)
    bodies, notes = seal(items, sizes)
    compact = merkle.CompactRange()
    for i, body in enumerate(bodies):
        compact.append(merkle.leaf_hash(body))
        if i + 1 in notes:
            notes[i + 1] = cp.sign(cp.Checkpoint(ORIGIN, i + 1, compact.root()), keys(i + 1))
    return bodies, notes


def set_entry(index: int, **fields: Any) -> Callable[[list[Entry], list[int]], None]:
    def change(items: list[Entry], sizes: list[int]) -> None:
        items[index] = replace(items[index], **fields)

    return change


def with_pins(
    bodies: list[bytes], notes: dict[int, str], pinned_from: tuple[list[bytes], dict[int, str]]
) -> Callable[[Path], dict[str, Any]]:
    def make(folder: Path) -> dict[str, Any]:
        clean = verify_log(write(folder / "clean", *pinned_from), TRUST)
        assert clean.new_state is not None
        state.save(folder / "state", clean.new_state)
        return {
            "export_dir": write(folder / "export", bodies, notes),
            "state_dir": folder / "state",
        }

    return make


def cases() -> list[Case]:
    clean_bodies, clean_notes = build(TX)
    n = len(clean_bodies)
    edited = list(clean_bodies)
    edited[3] = clean_bodies[3].replace(b'"reason":"r', b'"reason":"R', 1)
    last_edited = list(clean_bodies)
    last_edited[-1] = clean_bodies[-1].replace(b'"reason":"r', b'"reason":"R', 1)
    edited_tail = list(clean_bodies)
    edited_tail[-2] = clean_bodies[-2].replace(
        b'"reason":"r', b'"reason":"R', 1
    )  # only the chain sees it
    moved = list(clean_bodies)
    moved[3], moved[6] = clean_bodies[6], clean_bodies[3]
    noncanonical = list(clean_bodies)
    noncanonical[4] = clean_bodies[4].replace(b'","', b'", "', 1)
    other_root = cp.sign(cp.Checkpoint(ORIGIN, 5, bytes(32)), [KEY])
    stranger = cp.sign(cp.parse_unverified(clean_notes[n]), [Signer.generate(ORIGIN)])
    new_key = Signer.generate(ORIGIN)
    rotation = {
        "old_vkey": str(KEY.verifier),
        "new_vkey": str(new_key.verifier),
        "reason": "planned",
        "from_size": 7,
    }
    forged = {**rotation, "old_vkey": str(Signer.generate(ORIGIN).verifier)}
    fork = rewritten(set_entry(5, data={"reason": "rewritten"}))
    cut = sorted(clean_notes)[-3]
    fork_leaves = [merkle.leaf_hash(b) for b in fork[0]]
    nodes: dict[tuple[int, int], bytes] = {}
    compact = merkle.CompactRange()
    for i, leaf in enumerate(fork_leaves):
        nodes[(0, i)] = leaf
        nodes.update({(lv, ix): h for lv, ix, h in compact.append(leaf)})
    fork_receipt = Receipt(
        2, tuple(merkle.inclusion_proof(2, n, lambda lv, ix: nodes[(lv, ix)])), fork[1][n]
    ).format()

    def receipt_case(folder: Path) -> dict[str, Any]:
        (folder / "receipts").mkdir(parents=True)
        (folder / "receipts" / "2.tlog-proof").write_text(fork_receipt)
        return {
            "export_dir": write(folder / "export", clean_bodies, clean_notes),
            "receipts_dir": folder / "receipts",
        }

    def second_init(items: list[Entry], sizes: list[int]) -> None:
        items[4] = replace(items[4], kind="log.init", subj="log", data=items[0].data)

    def rotate_at(data: dict[str, Any]) -> Callable[[list[Entry], list[int]], None]:
        def change(items: list[Entry], sizes: list[int]) -> None:
            items[4] = replace(
                items[4], kind="key.rotate", subj="log", data=data, req="admin:ops-1/rot#0"
            )
            items[5] = replace(items[5], req="admin:ops-1/t2#0")

        return change

    return [
        Case("clean", plain(clean_bodies, clean_notes), 0, None),
        Case("edited body", plain(edited, clean_notes), 1, Category.TAMPER),
        Case("edited last body", plain(last_edited, clean_notes), 1, Category.TAMPER),
        Case("deleted entry", plain(clean_bodies[:3] + clean_bodies[4:], clean_notes), 1, Category.GAP),
        Case("moved entries", plain(moved, clean_notes), 1, Category.TAMPER),
        Case("non-canonical", plain(noncanonical, clean_notes), 1, Category.NONCANONICAL),
        Case("foreign origin", plain(*rewritten(set_entry(3, log="other.example/log"))), 1, Category.TAMPER),
        Case("second log.init", plain(*rewritten(second_init)), 1, Category.TAMPER),
        Case("init names another origin", plain(*rewritten(lambda items, _s: items.__setitem__(0, replace(items[0], data={**items[0].data, "origin": "x.example/y"})))), 1, Category.BAD_SIGNATURE),
        Case("ts goes back", plain(*rewritten(set_entry(5, ts=1))), 1, Category.DOMAIN_VIOLATION),
        Case("req breaks its transaction", plain(*rewritten(set_entry(3, req="admin:ops-1/t1#2"))), 1, Category.SCHEMA),
        Case("forged rotation", plain(*rewritten(rotate_at(forged))), 1, Category.BAD_ROTATION),
        Case("rotation without dual signature", plain(*rewritten(rotate_at(rotation))), 1, Category.BAD_ROTATION),
        Case("planned rotation", plain(*rewritten(rotate_at(rotation), lambda size: [KEY] if size <= 4 else [KEY, new_key] if size < 7 else [new_key])), 0, None),
        Case("equivocation", plain(clean_bodies, clean_notes, [(5, other_root)]), 2, Category.EQUIVOCATION),
        Case("newest note by a stranger", plain(clean_bodies, {**clean_notes, n: stranger}), 1, Category.REJECT),
        Case("truncated, checkpoints kept", plain(clean_bodies[:cut], clean_notes), 1, Category.TRUNCATION),
        Case("unsigned tail", plain(clean_bodies, {s: t for s, t in clean_notes.items() if s <= cut}), 3, Category.UNSIGNED_TAIL),
        Case("edited entry in the unsigned tail", plain(edited_tail, {s: t for s, t in clean_notes.items() if s <= cut}), 1, Category.TAMPER),
        Case("rollback against pins", with_pins(clean_bodies[:cut], {s: t for s, t in clean_notes.items() if s <= cut}, (clean_bodies, clean_notes)), 2, Category.ROLLBACK),
        Case("fork against pins", with_pins(*fork, pinned_from=(clean_bodies, clean_notes)), 2, Category.FORK),
        Case("receipt from a fork", receipt_case, 2, Category.FORK),
    ]  # fmt: skip


def verdict(case: Case) -> tuple[int, Category | None]:
    with tempfile.TemporaryDirectory() as tmp:
        kwargs = case.make(Path(tmp))
        report = verify_log(kwargs.pop("export_dir"), TRUST, Options(), **kwargs)
    return report.exit_code, report.findings[0].category if report.findings else None


CASES = cases()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_battery_with_the_intact_verifier(case: Case) -> None:
    assert verdict(case) == (case.exit_code, case.first)


def _lenient_record(line: bytes) -> verify._Record:
    body = line.removesuffix(b"\n")
    value = json.loads(body)
    entry = verify._Slim(
        value["seq"],
        value["prev"],
        value["ts"],
        value["req"],
        value["kind"],
        value["log"],
        value["data"],
    )
    return verify._Record(len(line), merkle.leaf_hash(body), entry, None)


def _noop(*_args: object) -> None:
    return None


MUTATIONS: dict[str, tuple[str, Any]] = {
    "seq check": ("_check_seq", _noop),
    "origin check": ("_check_origin", _noop),
    "chain check": ("_check_prev", _noop),
    "log.init position": ("_check_first", _noop),
    "log.init contents": ("_check_init", _noop),
    "ts order": ("_check_ts", _noop),
    "req continuity": ("_check_req", lambda _self, _seq, entry, _prev: parse_req(entry.req)),
    "key rotation rules": ("_apply_keys", _noop),
    "root comparison": ("_mismatch", _noop),
    "equivocation": ("_equivocation", _noop),
    "signatures where they matter": ("_verify_signed", _noop),
    "tail (truncation, unsigned)": ("finish_tail", _noop),
    "pinned state": ("check_pinned", _noop),
    "receipts": ("check_receipt", _noop),
}


@pytest.mark.parametrize("mutation", sorted([*MUTATIONS, "strict parse"]))
def test_removing_any_check_fails_a_case(mutation: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if mutation == "strict parse":
        monkeypatch.setattr(verify, "_record", _lenient_record)
    else:
        name, replacement = MUTATIONS[mutation]
        monkeypatch.setattr(verify._Run, name, replacement)
    caught = [c.name for c in CASES if verdict(c) != (c.exit_code, c.first)]
    assert caught, f"no case notices the verifier without its {mutation}"
