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
from typing import Any, NoReturn

from audit_log.errors import CanonicalError

MAX_SAFE_INTEGER = 2**53 - 1
_KEY = re.compile(r"[a-z0-9_]+")
_MAX_DEPTH = 32
_GOOD_KEYS: set[str] = set()  # keys already seen valid: entries reuse a few dozen names
_KEY_CACHE = 4096


def check(value: object, depth: int = 0) -> None:  # noqa: C901, PLR0912 - one branch per type, inlined
    """Check that ``value`` lies inside the profile: types, keys, integers, depth.

    Strings are checked when they are encoded (:func:`dumps` refuses a lone surrogate,
    which has no UTF-8 form; :func:`loads` never produces one).

    Raises:
        CanonicalError: naming the first offending member.
    """
    if depth > _MAX_DEPTH:
        _too_deep()
    kind = type(value)
    if kind is str or value is None or kind is bool:
        return
    if kind is int:
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:  # type: ignore[operator]
            _check_int(value)  # type: ignore[arg-type]
    elif kind is dict:
        if value and depth >= _MAX_DEPTH:  # its members, strings too, lie deeper than 32
            _too_deep()
        for key, item in value.items():  # type: ignore[attr-defined]
            if key not in _GOOD_KEYS:
                _check_key(key)
            if type(item) is not str:
                check(item, depth + 1)
    elif kind is list or kind is tuple:
        if value and depth >= _MAX_DEPTH:
            _too_deep()
        for item in value:  # type: ignore[attr-defined]
            if type(item) is not str:
                check(item, depth + 1)
    else:
        _check_other(value, depth)


def _too_deep() -> NoReturn:
    msg = "nesting deeper than 32 levels"
    raise CanonicalError(msg)


def _check_key(key: object) -> None:
    if not isinstance(key, str) or _KEY.fullmatch(key) is None:
        msg = f"object key {key!r} is not [a-z0-9_]+"
        raise CanonicalError(msg)
    if len(_GOOD_KEYS) < _KEY_CACHE:
        _GOOD_KEYS.add(key)


def _check_other(value: object, depth: int) -> None:
    """Subclasses of the JSON types (IntEnum, StrEnum, OrderedDict ...) and the rest."""
    if isinstance(value, bool | str):
        return
    if isinstance(value, int):
        _check_int(value)
    elif isinstance(value, list | tuple):
        for item in value:
            check(item, depth + 1)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_key(key)
            check(item, depth + 1)
    else:
        msg = f"{type(value).__name__} is outside the profile (floats are never allowed)"
        raise CanonicalError(msg)


def _check_int(value: int) -> None:
    if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
        msg = f"integer outside ±(2^53-1): {value}"
        raise CanonicalError(msg)


def dumps(value: object) -> bytes:
    """Encode ``value`` canonically.

    Raises:
        CanonicalError: the value is outside the profile.
    """
    check(value)
    try:
        return _encode(value)
    except UnicodeEncodeError:
        msg = "string with a lone surrogate"
        raise CanonicalError(msg) from None


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


_STRICT = json.JSONDecoder(
    object_pairs_hook=_no_duplicates,
    parse_float=_reject_float,
    parse_int=_safe_int,
    parse_constant=_reject_constant,
)
# The fast scanner rejects floats and NaN/Infinity (their hooks run only when one is
# met); duplicate keys and every other non-canonical spelling fail the comparison with
# the re-encoding, as the re-encoding of a parsed value has no duplicates and only
# canonical spellings. Keys, integer range and depth are what check() adds.
_SCAN = json.JSONDecoder(parse_float=_reject_float, parse_constant=_reject_constant).scan_once  # type: ignore[attr-defined]
_C_ENCODER = getattr(json.encoder, "c_make_encoder", None)
_C_STRING = getattr(json.encoder, "c_encode_basestring", None)
_PY_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, check_circular=False
)


def _no_default(value: object) -> object:
    msg = f"{type(value).__name__} is outside the profile"
    raise CanonicalError(msg)


if _C_ENCODER is not None and _C_STRING is not None:  # CPython: one C call per value
    # c_make_encoder(markers, default, encoder, indent, key_separator, item_separator,
    # sort_keys, skipkeys, allow_nan): the arguments JSONEncoder passes for our options.
    _encode_c = _C_ENCODER(None, _no_default, _C_STRING, None, ":", ",", True, False, False)  # noqa: FBT003

    def encode_text(value: object) -> str:
        """Return the canonical text of a value already inside the profile."""
        return "".join(_encode_c(value, 0))

else:  # pragma: no cover - interpreters without the C accelerator

    def encode_text(value: object) -> str:
        """Return the canonical text of a value already inside the profile."""
        return _PY_ENCODER.encode(value)


def loads(data: bytes) -> Any:  # noqa: ANN401 - any aud1 value
    """Parse canonical bytes strictly.

    Raises:
        CanonicalError: invalid UTF-8 or JSON, a duplicate key, a float, NaN, a value
            outside the profile, or bytes that are not the canonical encoding.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        msg = "not UTF-8"
        raise CanonicalError(msg) from None
    return loads_text(text)


def loads_text(text: str, *, check_profile: bool = True) -> Any:  # noqa: ANN401
    """Parse canonical text strictly (see :func:`loads`).

    With ``check_profile=False`` the caller takes over :func:`check` (object keys,
    integer range, nesting depth) and guarantees that ``text`` was decoded from UTF-8
    bytes (so it holds no lone surrogate): the entry schema does, as it names every key
    and bounds every integer of an entry, and calls :func:`check` on free-form members,
    and entries are always decoded from their stored bytes. Everything else (JSON
    syntax, floats, NaN, duplicates, spelling) is still checked.

    Raises:
        CanonicalError: as :func:`loads`.
    """
    try:
        value, end = _SCAN(text, 0)
        canonical = end == len(text) and encode_text(value) == text
    except (StopIteration, ValueError, RecursionError, CanonicalError):
        canonical = False
    if not canonical:
        _diagnose(text)
    if check_profile:
        check(value)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            msg = "string with a lone surrogate"
            raise CanonicalError(msg) from None
    return value


def _diagnose(text: str) -> NoReturn:
    """Raise the most specific reason why ``text`` is not canonical (the slow path)."""
    try:
        value = _STRICT.decode(text)
    except (ValueError, RecursionError) as exc:
        if isinstance(exc, CanonicalError):
            raise
        msg = f"not JSON: {exc}"
        raise CanonicalError(msg) from None
    check(value)
    try:
        _encode(value)
    except UnicodeEncodeError:
        msg = "string with a lone surrogate"
        raise CanonicalError(msg) from None
    msg = "bytes are not the canonical encoding of their value"
    raise CanonicalError(msg)


def _encode(value: object) -> bytes:
    return encode_text(value).encode()
