"""Mode-A replacements (spec §5) on a hand-checked draw."""

from __future__ import annotations

import pytest

from expert_draw.core import eds1


def p(i: int) -> bytes:
    """Pseudonym number i."""
    return bytes([i]) * 16


# order[A] = 1..6, order[B] = 7, 3, 8, 9; panels A: 1, 2 / B: 7; reserves A: 3 / B: 8.
ORDER = {b"A": [p(1), p(2), p(3), p(4), p(5), p(6)], b"B": [p(7), p(3), p(8), p(9)]}
PANEL = {b"A": [p(1), p(2)], b"B": [p(7)]}
RESERVE = {b"A": [p(3)], b"B": [p(8)]}


def seating(max_a: int = 3, max_b: int = 3) -> eds1.Seating:
    """The draw above with replacement caps."""
    return eds1.Seating(ORDER, PANEL, RESERVE, {b"A": max_a, b"B": max_b})


def test_reserve_first_then_next_unclaimed() -> None:
    """A's reserve comes first, then the next member no other list claimed."""
    s = seating()
    assert s.decline(p(1)) == eds1.Replaced(b"A", p(1), p(3))
    assert s.seats[b"A"] == [p(3), p(2)]  # the replacement takes the same seat
    assert s.decline(p(2)) == eds1.Replaced(b"A", p(2), p(4))
    assert s.decline(p(3)) == eds1.Replaced(b"A", p(3), p(5))


def test_another_lists_reserve_is_skipped() -> None:
    """B's replacement skips 3 (A's reserve) and takes 8, B's own reserve."""
    assert seating().decline(p(7)) == eds1.Replaced(b"B", p(7), p(8))


def test_unseated_decline_only_joins_used() -> None:
    """A reserve struck before being called is skipped later, and counts toward nothing."""
    s = seating(max_a=1)
    assert s.decline(p(3)) is None
    assert s.decline(p(1)) == eds1.Replaced(b"A", p(1), p(4))
    with pytest.raises(eds1.ReplacementError, match="already left"):
        s.decline(p(3))


def test_cap_and_exhaustion() -> None:
    """At max_repl, or with no candidate left, the seat stays empty (cancel the draw)."""
    s = seating(max_a=1)
    assert s.decline(p(1)).incoming == p(3)  # type: ignore[union-attr]
    assert s.decline(p(2)) == eds1.Replaced(b"A", p(2), None)
    with pytest.raises(eds1.ReplacementError, match="cancelled"):
        s.decline(p(3))
    t = seating(max_b=9)
    t.decline(p(7))
    assert t.decline(p(8)) == eds1.Replaced(b"B", p(8), p(9))
    assert t.decline(p(9)) == eds1.Replaced(b"B", p(9), None)


def test_decline_outside_the_pool_is_refused() -> None:
    """Only eligible members can decline."""
    with pytest.raises(eds1.ReplacementError, match="not in the eligible pool"):
        seating().decline(p(42))
