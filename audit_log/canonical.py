"""The aud1 canonical JSON profile: stdlib ``json`` restricted to equal RFC 8785.

Under the profile rules, ``json.dumps(o, sort_keys=True, separators=(",", ":"),
ensure_ascii=False).encode()`` is byte-equal to the JSON Canonicalization Scheme:

- object keys are non-empty ASCII ``[a-z0-9_]`` (so code-point order equals JCS's
  UTF-16 order);
- numbers are integers within ±(2^53 − 1); no floats, NaN or infinities;
- strings are UTF-8 without lone surrogates; no Unicode normalization here;
- ``true``, ``false``, ``null``, arrays and objects as usual.

:func:`loads` is strict: it rejects duplicate keys, floats, NaN/Infinity, values
outside the profile, and any input that is not byte-equal to its own re-encoding.
"""

from __future__ import annotations

import json
import re
from typing import Any

from audit_log.errors import CanonicalError

MAX_SAFE_INTEGER = 2**53 - 1
_KEY = re.compile(r"[a-z0-9_]+")
_MAX_DEPTH = 32
_GOOD_KEYS: set[str] = set()  # keys already seen valid: entries reuse a few dozen names
_KEY_CACHE = 4096


def check(value: object, depth: int = 0) -> None:
    """Check that ``value`` lies inside the profile.

    Raises:
        CanonicalError: naming the first offending member.
    """
    if depth > _MAX_DEPTH:
        msg = "nesting deeper than 32 levels"
        raise CanonicalError(msg)
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, int):
        _check_int(value)
    elif isinstance(value, str):
        _check_str(value)
    elif isinstance(value, list | tuple):
        for item in value:
            check(item, depth + 1)
    elif isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or _KEY.fullmatch(key) is None:
                msg = f"object key {key!r} is not [a-z0-9_]+"
                raise CanonicalError(msg)
            check(item, depth + 1)
    else:
        msg = f"{type(value).__name__} is outside the profile (floats are never allowed)"
        raise CanonicalError(msg)


def _check_int(value: int) -> None:
    if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
        msg = f"integer outside ±(2^53-1): {value}"
        raise CanonicalError(msg)


def _check_str(value: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        msg = "string with a lone surrogate"
        raise CanonicalError(msg) from None


def dumps(value: object) -> bytes:
    """Encode ``value`` canonically.

    Raises:
        CanonicalError: the value is outside the profile.
    """
    check(value)
    return _encode(value)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, item in pairs:
        if key in result:
            msg = f"duplicate key {key!r}"
            raise CanonicalError(msg)
        if key not in _GOOD_KEYS:
            if _KEY.fullmatch(key) is None:
                msg = f"object key {key!r} is not [a-z0-9_]+"
                raise CanonicalError(msg)
            if len(_GOOD_KEYS) < _KEY_CACHE:
                _GOOD_KEYS.add(key)
        result[key] = item
    return result


def _safe_int(text: str) -> int:
    value = int(text)
    _check_int(value)
    return value


def _reject_float(text: str) -> float:
    msg = f"number {text} is not an integer"
    raise CanonicalError(msg)


def _reject_constant(text: str) -> float:
    msg = f"{text} is not JSON"
    raise CanonicalError(msg)


_DECODER = json.JSONDecoder(
    object_pairs_hook=_no_duplicates,
    parse_float=_reject_float,
    parse_int=_safe_int,
    parse_constant=_reject_constant,
)


def loads(data: bytes) -> Any:  # noqa: ANN401 - any aud1 value
    """Parse canonical bytes strictly.

    Raises:
        CanonicalError: invalid UTF-8 or JSON, a duplicate key, a float, NaN, a value
            outside the profile, or bytes that are not the canonical encoding.
    """
    try:
        text = data.decode("utf-8")
        value = _DECODER.decode(text)
    except UnicodeDecodeError:
        msg = "not UTF-8"
        raise CanonicalError(msg) from None
    except (ValueError, RecursionError) as exc:
        if isinstance(exc, CanonicalError):
            raise
        msg = f"not JSON: {exc}"
        raise CanonicalError(msg) from None
    # The hooks above enforced keys, integers and no floats; only nesting depth and lone
    # surrogates remain. Input with at most 32 brackets cannot nest deeper than 32.
    if data.count(b"[") + data.count(b"{") > _MAX_DEPTH:
        check(value)
    try:
        encoded = _encode(value)
    except UnicodeEncodeError:
        msg = "string with a lone surrogate"
        raise CanonicalError(msg) from None
    if encoded != data:
        msg = "bytes are not the canonical encoding of their value"
        raise CanonicalError(msg)
    return value


def _encode(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
