"""EDS-1, the verifiable expert draw: the byte encodings and the draw itself (pure).

Everything here is a pure function of its inputs (no clock, no randomness, no I/O): the
service draws pseudonyms, salts and ``s`` from ``os.urandom`` and passes them in, and
the offline verifier runs the same functions on a proof bundle. docs/spec/draw-v1.md is
the normative description; section numbers below refer to it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from audit_log import merkle

SPEC_VERSION = b"EDS-1"
PSEUDONYM_BYTES = 16
HASH_BYTES = 32
DRAND_GENESIS = 1692803367  # quicknet genesis time, seconds
DRAND_PERIOD = 3
SEED_KEY = b"EDS1/seed"
_DRAW_ID = re.compile(rb"[a-z0-9-]{1,56}")
_CODE = re.compile(rb"[A-Z0-9]{1,16}")
_REASON = re.compile(rb"[A-Z0-9_]{1,16}")
MAX_FIELD = 2**32 - 1


class ReasonedError(ValueError):
    """A refusal with a stable ``reason`` code (the vectors name it) and a message."""

    def __init__(self, message: str, *, reason: str) -> None:
        """Create the error with a precise message and its stable reason."""
        super().__init__(message)
        self.reason = reason


class EncodingError(ValueError):
    """A value that has no EDS-1 encoding (wrong size, wrong alphabet, too long)."""


# -- §1 encodings ------------------------------------------------------------------------


def u32(value: int) -> bytes:
    """4 bytes big-endian.

    Raises:
        EncodingError: outside 0..2^32-1.
    """
    if not 0 <= value <= MAX_FIELD:
        msg = f"u32 out of range: {value}"
        raise EncodingError(msg)
    return struct.pack(">I", value)


def u64(value: int) -> bytes:
    """8 bytes big-endian.

    Raises:
        EncodingError: outside 0..2^64-1.
    """
    if not 0 <= value < 2**64:
        msg = f"u64 out of range: {value}"
        raise EncodingError(msg)
    return struct.pack(">Q", value)


def enc(*fields: bytes) -> bytes:
    """``u32be(len(f1)) ‖ f1 ‖ … ‖ u32be(len(fn)) ‖ fn``; ``enc()`` is ``b""``."""
    return b"".join(u32(len(f)) + f for f in fields)


def sha256(data: bytes) -> bytes:
    """H."""
    return hashlib.sha256(data).digest()


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    """HMAC-SHA256 (``hmac.digest``: the one-shot C path, 1.5x faster than ``hmac.new``)."""
    return hmac.digest(key, message, "sha256")


def _matching(pattern: re.Pattern[bytes], value: bytes, rule: str) -> bytes:
    if pattern.fullmatch(value) is None:
        raise EncodingError(rule)
    return value


def check_draw_id(draw_id: bytes) -> bytes:
    """A draw id: 1 to 56 bytes of ``[a-z0-9-]``.

    Raises:
        EncodingError: otherwise.
    """
    return _matching(_DRAW_ID, draw_id, "draw_id must be 1-56 bytes of [a-z0-9-]")


def check_code(code: bytes) -> bytes:
    """A discipline code: 1 to 16 bytes of ``[A-Z0-9]``.

    Raises:
        EncodingError: otherwise.
    """
    return _matching(_CODE, code, "a discipline code is 1-16 bytes of [A-Z0-9]")


def check_reason(reason: bytes) -> bytes:
    """An exclusion reason code: 1 to 16 bytes of ``[A-Z0-9_]``.

    Raises:
        EncodingError: otherwise.
    """
    return _matching(_REASON, reason, "an exclusion reason is 1-16 bytes of [A-Z0-9_]")


def _exact(value: bytes, size: int, what: str) -> bytes:
    if len(value) != size:
        msg = f"{what} must be {size} bytes"
        raise EncodingError(msg)
    return value


# -- §2 the pool -------------------------------------------------------------------------


def identity_commitment(salt: bytes, uuid_bytes: bytes) -> bytes:
    """``idc = H(enc("EDS1/idc", salt, uuid_bytes))``: 32-byte salt, 16-byte UUID."""
    return sha256(enc(b"EDS1/idc", _exact(salt, 32, "salt"), _exact(uuid_bytes, 16, "uuid")))


@dataclass(frozen=True, slots=True)
class Member:
    """One expert in a draw: pseudonym, matched disciplines, exclusion reasons, idc.

    ``discs`` and ``reasons`` are sorted sets (ascending bytes, no repeats); an empty
    ``reasons`` makes the member eligible.
    """

    pseudonym: bytes
    discs: tuple[bytes, ...]
    reasons: tuple[bytes, ...]
    idc: bytes

    def __post_init__(self) -> None:
        """Check sizes, alphabets and order.

        Raises:
            EncodingError: a value that breaks §2.
        """
        _exact(self.pseudonym, PSEUDONYM_BYTES, "pseudonym")
        _exact(self.idc, HASH_BYTES, "idc")
        for code in self.discs:
            check_code(code)
        for reason in self.reasons:
            check_reason(reason)
        if not self.discs or list(self.discs) != sorted(set(self.discs)):
            msg = "discs must be a non-empty ascending set"
            raise EncodingError(msg)
        if list(self.reasons) != sorted(set(self.reasons)):
            msg = "reasons must be an ascending set"
            raise EncodingError(msg)

    @property
    def eligible(self) -> bool:
        """No exclusion reason."""
        return not self.reasons

    def leaf_input(self) -> bytes:
        """The Merkle leaf input: ``leaf`` or ``xleaf`` (§2)."""
        if self.reasons:
            return enc(
                b"EDS1/xleaf", self.pseudonym, enc(*self.discs), enc(*self.reasons), self.idc
            )
        return enc(b"EDS1/leaf", self.pseudonym, enc(*self.discs), self.idc)


def pool_roots(members: Sequence[Member]) -> tuple[bytes, bytes]:
    """``(pool_root, excluded_root)``: RFC 9162 roots of leaves and xleaves by pseudonym.

    Raises:
        EncodingError: two members share a pseudonym.
    """
    if len({m.pseudonym for m in members}) != len(members):
        msg = "pseudonyms must be unique across leaves and xleaves"
        raise EncodingError(msg)
    ordered = sorted(members, key=lambda m: m.pseudonym)
    eligible, excluded = merkle.CompactRange(), merkle.CompactRange()
    for m in ordered:
        (eligible if m.eligible else excluded).append(merkle.leaf_hash(m.leaf_input()))
    return eligible.root(), excluded.root()


# -- §3 seed, ranks, order, panels -------------------------------------------------------


def round_at(t_seconds: int) -> int:
    """The drand quicknet round current at ``t_seconds`` (UNIX seconds)."""
    return (t_seconds - DRAND_GENESIS) // DRAND_PERIOD + 1


def round_time(r: int) -> int:
    """The UNIX second at which round ``r`` is produced."""
    return DRAND_GENESIS + DRAND_PERIOD * (r - 1)


def seed(  # noqa: PLR0913 - the seed's inputs, as the spec lists them
    draw_id: bytes,
    *,
    pool_root: bytes,
    excluded_root: bytes,
    params_hash: bytes,
    s: bytes,
    r: int,
    rho: bytes,
    nonce: bytes,
) -> bytes:
    """The draw's seed (§3); ``rho`` is ``b""`` without a beacon.

    ``HMAC(b"EDS1/seed", enc(draw_id, pool_root, excluded_root, params_hash, s, u64(R),
    rho, nonce))``: no label field, the HMAC key separates the domain.
    """
    fields = (
        check_draw_id(draw_id), _exact(pool_root, 32, "pool_root"),
        _exact(excluded_root, 32, "excluded_root"), _exact(params_hash, 32, "params_hash"),
        _exact(s, 32, "s"), u64(r), rho if rho == b"" else _exact(rho, 32, "rho"),
        _exact(nonce, 32, "nonce"),
    )  # fmt: skip
    return hmac_sha256(SEED_KEY, enc(*fields))


def rank(seed_value: bytes, pseudonym: bytes) -> bytes:
    """``HMAC(seed, enc("EDS1/rank", pseudonym))``."""
    return hmac_sha256(seed_value, enc(b"EDS1/rank", pseudonym))


Ranker = Callable[[bytes], bytes]
"""pseudonym -> rank; the real one is ``lambda p: rank(seed, p)``, tests pass others."""


def orders(
    members: Sequence[Member], disciplines: Sequence[bytes], ranker: Ranker
) -> dict[bytes, list[bytes]]:
    """``order[d]``: the eligible members holding ``d``, by ``(rank, pseudonym)`` ascending."""
    keyed = sorted((ranker(m.pseudonym), m.pseudonym, m.discs) for m in members if m.eligible)
    return {d: [p for _, p, discs in keyed if d in discs] for d in disciplines}


def order_digest(order: Mapping[bytes, Sequence[bytes]], disciplines: Sequence[bytes]) -> bytes:
    """``H(enc("EDS1/order", *[enc(d, enc(*order[d])) for d in D]))``."""
    return sha256(enc(b"EDS1/order", *[enc(d, enc(*order[d])) for d in disciplines]))


@dataclass(frozen=True, slots=True)
class Quota:
    """Seats ``k`` (≥ 1) and reserves ``r`` (≥ 0) of one discipline."""

    k: int
    r: int


def panels(
    order: Mapping[bytes, Sequence[bytes]],
    disciplines: Sequence[bytes],
    quotas: Mapping[bytes, Quota],
) -> tuple[dict[bytes, list[bytes]], dict[bytes, list[bytes]]]:
    """Panels then reserves, each expert at most once in the whole draw (§3).

    Pass 1 fills every panel in ``D`` order, pass 2 every reserve, skipping members
    already claimed. A short order gives a short panel or reserve; the freeze's
    feasibility check (:func:`shortfalls`) guarantees that never happens for a
    committed draw.
    """
    claimed: set[bytes] = set()
    seated: dict[bytes, list[bytes]] = {}
    reserve: dict[bytes, list[bytes]] = {}
    for target, size in ((seated, "k"), (reserve, "r")):
        for d in disciplines:
            free = [p for p in order[d] if p not in claimed]
            target[d] = free[: getattr(quotas[d], size)]
            claimed.update(target[d])
    return seated, reserve


def shortfalls(
    members: Sequence[Member],
    disciplines: Sequence[bytes],
    quotas: Mapping[bytes, Quota],
    min_pool_factor: int,
    waived: frozenset[bytes] = frozenset(),
) -> dict[bytes, tuple[int, bool, bool]]:
    """Per discipline ``(|M_d|, seats_ok, minimum_ok)`` as the freeze decides (§2).

    ``seats_ok``: ``|M_d| − Σ_{d'≠d} min(k_d'+r_d', |M_d ∩ M_d'|) ≥ k_d + r_d``, which
    makes both passes of :func:`panels` succeed for every seed; ``minimum_ok``:
    ``|M_d| ≥ min_pool_factor·k_d``, or ``d`` is in ``waived`` (an approved override).
    """
    holders = {
        d: {m.pseudonym for m in members if m.eligible and d in m.discs} for d in disciplines
    }
    result = {}
    for d in disciplines:
        others = sum(
            min(quotas[o].k + quotas[o].r, len(holders[d] & holders[o]))
            for o in disciplines
            if o != d
        )
        n = len(holders[d])
        seats_ok = n - others >= quotas[d].k + quotas[d].r
        minimum_ok = d in waived or n >= min_pool_factor * quotas[d].k
        result[d] = (n, seats_ok, minimum_ok)
    return result


# -- §4 params, commitment -------------------------------------------------------------

MATCH_MODES = (b"prefix", b"exact")
REPL_MODES = (b"A", b"B")


def dec(data: bytes) -> list[bytes]:
    """The fields of ``enc(...)``; the inverse of :func:`enc`.

    Raises:
        EncodingError: a length runs past the end.
    """
    fields, at = [], 0
    while at < len(data):
        if at + 4 > len(data):
            msg = "truncated length prefix"
            raise EncodingError(msg)
        (size,) = struct.unpack(">I", data[at : at + 4])
        if at + 4 + size > len(data):
            msg = "a field runs past the end"
            raise EncodingError(msg)
        fields.append(data[at + 4 : at + 4 + size])
        at += 4 + size
    return fields


def tender_ref(k_tender: bytes, tender_id: str, lot_id: str) -> bytes:
    """``HMAC(k_tender, enc("EDS1/tender", tender_id, lot_id))`` (ids as UTF-8)."""
    return hmac_sha256(
        _exact(k_tender, 32, "k_tender"), enc(b"EDS1/tender", tender_id.encode(), lot_id.encode())
    )


@dataclass(frozen=True, slots=True)
class DisciplineParams:
    """One requested discipline: code, seats, reserves, replacement cap."""

    code: bytes
    k: int
    r: int
    max_repl: int


@dataclass(frozen=True, slots=True)
class Params:
    """The draw parameters committed before any entropy exists (§4)."""

    draw_id: bytes
    tender_ref: bytes
    supersedes: bytes
    edition: bytes
    edition_digest: bytes
    match_mode: bytes
    disciplines: tuple[DisciplineParams, ...]
    repl_mode: bytes
    delta: int
    margin_s: int
    delta_b: int
    min_pool_factor: int
    override_seq: int
    drand_chain_hash: bytes
    rules_digest: bytes
    code_digest: bytes

    def __post_init__(self) -> None:
        """Check every rule of §4.

        Raises:
            EncodingError: naming the first broken rule.
        """
        for problem in self.problems():
            raise EncodingError(problem)

    def problems(self) -> list[str]:  # noqa: C901 - one test per rule
        """Every rule the params break (empty when valid)."""
        found = []
        if _DRAW_ID.fullmatch(self.draw_id) is None:
            found.append("draw_id must be 1-56 bytes of [a-z0-9-]")
        if self.supersedes and _DRAW_ID.fullmatch(self.supersedes) is None:
            found.append("supersedes is empty or a draw_id")
        digests = ("tender_ref", "edition_digest", "rules_digest", "code_digest")
        found += [f"{n} must be 32 bytes" for n in digests if len(getattr(self, n)) != HASH_BYTES]
        if not self.edition:
            found.append("edition is required")
        if self.match_mode not in MATCH_MODES or self.repl_mode not in REPL_MODES:
            found.append("match_mode is prefix or exact; repl_mode is A or B")
        codes = [d.code for d in self.disciplines]
        if not codes or codes != sorted(set(codes)):
            found.append("disciplines: non-empty, unique, ascending by bytes")
        if any(_CODE.fullmatch(c) is None for c in codes):
            found.append("a discipline code is 1-16 bytes of [A-Z0-9]")
        if any(a != b and b.startswith(a) for a in codes for b in codes):
            found.append("no requested code may be a prefix of another")
        if any(d.k < 1 or d.r < 0 or d.max_repl < 0 for d in self.disciplines):
            found.append("k >= 1, r >= 0, max_repl >= 0")
        if self.min_pool_factor < 1:
            found.append("min_pool_factor >= 1")
        if self.drand_chain_hash and len(self.drand_chain_hash) != HASH_BYTES:
            found.append("drand_chain_hash is empty or 32 bytes")
        if not self.drand_chain_hash and (
            self.delta,
            self.margin_s,
            self.delta_b,
            self.repl_mode,
        ) != (0, 0, 0, b"A"):
            found.append("without a beacon: delta = margin_s = delta_b = 0 and repl_mode A")
        if self.repl_mode == b"A" and self.delta_b != 0:
            found.append("delta_b is 0 under replacement mode A")
        return found

    @property
    def beacon(self) -> bool:
        """Whether the draw uses a drand round."""
        return self.drand_chain_hash != b""

    def encode(self) -> bytes:
        """The params bytes (§4)."""
        return enc(
            b"EDS1/params", SPEC_VERSION, self.draw_id, self.tender_ref, self.supersedes,
            self.edition, self.edition_digest, self.match_mode,
            enc(*[enc(d.code, u32(d.k), u32(d.r), u32(d.max_repl)) for d in self.disciplines]),
            self.repl_mode, u32(self.delta), u32(self.margin_s), u32(self.delta_b),
            u32(self.min_pool_factor), u64(self.override_seq), self.drand_chain_hash,
            self.rules_digest, self.code_digest,
        )  # fmt: skip

    def hash(self) -> bytes:
        """``params_hash = H(params)``."""
        return sha256(self.encode())

    @classmethod
    def decode(cls, data: bytes) -> Params:
        """Parse params strictly.

        18 fields, the label and version, valid values, and bytes that re-encode
        identically.

        Raises:
            EncodingError: anything else.
        """
        fields = dec(data)
        if len(fields) != 18 or fields[0] != b"EDS1/params" or fields[1] != SPEC_VERSION:  # noqa: PLR2004
            msg = "params: 18 fields starting with EDS1/params and EDS-1"
            raise EncodingError(msg)
        disciplines = []
        for item in dec(fields[8]):
            parts = dec(item)
            if len(parts) != 4 or any(len(p) != 4 for p in parts[1:]):  # noqa: PLR2004
                msg = "params: a discipline is enc(code, u32 k, u32 r, u32 max_repl)"
                raise EncodingError(msg)
            k, r, max_repl = (struct.unpack(">I", p)[0] for p in parts[1:])
            disciplines.append(DisciplineParams(parts[0], k, r, max_repl))
        sizes = {10: 4, 11: 4, 12: 4, 13: 4, 14: 8}
        if any(len(fields[i]) != size for i, size in sizes.items()):
            msg = "params: wrong integer width"
            raise EncodingError(msg)
        delta, margin_s, delta_b, factor = (
            struct.unpack(">I", fields[i])[0] for i in (10, 11, 12, 13)
        )
        params = cls(
            draw_id=fields[2], tender_ref=fields[3], supersedes=fields[4], edition=fields[5],
            edition_digest=fields[6], match_mode=fields[7], disciplines=tuple(disciplines),
            repl_mode=fields[9], delta=delta, margin_s=margin_s, delta_b=delta_b,
            min_pool_factor=factor, override_seq=struct.unpack(">Q", fields[14])[0],
            drand_chain_hash=fields[15], rules_digest=fields[16], code_digest=fields[17],
        )  # fmt: skip
        if params.encode() != data:
            msg = "params do not re-encode byte-equal"
            raise EncodingError(msg)
        return params


def secret_commitment(s: bytes) -> bytes:
    """``C_s = H(enc("EDS1/commit", s))``."""
    return sha256(enc(b"EDS1/commit", _exact(s, 32, "s")))


def escrow_digest(envelopes: Sequence[bytes]) -> bytes:
    """``H(enc("EDS1/escrow", *envelopes))``, envelopes in key-id order."""
    return sha256(enc(b"EDS1/escrow", *envelopes))


def commitment(  # noqa: PLR0913 - the commitment's fields, as the spec lists them
    draw_id: bytes,
    *,
    pool_root: bytes,
    n_elig: int,
    excluded_root: bytes,
    n_excl: int,
    params_hash: bytes,
    c_s: bytes,
    r: int,
    escrow: bytes,
) -> bytes:
    """The commit record (§4); ``commit_digest`` is its SHA-256."""
    return enc(
        b"EDS1/commitment", check_draw_id(draw_id), _exact(pool_root, 32, "pool_root"),
        u32(n_elig), _exact(excluded_root, 32, "excluded_root"), u32(n_excl),
        _exact(params_hash, 32, "params_hash"),
        _exact(c_s, 32, "C_s"), u64(r), _exact(escrow, 32, "escrow_digest"),
    )  # fmt: skip


# -- replacements (mode A) ---------------------------------------------------------------

DECLINE_REASONS = frozenset(
    {
        b"SIGNED_DECLINE", b"NO_ANSWER", b"LEAVE", b"HEALTH", b"CONFLICT_DECLARED",
        b"ABSENT", b"BUSY", b"STRUCK_48_3",
    }
)  # fmt: skip
"""The decline reason codes of §5 (a type of their own, never exclusion reasons)."""


class ReplacementError(ValueError):
    """A decline or replacement that the rules of §5 do not allow."""


@dataclass(frozen=True, slots=True)
class Replaced:
    """The outcome of one seated decline: the seat's discipline and who takes it.

    ``incoming`` is None when no replacement is possible (``max_repl`` reached or no
    candidate left): the draw must then be cancelled (``REPL_EXHAUSTED``).
    """

    discipline: bytes
    outgoing: bytes
    incoming: bytes | None


class Seating:
    """The seats of an executed draw and the mode-A replacement rule (§5).

    Built from the committed order, panels and reserves; :meth:`decline` applies one
    decline in log order and returns the replacement, if the member held a seat.
    ``claimed`` keeps its value from pass 2 of :func:`panels`; only ``used`` grows.
    """

    def __init__(
        self,
        order: Mapping[bytes, Sequence[bytes]],
        panel: Mapping[bytes, Sequence[bytes]],
        reserve: Mapping[bytes, Sequence[bytes]],
        max_repl: Mapping[bytes, int],
    ) -> None:
        """Seat the panels."""
        self.order = {d: list(o) for d, o in order.items()}
        self.reserve = {d: frozenset(r) for d, r in reserve.items()}
        self.claimed = frozenset(p for seats in (*panel.values(), *reserve.values()) for p in seats)
        self.seats = {d: list(p) for d, p in panel.items()}
        self.used: set[bytes] = {p for seats in panel.values() for p in seats}
        self.max_repl = dict(max_repl)
        self.replacements = dict.fromkeys(self.seats, 0)
        self.pool = frozenset(p for o in order.values() for p in o)
        self.exhausted = False  # a seat could not be refilled: the draw is cancelled

    def seat_of(self, pseudonym: bytes) -> bytes | None:
        """The discipline whose seat the member holds, or None."""
        return next((d for d, seats in self.seats.items() if pseudonym in seats), None)

    def candidate(self, d: bytes) -> bytes | None:
        """Mode A: the first of ``order[d]`` not used and not claimed by another list."""
        taken = self.claimed - self.reserve[d]
        return next((p for p in self.order[d] if p not in self.used and p not in taken), None)

    def decline(self, pseudonym: bytes) -> Replaced | None:
        """Apply a decline; return the seat's replacement, or None for an unseated member.

        Raises:
            ReplacementError: the pseudonym is not in the eligible pool, or has already
                declined, or an earlier decline exhausted the draw (it is cancelled).
        """
        if self.exhausted:
            msg = "an earlier decline could not be replaced: the draw is cancelled"
            raise ReplacementError(msg)
        if pseudonym not in self.pool:
            msg = "the declined pseudonym is not in the eligible pool"
            raise ReplacementError(msg)
        d = self.seat_of(pseudonym)
        if d is None:
            if pseudonym in self.used:
                msg = "the member has already left the draw"
                raise ReplacementError(msg)
            self.used.add(pseudonym)
            return None
        self.used.add(pseudonym)
        incoming = self.candidate(d) if self.replacements[d] < self.max_repl[d] else None
        at = self.seats[d].index(pseudonym)
        if incoming is None:
            del self.seats[d][at]
            self.exhausted = True
        else:
            self.seats[d][at] = incoming
            self.used.add(incoming)
            self.replacements[d] += 1
        return Replaced(d, pseudonym, incoming)
