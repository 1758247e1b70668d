"""Chinese identifiers the expert library validates (pure functions, no I/O).

- 公民身份号码 (resident identity number), GB 11643-1999: 17 digits (6-digit region,
  8-digit birth date YYYYMMDD, 3-digit sequence) and a check character, the ISO 7064
  MOD 11-2 check: ``(12 - Σ aᵢ·wᵢ mod 11) mod 11`` with weights ``2^(17-i) mod 11``,
  written ``0``-``9`` or ``X`` for 10.
- 统一社会信用代码 (unified social credit code), GB 32100-2015: 18 characters from
  ``0123456789ABCDEFGHJKLMNPQRTUWXY`` (no I, O, S, V, Z); the last is the check character
  ``31 - (Σ cᵢ·wᵢ mod 31)`` (31 written as ``0``) with weights ``3^i mod 31``.
- 行政区划代码 (administrative division code), GB/T 2260: six digits, a province code
  ``11``-``82`` first; a region table may be loaded as data for membership.
"""

from __future__ import annotations

import datetime as dt
import re

_RESIDENT_ID = re.compile(r"[0-9]{17}[0-9X]")
_ID_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))
_ID_CHECK = "10X98765432"

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC = re.compile(f"[{USCC_ALPHABET}]{{18}}")
_USCC_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))
_REGION = re.compile(r"[1-8][0-9]{5}")


def resident_id_check(first17: str) -> str:
    """The GB 11643 check character of the first 17 digits."""
    total = sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def resident_id_problem(value: str) -> str | None:
    """Why ``value`` is not a valid 身份证号 (None when it is). Never echoes the value."""
    if _RESIDENT_ID.fullmatch(value) is None:
        return "must be 17 digits and a check digit or X (18 characters)"
    if resident_id_check(value[:17]) != value[17]:
        return "check digit does not match (GB 11643)"
    try:
        dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return "birth date part is not a date"
    if region_code_problem(value[:6]) is not None:
        return "region part is not a GB/T 2260 code"
    return None


def birth_date(number: str) -> dt.date:
    """The birth date a valid 身份证号 encodes (digits 7-14, YYYYMMDD)."""
    return dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))


def uscc_check(first17: str) -> str:
    """The GB 32100 check character of the first 17 characters."""
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def uscc_problem(value: str) -> str | None:
    """Why ``value`` is not a valid 统一社会信用代码 (None when it is)."""
    if _USCC.fullmatch(value) is None:
        return f"must be 18 characters of {USCC_ALPHABET}"
    if uscc_check(value[:17]) != value[17]:
        return "check character does not match (GB 32100)"
    return None


def region_code_problem(value: str) -> str | None:
    """Why ``value`` is not a GB/T 2260 code in form (None when it is)."""
    if _REGION.fullmatch(value) is None or not 11 <= int(value[:2]) <= 82:  # noqa: PLR2004 - province codes
        return "must be six digits starting with a province code 11-82 (GB/T 2260)"
    return None
