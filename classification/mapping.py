"""Suggesting codes of another edition for a discipline (2010 trial → 2018).

Experts who hold only 2010-trial codes are kept but not drawable; an admin maps them by
hand. This module only suggests: it ranks the target edition's disciplines (二级 and
三级, the levels experts hold) by how alike their names and paths are, and never applies
anything. Pure and deterministic.

Score, from 0 to 1: 1.0 when the names are equal; otherwise the Dice coefficient of the
character bigrams of the names (weight 0.7) and of the parents' names (weight 0.3), so
that "电气工程" under "建筑工程" is preferred over a namesake elsewhere.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

from classification.edition import normalize_text

if TYPE_CHECKING:
    from classification.edition import Edition

MIN_LEVEL = 2
DEFAULT_LIMIT = 5


@dataclass(frozen=True, slots=True)
class Suggestion:
    """A target code and how alike it is (0..1]."""

    code: str
    score: float


def _bigrams(text: str) -> frozenset[str]:
    normal = normalize_text(text)
    if len(normal) < 2:  # noqa: PLR2004 - a bigram needs two characters
        return frozenset({normal}) if normal else frozenset()
    return frozenset(normal[i : i + 2] for i in range(len(normal) - 1))


def _dice(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    return 2 * len(a & b) / (len(a) + len(b))


def _parent_name(edition: Edition, code: str) -> str:
    parents = edition.ancestors(code)
    return parents[-1].name if parents else ""


@functools.lru_cache(maxsize=8)  # editions are immutable; the service holds two or three
def _candidates(target: Edition) -> tuple[tuple[str, str, frozenset[str], frozenset[str]], ...]:
    """(code, normalised name, name bigrams, parent bigrams) of the target's level 2+."""
    return tuple(
        (d.code, normalize_text(d.name), _bigrams(d.name), _bigrams(_parent_name(target, d.code)))
        for d in target
        if d.level >= MIN_LEVEL
    )


def suggest(
    source: Edition, code: str, target: Edition, limit: int = DEFAULT_LIMIT
) -> list[Suggestion]:
    """The ``limit`` best target codes for ``code`` of ``source``, best first.

    Ties are broken by code. Only target disciplines of level 2 or deeper are offered,
    and only those with a score above zero.

    Raises:
        KeyError: ``code`` is not in ``source``.
    """
    discipline = source.get(code)
    name, parent = _bigrams(discipline.name), _bigrams(_parent_name(source, code))
    exact = normalize_text(discipline.name)
    scored = []
    for candidate, normal, own_bigrams, parent_bigrams in _candidates(target):
        if normal == exact:
            score = 1.0
        else:
            own = _dice(name, own_bigrams)
            if own == 0.0:
                continue
            score = 0.7 * own + 0.3 * _dice(parent, parent_bigrams)
        scored.append(Suggestion(candidate, round(score, 4)))
    scored.sort(key=lambda s: (-s.score, s.code))
    return scored[:limit]
