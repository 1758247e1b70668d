"""Renderings of database records, memoized by record version (read paths)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable

S = TypeVar("S")
T = TypeVar("T")
MAX_RENDERED = 50_000


class Rendered(Generic[S, T]):
    """One rendering of records, memoized by a key that names each record's content.

    The key is the record's row id and version (and what else changes with it): every
    change of an expert or a draw goes through one write that bumps its version, on every
    replica, so a reader that finds the key it has just read serves the rendering made
    from that content, and a changed record is read again. ``render`` must be a function
    of the record alone and must not keep personal fields in the clear (the memo
    outlives the call). Past ``limit`` renderings the memo starts again.

    The memo lives as long as the process: a database restored to an older state could
    repeat a key with other content, so a restore is done with the service stopped
    (as docs/operations.md has it for every replica).
    """

    def __init__(self, render: Callable[[S], T], limit: int = MAX_RENDERED) -> None:
        """Memoize ``render``, at most ``limit`` records."""
        self._render = render
        self._limit = limit
        self._done: dict[tuple[int, ...], T] = {}

    def get(self, key: tuple[int, ...]) -> T | None:
        """The rendering of the record version ``key``, if memoized."""
        return self._done.get(key)

    def put(self, key: tuple[int, ...], record: S) -> T:
        """Render ``record`` (the record version ``key``) and memoize it."""
        done = self._done
        if len(done) >= self._limit:
            done = self._done = {}  # a new dict: readers of the old one keep it
        done[key] = value = self._render(record)
        return value
