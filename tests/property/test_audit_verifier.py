"""Properties of the verifier on random logs (audit-log.md §11).

Random transactions of 1-4 entries, one signed checkpoint each; then one random tamper of
the export. The verifier must accept every clean log, catch every tamper that touches a
region a checkpoint covers, and name the right first bad entry where the catalogue says it
can; dropping whole tail transactions with their checkpoints is exactly what needs pinned
state, so it passes without one and is a ROLLBACK with one.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from audit_log import checkpoint as cp
from audit_log import merkle, state, trust
from audit_log.entry import Entry, Who, make_req
from audit_log.export import CHECKPOINTS, ENTRIES, checkpoint_line
from audit_log.verify import Category, Options, verify_log
from tests.vectors.generate import ORIGIN, UUID, signer

KEY = signer("property log key")
TRUST = trust.parse(f'version = 1\nlog_vkey = "{KEY.verifier}"\n')
ADMIN = Who("admin", "admin:ops-1", "replica-a")


def build(transactions: list[int]) -> tuple[list[bytes], dict[int, str]]:
    """A log: log.init, then one transaction per element with that many entries."""
    init = {"origin": ORIGIN, "hash_alg": "sha256", "format_v": 1, "vkeys": [str(KEY.verifier)],
            "reanchor_keys": [], "reanchor_threshold": 0, "spec_version": "EDS-1",
            "code_digest": "0" * 64, "escrow_keys": [], "drand": None}  # fmt: skip
    bodies: list[bytes] = []
    notes: dict[int, str] = {}
    compact = merkle.CompactRange()

    def add(kind: str, subj: str, who: Who, req: str, data: dict[str, object]) -> None:
        prev = (bodies and merkle.leaf_hash(bodies[-1]).hex()) or "0" * 64
        body = Entry(
            ORIGIN, len(bodies), prev, 1_000 + len(bodies), req, kind, subj, who, data
        ).encode()
        bodies.append(body)
        compact.append(merkle.leaf_hash(body))

    def seal() -> None:
        notes[len(bodies)] = cp.sign(cp.Checkpoint(ORIGIN, len(bodies), compact.root()), [KEY])

    add(
        "log.init",
        "log",
        Who("service", "service", "replica-a"),
        make_req("service", "init", 0),
        init,
    )
    seal()
    for number, count in enumerate(transactions):
        for index in range(count):
            add(
                "expert.delete",
                f"experts/{UUID}",
                ADMIN,
                make_req(ADMIN.sub, f"t{number}", index),
                {"reason": f"r{number}.{index}"},
            )
        seal()
    return bodies, notes


def write(folder: Path, bodies: list[bytes], notes: dict[int, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ENTRIES).write_bytes(b"".join(b + b"\n" for b in bodies))
    (folder / CHECKPOINTS).write_bytes(
        b"".join(checkpoint_line(s, n) for s, n in sorted(notes.items()))
    )
    return folder


TRANSACTIONS = st.lists(st.integers(1, 4), min_size=2, max_size=25)


@settings(max_examples=60)
@given(TRANSACTIONS)
def test_clean_logs_verify_and_pin(transactions: list[int]) -> None:
    bodies, notes = build(transactions)
    with tempfile.TemporaryDirectory() as tmp:
        report = verify_log(write(Path(tmp), bodies, notes), TRUST, Options(all_signatures=True))
    assert report.findings == []
    assert report.size == len(bodies)
    assert report.new_state is not None
    assert report.new_state.size == len(bodies)


@settings(max_examples=80)
@given(TRANSACTIONS, st.data())
def test_every_edit_is_caught_at_the_right_entry(
    transactions: list[int], data: st.DataObject
) -> None:
    bodies, notes = build(transactions)
    victim = data.draw(st.integers(1, len(bodies) - 1))
    edited = list(bodies)
    edited[victim] = bodies[victim].replace(b'"reason":"r', b'"reason":"R', 1)
    with tempfile.TemporaryDirectory() as tmp:
        report = verify_log(write(Path(tmp), edited, notes), TRUST)
    assert report.exit_code == 1
    first = report.findings[0]
    assert first.category is Category.TAMPER
    # Localised exactly when the next entry chains to it; otherwise to the victim's
    # transaction (the range after the last matching checkpoint).
    last_matched = max(s for s in notes if s <= victim)
    assert first.seq in {victim, last_matched}


@settings(max_examples=80)
@given(TRANSACTIONS, st.data())
def test_deletions_and_moves(transactions: list[int], data: st.DataObject) -> None:
    bodies, notes = build(transactions)
    victim = data.draw(st.integers(1, len(bodies) - 2))
    with tempfile.TemporaryDirectory() as tmp:
        deleted = verify_log(
            write(Path(tmp) / "d", bodies[:victim] + bodies[victim + 1 :], notes), TRUST
        )
        other = data.draw(st.integers(victim + 1, len(bodies) - 1))
        moved = list(bodies)
        moved[victim], moved[other] = bodies[other], bodies[victim]
        swapped = verify_log(write(Path(tmp) / "s", moved, notes), TRUST)
    assert (deleted.findings[0].category, deleted.findings[0].seq) == (Category.GAP, victim)
    assert (swapped.findings[0].category, swapped.findings[0].seq) == (Category.TAMPER, victim)


@settings(max_examples=60)
@given(TRANSACTIONS, st.data())
def test_dropped_tail_needs_the_pinned_state(transactions: list[int], data: st.DataObject) -> None:
    bodies, notes = build(transactions)
    sizes = sorted(notes)
    cut = data.draw(st.sampled_from(sizes[:-1]))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        clean = verify_log(write(folder / "clean", bodies, notes), TRUST)
        assert clean.new_state is not None
        state.save(folder / "state", clean.new_state)
        kept = {s: n for s, n in notes.items() if s <= cut}
        without_pins = verify_log(write(folder / "cut", bodies[:cut], kept), TRUST)
        with_pins = verify_log(folder / "cut", TRUST, state_dir=folder / "state")
        truncated = verify_log(write(folder / "trunc", bodies[:cut], notes), TRUST)
    assert without_pins.findings == []
    assert with_pins.findings[0].category is Category.ROLLBACK
    assert (truncated.findings[0].category, truncated.findings[0].seq) == (Category.TRUNCATION, cut)
