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
    """HMAC-SHA256."""
    return hmac.new(key, message, hashlib.sha256).digest()


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
