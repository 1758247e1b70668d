"""χ² fairness tests of the EDS-1 draw over real seeds (design §9, "Distribution").

Every draw uses a seed of the deterministic set ``H("test" ‖ u64be(i))`` (each row its own
range of ``i``) and the real HMAC ranks ``eds1.rank(seed, pseudonym)``; panels, reserves
and replacements come from the product's ``eds1.orders``, ``eds1.panels`` and
``eds1.Seating`` on real ``Member`` objects, for every draw. Only the ranks take a
shortcut (one ``hmac.digest`` per pseudonym on a precomputed message), and
:func:`test_fast_ranks_are_the_product_ranks` shows it equals ``eds1.rank``.

Each test prints its statistic and p-value (run with ``-s``; docs/fairness-tests.md
records them) and asserts ``p ≥ α = 10⁻³`` for the product. The §9 mutants, small wrong
selection functions below, run on the same seeds with the same N, and a test asserts
that the statistic rejects each one it is meant to catch (``p < α``), so every statistic
demonstrably can fail. Statistics whose cells are not independent (position × item,
pairwise and strata inclusion) use the exact covariance of a uniform draw:
``T = dᵀ Σ⁺ d / N`` with ``d = counts − N·μ`` is χ² with ``rank(Σ)`` degrees of freedom,
and a deviation in the null space of ``Σ`` (a count that a uniform draw can never give)
is an outright rejection (``p = 0``).
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import hmac
import itertools
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pytest
from scipy import stats
from scipy.linalg import block_diag

from expert_draw.core import eds1
from expert_draw.core.eds1 import Member, Quota

ALPHA = 1e-3
IDC = bytes(32)
DISC = b"A01"
BINS = 10  # rank-law bins per position, equiprobable under the null law

Row = list[bytes]
"""The ranks of the eligible pool members, in pool order (ascending pseudonym)."""
Select = Callable[[Row], list[int]]
"""One draw for one discipline: the ordered panel then reserves, as pool indices."""
Vector = npt.NDArray[np.float64]


# -- seeds, pseudonyms, ranks -----------------------------------------------------------


def seed_of(i: int) -> bytes:
    """The i-th seed of the §9 set: ``H("test" ‖ u64be(i))``."""
    return hashlib.sha256(b"test" + eds1.u64(i)).digest()


def pool(n: int, label: bytes = b"pool") -> list[bytes]:
    """``n`` distinct 16-byte pseudonyms in pool order (ascending bytes)."""
    return sorted(hashlib.sha256(label + eds1.u32(a)).digest()[:16] for a in range(n))


class RankRows:
    """The real ranks of a fixed list of pseudonyms, one ``hmac.digest`` each.

    ``eds1.rank`` builds the message and an ``hmac.HMAC`` object per call; this computes
    the same HMAC-SHA256 in one C call on a precomputed ``enc("EDS1/rank", p)``.
    """

    def __init__(self, pseudonyms: Sequence[bytes]) -> None:
        """Precompute the rank messages."""
        self.messages = [eds1.enc(b"EDS1/rank", p) for p in pseudonyms]

    def __call__(self, seed: bytes) -> Row:
        """The ranks under ``seed``."""
        return [hmac.digest(seed, m, "sha256") for m in self.messages]


# -- the product --------------------------------------------------------------------------


class Draw:
    """The product's draw on real ``Member`` objects; the ranker reads a rank row."""

    def __init__(
        self, members: Sequence[Member], disciplines: Sequence[bytes], quotas: Mapping[bytes, Quota]
    ) -> None:
        """Keep the pool; ``Row`` positions are the eligible members in pool order."""
        self.members = list(members)
        self.disciplines = list(disciplines)
        self.quotas = dict(quotas)
        self.eligible = sorted(m.pseudonym for m in members if m.eligible)
        self.index = {p: a for a, p in enumerate(self.eligible)}

    def __call__(
        self, row: Row
    ) -> tuple[dict[bytes, list[bytes]], dict[bytes, list[bytes]], dict[bytes, list[bytes]]]:
        """``(order, panel, reserve)`` from ``eds1.orders`` and ``eds1.panels``."""
        ranks = dict(zip(self.eligible, row, strict=True))
        order = eds1.orders(self.members, self.disciplines, ranks.__getitem__)
        panel, reserve = eds1.panels(order, self.disciplines, self.quotas)
        return order, panel, reserve


class Product:
    """One discipline, ``n`` eligible members (plus two excluded ones that never count)."""

    def __init__(self, n: int, k: int, r: int = 0, label: bytes = b"pool") -> None:
        """A pool of ``n`` eligible members and two excluded ones."""
        eligible = [Member(p, (DISC,), (), IDC) for p in pool(n, label)]
        excluded = [Member(p, (DISC,), (b"E6",), IDC) for p in pool(2, label + b"/excluded")]
        self.draw = Draw([*excluded, *eligible], [DISC], {DISC: Quota(k, r)})

    def __call__(self, row: Row) -> list[int]:
        """The ordered panel then reserves, as pool indices."""
        _, panel, reserve = self.draw(row)
        return [self.draw.index[p] for p in panel[DISC] + reserve[DISC]]


# -- the §9 mutants (one discipline) ----------------------------------------------------


def mod8(row: Row, size: int) -> list[int]:
    """8-bit ``mod n``: pick j is ``remaining[v_j mod m]``, ``v_j`` one byte (RFC 3797 style)."""
    remaining = list(range(len(row)))
    return [remaining.pop(row[j][0] % len(remaining)) for j in range(size)]


def floor8(row: Row, size: int) -> list[int]:
    """``floor(float·n)``: pick j is ``remaining[floor(u_j·m)]``, ``u_j`` a float of one byte."""
    remaining = list(range(len(row)))
    return [remaining.pop(math.floor(row[j][0] / 256 * len(remaining))) for j in range(size)]


def skip0(row: Row, size: int) -> list[int]:
    """Skipping index 0: ``remaining[1 + v_j mod (m−1)]`` (32-bit ``v_j``, no mod bias)."""
    remaining = list(range(len(row)))
    picks = []
    for j in range(size):
        m = len(remaining)
        at = 1 + int.from_bytes(row[j][:4], "big") % (m - 1) if m > 1 else 0
        picks.append(remaining.pop(at))
    return picks


def descending(row: Row, size: int) -> list[int]:
    """Descending sort: the members with the largest ``(rank, pseudonym)`` first."""
    return sorted(range(len(row)), key=row.__getitem__, reverse=True)[:size]


SINGLE_MUTANTS: dict[str, Callable[[Row, int], list[int]]] = {
    "mod8": mod8,
    "floor8": floor8,
    "skip0": skip0,
    "descending": descending,
}


@functools.cache
def step_law(mutant: Callable[[Row, int], list[int]], m: int) -> list[float]:
    """The law of a byte-driven mutant's first pick among ``m``, over all 256 bytes."""
    picks = Counter(mutant([bytes([b]) + bytes(31)] * m, 1)[0] for b in range(256))
    return [picks[at] / 256 for at in range(m)]


@functools.cache
def sampler_law(name: str, n: int, k: int) -> tuple[Vector, dict[frozenset[int], float]]:
    """Exact position × member means and seated-set law of an index-sampler mutant.

    Dynamic programming over the set already picked: pick i takes the member at index
    ``at`` of the remaining ones with the mutant's own step law.
    """
    mutant = SINGLE_MUTANTS[name]
    position = np.zeros(k * n)
    states: dict[frozenset[int], float] = {frozenset(): 1.0}
    for i in range(k):
        following: dict[frozenset[int], float] = defaultdict(float)
        for chosen, p in states.items():
            remaining = [a for a in range(n) if a not in chosen]
            for at, q in enumerate(step_law(mutant, len(remaining))):
                a = remaining[at]
                position[i * n + a] += p * q
                following[chosen | {a}] += p * q
        states = following
    return position, states


@functools.cache
def ordered_law(name: str, n: int, k: int) -> dict[tuple[int, ...], float]:
    """Exact law of an index-sampler mutant's ordered panel (small n)."""
    mutant = SINGLE_MUTANTS[name]
    states: dict[tuple[int, ...], float] = {(): 1.0}
    for _ in range(k):
        following: dict[tuple[int, ...], float] = defaultdict(float)
        for chosen, p in states.items():
            remaining = [a for a in range(n) if a not in chosen]
            for at, q in enumerate(step_law(mutant, len(remaining))):
                following[(*chosen, remaining[at])] += p * q
        states = following
    return states


def noncentrality(delta: Vector, cov: Vector) -> float:
    """``δᵀ Σ⁺ δ``: the per-draw noncentrality of a quadratic statistic."""
    values, vectors = np.linalg.eigh(cov)
    keep = values > 1e-9 * values.max()
    projected = vectors.T @ delta
    return float(np.sum(projected[keep] ** 2 / values[keep]))


def power(per_draw: float, n_draws: int, df: int) -> float:
    """Probability that a χ²_df statistic with noncentrality ``N·per_draw`` rejects at α."""
    return float(stats.ncx2.sf(stats.chi2.isf(ALPHA, df), df, n_draws * per_draw))


def bound(mutant: Callable[[Row, int], list[int]], size: int) -> Select:
    """``mutant`` drawing ``size`` members."""

    def select(row: Row) -> list[int]:
        return mutant(row, size)

    return select


def selectors(n: int, k: int, r: int = 0) -> dict[str, Select]:
    """The product and every single-discipline mutant, drawing ``k + r`` of ``n``."""
    chosen: dict[str, Select] = {"product": Product(n, k, r)}
    for name, mutant in SINGLE_MUTANTS.items():
        chosen[name] = bound(mutant, k + r)
    return chosen


# -- statistics ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    """One statistic on one selector."""

    stat: float
    df: int
    p: float


def report(row: str, selector: str, n_draws: int, result: Result) -> None:
    """Print the line docs/fairness-tests.md copies (run pytest with ``-s``)."""
    print(  # noqa: T201 - the recorded p-values are this module's output
        f"\nFAIRNESS {row:<34} {selector:<16} N={n_draws:<8} "
        f"stat={result.stat:12.2f} df={result.df:<5} p={result.p:.4g}"
    )


def uniform_chi2(counts: Sequence[int], n_draws: int) -> Result:
    """Pearson χ² of ``n_draws`` multinomial draws over equiprobable ``counts`` cells.

    A draw outside the cells (``sum(counts) < n_draws``) is impossible under the null.
    """
    df = len(counts) - 1
    if sum(counts) != n_draws:
        return Result(math.inf, df, 0.0)
    expected = n_draws / len(counts)
    stat = sum((c - expected) ** 2 for c in counts) / expected
    return Result(stat, df, float(stats.chi2.sf(stat, df)))


def quadratic_chi2(counts: Vector, n_draws: int, mean: Vector, cov: Vector) -> Result:
    """``dᵀ Σ⁺ d / N`` for summed indicator vectors with per-draw mean and covariance.

    The multivariate CLT makes it χ² with ``rank(Σ)`` degrees of freedom. Any part of
    ``d`` in the null space of ``Σ`` is a constraint that every uniform draw meets
    exactly (for example, exactly ``k`` members seated), so it gives ``p = 0``.
    """
    deviation = counts - n_draws * mean
    values, vectors = np.linalg.eigh(cov)
    keep = values > 1e-9 * values.max()
    projected = vectors.T @ deviation
    df = int(keep.sum())
    if np.any(np.abs(projected[~keep]) > 1e-3):
        return Result(math.inf, df, 0.0)
    stat = float(np.sum(projected[keep] ** 2 / values[keep]) / n_draws)
    return Result(stat, df, float(stats.chi2.sf(stat, df)))


def position_moments(n: int, positions: int) -> tuple[Vector, Vector]:
    """Mean and covariance of ``X[i·n + a] = [position i holds member a]``.

    For a uniform ordered draw of ``positions`` distinct members of ``n``:
    ``E[X_ia X_jb]`` is ``1/n`` when ``(i, a) = (j, b)``, 0 when exactly one of the two
    agrees, and ``1/(n(n−1))`` when neither does.
    """
    same_position = np.kron(np.eye(positions), np.ones((n, n)))
    same_member = np.kron(np.ones((positions, positions)), np.eye(n))
    second = same_position * same_member / n + (1 - same_position) * (1 - same_member) / (
        n * (n - 1)
    )
    mean = np.full(positions * n, 1 / n)
    return mean, second - np.outer(mean, mean)


def falling(x: int, m: int) -> int:
    """``x (x−1) … (x−m+1)``."""
    return math.prod(range(x - m + 1, x + 1))


def pair_moments(n: int, k: int) -> tuple[Vector, Vector]:
    """Mean and covariance of ``Y[{a, b}] = [a and b both seated]``, pairs in lex order.

    ``E[Y_p Y_q] = (k)_m / (n)_m`` with ``m = |p ∪ q|`` (falling factorials).
    """
    pairs = list(itertools.combinations(range(n), 2))
    second = np.array(
        [[falling(k, len({*p, *q})) / falling(n, len({*p, *q})) for q in pairs] for p in pairs]
    )
    mean = np.full(len(pairs), falling(k, 2) / falling(n, 2))
    return mean, second - np.outer(mean, mean)


def seat_reserve_moments(n: int, k: int, r: int) -> tuple[Vector, Vector]:
    """Mean and covariance of ``[a seated], [a reserve]`` per member (order ``a·2 + kind``)."""
    mean, cov = position_moments(n, k + r)
    fold = np.zeros((2 * n, (k + r) * n))
    for i in range(k + r):
        for a in range(n):
            fold[2 * a + (0 if i < k else 1), i * n + a] = 1
    return fold @ mean, fold @ cov @ fold.T


def kendall_tau(first: Sequence[int], second: Sequence[int]) -> float:
    """Kendall's τ of two orders of the same members (no ties)."""
    at = {x: i for i, x in enumerate(second)}
    seq = [at[x] for x in first]
    n = len(seq)
    inversions = sum(1 for i in range(n) for j in range(i + 1, n) if seq[i] > seq[j])
    return 1 - 4 * inversions / (n * (n - 1))


# -- rows ---------------------------------------------------------------------------------
# Each row computes every selector on the same seeds in one pass and caches the counts.
# Seed index ranges are disjoint, so rows are independent of each other.

FIRST = {
    "full_5_3": 0,
    "position_item": 1_000_000,
    "pairwise": 2_000_000,
    "strata": 3_000_000,
    "replacement": 4_000_000,
    "avalanche": 5_000_000,
    "full_6_6_slow": 10_000_000,
    "position_item_slow": 20_000_000,
    "two_level_slow": 30_000_000,
}


@functools.cache
def full_ordered(n: int, k: int, n_draws: int, first: int) -> dict[str, Counter[tuple[int, ...]]]:
    """Ordered panels (as pool-index tuples) per selector."""
    chosen = selectors(n, k)
    rows = RankRows(pool(n))
    counts: dict[str, Counter[tuple[int, ...]]] = {name: Counter() for name in chosen}
    for i in range(first, first + n_draws):
        row = rows(seed_of(i))
        for name, select in chosen.items():
            counts[name][tuple(select(row))] += 1
    return counts


def full_ordered_result(counts: Counter[tuple[int, ...]], n: int, k: int, n_draws: int) -> Result:
    """χ² over the ``n!/(n−k)!`` ordered outcomes, each with probability ``(n−k)!/n!``."""
    cells = itertools.permutations(range(n), k)
    return uniform_chi2([counts[cell] for cell in cells], n_draws)


@dataclass(frozen=True)
class PositionItem:
    """Position × member counts and rank-law counts of one selector."""

    counts: Vector  # k·n, position-major
    rank_law: list[list[int]]  # k × BINS


def rank_law_edges(n: int, k: int) -> list[list[float]]:
    """Equiprobable bin edges of the (i+1)-th smallest of n uniform ranks: Beta(i+1, n−i)."""
    quantiles = np.arange(1, BINS) / BINS
    return [list(stats.beta.ppf(quantiles, i + 1, n - i)) for i in range(k)]


@functools.cache
def position_item(n: int, k: int, n_draws: int, first: int) -> dict[str, PositionItem]:
    """Position × member counts, and per draw one rank-law observation.

    Draw t observes position ``i = t mod k``: the rank of the member seated there, as a
    fraction of 2^64 (its first 8 bytes), binned by the Beta(i+1, n−i) quantiles. Under
    the null each row of that table is multinomial with equal cells, independent of the
    others (different draws).
    """
    chosen = selectors(n, k)
    rows = RankRows(pool(n))
    edges = rank_law_edges(n, k)
    counts = {name: [0] * (k * n) for name in chosen}
    law = {name: [[0] * BINS for _ in range(k)] for name in chosen}
    for t in range(n_draws):
        row = rows(seed_of(first + t))
        at = t % k
        for name, select in chosen.items():
            panel = select(row)
            cells = counts[name]
            for i, a in enumerate(panel):
                cells[i * n + a] += 1
            u = int.from_bytes(row[panel[at]][:8], "big") / 2**64
            law[name][at][bisect.bisect(edges[at], u)] += 1
    return {
        name: PositionItem(np.array(counts[name], dtype=np.float64), law[name]) for name in chosen
    }


def position_item_result(data: PositionItem, n: int, k: int, n_draws: int) -> Result:
    """The position × member statistic (exact covariance, ``rank(Σ)`` df)."""
    mean, cov = position_moments(n, k)
    return quadratic_chi2(data.counts, n_draws, mean, cov)


def rank_law_result(data: PositionItem, n_draws: int) -> Result:
    """χ² of the rank-law table: k independent rows of BINS equiprobable cells."""
    k = len(data.rank_law)
    stat, df = 0.0, 0
    for i, cells in enumerate(data.rank_law):
        rows_draws = len(range(i, n_draws, k))
        part = uniform_chi2(cells, rows_draws)
        stat, df = stat + part.stat, df + part.df
    return Result(stat, df, float(stats.chi2.sf(stat, df)) if math.isfinite(stat) else 0.0)


@functools.cache
def pairwise(n: int, k: int, n_draws: int, first: int) -> dict[str, Vector]:
    """Per selector, how often each pair of members was seated together."""
    chosen = selectors(n, k)
    rows = RankRows(pool(n))
    index = {pair: i for i, pair in enumerate(itertools.combinations(range(n), 2))}
    counts = {name: [0] * len(index) for name in chosen}
    for i in range(first, first + n_draws):
        row = rows(seed_of(i))
        for name, select in chosen.items():
            cells = counts[name]
            for pair in itertools.combinations(sorted(select(row)), 2):
                cells[index[pair]] += 1
    return {name: np.array(c, dtype=np.float64) for name, c in counts.items()}


def pairwise_result(counts: Vector, n: int, k: int, n_draws: int) -> Result:
    """The pairwise-inclusion statistic, ``π = k(k−1)/(n(n−1))``, exact covariance."""
    mean, cov = pair_moments(n, k)
    return quadratic_chi2(counts, n_draws, mean, cov)


# -- strata -------------------------------------------------------------------------------

STRATA = ((b"A01", 8, Quota(2, 1)), (b"A02", 15, Quota(3, 1)), (b"B03", 30, Quota(4, 1)))
STRATA_CODES = [d for d, _, _ in STRATA]
STRATA_QUOTAS = {d: q for d, _, q in STRATA}
Seats = tuple[dict[bytes, list[bytes]], dict[bytes, list[bytes]]]
"""``(panel, reserve)`` per discipline."""


@dataclass(frozen=True)
class StrataPool:
    """Three disjoint strata of 8, 15 and 30 members, interleaved in pool order."""

    members: list[Member]
    holders: dict[bytes, list[bytes]]  # M_d in pool order


@functools.cache
def strata_pool() -> StrataPool:
    """Member a of the generation order belongs to the stratum its index falls in."""
    bounds = list(itertools.accumulate(size for _, size, _ in STRATA))
    members = [
        Member(
            hashlib.sha256(b"strata" + eds1.u32(a)).digest()[:16],
            (STRATA[bisect.bisect(bounds, a)][0],),
            (),
            IDC,
        )
        for a in range(bounds[-1])
    ]
    members.sort(key=lambda m: m.pseudonym)
    holders = {d: [m.pseudonym for m in members if d in m.discs] for d in STRATA_CODES}
    return StrataPool(members, holders)


class LeakForeign:
    """Stratum leak: the pool builder also matches A02's first member to A01."""

    def __init__(self) -> None:
        """The wrongly matched pool."""
        source = strata_pool()
        leaked = source.holders[b"A02"][0]
        wrong = [
            Member(m.pseudonym, (b"A01", b"A02"), (), IDC) if m.pseudonym == leaked else m
            for m in source.members
        ]
        self.draw = Draw(wrong, STRATA_CODES, STRATA_QUOTAS)

    def __call__(self, row: Row) -> Seats:
        """The product's orders and panels on the wrong pool."""
        _, panel, reserve = self.draw(row)
        return panel, reserve


class LeakShared:
    """Stratum leak: ranks keyed by the index within the stratum, shared across strata.

    As if the rank message held a member's index in ``M_d`` instead of its pseudonym:
    each stratum alone is still uniform, but the strata move together.
    """

    def __init__(self) -> None:
        """Index of each member within its stratum."""
        self.holders = strata_pool().holders

    def __call__(self, row: Row) -> Seats:
        """Orders by the shared ranks, then the product's panels."""
        order = {
            d: [p for _, p in sorted(zip(row, members, strict=False))]
            for d, members in self.holders.items()
        }
        return eds1.panels(order, STRATA_CODES, STRATA_QUOTAS)


@dataclass(frozen=True)
class Strata:
    """Per selector: seat and reserve counts per (stratum, member), first-seat triples."""

    inclusion: Vector
    first_seats: Counter[tuple[int, ...]]


@functools.cache
def strata(n_draws: int, first: int) -> dict[str, Strata]:
    """Seat/reserve counts per stratum member and the first seats of the three strata.

    A seat given to a member outside ``M_d`` is not counted, so it shows as a short
    panel (null space of Σ, p = 0) and as a first seat outside the joint table.
    """
    source = strata_pool()
    product = Draw(source.members, STRATA_CODES, STRATA_QUOTAS)
    rows = RankRows(product.eligible)
    features: dict[tuple[bytes, bytes, int], int] = {}
    for d in STRATA_CODES:
        for p in source.holders[d]:
            for kind in (0, 1):
                features[d, p, kind] = len(features)
    position = {d: {p: i for i, p in enumerate(source.holders[d])} for d in STRATA_CODES}

    def by_product(row: Row) -> Seats:
        _, panel, reserve = product(row)
        return panel, reserve

    chosen: dict[str, Callable[[Row], Seats]] = {
        "product": by_product,
        "leak_foreign": LeakForeign(),
        "leak_shared": LeakShared(),
    }
    counts = {name: [0] * len(features) for name in chosen}
    firsts: dict[str, Counter[tuple[int, ...]]] = {name: Counter() for name in chosen}
    for i in range(first, first + n_draws):
        row = rows(seed_of(i))
        for name, select in chosen.items():
            panel, reserve = select(row)
            cells = counts[name]
            for d in STRATA_CODES:
                for kind, seats in ((0, panel[d]), (1, reserve[d])):
                    for p in seats:
                        at = features.get((d, p, kind))
                        if at is not None:
                            cells[at] += 1
            firsts[name][tuple(position[d].get(panel[d][0], -1) for d in STRATA_CODES)] += 1
    return {name: Strata(np.array(counts[name], dtype=np.float64), firsts[name]) for name in chosen}


def strata_inclusion_result(data: Strata, n_draws: int) -> Result:
    """Seat and reserve inclusion per stratum member; strata are independent (block Σ)."""
    parts = [seat_reserve_moments(size, q.k, q.r) for _, size, q in STRATA]
    mean = np.concatenate([m for m, _ in parts])
    cov = block_diag(*[c for _, c in parts])
    return quadratic_chi2(data.inclusion, n_draws, mean, cov)


def strata_joint_result(data: Strata, n_draws: int) -> Result:
    """First seats of the three strata: uniform over 8·15·30 cells iff independent."""
    cells = itertools.product(*(range(size) for _, size, _ in STRATA))
    return uniform_chi2([data.first_seats[cell] for cell in cells], n_draws)


# -- replacement --------------------------------------------------------------------------

REPL_N, REPL_K, REPL_R = 24, 4, 1

Replace = Callable[[list[int], bytes, int], int]
"""``(panel, seed, j) -> replacement`` after panel seat j declines (pool indices)."""


def replace_mod8(panel: list[int], seed: bytes, j: int) -> int:
    """8-bit ``mod n`` replacement: ``others[seed[0] mod m]`` among the non-panel members."""
    others = [a for a in range(REPL_N) if a not in panel]
    return others[seed[0] % len(others)]


def replace_neighbour(panel: list[int], seed: bytes, j: int) -> int:
    """Replacement by pool order: the next non-panel member after the one who declined."""
    out = panel[j]
    return next(
        (out + step) % REPL_N for step in range(1, REPL_N) if (out + step) % REPL_N not in panel
    )


@functools.cache
def replacement(n_draws: int, first: int) -> dict[str, tuple[list[list[int]], int]]:
    """Per selector: table j × (index of the replacement among the non-panel members).

    Draw t declines panel seat ``j = t mod k`` through ``eds1.Seating`` (mode A). The
    replacement must be uniform among the ``n − k`` members outside the panel whatever
    the panel and j, so each row of the table is multinomial with equal cells. Also
    counts the draws where the product's replacement was not ``order[k]``, the reserve.
    """
    draw = Product(REPL_N, REPL_K, REPL_R, b"replacement").draw
    rows = RankRows(draw.eligible)
    mutants: dict[str, Replace] = {"mod8": replace_mod8, "neighbour": replace_neighbour}
    m = REPL_N - REPL_K
    tables = {name: [[0] * m for _ in range(REPL_K)] for name in ("product", *mutants)}
    not_next = 0
    for t in range(n_draws):
        seed = seed_of(first + t)
        row = rows(seed)
        j = t % REPL_K
        order, panel, reserve = draw(row)
        replaced = eds1.Seating(order, panel, reserve, {DISC: 2}).decline(panel[DISC][j])
        assert replaced is not None
        assert replaced.incoming is not None
        not_next += replaced.incoming != order[DISC][REPL_K]
        seated = [draw.index[p] for p in panel[DISC]]
        others = [a for a in range(REPL_N) if a not in seated]
        tables["product"][j][others.index(draw.index[replaced.incoming])] += 1
        for name, mutant in mutants.items():
            tables[name][j][others.index(mutant(seated, seed, j))] += 1
    return {name: (table, not_next) for name, table in tables.items()}


def replacement_result(table: list[list[int]], n_draws: int) -> Result:
    """χ² of the j × index table: k independent rows of ``n − k`` equiprobable cells."""
    stat, df = 0.0, 0
    for j, cells in enumerate(table):
        part = uniform_chi2(cells, len(range(j, n_draws, REPL_K)))
        stat, df = stat + part.stat, df + part.df
    return Result(stat, df, float(stats.chi2.sf(stat, df)) if math.isfinite(stat) else 0.0)


# -- avalanche ----------------------------------------------------------------------------

AVALANCHE_N = 20
BASE: dict[str, bytes | int] = {
    "pool_root": hashlib.sha256(b"pool_root").digest(),
    "excluded_root": hashlib.sha256(b"").digest(),
    "params_hash": hashlib.sha256(b"params").digest(),
    "r": 27_946_612,
    "rho": hashlib.sha256(b"rho").digest(),
    "nonce": hashlib.sha256(b"nonce").digest(),
}


def flip(value: bytes, bit: int) -> bytes:
    """``value`` with bit ``bit`` (0 = most significant of byte 0) inverted."""
    data = bytearray(value)
    data[bit // 8] ^= 0x80 >> (bit % 8)
    return bytes(data)


def avalanche_inputs(t: int, first: int) -> tuple[dict[str, bytes | int], dict[str, bytes | int]]:
    """The seed inputs of pair t and the same with one bit flipped (of s, or of ρ)."""
    inputs: dict[str, bytes | int] = {**BASE, "s": seed_of(first + t)}
    field = "s" if t % 2 == 0 else "rho"
    value = inputs[field]
    assert isinstance(value, bytes)
    return inputs, {**inputs, field: flip(value, (t // 2) % 256)}


def product_seed(inputs: Mapping[str, bytes | int]) -> bytes:
    """The real seed (``eds1.seed``)."""
    return eds1.seed(b"fairness-avalanche", **inputs)  # type: ignore[arg-type]


def xor_seed(inputs: Mapping[str, bytes | int]) -> bytes:
    """Mutant seed: ``s ⊕ ρ ⊕ nonce``, no hashing."""
    s, rho, nonce = inputs["s"], inputs["rho"], inputs["nonce"]
    assert isinstance(s, bytes)
    assert isinstance(rho, bytes)
    assert isinstance(nonce, bytes)
    return bytes(a ^ b ^ c for a, b, c in zip(s, rho, nonce, strict=True))


@functools.cache
def avalanche(n_draws: int, first: int) -> dict[str, tuple[list[float], list[int]]]:
    """Per selector: Kendall τ of each pair of orders, and the joint positions of one member.

    Pair t draws the order twice, from seed inputs that differ in one bit, and records
    where member ``t mod n`` stands in each (n² equiprobable cells if the orders are
    independent).
    """
    product = Product(AVALANCHE_N, AVALANCHE_N, 0, b"avalanche")
    rows = RankRows(product.draw.eligible)
    hashed = [hashlib.sha256(p).digest() for p in product.draw.eligible]

    def by_product(inputs: Mapping[str, bytes | int]) -> list[int]:
        order, _, _ = product.draw(rows(product_seed(inputs)))
        return [product.draw.index[p] for p in order[DISC]]

    def by_xor(inputs: Mapping[str, bytes | int]) -> list[int]:
        seed = xor_seed(inputs)
        ranks = [bytes(a ^ b for a, b in zip(seed, h, strict=True)) for h in hashed]
        return sorted(range(AVALANCHE_N), key=ranks.__getitem__)

    chosen = {"product": by_product, "xor_chain": by_xor}
    taus: dict[str, list[float]] = {name: [] for name in chosen}
    cells = {name: [0] * AVALANCHE_N**2 for name in chosen}
    for t in range(n_draws):
        inputs, flipped = avalanche_inputs(t, first)
        a = t % AVALANCHE_N
        for name, draw in chosen.items():
            before, after = draw(inputs), draw(flipped)
            taus[name].append(kendall_tau(before, after))
            cells[name][before.index(a) * AVALANCHE_N + after.index(a)] += 1
    return {name: (taus[name], cells[name]) for name in chosen}


def tau_result(taus: Sequence[float]) -> Result:
    """Two-sided z-test of mean τ = 0, ``Var τ = 2(2n+5)/(9n(n−1))`` for independent orders."""
    n = AVALANCHE_N
    var = 2 * (2 * n + 5) / (9 * n * (n - 1))
    z = (sum(taus) / len(taus)) / math.sqrt(var / len(taus))
    return Result(z * z, 1, float(2 * stats.norm.sf(abs(z))))


# -- checks of the shortcuts and of the statistics themselves ------------------------------


def test_fast_ranks_are_the_product_ranks() -> None:
    """The rank shortcut equals ``eds1.rank`` and the seeds are ``H("test" ‖ u64be(i))``."""
    pseudonyms = pool(20)
    rows = RankRows(pseudonyms)
    for i in (*range(200), *FIRST.values()):
        seed = seed_of(i)
        assert seed == eds1.sha256(b"test" + i.to_bytes(8, "big"))
        assert rows(seed) == [eds1.rank(seed, p) for p in pseudonyms]


def test_product_selector_is_the_product_draw() -> None:
    """``Product`` returns what ``eds1.orders``/``eds1.panels`` give with ``eds1.rank``."""
    product = Product(20, 5, 2)
    members = product.draw.members
    for i in range(300):
        seed = seed_of(i)
        order = eds1.orders(members, [DISC], lambda p, s=seed: eds1.rank(s, p))  # type: ignore[misc]
        panel, reserve = eds1.panels(order, [DISC], {DISC: Quota(5, 2)})
        picked = product(RankRows(product.draw.eligible)(seed))
        assert [product.draw.eligible[a] for a in picked] == panel[DISC] + reserve[DISC]
        assert (
            picked == sorted(range(20), key=RankRows(product.draw.eligible)(seed).__getitem__)[:7]
        )


def test_moments_match_enumeration() -> None:
    """The covariance formulas behind the quadratic statistics are exact (n = 6, k = 3)."""
    n, k = 6, 3
    pairs = list(itertools.combinations(range(n), 2))
    xs, ys = [], []
    for permutation in itertools.permutations(range(n)):
        x = np.zeros(k * n)
        for i, a in enumerate(permutation[:k]):
            x[i * n + a] = 1
        xs.append(x)
        seated = set(permutation[:k])
        ys.append(np.array([float(a in seated and b in seated) for a, b in pairs]))
    for samples, (mean, cov) in ((xs, position_moments(n, k)), (ys, pair_moments(n, k))):
        data = np.array(samples)
        assert np.allclose(data.mean(axis=0), mean)
        assert np.allclose(np.cov(data.T, bias=True), cov)
    seat_mean, seat_cov = seat_reserve_moments(n, 2, 1)
    folded = np.array(
        [
            [
                float(a in p[:2]) if kind == 0 else float(a == p[2])
                for a in range(n)
                for kind in (0, 1)
            ]
            for p in itertools.permutations(range(n))
        ]
    )
    assert np.allclose(folded.mean(axis=0), seat_mean)
    assert np.allclose(np.cov(folded.T, bias=True), seat_cov)


def test_quadratic_statistic_rejects_impossible_counts() -> None:
    """A deviation that no uniform draw can produce (a short panel) gives p = 0."""
    mean, cov = position_moments(5, 2)
    counts = 1000 * mean.copy()
    assert quadratic_chi2(counts, 1000, mean, cov).p == 1.0
    counts[0] -= 1  # one draw seated nobody at position 0
    assert quadratic_chi2(counts, 1000, mean, cov).p == 0.0
    assert uniform_chi2([10, 10, 9], 30).p == 0.0


# Rows as (n, k, N), and the mutants each row's statistic is asserted to reject. For the
# byte-driven index samplers (mod8, floor8) a mutant is asserted exactly when the exact
# power at that N is at least 0.99 (test_mutant_power checks both directions).
ROWS = {
    "full_5_3": (5, 3, 60_000),
    "full_6_6": (6, 6, 720_000),
    "position_item": (20, 5, 100_000),
    "pairwise": (12, 4, 100_000),
    "replacement": (REPL_N, REPL_K, 100_000),
}
ASSERTED = {
    "full_5_3": ("skip0",),
    "full_6_6": ("skip0",),
    "position_item": ("mod8", "floor8", "skip0"),
    "pairwise": ("mod8", "skip0"),
    "replacement": ("mod8", "neighbour"),
}
POWER_MIN = 0.99


def exact_power(row: str, mutant: str) -> tuple[float, int]:
    """The power of ``row``'s statistic against ``mutant`` at the row's N, and its df."""
    n, k, n_draws = ROWS[row]
    if row.startswith("full"):
        law = ordered_law(mutant, n, k)
        p0 = 1 / math.perm(n, k)
        cells = itertools.permutations(range(n), k)
        per_draw = sum((law.get(cell, 0.0) - p0) ** 2 / p0 for cell in cells)
        df = math.perm(n, k) - 1
    elif row == "position_item":
        position, _ = sampler_law(mutant, n, k)
        mean, cov = position_moments(n, k)
        per_draw, df = noncentrality(position - mean, cov), k * (n - 1)
    elif row == "pairwise":
        _, seated = sampler_law(mutant, n, k)
        index = {pair: i for i, pair in enumerate(itertools.combinations(range(n), 2))}
        pairs = np.zeros(len(index))
        for chosen, p in seated.items():
            for pair in itertools.combinations(sorted(chosen), 2):
                pairs[index[pair]] += p
        mean, cov = pair_moments(n, k)
        per_draw, df = noncentrality(pairs - mean, cov), len(index) - 1
    else:  # replacement: others[seed[0] mod m] in every row j
        m = n - k
        steps = step_law(mod8, m)
        per_draw, df = m * sum((q - 1 / m) ** 2 for q in steps), k * (m - 1)
    return power(per_draw, n_draws, df), df


@pytest.mark.parametrize(
    ("row", "mutant"),
    [(row, mutant) for row in ("full_5_3", "full_6_6", "position_item", "pairwise")
     for mutant in ("mod8", "floor8")] + [("replacement", "mod8")],
)  # fmt: skip
def test_mutant_power(row: str, mutant: str) -> None:
    """A byte-driven mutant is asserted rejected iff its exact power at N is ≥ 0.99.

    The laws come from the mutant functions themselves (all 256 bytes per step), so the
    tables above cannot drift from the code.
    """
    result, df = exact_power(row, mutant)
    print(f"\nPOWER {row:<16} {mutant:<8} N={ROWS[row][2]:<8} df={df:<5} power={result:.4f}")  # noqa: T201
    assert (result >= POWER_MIN) == (mutant in ASSERTED[row])


def test_step_laws() -> None:
    """The step laws: 8-bit mod favours low indices, floor(u·m) spreads the same excess."""
    assert step_law(mod8, 20) == [13 / 256] * 16 + [12 / 256] * 4
    floor_law = step_law(floor8, 20)
    assert sorted(floor_law) == sorted(step_law(mod8, 20))
    assert floor_law != step_law(mod8, 20)
    assert step_law(mod8, 16) == [1 / 16] * 16  # a power of two has no mod bias


# -- make test rows -------------------------------------------------------------------------


def test_full_ordered_outcome_n5_k3() -> None:
    """Every ordered panel of 3 of 5 is equally likely (60 cells, N = 6·10⁴)."""
    n, k, draws = 5, 3, 60_000
    data = full_ordered(n, k, draws, FIRST["full_5_3"])
    for name, counts in data.items():
        report("full ordered n=5 k=3", name, draws, full_ordered_result(counts, n, k, draws))
    assert full_ordered_result(data["product"], n, k, draws).p >= ALPHA


@pytest.mark.parametrize("mutant", ASSERTED["full_5_3"])
def test_full_ordered_outcome_n5_k3_rejects(mutant: str) -> None:
    """The full-outcome χ² rejects a mutant that never seats pool index 0."""
    n, k, draws = 5, 3, 60_000
    result = full_ordered_result(full_ordered(n, k, draws, FIRST["full_5_3"])[mutant], n, k, draws)
    report("full ordered n=5 k=3", mutant, draws, result)
    assert result.p < ALPHA


def test_position_item_n20_k5() -> None:
    """Each member is equally likely at each panel position (n = 20, k = 5, N = 10⁵)."""
    n, k, draws = 20, 5, 100_000
    data = position_item(n, k, draws, FIRST["position_item"])
    for name, counts in data.items():
        report("position x item n=20 k=5", name, draws, position_item_result(counts, n, k, draws))
    assert position_item_result(data["product"], n, k, draws).p >= ALPHA


@pytest.mark.parametrize("mutant", ASSERTED["position_item"])
def test_position_item_n20_k5_rejects(mutant: str) -> None:
    """The position × item statistic rejects 8-bit mod n, floor(float·n) and skipping 0."""
    n, k, draws = 20, 5, 100_000
    data = position_item(n, k, draws, FIRST["position_item"])[mutant]
    result = position_item_result(data, n, k, draws)
    report("position x item n=20 k=5", mutant, draws, result)
    assert result.p < ALPHA


def test_rank_law_n20_k5() -> None:
    """Position i holds the (i+1)-th smallest of n uniform ranks (same draws as above).

    Reversing a uniform permutation gives a uniform permutation, so no statistic of the
    outcomes alone can see a descending sort; this one looks at the ranks.
    """
    n, k, draws = 20, 5, 100_000
    data = position_item(n, k, draws, FIRST["position_item"])
    for name, counts in data.items():
        report("rank law n=20 k=5", name, draws, rank_law_result(counts, draws))
    assert rank_law_result(data["product"], draws).p >= ALPHA


@pytest.mark.parametrize("mutant", ["descending"])
def test_rank_law_n20_k5_rejects(mutant: str) -> None:
    """The rank law rejects the descending sort."""
    draws = 100_000
    data = position_item(20, 5, draws, FIRST["position_item"])[mutant]
    result = rank_law_result(data, draws)
    report("rank law n=20 k=5", mutant, draws, result)
    assert result.p < ALPHA


def test_pairwise_inclusion_n12_k4() -> None:
    """Each of the 66 pairs is seated together with π = k(k−1)/(n(n−1)) (N = 10⁵)."""
    n, k, draws = 12, 4, 100_000
    data = pairwise(n, k, draws, FIRST["pairwise"])
    for name, counts in data.items():
        report("pairwise n=12 k=4", name, draws, pairwise_result(counts, n, k, draws))
    assert pairwise_result(data["product"], n, k, draws).p >= ALPHA


@pytest.mark.parametrize("mutant", ASSERTED["pairwise"])
def test_pairwise_inclusion_n12_k4_rejects(mutant: str) -> None:
    """Pairwise inclusion rejects 8-bit mod n and skipping index 0 (floor8: power 0.53)."""
    n, k, draws = 12, 4, 100_000
    result = pairwise_result(pairwise(n, k, draws, FIRST["pairwise"])[mutant], n, k, draws)
    report("pairwise n=12 k=4", mutant, draws, result)
    assert result.p < ALPHA


def test_strata() -> None:
    """Strata of 8/15/30 with quotas 2/3/4 (+1 reserve): inclusion, independence (N = 10⁵)."""
    draws = 100_000
    data = strata(draws, FIRST["strata"])
    for name, counts in data.items():
        report("strata inclusion", name, draws, strata_inclusion_result(counts, draws))
        report("strata joint first seats", name, draws, strata_joint_result(counts, draws))
    assert strata_inclusion_result(data["product"], draws).p >= ALPHA
    assert strata_joint_result(data["product"], draws).p >= ALPHA


def test_strata_reject_a_foreign_member() -> None:
    """Inclusion rejects a stratum leak that lets a member of A02 into A01."""
    draws = 100_000
    result = strata_inclusion_result(strata(draws, FIRST["strata"])["leak_foreign"], draws)
    report("strata inclusion", "leak_foreign", draws, result)
    assert result.p < ALPHA


def test_strata_reject_shared_ranks() -> None:
    """The joint table rejects a stratum leak that correlates the strata's orders."""
    draws = 100_000
    result = strata_joint_result(strata(draws, FIRST["strata"])["leak_shared"], draws)
    report("strata joint first seats", "leak_shared", draws, result)
    assert result.p < ALPHA


def test_replacement_uniformity() -> None:
    """After panel seat j declines, mode A's replacement is uniform over the non-panel members."""
    draws = 100_000
    data = replacement(draws, FIRST["replacement"])
    for name, (table, _) in data.items():
        report("replacement n=24 k=4 r=1", name, draws, replacement_result(table, draws))
    table, not_next = data["product"]
    assert not_next == 0  # mode A took order[k], the first reserve, every time
    assert replacement_result(table, draws).p >= ALPHA


@pytest.mark.parametrize("mutant", ASSERTED["replacement"])
def test_replacement_uniformity_rejects(mutant: str) -> None:
    """The replacement statistic rejects an 8-bit mod n pick and a pool-order neighbour."""
    draws = 100_000
    table, _ = replacement(draws, FIRST["replacement"])[mutant]
    result = replacement_result(table, draws)
    report("replacement n=24 k=4 r=1", mutant, draws, result)
    assert result.p < ALPHA


def test_avalanche() -> None:
    """One flipped bit of s or ρ gives an independent order: τ ≈ 0, joint positions uniform."""
    draws = 10_000
    data = avalanche(draws, FIRST["avalanche"])
    for name, (taus, cells) in data.items():
        report("avalanche mean tau", name, draws, tau_result(taus))
        report("avalanche joint positions", name, draws, uniform_chi2(cells, draws))
    taus, cells = data["product"]
    assert tau_result(taus).p >= ALPHA
    assert uniform_chi2(cells, draws).p >= ALPHA


def test_avalanche_rejects_a_non_mixing_chain() -> None:
    """Both avalanche statistics reject a seed and ranks built by XOR instead of HMAC."""
    draws = 10_000
    taus, cells = avalanche(draws, FIRST["avalanche"])["xor_chain"]
    for name, result in (("avalanche mean tau", tau_result(taus)),
                         ("avalanche joint positions", uniform_chi2(cells, draws))):  # fmt: skip
        report(name, "xor_chain", draws, result)
        assert result.p < ALPHA


# -- make test-slow rows ------------------------------------------------------------------


@pytest.mark.slow
def test_full_ordered_outcome_n6_k6() -> None:
    """Every one of the 720 orders of 6 members is equally likely (N = 7.2·10⁵)."""
    n, k, draws = 6, 6, 720_000
    data = full_ordered(n, k, draws, FIRST["full_6_6_slow"])
    for name, counts in data.items():
        report("full ordered n=6 k=6", name, draws, full_ordered_result(counts, n, k, draws))
    assert full_ordered_result(data["product"], n, k, draws).p >= ALPHA
    for mutant in ASSERTED["full_6_6"]:
        assert full_ordered_result(data[mutant], n, k, draws).p < ALPHA


@pytest.mark.slow
def test_position_item_n20_k5_large() -> None:
    """Position × item with N = 10⁶; the mutants are rejected at the same N."""
    n, k, draws = 20, 5, 1_000_000
    data = position_item(n, k, draws, FIRST["position_item_slow"])
    for name, counts in data.items():
        report("position x item n=20 k=5", name, draws, position_item_result(counts, n, k, draws))
        report("rank law n=20 k=5", name, draws, rank_law_result(counts, draws))
    assert position_item_result(data["product"], n, k, draws).p >= ALPHA
    assert rank_law_result(data["product"], draws).p >= ALPHA
    for mutant in ("mod8", "floor8", "skip0"):
        assert position_item_result(data[mutant], n, k, draws).p < ALPHA
    assert rank_law_result(data["descending"], draws).p < ALPHA


@pytest.mark.slow
def test_two_level_position_item() -> None:
    """100 position × item p-values (10⁴ draws each) are uniform (KS); the mutants' are not."""
    n, k, draws, runs = 20, 5, 10_000, 100
    p_values: dict[str, list[float]] = {}
    for run in range(runs):
        data = position_item(n, k, draws, FIRST["two_level_slow"] + run * draws)
        for name, counts in data.items():
            p_values.setdefault(name, []).append(position_item_result(counts, n, k, draws).p)
    results = {}
    for name, values in p_values.items():
        ks = stats.kstest(values, "uniform")
        results[name] = Result(float(ks.statistic), runs, float(ks.pvalue))
        report("two-level KS position x item", name, runs * draws, results[name])
    assert results["product"].p >= ALPHA
    assert results["mod8"].p < ALPHA
    assert results["floor8"].p < ALPHA
    assert results["skip0"].p < ALPHA
