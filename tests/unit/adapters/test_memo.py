"""The read memos: renderings by record version, pages by log size."""

from __future__ import annotations

from expert_draw.adapters.memo import Pages, Rendered


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
