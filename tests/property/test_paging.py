"""Property tests: AIP-158 pages partition any result list, tokens bind their query."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from expert_draw.core.paging import MAX_PAGE_SIZE, paginate, query_key
from expert_draw.errors import InvalidPageTokenError


@given(st.lists(st.integers(), max_size=300), st.integers(0, 1200))
def test_pages_concatenate_to_the_whole_list(items: list[int], size: int) -> None:
    key = query_key("q", str(len(items)))
    limit = min(size or 50, MAX_PAGE_SIZE)
    seen: list[int] = []
    token = ""
    while True:
        page = paginate(items, size, token, key)
        assert page.total_size == len(items)
        assert len(page.items) == min(limit, len(items) - len(seen))
        seen.extend(page.items)
        token = page.next_page_token
        if not token:
            break
    assert seen == items


@given(st.lists(st.integers(), min_size=3, max_size=50), st.text(max_size=8))
def test_token_of_another_query_is_rejected(items: list[int], other: str) -> None:
    token = paginate(items, 1, "", query_key("a")).next_page_token
    if query_key("a") == query_key("b" + other):
        return
    with pytest.raises(InvalidPageTokenError):
        paginate(items, 1, token, query_key("b" + other))


@given(st.text(max_size=80))
def test_arbitrary_tokens_never_crash(token: str) -> None:
    key = query_key("a")
    with contextlib.suppress(InvalidPageTokenError):
        paginate(list(range(10)), 3, token, key)
