from __future__ import annotations

import pytest

from audit_log import canonical
from audit_log.errors import CanonicalError


def test_sorted_compact_utf8() -> None:
    value = {"b": [1, True, None], "a": "电气\n\u2028", "c": {"z": -5, "y": ""}}
    assert (
        canonical.dumps(value)
        == '{"a":"电气\\n\u2028","b":[1,true,null],"c":{"y":"","z":-5}}'.encode()
    )
    assert canonical.loads(canonical.dumps(value)) == value


@pytest.mark.parametrize(
    "value",
    [
        1.0,
        float("nan"),
        2**53,
        -(2**53),
        {"A": 1},
        {"": 1},
        {"a-b": 1},
        {1: 2},
        "\ud800",
        b"bytes",
        {"k": {1, 2}},
    ],
    ids=repr,
)
def test_values_outside_the_profile(value: object) -> None:
    with pytest.raises(CanonicalError):
        canonical.dumps(value)


def test_deep_nesting_is_refused() -> None:
    value: object = 1
    for _ in range(40):
        value = [value]
    with pytest.raises(CanonicalError, match="nesting"):
        canonical.dumps(value)


@pytest.mark.parametrize(
    "data",
    [
        b'{"a":1,"a":2}',
        b'{"a":1.0}',
        b'{"a":1e3}',
        b'{"a":NaN}',
        b'{"a":Infinity}',
        b'{"a": 1}',
        b'{"b":1,"a":2}',
        b'{"a":"\\u7535"}',
        b'{"a":"\\ud800"}',
        b'{"a":"x"}\n',
        b"\xff",
        b"[1,",
        b'{"A":1}',
        b'{"a":9007199254740992}',
        b'"\\/"',
    ],
)
def test_strict_parser_rejects(data: bytes) -> None:
    with pytest.raises(CanonicalError):
        canonical.loads(data)


def test_depth_counts_string_members_too() -> None:
    deep: object = "x"
    for _ in range(33):
        deep = [deep]
    with pytest.raises(CanonicalError, match="deeper than 32"):
        canonical.dumps(deep)
    shallow: object = "x"
    for _ in range(32):
        shallow = [shallow]
    assert canonical.loads(canonical.dumps(shallow)) == shallow
    nested: object = {"a": "x"}
    for _ in range(32):
        nested = {"a": nested}
    with pytest.raises(CanonicalError, match="deeper than 32"):
        canonical.check(nested)


def test_a_raw_lone_surrogate_in_text_is_refused() -> None:
    with pytest.raises(CanonicalError, match="lone surrogate"):
        canonical.loads_text('"\ud800"')
