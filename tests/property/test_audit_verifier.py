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

from audit_log import state
from audit_log.verify import Category, Options, verify_log
from tests.support.small_logs import TRUST, build, write

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
