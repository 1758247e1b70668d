"""Discipline codes: format, level, parent and ancestors, all derived from the code.

A code is one letter for the 门类 (A 工程类, B 货物类, C 服务类) followed by up to three
two-digit levels: ``A`` → ``A08`` → ``A0801`` → ``A080105``. The code prefix is
authoritative for the tree (ADR-0012): the parent of a code is the code without its last
two digits, and the parent of a 一级 code is its letter.
"""

from __future__ import annotations

import re

CODE_PATTERN = re.compile(r"[ABC](?:[0-9]{2}){0,3}")
"""Full-match pattern of a national discipline code (domain-rules.md §3)."""

EDITION_ID_PATTERN = re.compile(r"[0-9a-z](?:[0-9a-z-]{0,30}[0-9a-z])?")
"""Full-match pattern of an edition id such as ``2018`` or ``2010-trial``."""

MAX_LEVEL = 3


class CodeError(ValueError):
    """A string is not a well-formed discipline code or edition id."""


def validate_code(code: str) -> str:
    """Return ``code`` if it is a well-formed discipline code.

    Raises:
        CodeError: the code does not match ``^[ABC]([0-9]{2}){0,3}$``.
    """
    if CODE_PATTERN.fullmatch(code) is None:
        msg = f"not a discipline code: {code!r} (expected e.g. A08, A0801, A080105)"
        raise CodeError(msg)
    return code


def validate_edition_id(edition_id: str) -> str:
    """Return ``edition_id`` if it is a well-formed edition id.

    Raises:
        CodeError: the id is not 1-32 characters of ``[0-9a-z-]`` with an alphanumeric
            first and last character.
    """
    if EDITION_ID_PATTERN.fullmatch(edition_id) is None:
        msg = f"not an edition id: {edition_id!r} (expected e.g. 2018, 2010-trial)"
        raise CodeError(msg)
    return edition_id


def level_of(code: str) -> int:
    """Return the level of a well-formed code: 0 for the letter, 1-3 below it."""
    return (len(code) - 1) // 2


def parent_of(code: str) -> str | None:
    """Return the parent code by prefix, or None for a 门类 (level 0)."""
    if len(code) <= 1:
        return None
    return code[:-2]


def ancestors_of(code: str) -> tuple[str, ...]:
    """Return the ancestors of a code, root first, excluding the code itself."""
    result: list[str] = []
    parent = parent_of(code)
    while parent is not None:
        result.append(parent)
        parent = parent_of(parent)
    return tuple(reversed(result))


def is_in_subtree(code: str, root: str) -> bool:
    """Return True if ``code`` is ``root`` or one of its descendants (prefix match)."""
    return code.startswith(root)
