"""The fast entry decoder gives exactly the verdicts of the strict reference decoder.

``Entry.decode`` (and the verifier, through ``entry.decode_value``) parses without the
decoder's hooks and without the profile walk, and relies on the re-encoding comparison
and the schema instead. The reference below is the plain definition (audit-log.md §3):
strict JSON with duplicate, float and NaN rejection, the profile walk, byte equality
with the canonical encoding, then the schema. Both must agree on every input: accepted
with the same value, or rejected in the same category.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from audit_log import canonical
from audit_log.entry import Entry, SchemaError, Who, check, make_req
from audit_log.errors import CanonicalError

UUID = "0b7f6c2e-8a1d-4c3b-9e2f-5a6b7c8d9e0f"
WHO = Who("admin", "admin:ops", "svc-1")

# Free-form values that stray outside the profile: keys out of [a-z0-9_], integers past
# 2^53 - 1, deep nesting, lone surrogates.
KEYS = st.text(alphabet="abcAZ_09-é", min_size=0, max_size=4)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**54), 2**54)
    | st.text(st.characters(codec="utf-8") | st.sampled_from(["\ud800", "\n", '"']), max_size=6)
)
FREE = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3),
    max_leaves=12,
)


def deep(levels: int) -> object:
    value: object = 1
    for _ in range(levels):
        value = {"a": value}
    return value


def reference(body: bytes) -> tuple[str, Any]:
    """The definition: returns ("ok", value), ("noncanonical", None) or ("schema", None)."""

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        if len({k for k, _ in items}) != len(items):
            raise ValueError
        return dict(items)

    def reject(_: str) -> None:
        raise ValueError

    try:
        value = json.loads(
            body.decode(), object_pairs_hook=pairs, parse_float=reject, parse_constant=reject
        )
        canonical.check(value)
        if (
            json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
            != body
        ):
            return "noncanonical", None
    except (ValueError, RecursionError, CanonicalError, UnicodeError):
        return "noncanonical", None
    try:
        check(value)
    except SchemaError:
        return "schema", None
    return "ok", value


def fast(body: bytes) -> tuple[str, Any]:
    try:
        entry = Entry.decode(body)
    except CanonicalError:
        return "noncanonical", None
    except SchemaError:
        return "schema", None
    return "ok", entry.to_json()


def raw(seq: int, kind: str, data: object) -> bytes:
    """An entry's bytes by plain json.dumps: canonical only if the value is in profile."""
    value = Entry("t.example/log", seq, "0" * 64, 1, make_req(WHO.sub, "r", 0), kind,
                  f"experts/{UUID}", WHO, {}).to_json()  # fmt: skip
    value["data"] = data
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8", "surrogatepass")


@settings(max_examples=400)
@given(FREE, st.integers(-(2**54), 2**54))
@example({"Key": 1}, 0)
@example({"a": 2**53}, 0)
@example(deep(31), 0)
@example(deep(30), 0)
@example(["\ud800"], 0)
@example({}, 2**53)
def test_free_form_members(record: object, seq: int) -> None:
    body = raw(seq, "expert.create", {"record": record})
    assert fast(body) == reference(body)
    body = raw(seq, "expert.update", {"field": "x", "value": record})
    assert fast(body) == reference(body)


@settings(max_examples=400)
@given(
    st.sampled_from(["expert.status", "expert.create", "expert.update"]),
    st.integers(0, 10**6),
    st.lists(st.tuples(st.integers(0, 400), st.binary(max_size=3)), min_size=1, max_size=3),
)
def test_byte_mutations(kind: str, valid_from: int, edits: list[tuple[int, bytes]]) -> None:
    data: dict[str, dict[str, object]] = {
        "expert.status": {"status": "active", "reason": "r", "valid_from": valid_from, "valid_to": None},
        "expert.create": {"record": {"n": valid_from, "s": ["x", {"y": None}]}},
        "expert.update": {"field": "phone", "value": valid_from},
    }  # fmt: skip
    body = raw(7, kind, data[kind])
    assert fast(body) == reference(body) == ("ok", json.loads(body))
    for position, replacement in edits:
        at = position % (len(body) + 1)
        body = body[:at] + replacement + body[at + len(replacement) // 2 :]
    assert fast(body) == reference(body)


def test_duplicate_key_is_named() -> None:
    body = raw(7, "expert.update", {"field": "x", "value": {"a": 1}}).replace(
        b'{"a":1}', b'{"a":1,"a":1}'
    )
    assert reference(body)[0] == "noncanonical"
    with pytest.raises(CanonicalError, match="duplicate key 'a'"):
        Entry.decode(body)
