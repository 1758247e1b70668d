"""aud1 entries: the exact bytes of one canonical JSON object with ten members.

``{"data", "kind", "log", "prev", "req", "seq", "subj", "ts", "v", "who"}``: format
version 1, the log's origin, the leaf index, the previous leaf hash (64 zeros at seq 0),
milliseconds UTC (never decreasing), the request id ``<sub>/<request_id>#<index>``, the
kind, the subject resource name, the actor ``{role, sub, svc}`` and the per-kind data.
Personal data appears only as salted commitments (:func:`commitment`).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from audit_log import canonical, schema
from audit_log.canonical import MAX_SAFE_INTEGER
from audit_log.errors import AuditLogError, CanonicalError

FORMAT_VERSION = 1
MAX_ENTRY_BYTES = 65_535
ZERO_HASH = "0" * 64
ROLES = frozenset({"service", "admin", "requester", "supervisor"})
MEMBERS = frozenset({"data", "kind", "log", "prev", "req", "seq", "subj", "ts", "v", "who"})
_WHO = frozenset({"role", "sub", "svc"})
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_REQ = re.compile(r"([a-z0-9][a-z0-9:._-]{0,39})/([A-Za-z0-9._:-]{1,64})#(0|[1-9][0-9]{0,5})")
_HEX32 = re.compile(r"[0-9a-f]{64}")
COMMIT_LABEL = b"aud1/commit"


class SchemaError(AuditLogError):
    """A canonical entry whose envelope or per-kind data breaks the schema."""


@dataclass(frozen=True, slots=True)
class Who:
    """The actor: its role in the log, its principal id, the replica that appended."""

    role: str
    sub: str
    svc: str

    def to_json(self) -> dict[str, str]:
        """Return the ``who`` object."""
        return {"role": self.role, "sub": self.sub, "svc": self.svc}


def make_req(sub: str, request_id: str, index: int) -> str:
    """Return ``<sub>/<request_id>#<index>``.

    Raises:
        SchemaError: a part is malformed.
    """
    req = f"{sub}/{request_id}#{index}"
    if _REQ.fullmatch(req) is None:
        msg = f"malformed request id parts: {sub!r}, {request_id!r}, {index}"
        raise SchemaError(msg)
    return req


def parse_req(req: str) -> tuple[str, str, int]:
    """Return ``(sub, request_id, index)`` of a ``req`` member.

    Raises:
        SchemaError: not of the form ``<sub>/<request_id>#<index>``.
    """
    match = _REQ.fullmatch(req)
    if match is None:
        msg = f"req {req!r} is not <sub>/<request_id>#<index>"
        raise SchemaError(msg)
    return match.group(1), match.group(2), int(match.group(3))


def commitment(salt: bytes, value: str) -> str:
    """Return ``SHA-256("aud1/commit" ‖ 0x00 ‖ salt ‖ NFC(value))`` in hex.

    Raises:
        ValueError: the salt is not 32 bytes.
    """
    if len(salt) != 32:  # noqa: PLR2004
        msg = "a commitment salt is 32 bytes"
        raise ValueError(msg)
    data = unicodedata.normalize("NFC", value).encode()
    return hashlib.sha256(COMMIT_LABEL + b"\x00" + salt + data).hexdigest()


@dataclass(frozen=True, slots=True)
class Entry:
    """One decoded entry; :meth:`encode` gives its exact bytes."""

    log: str
    seq: int
    prev: str
    ts: int
    req: str
    kind: str
    subj: str
    who: Who
    data: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        """Return the entry as an aud1 object."""
        return {
            "data": self.data,
            "kind": self.kind,
            "log": self.log,
            "prev": self.prev,
            "req": self.req,
            "seq": self.seq,
            "subj": self.subj,
            "ts": self.ts,
            "v": FORMAT_VERSION,
            "who": self.who.to_json(),
        }

    def encode(self) -> bytes:
        """Return the canonical bytes after checking the schema.

        Raises:
            SchemaError: the entry breaks the envelope or its kind's schema, or is
                larger than 65,535 bytes.
            audit_log.errors.CanonicalError: a value is outside the canonical profile.
        """
        value = self.to_json()
        body = canonical.dumps(value)
        check(value)
        if len(body) > MAX_ENTRY_BYTES:
            msg = f"entry of {len(body)} bytes exceeds {MAX_ENTRY_BYTES}"
            raise SchemaError(msg)
        return body

    @classmethod
    def decode(cls, body: bytes) -> Entry:
        """Parse stored bytes strictly: canonical form first, then the schema.

        Raises:
            audit_log.errors.CanonicalError: not the canonical encoding of a value.
            SchemaError: the value breaks the envelope or its kind's schema.
        """
        if len(body) > MAX_ENTRY_BYTES:
            msg = f"entry of {len(body)} bytes exceeds {MAX_ENTRY_BYTES}"
            raise SchemaError(msg)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            msg = "not UTF-8"
            raise CanonicalError(msg) from None
        value = decode_value(text)
        who = value["who"]
        return cls(
            log=value["log"], seq=value["seq"], prev=value["prev"], ts=value["ts"],
            req=value["req"], kind=value["kind"], subj=value["subj"],
            who=Who(who["role"], who["sub"], who["svc"]), data=value["data"],
        )  # fmt: skip


def decode_value(text: str) -> dict[str, Any]:
    """Parse one entry's text strictly and return its object (the verifier's hot path).

    Canonical form first, then the schema; a valid entry costs one C decode, one C
    re-encode and the schema's fast path (which also guarantees the canonical profile:
    see ``canonical.loads_text``). The caller bounds the size.

    Raises:
        audit_log.errors.CanonicalError: not the canonical encoding of a value.
        SchemaError: the value breaks the envelope or its kind's schema.
    """
    value = canonical.loads_text(text, check_profile=False)
    if not _valid(value):
        canonical.check(value)
        check(value)
    return value  # type: ignore[no-any-return]


def _valid(value: object) -> bool:
    """The fast path: True when the entry is certainly valid (the common case)."""
    if type(value) is not dict or value.keys() != MEMBERS:
        return False
    seq, ts, who, req = value["seq"], value["ts"], value["who"], value["req"]
    if not (
        value["v"] == FORMAT_VERSION and type(value["v"]) is int
        and type(seq) is int and 0 <= seq <= MAX_SAFE_INTEGER
        and type(ts) is int and 0 <= ts <= MAX_SAFE_INTEGER
        and type(value["log"]) is str and value["log"]
        and type(value["kind"]) is str and type(value["subj"]) is str and value["subj"]
        and type(value["prev"]) is str and _HEX32.fullmatch(value["prev"]) is not None
        and type(value["data"]) is dict and type(who) is dict and who.keys() == _WHO
        and who["role"] in ROLES and type(who["sub"]) is str and type(who["svc"]) is str
        and schema.PRINCIPAL.fullmatch(who["svc"]) is not None
        and type(req) is str and (match := _REQ.fullmatch(req)) is not None
        and match.group(1) == who["sub"]
    ):  # fmt: skip
        return False
    kind_schema = schema.KINDS.get(value["kind"])
    return kind_schema is not None and kind_schema.valid(value["subj"], value["data"])


def check(value: object) -> None:
    """Check an entry object's envelope and per-kind schema.

    Raises:
        SchemaError: naming every problem found.
    """
    if _valid(value):
        return
    problems = _envelope_problems(value)
    if not problems and isinstance(value, dict):
        kind_schema = schema.KINDS.get(value["kind"])
        if kind_schema is None:
            problems.append(f"unknown kind {value['kind']!r}")
        else:
            problems.extend(kind_schema.problems(value["subj"], value["data"]))
    if problems:
        raise SchemaError("; ".join(problems))


def _envelope_problems(value: object) -> list[str]:
    if not isinstance(value, dict):
        return ["an entry is a JSON object"]
    if set(value) != MEMBERS:
        return [f"members {sorted(value)} are not the ten of aud1"]
    return [*_scalar_problems(value), *_who_problems(value["who"], value["req"])]


def _scalar_problems(value: dict[str, Any]) -> list[str]:
    problems = []
    if value["v"] != FORMAT_VERSION or isinstance(value["v"], bool):
        problems.append("v is not 1")
    problems.extend(
        f"{member} is not a non-negative integer"
        for member in ("seq", "ts")
        if not isinstance(value[member], int)
        or isinstance(value[member], bool)
        or value[member] < 0
    )
    problems.extend(
        f"{member} is not a non-empty string"
        for member in ("log", "kind", "subj", "req")
        if not isinstance(value[member], str) or not value[member]
    )
    if not isinstance(value["prev"], str) or _HEX32.fullmatch(value["prev"]) is None:
        problems.append("prev is not 64 lowercase hex digits")
    if not isinstance(value["data"], dict):
        problems.append("data is not an object")
    return problems


def _who_problems(who: object, req: object) -> list[str]:
    if not isinstance(who, dict) or set(who) != {"role", "sub", "svc"}:
        return ["who is not {role, sub, svc}"]
    problems = []
    if who["role"] not in ROLES:
        problems.append(f"who.role {who['role']!r} is not one of {sorted(ROLES)}")
    if not isinstance(who["svc"], str) or schema.PRINCIPAL.fullmatch(who["svc"]) is None:
        problems.append("who.svc is not a replica id")
    if not isinstance(who["sub"], str) or schema.PRINCIPAL.fullmatch(who["sub"]) is None:
        problems.append("who.sub is not a principal id")
    elif (
        not isinstance(req, str)
        or (match := _REQ.fullmatch(req)) is None
        or match.group(1) != who["sub"]
    ):
        problems.append("req is not <who.sub>/<request_id>#<index>")
    return problems
