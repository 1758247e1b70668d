"""Renderings of database records, memoized by record version (read paths)."""

from __future__ import annotations

import threading
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


P = TypeVar("P")
MAX_PAGE_ROWS = 100_000


class Pages(Generic[P]):
    """List pages memoized by the audit log's size when they were read.

    Every change of a record commits with its audit entries in one transaction, on
    every replica, so while the log keeps one size no listed record has changed: a page
    read at that size (its ids, versions, total and next token) is the page again. The
    caller reads the size before the page (SQLite: in the page's snapshot; PostgreSQL:
    a statement before, so the page can only be newer), so a page is never stored under
    a size newer than its content. A page whose query depends on the clock must not be
    memoized. Past ``limit`` rows held the memo starts again.
    """

    def __init__(self, limit: int = MAX_PAGE_ROWS) -> None:
        """Memoize pages of at most ``limit`` rows in all."""
        self._limit = limit
        self._done: dict[tuple[object, ...], tuple[int, P, int]] = {}
        self._rows = 0
        self._lock = threading.Lock()  # the count; readers take no lock

    def get(self, query: tuple[object, ...], log_size: int) -> P | None:
        """The page of ``query`` read at ``log_size``, if memoized."""
        found = self._done.get(query)
        return found[1] if found is not None and found[0] == log_size else None

    def put(self, query: tuple[object, ...], log_size: int, page: P, rows: int) -> None:
        """Memoize ``page`` (``rows`` rows) of ``query``, read at ``log_size``.

        An empty page counts as one row: pages past the end (page tokens are not
        authenticated, any position is accepted) must still fill the memo.
        """
        rows = max(rows, 1)
        with self._lock:
            replaced = self._done.get(query)
            if replaced is not None:
                self._rows -= replaced[2]
            if self._rows + rows > self._limit:
                self._done, self._rows = {}, 0  # a new dict: readers of the old one keep it
            self._done[query] = (log_size, page, rows)
            self._rows += rows


MAX_RECENT = 200_000
RECENT_MARGIN_MS = 600_000
RECENT_SKIP = 1_000


class Recent:
    """Record entries from a time on, by subject, as the log grows: draws' look-back.

    Every CreateDraw reads its candidates' record entries of the look-back window (the
    last hour by default) before the head lock. Read afresh each time, that took three
    queries and a binary search over the log, about a seventh of the service's CPU in
    the load bench's draws. An entry never changes once appended and entry times never
    decrease with seq, so what was read of ``[start, size)`` stays true and a later call
    only reads ``[size, its size)``, or, past ``skip`` entries since (a replica that
    drew nothing for days, a bulk import), only those from the window's first entry
    on. The memo holds the entries with ts at or after its
    ``from_ms``, kept ``RECENT_MARGIN_MS`` before the calls' own start so that calls a
    little apart in time share it; a call from before it (the clock stepped back, the
    window grew) fills it again. Past ``limit`` entries (a look-back of months) it holds
    nothing and answers None: the caller reads afresh.

    Calls hold the memo's lock while they read, each in its own snapshot of the log at
    ``size``: every entry below ``size`` is visible in it, and an answer only has seqs
    below the caller's ``size``. As the other memos, it assumes a database is never
    restored under a running service (docs/operations.md).
    """

    def __init__(self, limit: int = MAX_RECENT, skip: int = RECENT_SKIP) -> None:
        """Hold at most ``limit`` entries; past ``skip`` new ones, find the window first."""
        self._limit = limit
        self._skip = skip
        self._lock = threading.Lock()
        self._from_ms: int | None = None
        self._size = 0
        self._count = 0
        self._by_subject: dict[str, list[tuple[int, int]]] = {}

    def entries(
        self,
        subjects: Iterable[str],
        from_ms: int,
        size: int,
        *,
        first_at: Callable[[int], int],
        read: Callable[[int, int], Iterable[tuple[int, int, str]]],
    ) -> tuple[tuple[int, int, str], ...] | None:
        """``(seq, ts, subj)`` of the subjects' entries with ``from_ms <= ts``, below ``size``.

        ``first_at(ms)``: the first seq whose ts is ``ms`` or later. ``read(start, stop)``:
        ``(seq, ts, subj)`` of the record entries in ``[start, stop)``. Both read the
        caller's snapshot. None when the window holds more than the limit.
        """
        with self._lock:
            held = self._from_ms
            refill = held is None or from_ms < held
            if held is None or refill:
                self._forget()
                floor = self._from_ms = from_ms - RECENT_MARGIN_MS
            else:
                floor = held
                if from_ms - RECENT_MARGIN_MS > floor + RECENT_MARGIN_MS:
                    floor = from_ms - RECENT_MARGIN_MS
                    self._prune(floor)
            if refill or size - self._size > self._skip:
                # Many entries since the last call (a quiet replica, a bulk import):
                # those before the window are never read.
                self._size = max(self._size, first_at(floor))
            if size - self._size > self._limit:
                self._forget()
                return None
            if size > self._size:
                for seq, ts, subj in read(self._size, size):
                    if ts >= floor:
                        self._by_subject.setdefault(subj, []).append((seq, ts))
                        self._count += 1
                self._size = size
                if self._count > self._limit:
                    self._forget()
                    return None
            return tuple(sorted(
                (seq, ts, subj) for subj in subjects for seq, ts in self._by_subject.get(subj, ())
                if ts >= from_ms and seq < size
            ))  # fmt: skip

    def _forget(self) -> None:
        """Hold nothing (the next call fills the memo again)."""
        self._from_ms, self._size, self._count, self._by_subject = None, 0, 0, {}

    def _prune(self, floor: int) -> None:
        """Forget entries before ``floor`` (the windows have moved past them)."""
        kept: dict[str, list[tuple[int, int]]] = {}
        for subj, found in self._by_subject.items():
            recent = [(seq, ts) for seq, ts in found if ts >= floor]
            if recent:
                kept[subj] = recent
        self._by_subject, self._from_ms = kept, floor
        self._count = sum(len(found) for found in kept.values())
