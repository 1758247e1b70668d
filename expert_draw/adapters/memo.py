"""Renderings of database records, memoized by record version (read paths)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

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

    def many(
        self,
        keys: Sequence[tuple[int, ...]],
        read: Callable[[list[int]], Iterable[tuple[tuple[int, ...], S]]],
    ) -> list[T]:
        """The renderings of the record versions ``keys`` (row id first), in their order.

        Memoized ones are served as they are; ``read(row ids)`` reads the others whole,
        each with the key it was read at (a record may have changed since ``keys`` were
        read), and they are rendered and memoized under that key. A row id ``read``
        does not return is left out.
        """
        found: dict[int, T] = {}
        for key in keys:
            hit = self._done.get(key)
            if hit is not None:
                found[key[0]] = hit
        missing = [key[0] for key in keys if key[0] not in found]
        if missing:
            for key, record in read(missing):
                found[key[0]] = self._put(key, record)
        return [found[key[0]] for key in keys if key[0] in found]

    def _put(self, key: tuple[int, ...], record: S) -> T:
        done = self._done
        if len(done) >= self._limit:
            done = self._done = {}  # a new dict: readers of the old one keep it
        done[key] = value = self._render(record)
        return value
