"""The draw's steps as pure functions over EDS-1 (docs/spec/draw-v1.md).

The service calls these inside its transactions and passes randomness in (``random``
is ``os.urandom`` in production and a seeded stand-in in tests); nothing here reads a
clock or does I/O. Each function returns exactly what the log entry of its phase
records, so the entries and the stored state cannot disagree.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from expert_draw.core import eds1

Random = Callable[[int], bytes]


@dataclass(frozen=True, slots=True)
class Assessed:
    """One candidate after eligibility: who, the matched codes, the exclusion reasons."""

    expert_id: int
    uuid_bytes: bytes
    discs: tuple[bytes, ...]
    reasons: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class Frozen:
    """The frozen pool (phase 2): members by pseudonym, their salts and experts, roots."""

    members: tuple[eds1.Member, ...]  # ascending pseudonym
    salts: Mapping[bytes, bytes]
    expert_of: Mapping[bytes, int]
    pool_root: bytes
    excluded_root: bytes

    @property
    def n_elig(self) -> int:
        """The number of leaves."""
        return sum(1 for m in self.members if m.eligible)

    @property
    def n_excl(self) -> int:
        """The number of xleaves."""
        return len(self.members) - self.n_elig

    def counts(self, disciplines: Sequence[bytes]) -> list[tuple[bytes, int]]:
        """``|M_d|`` per requested discipline, in ``D`` order (0 allowed)."""
        tally = Counter(d for m in self.members if m.eligible for d in m.discs)
        return [(d, tally[d]) for d in disciplines]

    def excluded_counts(self) -> list[tuple[bytes, int]]:
        """Per reason, the xleaves listing it, ascending by reason, zeros omitted."""
        tally = Counter(r for m in self.members for r in m.reasons)
        return sorted(tally.items())


def freeze(candidates: Sequence[Assessed], random: Random) -> Frozen:
    """Give every candidate a fresh pseudonym and salt, commit identities, build roots.

    Candidates without a matched discipline get no leaf. A pseudonym that repeats is
    drawn again (probability about n²/2¹²⁹).
    """
    members, salts, expert_of = [], {}, {}
    for c in candidates:
        if not c.discs:
            continue
        pseud = random(eds1.PSEUDONYM_BYTES)
        while pseud in expert_of:  # pragma: no cover - 2^-128 per pair
            pseud = random(eds1.PSEUDONYM_BYTES)
        salt = random(32)
        idc = eds1.identity_commitment(salt, c.uuid_bytes)
        members.append(eds1.Member(pseud, c.discs, c.reasons, idc))
        salts[pseud], expert_of[pseud] = salt, c.expert_id
    members.sort(key=lambda m: m.pseudonym)
    pool_root, excluded_root = eds1.pool_roots(members)
    return Frozen(tuple(members), salts, expert_of, pool_root, excluded_root)


@dataclass(frozen=True, slots=True)
class Outcome:
    """A resolved draw (phase 5): the seed, the orders and who sits where."""

    seed: bytes
    order: dict[bytes, list[bytes]]
    panel: dict[bytes, list[bytes]]
    reserve: dict[bytes, list[bytes]]
    order_digest: bytes


def resolve(  # noqa: PLR0913 - the seed's inputs
    params: eds1.Params,
    members: Sequence[eds1.Member],
    *,
    pool_root: bytes,
    excluded_root: bytes,
    s: bytes,
    r: int,
    rho: bytes,
    nonce: bytes,
) -> Outcome:
    """Derive the seed, rank the eligible members, fill panels then reserves."""
    seed = eds1.seed(
        params.draw_id, pool_root=pool_root, excluded_root=excluded_root,
        params_hash=params.hash(), s=s, r=r, rho=rho, nonce=nonce,
    )  # fmt: skip
    codes = [d.code for d in params.disciplines]
    order = eds1.orders(members, codes, lambda p: eds1.rank(seed, p))
    quotas = {d.code: eds1.Quota(d.k, d.r) for d in params.disciplines}
    panel, reserve = eds1.panels(order, codes, quotas)
    return Outcome(seed, order, panel, reserve, eds1.order_digest(order, codes))


def evidence_hash(evidence: bytes) -> bytes:
    """``H(enc("EDS1/evidence", evidence))``."""
    return eds1.sha256(eds1.enc(b"EDS1/evidence", evidence))


def void(reason: bytes, *, opened: bool) -> bool:
    """Whether a decline voids the member's work (实施条例 第48条③, spec §5)."""
    return reason == b"STRUCK_48_3" or (reason == b"CONFLICT_DECLARED" and opened)
