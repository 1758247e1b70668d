"""Per-kind schemas of aud1 entries (audit-log.md Appendix A), as data.

A schema names the ``subj`` form and the exact members of ``data`` with their types.
Draw kinds (``draw.*``, ``pool.freeze``, ``escrow.open``) join this table with the
draw protocol (draw-protocol.md Appendix A).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from audit_log import canonical
from audit_log.canonical import MAX_SAFE_INTEGER
from audit_log.errors import CanonicalError

PRINCIPAL = re.compile(r"[a-z0-9][a-z0-9:._-]{0,39}")
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
DRAW_ID = r"[a-z0-9-]{1,56}"
EDITION = r"[0-9a-z](?:[0-9a-z-]{0,30}[0-9a-z])?"
DISCLOSED = f"(?:draws/{DRAW_ID}|experts/{UUID})"
_DRAW = f"draws/{DRAW_ID}"
_VKEY = re.compile(r"[\x21-\x2a\x2c-\x7e]+\+[0-9a-f]{8}\+[A-Za-z0-9+/]+={0,2}")


Predicate = Callable[[Any, int], bool]


@dataclass(frozen=True, slots=True)
class T:
    """A member type: a base name, an optional element type (lists) or constant.

    Each type compiles to one predicate at definition, so the per-entry check is a
    chain of direct calls (the verifier runs it a million times).
    """

    name: str
    item: T | None = None
    const: object = None
    pred: Predicate = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Compile the predicate."""
        object.__setattr__(self, "pred", _compile(self))

    def check(self, value: Any, depth: int = 2) -> bool:  # noqa: ANN401 - any member
        """Return True if ``value`` (at ``depth`` in its entry) has this type."""
        return self.pred(value, depth)


def _compile(t: T) -> Predicate:  # noqa: C901, PLR0911, PLR0912 - one case per type
    match t.name:
        case "string":
            return lambda v, _: type(v) is str
        case "int":
            return lambda v, _: type(v) is int and 0 <= v <= MAX_SAFE_INTEGER
        case "bool":
            return lambda v, _: type(v) is bool
        case "object":
            return lambda v, d: type(v) is dict and _in_profile(v, d)
        case "any":
            return _in_profile
        case "principal":
            return lambda v, _: type(v) is str and PRINCIPAL.fullmatch(v) is not None
        case "vkey":
            return lambda v, _: type(v) is str and _VKEY.fullmatch(v) is not None
        case "const":
            constant = t.const
            return lambda v, _: type(v) is type(constant) and v == constant
        case "match":
            pattern: re.Pattern[str] = t.const  # type: ignore[assignment]
            return lambda v, _: type(v) is str and pattern.fullmatch(v) is not None
        case "record":
            members: tuple[tuple[str, T], ...] = t.const  # type: ignore[assignment]
            keys = {name for name, _ in members}
            checks = tuple((name, kind.pred) for name, kind in members)
            return lambda v, d: (
                type(v) is dict
                and v.keys() == keys
                and all(pred(v[name], d + 1) for name, pred in checks)
            )
        case "list":
            item = t.item.pred  # type: ignore[union-attr]
            return lambda v, d: type(v) is list and all(item(x, d + 1) for x in v)
        case "nullable":
            inner = t.item.pred  # type: ignore[union-attr]
            return lambda v, d: v is None or inner(v, d)
        case name if name.startswith("hex"):
            size = name.removeprefix("hex")
            pattern = re.compile(f"[0-9a-f]{{{2 * int(size)}}}" if size else "(?:[0-9a-f]{2})*")
            return lambda v, _: type(v) is str and pattern.fullmatch(v) is not None
    msg = f"unknown member type {t.name!r}"
    raise ValueError(msg)


def _in_profile(value: object, depth: int) -> bool:
    """A free-form value (at ``depth`` in its entry) lies inside the canonical profile.

    Entries are parsed without the profile walk (``canonical.loads_text``), because this
    schema names every other key and bounds every other integer; free-form members are
    the part it cannot name, so they are walked here.
    """
    try:
        canonical.check(value, depth)
    except CanonicalError:
        return False
    return True


STRING, INT, BOOL, OBJECT, ANY = T("string"), T("int"), T("bool"), T("object"), T("any")
HEX32, HEX16, HEX, VKEY, PRINCIPAL_T = T("hex32"), T("hex16"), T("hex"), T("vkey"), T("principal")


def list_of(item: T) -> T:
    """A list whose elements all have type ``item``."""
    return T("list", item)


def nullable(item: T) -> T:
    """``item`` or null."""
    return T("nullable", item)


def const(value: object) -> T:
    """Exactly ``value``."""
    return T("const", const=value)


def matching(pattern: str) -> T:
    """A string matching ``pattern`` in full."""
    return T("match", const=re.compile(pattern))


def record(**members: T) -> T:
    """An object with exactly these members (a nested record of a list)."""
    return T("record", const=tuple(members.items()))


# EDS-1 value types (draw-protocol.md §2).
CODE = matching("[A-Z0-9]{1,16}")
XREASON = matching("[A-Z0-9_]{1,16}")
DECLINE_REASON = matching(
    "SIGNED_DECLINE|NO_ANSWER|LEAVE|HEALTH|CONFLICT_DECLARED|ABSENT|BUSY|STRUCK_48_3"
)
HEX48 = T("hex48")
HEX8 = T("hex8")


@dataclass(frozen=True, slots=True)
class KindSchema:
    """The ``subj`` pattern and exact ``data`` members of one entry kind."""

    subj: re.Pattern[str]
    data: dict[str, T]
    preds: tuple[tuple[str, Predicate], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Collect the members' predicates."""
        preds = tuple((member, kind.pred) for member, kind in self.data.items())
        object.__setattr__(self, "preds", preds)

    def valid(self, subj: str, data: dict[str, Any]) -> bool:
        """The fast path: True when ``subj`` and ``data`` certainly match."""
        if data.keys() != self.data.keys() or self.subj.fullmatch(subj) is None:
            return False
        for member, pred in self.preds:  # noqa: SIM110 - a plain loop beats all() here
            if not pred(data[member], 2):
                return False
        return True

    def problems(self, subj: str, data: dict[str, Any]) -> list[str]:
        """Return what is wrong with ``subj`` and ``data`` (empty when valid)."""
        found = []
        if self.subj.fullmatch(subj) is None:
            found.append(f"subj {subj!r} does not match {self.subj.pattern}")
        if set(data) != set(self.data):
            found.append(f"data members {sorted(data)} are not {sorted(self.data)}")
        found.extend(
            f"data.{member} is not of type {kind.name}"
            for member, kind in self.data.items()
            if member in data and not kind.check(data[member])
        )
        return found


def _kind(subj: str, **data: T) -> KindSchema:
    return KindSchema(re.compile(subj), data)


KINDS: dict[str, KindSchema] = {
    "log.init": _kind(
        "log", origin=STRING, hash_alg=const("sha256"), format_v=const(1), vkeys=list_of(VKEY),
        reanchor_keys=list_of(VKEY), reanchor_threshold=INT, spec_version=const("EDS-1"),
        code_digest=HEX32, escrow_keys=list_of(HEX32), drand=nullable(OBJECT),
    ),
    "key.rotate": _kind("log", old_vkey=VKEY, new_vkey=VKEY, reason=STRING, from_size=INT),
    "key.reanchor": _kind("log", statement=STRING),
    "key.escrow": _kind("log", add=list_of(HEX32), remove=list_of(HEX32), reason=STRING),
    "service.release": _kind("log", version=STRING, code_digest=HEX32),
    "classification.load": _kind(
        f"editions/{EDITION}", edition=STRING, digest=HEX32, rows=INT, defects=list_of(STRING)
    ),
    "policy.set": _kind("policy", config=OBJECT, digest=HEX32),
    "expert.create": _kind(f"experts/{UUID}", record=OBJECT),
    "expert.update": _kind(f"experts/{UUID}", field=STRING, value=ANY),
    "expert.status": _kind(
        f"experts/{UUID}", status=STRING, reason=STRING, valid_from=INT, valid_to=nullable(INT)
    ),
    "expert.delete": _kind(f"experts/{UUID}", reason=STRING),
    "credit.event": _kind(
        f"experts/{UUID}", code=STRING, evidence_hash=HEX32, due_ts=nullable(INT)
    ),
    "confidential.grant": _kind(DISCLOSED, grantee=PRINCIPAL_T, purpose=STRING),
    "confidential.access": _kind(DISCLOSED, purpose=STRING, pseuds=list_of(HEX16)),
    "export": _kind(
        "exports/[a-z0-9-]{1,64}", what=STRING, recipient=PRINCIPAL_T, data_sha256=HEX32
    ),
    "witness.note": _kind("log", witness=STRING, size=INT, line=STRING),
    # EDS-1 draws (draw-protocol.md Appendix A).
    "draw.override": _kind(
        "tenders/[0-9a-f]{64}", approver=PRINCIPAL_T, tender_ref=HEX32,
        disciplines=list_of(CODE), reason=STRING,
    ),
    "draw.request": _kind(
        _DRAW, draw_id=matching(DRAW_ID), tender_ref=HEX32,
        supersedes=matching(f"(?:{DRAW_ID})?"),
        disciplines=list_of(record(d=CODE, k=INT, r=INT)), policy=record(beacon=BOOL),
        inputs_sha256=HEX32,
    ),
    "pool.freeze": _kind(
        _DRAW, pool_root=HEX32, excluded_root=HEX32, n_elig=INT, n_excl=INT,
        counts=list_of(record(d=CODE, n=INT)),
        excluded_counts=list_of(record(reason=XREASON, n=INT)),
        edition_digest=HEX32, rules_digest=HEX32, lookback_s=INT, lookback_n=INT,
        lookback_seqs=list_of(INT), lookback_sha256=HEX32,
    ),
    "draw.commit": _kind(
        _DRAW, params=HEX, params_hash=HEX32, pool_root=HEX32, excluded_root=HEX32,
        n_elig=INT, n_excl=INT, c_s=HEX32, r=INT, envelopes=list_of(HEX),
        escrow_digest=HEX32, commit_digest=HEX32,
    ),
    "draw.nonce": _kind(_DRAW, nonce=HEX32),
    "draw.nonce_reject": _kind(_DRAW, nonce=HEX32, reason=matching("LATE|SECOND")),
    "draw.execute": _kind(
        _DRAW, r=INT, sig_r=matching("(?:[0-9a-f]{96})?"), rho=matching("(?:[0-9a-f]{64})?"),
        s=HEX32, seed=HEX32, order_digest=HEX32,
        panels=list_of(record(d=CODE, panel=list_of(HEX16), reserve=list_of(HEX16))),
    ),
    "draw.notify": _kind(
        _DRAW, pseud=HEX16, channel=matching("call|sms|app|email"), evidence_hash=HEX32
    ),
    "draw.accept": _kind(_DRAW, pseud=HEX16, evidence_hash=HEX32),
    "draw.decline": _kind(
        _DRAW, pseud=HEX16, reason=DECLINE_REASON, evidence_hash=HEX32, void=BOOL
    ),
    "draw.replace": _kind(_DRAW, d=CODE, out=HEX16, **{"in": HEX16}),
    "draw.open": _kind(_DRAW, opened_at=INT),
    "draw.close": _kind(_DRAW, panels=list_of(record(d=CODE, panel=list_of(HEX16)))),
    "draw.award": _kind(_DRAW, evidence_hash=HEX32),
    "draw.cancel": _kind(
        _DRAW, reason=STRING, counts=list_of(record(d=CODE, n=INT, short=BOOL))
    ),
    "draw.expire": _kind(_DRAW, reason=matching("LATE_NONCE|NO_NONCE")),
    "draw.publish": _kind(
        _DRAW, audience=matching("supervisors|public"), bundle_sha256=HEX32
    ),
    "escrow.open": _kind(_DRAW, key_id=HEX8, reason=STRING),
}  # fmt: skip
