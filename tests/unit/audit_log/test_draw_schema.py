"""The EDS-1 entry kinds of draw-protocol.md Appendix A: one valid example each, and the
mutations the schema must refuse (missing or extra members, bad codes, widths, enums)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from audit_log.schema import KINDS

H32, H16 = "ab" * 32, "cd" * 16
DRAW = "draws/d-2026-0001"

EXAMPLES: dict[str, tuple[str, dict[str, Any]]] = {
    "draw.override": (
        "tenders/" + H32,
        {"approver": "sup-1", "tender_ref": H32, "disciplines": ["A01"], "reason": "small"},
    ),
    "draw.request": (
        DRAW,
        {"draw_id": "d-2026-0001", "tender_ref": H32, "supersedes": "",
         "disciplines": [{"d": "A0101", "k": 5, "r": 2}], "policy": {"beacon": False},
         "inputs_sha256": H32},
    ),
    "pool.freeze": (
        DRAW,
        {"pool_root": H32, "excluded_root": H32, "n_elig": 9, "n_excl": 2,
         "counts": [{"d": "A0101", "n": 9}], "excluded_counts": [{"reason": "E6", "n": 2}],
         "edition_digest": H32, "rules_digest": H32, "lookback_s": 86400, "lookback_n": 1,
         "lookback_seqs": [7], "lookback_sha256": H32},
    ),
    "draw.commit": (
        DRAW,
        {"params": "00ff", "params_hash": H32, "pool_root": H32, "excluded_root": H32,
         "n_elig": 9, "n_excl": 2, "c_s": H32, "r": 0, "envelopes": ["0011"],
         "escrow_digest": H32, "commit_digest": H32},
    ),
    "draw.nonce": (DRAW, {"nonce": H32}),
    "draw.nonce_reject": (DRAW, {"nonce": H32, "reason": "LATE"}),
    "draw.execute": (
        DRAW,
        {"r": 0, "sig_r": "", "rho": "", "s": H32, "seed": H32, "order_digest": H32,
         "panels": [{"d": "A0101", "panel": [H16], "reserve": []}]},
    ),
    "draw.notify": (DRAW, {"pseud": H16, "channel": "sms", "evidence_hash": H32}),
    "draw.accept": (DRAW, {"pseud": H16, "evidence_hash": H32}),
    "draw.decline": (
        DRAW, {"pseud": H16, "reason": "NO_ANSWER", "evidence_hash": H32, "void": False}
    ),
    "draw.replace": (DRAW, {"d": "A0101", "out": H16, "in": H16}),
    "draw.open": (DRAW, {"opened_at": 1_780_000_000_000}),
    "draw.close": (DRAW, {"panels": [{"d": "A0101", "panel": [H16]}]}),
    "draw.award": (DRAW, {"evidence_hash": H32}),
    "draw.cancel": (
        DRAW, {"reason": "INSUFFICIENT_POOL", "counts": [{"d": "A0101", "n": 3, "short": True}]}
    ),
    "draw.expire": (DRAW, {"reason": "NO_NONCE"}),
    "draw.publish": (DRAW, {"audience": "public", "bundle_sha256": H32}),
    "escrow.open": (DRAW, {"key_id": "0123456789abcdef", "reason": "operator withheld s"}),
}  # fmt: skip

# (kind, path to a member, bad value): each must be refused.
MUTATIONS: list[tuple[str, tuple[str | int, ...], object]] = [
    ("draw.request", ("draw_id",), "D-UPPER"),
    ("draw.request", ("draw_id",), "x" * 57),
    ("draw.request", ("supersedes",), "bad id"),
    ("draw.request", ("disciplines", 0, "d"), "a01"),
    ("draw.request", ("disciplines", 0, "k"), -1),
    ("draw.request", ("policy", "beacon"), 1),
    ("pool.freeze", ("excluded_counts", 0, "reason"), "E" * 17),
    ("pool.freeze", ("counts", 0, "d"), "A" * 17),
    ("draw.execute", ("sig_r",), "ab" * 47),
    ("draw.execute", ("rho",), "ab" * 31),
    ("draw.execute", ("panels", 0, "panel", 0), "cd" * 15),
    ("draw.decline", ("reason",), "HOLIDAY"),
    ("draw.decline", ("reason",), "X" * 33),
    ("draw.decline", ("void",), "false"),
    ("draw.nonce_reject", ("reason",), "EARLY"),
    ("draw.notify", ("channel",), "fax"),
    ("draw.expire", ("reason",), "TIMEOUT"),
    ("draw.publish", ("audience",), "admins"),
    ("escrow.open", ("key_id",), "0123"),
    ("draw.override", ("approver",), "Not A Principal"),
]


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_example_is_valid(kind: str) -> None:
    """Each example meets its schema on both the fast and the explaining path."""
    subj, data = EXAMPLES[kind]
    assert KINDS[kind].problems(subj, data) == []
    assert KINDS[kind].valid(subj, data)


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_missing_and_extra_members_are_refused(kind: str) -> None:
    """Data has exactly the members of Appendix A."""
    subj, data = EXAMPLES[kind]
    for member in data:
        fewer = {k: v for k, v in data.items() if k != member}
        assert not KINDS[kind].valid(subj, fewer)
    assert not KINDS[kind].valid(subj, {**data, "extra": 1})


def test_nested_records_are_exact() -> None:
    """A record inside a list has exactly its members too."""
    subj, data = EXAMPLES["draw.request"]
    extra = copy.deepcopy(data)
    extra["disciplines"][0]["max_repl"] = 1
    assert not KINDS["draw.request"].valid(subj, extra)
    assert KINDS["draw.request"].problems(subj, extra)


@pytest.mark.parametrize(("kind", "path", "value"), MUTATIONS)
def test_mutation_is_refused(kind: str, path: tuple[str | int, ...], value: object) -> None:
    """A value outside its type (code alphabet, width, enumeration) is refused."""
    subj, data = EXAMPLES[kind]
    bad = copy.deepcopy(data)
    target: Any = bad
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    assert not KINDS[kind].valid(subj, bad)
    assert KINDS[kind].problems(subj, bad)


def test_draw_subjects() -> None:
    """Draw kinds live under draws/<id>; the override under tenders/<hex64>."""
    _, data = EXAMPLES["draw.nonce"]
    assert not KINDS["draw.nonce"].valid("experts/x", data)
    _, data = EXAMPLES["draw.override"]
    assert not KINDS["draw.override"].valid("tenders/" + "AB" * 32, data)
