"""The read memos: renderings by record version, pages by log size."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hypothesis import given
from hypothesis import strategies as st

from expert_draw.adapters.memo import RECENT_MARGIN_MS, Pages, Recent, Rendered

if TYPE_CHECKING:
    from collections.abc import Callable


def test_a_page_is_served_only_at_the_log_size_it_was_read_at() -> None:
    pages: Pages[str] = Pages()
    pages.put(("q", 0), 7, "page at 7", rows=2)
    assert pages.get(("q", 0), 7) == "page at 7"
    assert pages.get(("q", 0), 8) is None
    assert pages.get(("q", 1), 7) is None
    pages.put(("q", 0), 8, "page at 8", rows=2)
    assert pages.get(("q", 0), 7) is None
    assert pages.get(("q", 0), 8) == "page at 8"


def test_pages_past_the_limit_start_again_and_a_replaced_page_counts_once() -> None:
    pages: Pages[str] = Pages(limit=4)
    pages.put(("a",), 1, "a", rows=2)
    for size in range(2, 6):  # the same query again: its rows are not counted twice
        pages.put(("a",), size, "a", rows=2)
    pages.put(("b",), 5, "b", rows=2)
    assert (pages.get(("a",), 5), pages.get(("b",), 5)) == ("a", "b")
    pages.put(("c",), 5, "c", rows=1)  # 5 rows: past the limit
    assert (pages.get(("a",), 5), pages.get(("c",), 5)) == (None, "c")


def test_renderings_are_keyed_by_version_and_read_whole_on_a_miss() -> None:
    reads: list[list[int]] = []
    store = {1: (1, 3, "one v3"), 2: (2, 1, "two v1")}

    def read(ids: list[int]) -> list[tuple[tuple[int, ...], str]]:
        reads.append(ids)
        return [((i, store[i][1]), store[i][2]) for i in ids if i in store]

    rendered: Rendered[str, str] = Rendered(str.upper)
    assert rendered.many([(1, 3), (2, 1), (9, 1)], read) == ["ONE V3", "TWO V1"]
    assert rendered.many([(2, 1), (1, 3)], read) == ["TWO V1", "ONE V3"]
    store[1] = (1, 4, "one v4")
    assert rendered.many([(1, 4), (2, 1)], read) == ["ONE V4", "TWO V1"]
    assert reads == [[1, 2, 9], [1]]


def test_empty_pages_count_so_that_forged_positions_cannot_grow_the_memo() -> None:
    pages: Pages[str] = Pages(limit=4)
    for position in range(5):  # pages past the end: no rows
        pages.put(("q", position), 1, "", rows=0)
    assert pages.get(("q", 0), 1) is None  # the fifth started the memo again
    assert pages.get(("q", 4), 1) == ""


# -- Recent: record entries for draws' look-back -------------------------------------------

SUBJECTS = ("experts/a", "experts/b", "experts/c", "experts/d")


@st.composite
def logs(draw: st.DrawFn) -> list[tuple[int, bool, str]]:
    """(ts, is a record entry, subj) by seq: times never decrease."""
    steps = draw(st.lists(st.tuples(st.integers(0, 100_000), st.booleans(),
                                    st.sampled_from(SUBJECTS)), max_size=60))  # fmt: skip
    at, log = 1_000_000, []
    for step, record, subj in steps:
        at += step
        log.append((at, record, subj))
    return log


def _first_at(log: list[tuple[int, bool, str]], size: int, ms: int) -> int:
    return next((seq for seq, (ts, _, _) in enumerate(log[:size]) if ts >= ms), size)


@given(
    log=logs(),
    calls=st.lists(
        st.tuples(
            st.sets(st.sampled_from(SUBJECTS)), st.integers(0, 4_000_000), st.integers(0, 60)
        ),
        min_size=1,
        max_size=12,
    ),
    limit=st.sampled_from([5, 1000]),
    skip=st.sampled_from([0, 3, 1000]),
)
def test_recent_entries_answer_as_a_fresh_read_of_each_snapshot_would(
    log: list[tuple[int, bool, str]], calls: list[tuple[set[str], int, int]], limit: int,
    skip: int,
) -> None:  # fmt: skip
    """Whatever order the calls come in (sizes back and forth, windows older and newer),
    each answer is what reading the log at its size gives, or None past the limit."""
    recent = Recent(limit=limit, skip=skip)
    for subjects, from_ms, wanted in calls:
        size = min(wanted, len(log))

        def read(start: int, stop: int, size: int = size) -> list[tuple[int, int, str]]:
            assert 0 <= start <= stop <= size  # within the caller's snapshot
            return [(seq, log[seq][0], log[seq][2]) for seq in range(start, stop) if log[seq][1]]

        def first_at(ms: int, size: int = size) -> int:
            return _first_at(log, size, ms)

        found = recent.entries(subjects, from_ms, size, first_at=first_at, read=read)
        expected = tuple((seq, ts, subj) for seq, (ts, record, subj) in enumerate(log[:size])
                         if record and subj in subjects and ts >= from_ms)  # fmt: skip
        if found is None:
            assert limit == 5  # only a window larger than the limit is not held
        else:
            assert found == expected


def _asker(
    entries: int, reads: list[tuple[int, int]]
) -> Callable[[int, int], tuple[tuple[int, int, str], ...] | None]:
    """A Recent over a log of ``entries`` record entries a second apart, by (from_ms,
    size); ``reads`` gets every range it reads."""
    log = [(1_000_000 + 1000 * seq, True, SUBJECTS[seq % 4]) for seq in range(entries)]
    recent = Recent()

    def read(start: int, stop: int) -> list[tuple[int, int, str]]:
        reads.append((start, stop))
        return [(seq, log[seq][0], log[seq][2]) for seq in range(start, stop)]

    def ask(from_ms: int, size: int) -> tuple[tuple[int, int, str], ...] | None:
        return recent.entries({"experts/a"}, from_ms, size, read=read,
                              first_at=lambda ms: _first_at(log, size, ms))  # fmt: skip

    return ask


def test_recent_entries_read_only_what_was_appended_since() -> None:
    reads: list[tuple[int, int]] = []
    ask = _asker(100, reads)
    for size in (50, 50, 80, 60, 100):
        ask(1_040_000, size)
    assert reads == [(0, 50), (50, 80), (80, 100)]  # the window's margin reaches seq 0


def test_recent_entries_after_a_long_quiet_read_from_the_window_not_from_the_last_call() -> None:
    """A replica that drew nothing while 100,000 entries were appended (a bulk import)
    reads the window's entries, not all 100,000 with their bodies."""
    reads: list[tuple[int, int]] = []
    ask = _asker(100_100, reads)
    ask(1_000_000, 100)
    from_ms = 1_000_000 + 1000 * 100_000  # the window from seq 100,000; its margin 600 s more
    found = ask(from_ms, 100_100)
    assert found == tuple((seq, 1_000_000 + 1000 * seq, "experts/a")
                          for seq in range(100_000, 100_100, 4))  # fmt: skip
    assert reads == [(0, 100), (100_000 - RECENT_MARGIN_MS // 1000, 100_100)]
