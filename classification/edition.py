"""An immutable, indexed edition of the discipline standard and its tree queries."""

from __future__ import annotations

import bisect
import enum
import functools
import re
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING

from classification.codes import ancestors_of, is_in_subtree

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator


_CODE_QUERY = re.compile(r"[ABC][0-9]{0,6}")
"""A query of this form also matches codes by prefix."""


@dataclass(frozen=True, slots=True)
class Discipline:
    """One usable node of an edition: a 门类, 一级, 二级 or 三级 discipline."""

    code: str
    name: str
    level: int
    parent: str | None

    @property
    def ancestors(self) -> tuple[str, ...]:
        """Codes of the ancestors, root first."""
        return ancestors_of(self.code)


class MatchKind(enum.IntEnum):
    """How a search hit matched; lower values rank first."""

    CODE = 0
    NAME_EXACT = 1
    NAME_PREFIX = 2
    NAME_CONTAINS = 3
    PATH_CONTAINS = 4


@dataclass(frozen=True, slots=True)
class SearchHit:
    """A discipline found by :meth:`Edition.search` and how it matched."""

    discipline: Discipline
    match: MatchKind


def normalize_text(text: str) -> str:
    """NFC-normalize, casefold and strip text for matching."""
    return unicodedata.normalize("NFC", text).casefold().strip()


def _name_match(name: str, normalized: str, terms: list[str]) -> MatchKind:
    """Rank a discipline whose path already contains every term."""
    if name == normalized:
        return MatchKind.NAME_EXACT
    if name.startswith(normalized):
        return MatchKind.NAME_PREFIX
    if all(term in name for term in terms):
        return MatchKind.NAME_CONTAINS
    return MatchKind.PATH_CONTAINS


class Edition:
    """The usable disciplines of one edition, indexed for tree queries.

    Codes are kept in sorted order, which is the depth-first pre-order of the tree
    because every code extends its parent's code by a fixed-width suffix; a subtree
    is therefore one contiguous range of the sorted codes.
    """

    def __init__(self, edition_id: str, digest: str, disciplines: Iterable[Discipline]) -> None:
        """Index ``disciplines``; each parent must be present (the loader ensures it).

        Raises:
            ValueError: a code is duplicated or a parent is missing.
        """
        self.edition_id = edition_id
        self.digest = digest
        by_code: dict[str, Discipline] = {}
        for discipline in disciplines:
            if discipline.code in by_code:
                msg = f"duplicate code {discipline.code}"
                raise ValueError(msg)
            by_code[discipline.code] = discipline
        children: dict[str | None, list[str]] = {}
        for code in sorted(by_code):
            parent = by_code[code].parent
            if parent is not None and parent not in by_code:
                msg = f"{code}: parent {parent} is not in the edition"
                raise ValueError(msg)
            children.setdefault(parent, []).append(code)
        self._by_code = by_code
        self._codes = sorted(by_code)
        self._children = {key: tuple(value) for key, value in children.items()}
        self._search_keys = {
            code: (normalize_text(d.name), self._path_text(d)) for code, d in by_code.items()
        }
        self._search_cached = functools.lru_cache(maxsize=256)(self._search)

    def _path_text(self, discipline: Discipline) -> str:
        names = [self._by_code[code].name for code in discipline.ancestors]
        return normalize_text("/".join([*names, discipline.name]))

    def __len__(self) -> int:
        """Return the number of usable disciplines."""
        return len(self._codes)

    def __contains__(self, code: object) -> bool:
        """Return True if ``code`` is a usable discipline of this edition."""
        return code in self._by_code

    def __iter__(self) -> Iterator[Discipline]:
        """Iterate over all disciplines in code order."""
        return (self._by_code[code] for code in self._codes)

    def find(self, code: str) -> Discipline | None:
        """Return the discipline with this code, or None."""
        return self._by_code.get(code)

    def get(self, code: str) -> Discipline:
        """Return the discipline with this code.

        Raises:
            KeyError: the code is not a usable discipline of this edition.
        """
        return self._by_code[code]

    def children(self, code: str | None) -> tuple[Discipline, ...]:
        """Return the direct children of ``code`` (the 门类 when ``code`` is None).

        Raises:
            KeyError: ``code`` is not in this edition.
        """
        if code is not None:
            self.get(code)
        return tuple(self._by_code[c] for c in self._children.get(code, ()))

    def is_leaf(self, code: str) -> bool:
        """Return True if the discipline has no children.

        Raises:
            KeyError: ``code`` is not in this edition.
        """
        self.get(code)
        return code not in self._children

    def ancestors(self, code: str) -> tuple[Discipline, ...]:
        """Return the ancestors of ``code``, root first.

        Raises:
            KeyError: ``code`` is not in this edition.
        """
        return tuple(self._by_code[c] for c in self.get(code).ancestors)

    def subtree(self, root: str | None) -> tuple[Discipline, ...]:
        """Return ``root`` and all its descendants in code order (everything if None).

        Raises:
            KeyError: ``root`` is not in this edition.
        """
        if root is None:
            return tuple(self)
        self.get(root)
        start = bisect.bisect_left(self._codes, root)
        end = start
        while end < len(self._codes) and is_in_subtree(self._codes[end], root):
            end += 1
        return tuple(self._by_code[c] for c in self._codes[start:end])

    def is_in_subtree(self, code: str, root: str) -> bool:
        """Return True if both codes are usable here and ``code`` lies under ``root``."""
        return code in self and root in self and is_in_subtree(code, root)

    def level_counts(self) -> tuple[int, int, int, int]:
        """Return the number of disciplines at levels 0, 1, 2 and 3."""
        counts = [0, 0, 0, 0]
        for discipline in self._by_code.values():
            counts[discipline.level] += 1
        return counts[0], counts[1], counts[2], counts[3]

    def search(self, query: str) -> list[SearchHit]:
        """Find disciplines by code prefix or by name (Chinese text, NFC, casefolded).

        Whitespace separates terms; a name matches when it contains every term, and
        a path matches when the names from the root down contain every term (so
        ``建筑 电气`` finds 电气工程 under 建筑工程). Hits are ordered by match kind,
        then level, then code.

        Raises:
            ValueError: the query is empty.
        """
        normalized = normalize_text(query)
        if not normalized:
            msg = "empty search query"
            raise ValueError(msg)
        return list(self._search_cached(normalized))

    def _search(self, normalized: str) -> tuple[SearchHit, ...]:
        """Search with a normalized query; results are cached (the edition is immutable)."""
        terms = normalized.split()
        code_query = normalized.upper()
        if _CODE_QUERY.fullmatch(code_query) is None:
            code_query = ""
        hits: list[SearchHit] = []
        for code in self._codes:
            kind = self._match(code, normalized, code_query, terms)
            if kind is not None:
                hits.append(SearchHit(self._by_code[code], kind))
        hits.sort(key=lambda h: (h.match, h.discipline.level, h.discipline.code))
        return tuple(hits)

    def _match(
        self, code: str, normalized: str, code_query: str, terms: list[str]
    ) -> MatchKind | None:
        if code_query and code.startswith(code_query):
            return MatchKind.CODE
        name, path = self._search_keys[code]
        if not all(term in path for term in terms):  # the name ends the path
            return None
        return _name_match(name, normalized, terms)
