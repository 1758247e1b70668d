"""AIP-158 pagination over deterministic, ordered result lists.

A page token is opaque to clients: ``base64url(b"p1" || u32be(offset) || key)`` where
``key`` is the first 8 bytes of SHA-256 over the query that produced it (method and
every request field but the page size and token, plus the data version). A token used
with another query, a forged token, or one past the end is ``INVALID_PAGE_TOKEN``.
Tokens carry no authority: every page re-applies the caller's access rules.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

from expert_draw.errors import InvalidPageTokenError, InvalidRequestError

if TYPE_CHECKING:
    from collections.abc import Sequence

T = TypeVar("T")

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
MAX_TOKEN_LENGTH = 64
_VERSION = b"p1"
_KEY_BYTES = 8
_TOKEN = struct.Struct(f">2sI{_KEY_BYTES}s")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of results, the token for the next (empty on the last) and the total."""

    items: tuple[T, ...]
    next_page_token: str
    total_size: int


def query_key(*parts: str) -> bytes:
    """Return the key that binds a token to one query (length-prefixed parts)."""
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode()
        digest.update(struct.pack(">I", len(data)) + data)
    return digest.digest()[:_KEY_BYTES]


def effective_page_size(requested: int) -> int:
    """Apply AIP-158: 0 means the default, above the maximum is coerced.

    Raises:
        InvalidRequestError: ``requested`` is negative.
    """
    if requested < 0:
        raise InvalidRequestError.field("page_size", "must not be negative")
    if requested == 0:
        return DEFAULT_PAGE_SIZE
    return min(requested, MAX_PAGE_SIZE)


def _encode(layout: struct.Struct, version: bytes, position: int, key: bytes) -> str:
    return base64.urlsafe_b64encode(layout.pack(version, position, key)).decode().rstrip("=")


def _decode(token: str, layout: struct.Struct, version: bytes, key: bytes) -> int:
    """Unpack a token of ``layout``; check its version and query key.

    Raises:
        InvalidPageTokenError: the token is too long, malformed, or for another query.
    """
    if len(token) > MAX_TOKEN_LENGTH:
        raise InvalidPageTokenError("page token is too long")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        found_version, position, token_key = layout.unpack(raw)
    except (binascii.Error, struct.error, ValueError):
        raise InvalidPageTokenError("page token is malformed") from None
    if found_version != version or token_key != key:
        raise InvalidPageTokenError("page token belongs to another query; start again")
    return int(position)


def encode_token(offset: int, key: bytes) -> str:
    """Return the opaque token for the page that starts at ``offset``."""
    return _encode(_TOKEN, _VERSION, offset, key)


def decode_token(token: str, key: bytes, total: int) -> int:
    """Return the offset a token names, after checking it belongs to this query.

    Raises:
        InvalidPageTokenError: the token is malformed, for another query, or stale.
    """
    if not token:
        return 0
    offset = _decode(token, _TOKEN, _VERSION, key)
    if not 0 < offset < total:
        raise InvalidPageTokenError("page token is out of range; start again")
    return offset


def paginate(items: Sequence[T], page_size: int, page_token: str, key: bytes) -> Page[T]:
    """Cut one page out of ``items``.

    Raises:
        InvalidRequestError: the page size is negative.
        InvalidPageTokenError: the token does not belong to this query.
    """
    size = effective_page_size(page_size)
    total = len(items)
    start = decode_token(page_token, key, total)
    end = min(start + size, total)
    next_token = encode_token(end, key) if end < total else ""
    return Page(tuple(items[start:end]), next_token, total)


_CURSOR = struct.Struct(f">2sQ{_KEY_BYTES}s")
_CURSOR_VERSION = b"k1"
MAX_CURSOR = 2**63 - 2  # the next position must still fit a signed 64-bit column


def encode_cursor(after: int, key: bytes) -> str:
    """Return a keyset token: the next page starts after position ``after``."""
    return _encode(_CURSOR, _CURSOR_VERSION, after, key)


def decode_cursor(token: str, key: bytes) -> int | None:
    """Return the position a keyset token names (None for the first page).

    Raises:
        InvalidPageTokenError: the token is malformed or belongs to another query.
    """
    if not token:
        return None
    after = _decode(token, _CURSOR, _CURSOR_VERSION, key)
    if after >= MAX_CURSOR:
        raise InvalidPageTokenError("page token is out of range; start again")
    return after
