import base64
import struct

import pytest

from expert_draw.core.paging import DEFAULT_PAGE_SIZE, encode_token, paginate, query_key
from expert_draw.errors import InvalidPageTokenError, InvalidRequestError

ITEMS = list(range(120))
KEY = query_key("list", "x")


def test_defaults_and_coercion() -> None:
    assert len(paginate(ITEMS, 0, "", KEY).items) == DEFAULT_PAGE_SIZE
    assert len(paginate(list(range(2000)), 5000, "", KEY).items) == 1000


def test_negative_page_size() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        paginate(ITEMS, -1, "", KEY)
    assert caught.value.violations[0].field == "page_size"


def test_last_page_has_no_token() -> None:
    first = paginate(ITEMS, 100, "", KEY)
    second = paginate(ITEMS, 100, first.next_page_token, KEY)
    assert second.items == tuple(range(100, 120))
    assert second.next_page_token == ""


@pytest.mark.parametrize(
    "token",
    [
        "not-base64!",
        "A" * 65,
        base64.urlsafe_b64encode(b"p2" + struct.pack(">I", 5) + KEY).decode(),
        base64.urlsafe_b64encode(b"p1" + struct.pack(">I", 5)).decode(),
        encode_token(0, KEY),
        encode_token(120, KEY),
        encode_token(5, query_key("other")),
    ],
)
def test_forged_or_foreign_tokens(token: str) -> None:
    with pytest.raises(InvalidPageTokenError) as caught:
        paginate(ITEMS, 10, token, KEY)
    assert caught.value.reason == "INVALID_PAGE_TOKEN"
    assert caught.value.violations[0].field == "page_token"


def test_query_key_separates_parts() -> None:
    assert query_key("ab", "c") != query_key("a", "bc")


def test_keyset_cursors() -> None:
    from expert_draw.core.paging import MAX_CURSOR, decode_cursor, encode_cursor

    key = query_key("entries")
    assert decode_cursor("", key) is None
    assert decode_cursor(encode_cursor(41, key), key) == 41
    for forged in (
        encode_cursor(MAX_CURSOR, key),
        encode_cursor(2**64 - 1, key),
        encode_cursor(3, query_key("x")),
        "@@",
    ):
        with pytest.raises(InvalidPageTokenError):
            decode_cursor(forged, key)
