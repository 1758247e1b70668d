"""Domain rules of the log (audit-log.md T-25): what a draw's entries must respect.

``verify log`` replays these over the whole log, in seq order. They need only the
entries: a draw's commit before its nonce and execution, ``s`` opening ``C_s``, the
nonce before ``time(R) − margin``, the lifecycle in order, no public bundle before the
award, no disclosure without a grant, overrides and escrow openings by supervisors, an
override approved before the commit and covering every short discipline. A broken rule
is a DOMAIN VIOLATION. The EDS-1 byte rules used here (``enc``, the params layout,
drand round times) are restated from docs/spec/draw-v1.md, so this shared library stays
independent of the service.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field
from typing import Any

DRAND_GENESIS = 1692803367
DRAND_PERIOD = 3
PARAMS_FIELDS = 18
DOMAIN_KINDS = frozenset({
    "draw.override", "draw.request", "pool.freeze", "draw.commit", "draw.nonce",
    "draw.nonce_reject", "draw.execute", "draw.notify", "draw.accept", "draw.decline",
    "draw.replace", "draw.open", "draw.close", "draw.award", "draw.cancel", "draw.expire",
    "draw.publish", "escrow.open", "confidential.grant", "confidential.access",
})  # fmt: skip
SUPERVISOR_KINDS = frozenset({"draw.override", "escrow.open"})


def enc(*fields: bytes) -> bytes:
    """EDS-1 ``enc``: each field as u32be(length) ‖ bytes."""
    return b"".join(struct.pack(">I", len(f)) + f for f in fields)


def dec(data: bytes) -> list[bytes]:
    """The fields of ``enc(...)``.

    Raises:
        ValueError: a length runs past the end.
    """
    fields, at = [], 0
    while at < len(data):
        if at + 4 > len(data):
            msg = "truncated length"
            raise ValueError(msg)
        (size,) = struct.unpack(">I", data[at : at + 4])
        if at + 4 + size > len(data):
            msg = "a field runs past the end"
            raise ValueError(msg)
        fields.append(data[at + 4 : at + 4 + size])
        at += 4 + size
    return fields


def round_time(r: int) -> int:
    """The UNIX second of drand quicknet round ``r``."""
    return DRAND_GENESIS + DRAND_PERIOD * (r - 1)


@dataclass(slots=True)
class _Params:
    """What the rules read of a draw's params."""

    tender_ref: str
    k: dict[str, int]
    margin_s: int
    min_pool_factor: int
    override_seq: int


def _params(hex_params: str) -> _Params:
    fields = dec(bytes.fromhex(hex_params))
    if len(fields) != PARAMS_FIELDS:
        msg = "params do not have 18 fields"
        raise ValueError(msg)
    k = {}
    for item in dec(fields[8]):
        parts = dec(item)
        k[parts[0].decode("ascii")] = struct.unpack(">I", parts[1])[0]
    return _Params(
        tender_ref=fields[3].hex(), k=k, margin_s=struct.unpack(">I", fields[11])[0],
        min_pool_factor=struct.unpack(">I", fields[13])[0],
        override_seq=struct.unpack(">Q", fields[14])[0],
    )  # fmt: skip


@dataclass(slots=True)
class _Draw:
    """One draw's progress through the log; ``known`` once its request was seen."""

    known: bool = False
    stages: dict[str, int] = field(default_factory=dict)  # kind -> seq of its first entry
    c_s: str = ""
    r: int = 0
    params: _Params | None = None
    counts: dict[str, int] = field(default_factory=dict)  # |M_d| at the freeze


@dataclass(slots=True)
class Rules:
    """The state the rules keep while the log is read in order."""

    partial: bool = False  # reading from a pinned size on: earlier history is unknown
    draws: dict[str, _Draw] = field(default_factory=dict)
    grants: set[tuple[str, str]] = field(default_factory=set)  # (subj, grantee)
    overrides: dict[int, tuple[str, frozenset[str]]] = field(default_factory=dict)

    def check(  # noqa: C901, PLR0912, PLR0913, PLR0917 - one branch per kind
        self, seq: int, ts: int, kind: str, subj: str, who: dict[str, str],
        data: dict[str, Any],
    ) -> list[str]:  # fmt: skip
        """The rules entry ``seq`` breaks (empty when none)."""
        found: list[str] = []
        role = who.get("role", "")
        if kind in SUPERVISOR_KINDS and role != "supervisor":
            found.append(f"{kind} is not by a supervisor")
        if kind == "draw.override":
            if data.get("approver") != who.get("sub"):
                found.append("draw.override: approver is not the appending supervisor")
            self.overrides[seq] = (str(data.get("tender_ref")),
                                   frozenset(data.get("disciplines", ())))  # fmt: skip
            return found
        if kind == "confidential.grant":
            self.grants.add((subj, str(data.get("grantee"))))
            return found
        draw = self.draws.setdefault(subj, _Draw()) if subj.startswith("draws/") else None
        if draw is not None and kind == "draw.request":
            draw.known = True
        if self.partial and (draw is None or not draw.known):
            return found  # its history may lie before the pinned size
        if kind == "confidential.access":
            closed = draw is not None and "draw.close" in draw.stages
            if (subj, who.get("sub", "")) not in self.grants and not (
                role == "supervisor" and closed
            ):
                found.append("confidential.access without a grant")
            return found
        if draw is None:
            return found
        stages = draw.stages
        first = kind not in stages
        stages.setdefault(kind, seq)
        if kind == "draw.commit":
            found += self._commit(seq, draw, data)
        elif kind == "pool.freeze":
            draw.counts = {str(c["d"]): int(c["n"]) for c in data["counts"]}
        elif kind == "draw.nonce":
            if "draw.commit" not in stages:
                found.append("draw.nonce before the draw's commit")
            elif (
                draw.r
                and draw.params is not None
                and (ts >= 1000 * (round_time(draw.r) - draw.params.margin_s))
            ):
                found.append("the nonce came after time(R) - margin")
        elif kind == "draw.execute":
            if "draw.commit" not in stages or "draw.nonce" not in stages:
                found.append("draw.execute without the draw's commit and nonce")
            elif hashlib.sha256(enc(b"EDS1/commit", bytes.fromhex(data["s"]))).hexdigest() \
                    != draw.c_s:  # fmt: skip
                found.append("draw.execute reveals an s that does not open C_s")
        elif kind in {"draw.open", "draw.close", "draw.award"}:
            before = {"draw.open": "draw.execute", "draw.close": "draw.open",
                      "draw.award": "draw.close"}[kind]  # fmt: skip
            if before not in stages or not first:
                found.append(f"{kind} out of order (needs {before}, once)")
        elif kind in {"draw.decline", "draw.replace", "draw.accept"}:
            if "draw.execute" not in stages or "draw.close" in stages:
                found.append(f"{kind} outside the executed, not yet closed draw")
        elif (
            kind == "draw.publish"
            and data.get("audience") == "public"
            and ("draw.award" not in stages)
        ):
            found.append("a public draw.publish before draw.award")
        return found

    def _commit(self, seq: int, draw: _Draw, data: dict[str, Any]) -> list[str]:
        found = []
        if "draw.nonce" in draw.stages:
            found.append("draw.commit after the draw's nonce")
        draw.c_s, draw.r = str(data.get("c_s")), int(data.get("r", 0))
        try:
            params = _params(str(data.get("params")))
        except (ValueError, UnicodeDecodeError, struct.error):
            return [*found, "draw.commit: params do not parse"]
        draw.params = params
        short = sorted(d for d, k in params.k.items()
                       if draw.counts.get(d, 0) < params.min_pool_factor * k)  # fmt: skip
        if params.override_seq:
            approved = self.overrides.get(params.override_seq)
            if approved is None or params.override_seq > seq:
                found.append("the pool override is not an earlier draw.override")
            elif approved[0] != params.tender_ref:
                found.append("the pool override is for another tender-lot")
            elif not set(short) <= approved[1]:
                missing = sorted(set(short) - approved[1])
                found.append(f"the pool override does not cover {missing}")
        elif short:
            found.append(f"below the pool minimum without an override: {short}")
        return found
