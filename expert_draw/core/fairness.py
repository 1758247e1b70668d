"""Fairness analytics over recorded draws: detectors and platform statistics (pure).

Everything here is a pure function of its inputs: no clock (the caller passes
``as_of_ms``), no randomness, no I/O. The caller (the database side, or an offline tool
fed from exported records) builds :class:`DrawRecord` and :class:`ExpertInfo` values;
:func:`analyse` returns a :class:`FairnessReport`, a frozen tree holding every figure,
which ``expert_draw.adapters.fairness_report`` renders. docs/fairness-analytics.md
describes each detector, its statistic, its threshold and what a finding does and does
not prove.

The model of a fair draw is EDS-1 (docs/spec/draw-v1.md §3): within each discipline
stratum the panel is a uniform ``k``-subset of the eligible pool, and draws are
independent. Every threshold is a key of :class:`FairnessPolicy` (the ``[fairness]``
table), never a constant here. numpy and scipy are imported inside the functions that
compute, so the data model and the policy import without them.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from expert_draw.core.policy import PolicyError

if TYPE_CHECKING:
    import numpy.typing as npt

# 中国标准时间 (UTC+8, no daylight saving): the platform's periods are calendar months there.
CHINA_STANDARD_TIME = timezone(timedelta(hours=8), "CST")
EXECUTED_STATES = frozenset({"EXECUTED", "OPENED", "CLOSED", "AWARDED"})
PENDING_STATES = frozenset({"COMMITTED", "AWAITING_BEACON"})
# Decline reason codes (draw-v1.md §5) by who acted: the expert answered, the expert did
# not answer, or the service struck the member. Only the first two are responses.
NO_ANSWER_REASONS = frozenset({"NO_ANSWER", "ABSENT"})
CORRECTIONS = ("holm", "bonferroni")
_MS_PER_HOUR = 3_600_000
_MAX_COUNT = 1_000_000
_REASON = re.compile(r"[A-Z0-9_]{1,32}")


class FairnessInputError(ValueError):
    """Records that contradict themselves (a duplicate draw id, a seat outside its pool)."""


# -- the policy: [fairness] --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FairnessPolicy:
    """Thresholds of every detector (the ``[fairness]`` table; docs/fairness-analytics.md).

    Attributes:
        alpha: family-wise significance level of every test, after the correction.
        correction: ``holm`` or ``bonferroni``, over each detector's family of tests.
        min_expected: bins of the goodness-of-fit statistic hold at least this expected
            count; experts below it are merged (the usual "expected ≥ 5" rule).
        group_min_draws: a tenderer, agency or discipline is tested on its own only with
            at least this many executed draws.
        affinity_min_count: an (expert, tenderer) or (expert, agency) pair is flagged
            only with at least this many seats, however small its p-value.
        redraw_max_rate: a requester whose share of re-drawn tenders exceeds this is
            flagged (with at least ``redraw_min_chains`` tenders).
        redraw_min_chains: the fewest tenders a requester needs before its rate counts.
        steer_min_attempts: the fewest executed attempts of a tender for the steering
            detector to look at its final attempt.
        steer_min_chains: the fewest chains in which the same expert must be seated last
            (and not before) for the steering detector to flag the requester.
        decline_min_count: the fewest times a (decliner, replacement) pair must recur to
            be flagged.
        service_reasons: decline reason codes applied by the service, not chosen by the
            expert: not responses, and not counted by the decline-pattern detector.
        panel_max_per_employer: a panel with more seats than this from one employer is a
            finding.
        abandon_after_hours: a commitment still waiting for its nonce this many hours
            after creation counts as abandoned (an expired one always does).
    """

    alpha: float = 0.001
    correction: str = "holm"
    min_expected: float = 5.0
    group_min_draws: int = 30
    affinity_min_count: int = 3
    redraw_max_rate: float = 0.2
    redraw_min_chains: int = 5
    steer_min_attempts: int = 2
    steer_min_chains: int = 2
    decline_min_count: int = 3
    service_reasons: tuple[str, ...] = ("BUSY", "STRUCK_48_3")
    panel_max_per_employer: int = 2
    abandon_after_hours: int = 24

    @classmethod
    def from_mapping(cls, table: Mapping[str, object], *, path: str = "fairness") -> FairnessPolicy:
        """Validate the ``[fairness]`` table (its keys; a missing key takes its default).

        Raises:
            PolicyError: every problem, each with its key path (``fairness.alpha``).
        """
        problems: list[tuple[str, str]] = []
        values: dict[str, object] = {}
        known = {f.name: f for f in dataclasses.fields(cls)}
        for key, value in table.items():
            where = f"{path}.{key}"
            check = _CHECKS.get(key)
            if key not in known or check is None:
                problems.append((where, "unknown key"))
                continue
            why, parsed = check(value)
            if why:
                problems.append((where, why))
            else:
                values[key] = parsed
        if problems:
            raise PolicyError(problems)
        return cls(**values)  # type: ignore[arg-type]

    def to_mapping(self) -> dict[str, object]:
        """Every key with its effective value (what the report prints)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


Check = Callable[[object], tuple[str, object]]


def _probability(value: object) -> tuple[str, object]:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "must be a number", None
    if not 0 < value < 1:
        return "must lie strictly between 0 and 1", None
    return "", float(value)


def _rate(value: object) -> tuple[str, object]:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "must be a number", None
    if not 0 <= value <= 1:
        return "must lie between 0 and 1", None
    return "", float(value)


def _positive(value: object) -> tuple[str, object]:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "must be a number", None
    if not 0 < value <= _MAX_COUNT or math.isnan(value):
        return f"must lie above 0 and at most {_MAX_COUNT}", None
    return "", float(value)


def _count(low: int, high: int) -> Check:
    def check(value: object) -> tuple[str, object]:
        if isinstance(value, bool) or not isinstance(value, int):
            return "must be an integer", None
        if not low <= value <= high:
            return f"must lie between {low} and {high}", None
        return "", value

    return check


def _correction(value: object) -> tuple[str, object]:
    if value not in CORRECTIONS:
        return f"must be one of {', '.join(CORRECTIONS)}", None
    return "", value


def _reasons(value: object) -> tuple[str, object]:
    if not isinstance(value, list | tuple) or not all(
        isinstance(v, str) and _REASON.fullmatch(v) for v in value
    ):
        return "must be an array of decline reason codes ([A-Z0-9_])", None
    return "", tuple(sorted(set(value)))


_CHECKS: dict[str, Check] = {
    "alpha": _probability,
    "correction": _correction,
    "min_expected": _positive,
    "group_min_draws": _count(1, 1_000_000),
    "affinity_min_count": _count(1, 1_000_000),
    "redraw_max_rate": _rate,
    "redraw_min_chains": _count(1, 1_000_000),
    "steer_min_attempts": _count(2, 1_000),
    "steer_min_chains": _count(1, 1_000_000),
    "decline_min_count": _count(1, 1_000_000),
    "service_reasons": _reasons,
    "panel_max_per_employer": _count(1, 1_000),
    "abandon_after_hours": _count(1, 1_000_000),
}


# -- input records -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Stratum:
    """One discipline of a draw: its eligible pool, its seats and its drawn panel.

    Attributes:
        discipline: the requested code (``d`` of draw-v1.md §3).
        pool: the eligible members holding ``d`` at the freeze (``M_d``), expert ids.
        seats: the quota ``k_d``.
        drawn: ``panel[d]`` at execution, before any decline or strike; empty for a draw
            never executed.
        short: the freeze found this discipline short (``INSUFFICIENT_POOL``).
        size: ``|M_d|`` when the pool's members are not given (a public count: the draw
            is not closed, so its identities are not disclosed); 0: ``len(pool)``.
    """

    discipline: str
    pool: tuple[str, ...]
    seats: int
    drawn: tuple[str, ...] = ()
    short: bool = False
    size: int = 0


@dataclass(frozen=True, slots=True)
class Decline:
    """A ``draw.decline`` and the member who took the seat (``""``: none, or not seated)."""

    expert_id: str
    reason: str
    replaced_by: str = ""


@dataclass(frozen=True, slots=True)
class DrawRecord:
    """One draw as the supervision side sees it (identities resolved under a grant).

    Attributes:
        draw_id: the draw id.
        requester: the trading system's principal.
        project_ref: the project reference (hex).
        tender_ref: the tender/lot reference (hex; one per lot).
        tenderer: the tenderer's 统一社会信用代码.
        agency: the agency's 统一社会信用代码 (``""``: none).
        state: the lifecycle state (``COMMITTED``, ``EXECUTED``, ``CANCELLED``, ...).
        created_ms: creation time, UTC milliseconds.
        strata: the disciplines in the draw's ``D`` order.
        supersedes: the draw id this attempt replaces (``""``: none).
        seated: the seats at the last event (after replacements), every discipline.
        accepted: members who confirmed (``draw.accept``).
        declines: the declines and strikes in log order.
        shortfall: the draw could not seat its panel (refused at the freeze, or
            cancelled ``REPL_EXHAUSTED``).
        cancel_reason: the ``draw.cancel`` reason, if any.
        was_executed: the draw has a ``draw.execute`` (for a draw whose panels are not
            given, e.g. cancelled after execution but never closed).
    """

    draw_id: str
    requester: str
    project_ref: str
    tender_ref: str
    tenderer: str
    agency: str
    state: str
    created_ms: int
    strata: tuple[Stratum, ...] = ()
    supersedes: str = ""
    seated: tuple[str, ...] = ()
    accepted: tuple[str, ...] = ()
    declines: tuple[Decline, ...] = ()
    shortfall: bool = False
    cancel_reason: str = ""
    was_executed: bool = False

    @property
    def executed(self) -> bool:
        """The panels were drawn (also true of a draw cancelled after execution)."""
        return (self.was_executed or self.state in EXECUTED_STATES
                or any(s.drawn for s in self.strata))  # fmt: skip


@dataclass(frozen=True, slots=True)
class ExpertInfo:
    """What the analytics know of an expert: the id and an opaque hashed employer id."""

    expert_id: str
    employer_ref: str


# -- the report model --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Gof:
    """A goodness-of-fit test of seat counts against a uniform draw.

    ``statistic`` is the variance-standardised Pearson sum ``X² = Σ (O−E)²/V`` over the
    bins; under the null ``X²/scale`` is approximately χ² with ``df`` (not an integer)
    degrees of freedom (Rao–Scott second-order correction).
    """

    statistic: float
    df: float
    scale: float
    p_value: float
    bins: int
    merged_experts: int
    experts: int
    draws: int
    seats: int
    significant: bool


@dataclass(frozen=True, slots=True)
class Excess:
    """A count against its expectation under a fair draw, with its upper-tail p-value.

    Attributes:
        group: the context (tenderer, agency, requester, decliner), ``""`` if global.
        subject: the expert (or replacement, or employer) counted.
        trials: the draws (or events) in which the count could grow.
        observed: the count.
        expected: its expectation under the null.
        p_value: ``P(X ≥ observed)`` under the null (exact Poisson-binomial, or a sum of
            hypergeometric counts for employers).
        p_adjusted: after the policy's correction over the detector's family.
        flagged: ``p_adjusted ≤ alpha`` and the detector's minimum count is met.
    """

    group: str
    subject: str
    trials: int
    observed: int
    expected: float
    p_value: float
    p_adjusted: float
    flagged: bool


@dataclass(frozen=True, slots=True)
class Selection:
    """Per-expert selection frequency over every executed draw, and the global test."""

    experts: tuple[Excess, ...]
    gof: Gof | None
    flagged: tuple[Excess, ...]
    strata_left_out: int = 0


@dataclass(frozen=True, slots=True)
class GroupGof:
    """The goodness-of-fit test restricted to one tenderer, agency or discipline."""

    group: str
    draws: int
    gof: Gof
    p_adjusted: float
    flagged: bool


@dataclass(frozen=True, slots=True)
class GroupAnalysis:
    """The per-group tests of one dimension; groups below the minimum are only counted."""

    dimension: str
    groups: tuple[GroupGof, ...]
    skipped: int


@dataclass(frozen=True, slots=True)
class PairAnalysis:
    """A detector over a family of counts: how many were tested, the notable rows."""

    name: str
    tested: int
    rows: tuple[Excess, ...]
    flagged: tuple[Excess, ...]


@dataclass(frozen=True, slots=True)
class Chain:
    """The attempts of one tender (linked by ``supersedes`` or the same requester+tender)."""

    requester: str
    tender_ref: str
    project_ref: str
    draw_ids: tuple[str, ...]
    executed: int


@dataclass(frozen=True, slots=True)
class RequesterRedraws:
    """One trading system's tenders and how many were re-drawn."""

    requester: str
    chains: int
    redrawn: int
    rate: float
    flagged: bool


@dataclass(frozen=True, slots=True)
class Redraws:
    """Re-draw chains, re-draw rates per requester, and the steering detector."""

    chains: tuple[Chain, ...]
    requesters: tuple[RequesterRedraws, ...]
    platform_rate: float
    steering: PairAnalysis


@dataclass(frozen=True, slots=True)
class PanelConcentration:
    """A panel holding more seats from one employer than the policy allows."""

    draw_id: str
    employer_ref: str
    seats: int
    panel_size: int


@dataclass(frozen=True, slots=True)
class Employers:
    """Employer concentration: panels over the cap, employers over their pool share."""

    panels: tuple[PanelConcentration, ...]
    employers: PairAnalysis


@dataclass(frozen=True, slots=True)
class PeriodRow:
    """Draw counts of one calendar month (中国标准时间)."""

    period: str
    draws: int
    executed: int
    cancelled: int
    expired: int
    abandoned: int
    shortfalls: int
    redraws: int
    seats: int
    declines: int


@dataclass(frozen=True, slots=True)
class DisciplineRow:
    """Draw counts of one discipline code."""

    discipline: str
    strata: int
    executed: int
    seats: int
    short: int
    mean_pool: float


@dataclass(frozen=True, slots=True)
class PartyRow:
    """Counts per trading system or per project, with the draws to look at."""

    key: str
    draws: int
    executed: int
    cancelled: int
    abandoned: int
    redraws: int
    declines: int
    shortfalls: int


@dataclass(frozen=True, slots=True)
class Responses:
    """How seated experts answered (draw.accept, draw.decline by reason)."""

    accepted: int
    declined: int
    no_answer: int
    struck: int
    by_reason: tuple[tuple[str, int], ...]
    accept_rate: float
    decline_rate: float
    no_answer_rate: float


@dataclass(frozen=True, slots=True)
class PlatformStats:
    """The platform's data statistics (细则 第16条)."""

    draws: int
    executed: int
    months: tuple[PeriodRow, ...]
    disciplines: tuple[DisciplineRow, ...]
    requesters: tuple[PartyRow, ...]
    projects: tuple[PartyRow, ...]
    responses: Responses
    shortfalls: tuple[str, ...]
    abandoned: tuple[str, ...]
    cancelled: tuple[str, ...]
    redraws: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Finding:
    """One line of the report's summary: which detector, about whom, and why."""

    detector: str
    subject: str
    detail: str
    p_value: float | None = None


@dataclass(frozen=True, slots=True)
class FairnessReport:
    """Everything :func:`analyse` computed, for the renderer."""

    policy: FairnessPolicy
    as_of_ms: int
    selection: Selection
    groups: tuple[GroupAnalysis, ...]
    affinity: tuple[PairAnalysis, ...]
    redraws: Redraws
    declines: PairAnalysis
    employers: Employers
    platform: PlatformStats
    findings: tuple[Finding, ...] = field(default=())


# -- statistics helpers ------------------------------------------------------------------


def adjust(p_values: Sequence[float], method: str) -> list[float]:
    """Family-wise adjusted p-values: Holm's step-down, or Bonferroni.

    Holm: sort ascending, ``p'_(i) = max_{j ≤ i} min(1, (m − j + 1)·p_(j))``; both control
    the family-wise error rate under any dependence between the tests.
    """
    m = len(p_values)
    if method == "bonferroni":
        return [min(1.0, m * p) for p in p_values]
    adjusted = [0.0] * m
    running = 0.0
    for rank, (index, p) in enumerate(sorted(enumerate(p_values), key=lambda t: (t[1], t[0]))):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[index] = running
    return adjusted


def tail_of_sum(pmfs: Iterable[Sequence[float]], observed: int) -> float:
    """``P(Σ X_j ≥ observed)`` for independent counts ``X_j`` given by their pmfs.

    Each pmf lists ``P(X = 0), P(X = 1), ...``. The convolution is truncated at
    ``observed`` with an absorbing last cell, so the tail is summed directly (no
    ``1 − cdf`` cancellation) and the work is ``O(len · observed)`` per term.
    """
    import numpy as np

    if observed <= 0:
        return 1.0
    state = np.zeros(observed + 1)
    state[0] = 1.0
    for pmf in pmfs:
        f = np.asarray(pmf, dtype=float)
        tail = np.cumsum(f[::-1])[::-1]  # tail[v] = P(X ≥ v)
        below = state[:observed]
        shifted = np.convolve(below, f[:observed])[:observed]
        # P(X ≥ observed − i) for each i < observed: 0 where observed − i > len(f) − 1
        need = observed - np.arange(observed)
        reach = np.where(need < len(f), tail[np.minimum(need, len(f) - 1)], 0.0)
        absorbed = state[observed] + float(below @ reach)
        state = np.append(shifted, absorbed)
    return float(min(1.0, state[observed]))


def bernoulli_tail(probabilities: Iterable[float], observed: int) -> float:
    """``P(Σ Bernoulli(p_j) ≥ observed)`` (Poisson-binomial), equal ``p`` grouped as binomials."""
    if observed <= 0:
        return 1.0
    groups = Counter(probabilities)
    certain = sum(n for p, n in groups.items() if p >= 1.0)
    need = observed - certain
    if need <= 0:
        return 1.0
    pmfs = []
    for p, n in sorted(groups.items()):
        if 0.0 < p < 1.0:
            whole = binomial_pmf(n, p)
            support = min(n, need)
            pmfs.append([*whole[:support], float(sum(whole[support:]))])
    return tail_of_sum(pmfs, need)


def binomial_pmf(n: int, p: float) -> list[float]:
    """``P(X = v)`` for ``v = 0..n``, ``X ~ Binomial(n, p)``, ``0 < p < 1`` (log-space)."""
    import numpy as np
    from scipy import special

    v = np.arange(n + 1)
    log = (
        special.gammaln(n + 1) - special.gammaln(v + 1) - special.gammaln(n - v + 1)
        + v * math.log(p) + (n - v) * math.log1p(-p)
    )  # fmt: skip
    pmf: list[float] = np.exp(log).tolist()
    return pmf


def hypergeometric_pmf(population: int, marked: int, drawn: int) -> list[float]:
    """The pmf of the marked members among ``drawn`` taken without replacement."""
    import numpy as np
    from scipy import special

    def log_comb(n: npt.ArrayLike, k: npt.ArrayLike) -> npt.NDArray[np.float64]:
        n, k = np.asarray(n, dtype=float), np.asarray(k, dtype=float)
        out = special.gammaln(n + 1) - special.gammaln(k + 1) - special.gammaln(n - k + 1)
        return np.asarray(out, dtype=np.float64)

    v = np.arange(min(marked, drawn) + 1)
    possible = drawn - v <= population - marked
    log = log_comb(marked, v) + log_comb(population - marked, np.maximum(drawn - v, 0))
    pmf: list[float] = np.where(possible, np.exp(log - log_comb(population, drawn)), 0.0).tolist()
    return pmf


# -- the counted units: one per (executed draw, stratum) ---------------------------------


@dataclass(frozen=True, slots=True)
class Unit:
    """One stratum of one executed draw whose panel is a uniform ``k``-subset of its pool.

    Pass 1 of draw-v1.md §3 fills the panels in ``D`` order, each from the members not yet
    claimed. The first stratum's panel is therefore exactly a uniform ``k``-subset of its
    pool, and so is a later stratum's whose pool shares nobody with an earlier one: each
    member is seated with probability ``p = k / n``. A later stratum that shares members
    with an earlier one has inclusion probabilities with no closed form (its members
    outside the overlap gain from the members the earlier panel took); it forms no unit
    and is left out of every statistical test (:attr:`Selection.strata_left_out`). So each
    expert is counted at most once per draw, in the first stratum whose pool holds it.
    """

    draw: DrawRecord
    discipline: str
    members: tuple[str, ...]
    drawn: frozenset[str]
    n: int
    p: float

    @property
    def weight(self) -> float:
        """``p(1−p)·n/(n−1)``: with it the covariance of the counts is ``c(diag − m mᵀ/n)``."""
        if self.n < 2 or self.p >= 1.0:  # noqa: PLR2004 - one member: no variance
            return 0.0
        return self.p * (1 - self.p) * self.n / (self.n - 1)


def units_of(draw: DrawRecord) -> list[Unit]:
    """The exact units of an executed draw (none for a draw never executed)."""
    if not draw.executed:
        return []
    seen: set[str] = set()
    out = []
    for s in draw.strata:
        pool = tuple(dict.fromkeys(s.pool))
        if pool and seen.isdisjoint(pool):
            n = len(pool)
            drawn = frozenset(s.drawn)
            out.append(Unit(draw, s.discipline, pool, drawn, n, min(s.seats, n) / n))
        seen.update(pool)
    return out


def _check(draws: Sequence[DrawRecord]) -> None:
    ids = Counter(d.draw_id for d in draws)
    twice = sorted(i for i, n in ids.items() if n > 1)
    if twice:
        raise FairnessInputError(f"draw ids occur more than once: {', '.join(twice[:5])}")
    for d in draws:
        for s in d.strata:
            if s.seats < 1:
                raise FairnessInputError(f"{d.draw_id}: {s.discipline} has no seat")
            outside = set(s.drawn) - set(s.pool)
            if outside:
                raise FairnessInputError(f"{d.draw_id}: {s.discipline} drew outside its pool")


# -- goodness of fit ---------------------------------------------------------------------


def _bins(expected: Mapping[str, float], min_expected: float) -> tuple[dict[str, int], int]:
    """Each expert's bin: alone when its expectation reaches ``min_expected``, else merged.

    Experts below the minimum are sorted by ``(expected, id)`` and merged greedily into
    bins that reach it; a remainder joins the last merged bin (or, with none, the
    smallest single bin). Returns the map and the number of merged experts.
    """
    floor = min_expected * (1 - 1e-9)  # sums of k/n carry rounding: 50 × 0.1 < 5
    single = sorted((e for e in expected if expected[e] >= floor), key=lambda e: (expected[e], e))
    small = sorted((e for e in expected if expected[e] < floor), key=lambda e: (expected[e], e))
    bin_of = {e: i for i, e in enumerate(single)}
    nxt, total, current = len(single), 0.0, []
    for e in small:
        current.append(e)
        total += expected[e]
        if total >= floor:
            bin_of.update(dict.fromkeys(current, nxt))
            nxt, total, current = nxt + 1, 0.0, []
    if current:
        target = nxt - 1 if nxt > len(single) else (0 if single else nxt)
        bin_of.update(dict.fromkeys(current, target))
    return bin_of, len(small)


def gof(units: Sequence[Unit], policy: FairnessPolicy) -> Gof | None:
    """Variance-standardised χ² of the per-expert seat counts (Rao–Scott corrected).

    Bins are experts (merged below ``min_expected``). With ``d = O − E`` per bin and the
    exact null covariance ``Σ = Σ_u c_u (diag(m_u) − m_u m_uᵀ / n_u)`` of independent
    uniform draws, ``X² = Σ d_b² / Σ_bb`` has mean ``B`` and, for Gaussian ``d``, variance
    ``2·Σ ρ_ab²``; ``X² / g`` is referred to χ²(h) with ``h = B² / Σ ρ²`` and ``g = B / h``.
    None when fewer than two bins carry variance.
    """
    import numpy as np
    from scipy import sparse, stats

    expected: dict[str, float] = defaultdict(float)
    observed: Counter[str] = Counter()
    for u in units:
        for x in u.members:
            expected[x] += u.p
        observed.update(u.drawn)
    if sum(expected.values()) < 2 * policy.min_expected:
        return None
    bin_of, merged = _bins(expected, policy.min_expected)
    nbins = max(bin_of.values()) + 1
    rows, cols, data = [], [], []
    diag = np.zeros(nbins)
    for r, u in enumerate(x for x in units if x.weight > 0):
        m = Counter(bin_of[x] for x in u.members)
        for b, count in m.items():
            rows.append(r)
            cols.append(b)
            data.append(count * math.sqrt(u.weight / u.n))
            diag[b] += u.weight * count
    a = sparse.csr_matrix((data, (rows, cols)), shape=(max(rows, default=0) + 1, nbins))
    variance = diag - np.asarray(a.multiply(a).sum(axis=0)).ravel()
    keep = variance > 1e-12 * max(1.0, float(variance.max(initial=0.0)))
    if int(keep.sum()) < 2:  # noqa: PLR2004 - a test needs two bins
        return None
    o = np.zeros(nbins)
    e = np.zeros(nbins)
    for x, b in bin_of.items():
        o[b] += observed[x]
        e[b] += expected[x]
    scaled = a[:, np.flatnonzero(keep)] @ sparse.diags(1 / np.sqrt(variance[keep]))
    gram = scaled @ scaled.T if scaled.shape[0] < scaled.shape[1] else scaled.T @ scaled
    frob = float(gram.multiply(gram).sum())
    w_diag = np.asarray(scaled.multiply(scaled).sum(axis=0)).ravel()
    bins = int(keep.sum())
    rho2 = bins + frob - float(w_diag @ w_diag)
    statistic = float((((o - e)[keep]) ** 2 / variance[keep]).sum())
    h = bins * bins / rho2
    g = bins / h
    p = float(stats.chi2.sf(statistic / g, h))
    return Gof(
        statistic=statistic, df=h, scale=g, p_value=p, bins=bins, merged_experts=merged,
        experts=len(expected), draws=len({u.draw.draw_id for u in units}),
        seats=int(o.sum()), significant=p <= policy.alpha,
    )  # fmt: skip


# -- detectors ---------------------------------------------------------------------------


@dataclass
class _Tally:
    """Probabilities and an observed count for one (group, subject) of a family."""

    probabilities: list[float] = field(default_factory=list)
    observed: int = 0


def _family(
    name: str,
    tallies: Mapping[tuple[str, str], _Tally],
    policy: FairnessPolicy,
    min_count: int,
    *,
    keep_all: bool = False,
) -> PairAnalysis:
    """Tail p-values of a family of Bernoulli sums, corrected; rows with ``≥ min_count``."""
    keys = sorted(k for k, t in tallies.items() if any(0 < p < 1 for p in t.probabilities))
    pvals = [bernoulli_tail(tallies[k].probabilities, tallies[k].observed) for k in keys]
    rows = _excesses(keys, [tallies[k] for k in keys], pvals, policy, min_count)
    shown = rows if keep_all else tuple(r for r in rows if r.observed >= min_count)
    return PairAnalysis(name, len(keys), _by_p(shown), _by_p(r for r in rows if r.flagged))


def _excesses(
    keys: Sequence[tuple[str, str]],
    tallies: Sequence[_Tally],
    pvals: Sequence[float],
    policy: FairnessPolicy,
    min_count: int,
) -> tuple[Excess, ...]:
    adjusted = adjust(pvals, policy.correction)
    return tuple(
        Excess(
            group=g,
            subject=s,
            trials=len(t.probabilities),
            observed=t.observed,
            expected=sum(t.probabilities),
            p_value=p,
            p_adjusted=q,
            flagged=q <= policy.alpha and t.observed >= min_count,
        )
        for (g, s), t, p, q in zip(keys, tallies, pvals, adjusted, strict=True)
    )


def _by_p(rows: Iterable[Excess]) -> tuple[Excess, ...]:
    return tuple(sorted(rows, key=lambda r: (r.p_value, r.group, r.subject)))


def selection(units: Sequence[Unit], policy: FairnessPolicy) -> Selection:
    """Per expert: draws eligible, seats, expectation, tail p-value; and the global test."""
    tallies: dict[tuple[str, str], _Tally] = defaultdict(_Tally)
    for u in units:
        for x in u.members:
            t = tallies["", x]
            t.probabilities.append(u.p)
            t.observed += x in u.drawn
    family = _family("selection", tallies, policy, 1, keep_all=True)
    tested = {r.subject for r in family.rows}
    untested = tuple(
        Excess(
            "", x, len(t.probabilities), t.observed, sum(t.probabilities), 1.0, 1.0, flagged=False
        )
        for (_, x), t in sorted(tallies.items())
        if x not in tested
    )
    experts = tuple(sorted((*family.rows, *untested), key=lambda r: r.subject))
    return Selection(experts, gof(units, policy), family.flagged)


def left_out(draws: Iterable[DrawRecord]) -> int:
    """Strata of executed draws that form no unit (they overlap an earlier stratum)."""
    return sum(len([s for s in d.strata if s.pool]) - len(units_of(d)) for d in draws if d.executed)


def groups(units: Sequence[Unit], policy: FairnessPolicy) -> tuple[GroupAnalysis, ...]:
    """The goodness-of-fit test per tenderer, per agency and per discipline."""
    keys: dict[str, Callable[[Unit], str]] = {
        "tenderer": lambda u: u.draw.tenderer,
        "agency": lambda u: u.draw.agency,
        "discipline": lambda u: u.discipline,
    }
    out = []
    for dimension, key in keys.items():
        by: dict[str, list[Unit]] = defaultdict(list)
        for u in units:
            if key(u):
                by[key(u)].append(u)
        tested: list[tuple[str, int, Gof]] = []
        skipped = 0
        for name, members in sorted(by.items()):
            n = len({u.draw.draw_id for u in members})
            result = gof(members, policy) if n >= policy.group_min_draws else None
            if result is None:
                skipped += 1
            else:
                tested.append((name, n, result))
        adjusted = adjust([g.p_value for _, _, g in tested], policy.correction)
        rows = tuple(
            GroupGof(name, n, g, q, q <= policy.alpha)
            for (name, n, g), q in zip(tested, adjusted, strict=True)
        )
        out.append(GroupAnalysis(dimension, rows, skipped))
    return tuple(out)


def affinity(units: Sequence[Unit], policy: FairnessPolicy) -> tuple[PairAnalysis, ...]:
    """Experts seated unusually often for the same tenderer, and for the same agency."""
    out = []
    for dimension in ("tenderer", "agency"):
        tallies: dict[tuple[str, str], _Tally] = defaultdict(_Tally)
        for u in units:
            group = u.draw.tenderer if dimension == "tenderer" else u.draw.agency
            if not group:
                continue
            for x in u.members:
                t = tallies[group, x]
                t.probabilities.append(u.p)
                t.observed += x in u.drawn
        out.append(_family(f"affinity_{dimension}", tallies, policy, policy.affinity_min_count))
    return tuple(out)


def chains(draws: Sequence[DrawRecord]) -> tuple[Chain, ...]:
    """Attempts grouped by ``supersedes`` links and by the same (requester, tender_ref)."""
    parent = {d.draw_id: d.draw_id for d in draws}

    def root(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    first: dict[tuple[str, str], str] = {}
    for d in draws:
        links = [first.setdefault((d.requester, d.tender_ref), d.draw_id)]
        if d.supersedes in parent:
            links.append(d.supersedes)
        for other in links:
            parent[root(d.draw_id)] = root(other)
    members: dict[str, list[DrawRecord]] = defaultdict(list)
    for d in draws:
        members[root(d.draw_id)].append(d)
    out = []
    for attempts in members.values():
        attempts.sort(key=lambda d: (d.created_ms, d.draw_id))
        head = attempts[0]
        out.append(
            Chain(
                head.requester,
                head.tender_ref,
                head.project_ref,
                tuple(d.draw_id for d in attempts),
                sum(d.executed for d in attempts),
            )
        )
    return tuple(sorted(out, key=lambda c: (c.requester, c.draw_ids[0])))


def redraws(
    draws: Sequence[DrawRecord], chain_list: Sequence[Chain], policy: FairnessPolicy
) -> Redraws:
    """Re-draw rates per requester, and the steering detector over the chains.

    Steering: in a chain with at least ``steer_min_attempts`` executed attempts, an expert
    seated in the last executed attempt, eligible in an earlier one and seated in none
    of them. Under fair and independent attempts that happens with probability
    ``q = p_last · Π (1 − p_j)`` over the earlier attempts where it was eligible; the
    count per (requester, expert) is tested against those ``q`` like any other.
    """
    by_requester: dict[str, list[Chain]] = defaultdict(list)
    for c in chain_list:
        by_requester[c.requester].append(c)
    rows = []
    for requester, own in sorted(by_requester.items()):
        redrawn = sum(len(c.draw_ids) > 1 for c in own)
        rate = redrawn / len(own)
        flagged = len(own) >= policy.redraw_min_chains and rate > policy.redraw_max_rate
        rows.append(RequesterRedraws(requester, len(own), redrawn, rate, flagged))
    total = len(chain_list)
    platform = sum(len(c.draw_ids) > 1 for c in chain_list) / total if total else 0.0
    index = {d.draw_id: d for d in draws}
    tallies: dict[tuple[str, str], _Tally] = defaultdict(_Tally)
    for c in chain_list:
        executed = [index[i] for i in c.draw_ids if index[i].executed]
        if len(executed) >= policy.steer_min_attempts:
            _steering(c.requester, executed, tallies)
    steering = _family("steering", tallies, policy, policy.steer_min_chains)
    return Redraws(tuple(chain_list), tuple(rows), platform, steering)


def _steering(
    requester: str, executed: Sequence[DrawRecord], tallies: dict[tuple[str, str], _Tally]
) -> None:
    earlier: dict[str, list[float]] = defaultdict(list)
    seated_before: set[str] = set()
    for d in executed[:-1]:
        for u in units_of(d):
            for x in u.members:
                earlier[x].append(u.p)
            seated_before.update(u.drawn)
    for u in units_of(executed[-1]):
        for x in u.members:
            if x not in earlier:
                continue
            q = u.p * math.prod(1 - p for p in earlier[x])
            t = tallies[requester, x]
            t.probabilities.append(q)
            t.observed += x in u.drawn and x not in seated_before


def decline_pairs(draws: Sequence[DrawRecord], policy: FairnessPolicy) -> PairAnalysis:
    """(decliner, replacement) pairs recurring more often than a fair replacement gives.

    Given the seats and the members already used, a mode-A replacement is a uniform
    choice among the stratum's members not yet used, so each candidate ``z`` of a
    decline by ``x`` adds ``1/|candidates|`` to the expectation of the pair ``(x, z)``.
    Declines with a service reason (``service_reasons``) are not counted.
    """
    tallies: dict[tuple[str, str], _Tally] = defaultdict(_Tally)
    service = set(policy.service_reasons)
    for d in draws:
        if not d.executed:
            continue
        used = {x for s in d.strata for x in s.drawn}
        for dec in d.declines:
            stratum = _stratum_of(d, dec)
            if dec.replaced_by and dec.reason not in service and stratum is not None:
                candidates = {z for z in stratum.pool if z not in used and z != dec.expert_id}
                candidates.add(dec.replaced_by)
                for z in candidates:
                    tallies[dec.expert_id, z].probabilities.append(1 / len(candidates))
                tallies[dec.expert_id, dec.replaced_by].observed += 1
            used.update(x for x in (dec.expert_id, dec.replaced_by) if x)
    return _family("decline_pairs", tallies, policy, policy.decline_min_count)


def _stratum_of(draw: DrawRecord, dec: Decline) -> Stratum | None:
    for s in draw.strata:
        if dec.expert_id in s.drawn:
            return s
    for s in draw.strata:
        if dec.expert_id in s.pool and (not dec.replaced_by or dec.replaced_by in s.pool):
            return s
    return None


def employers(
    draws: Sequence[DrawRecord],
    units: Sequence[Unit],
    experts: Mapping[str, ExpertInfo],
    policy: FairnessPolicy,
) -> Employers:
    """Panels over ``panel_max_per_employer``, and employers seated above their pool share.

    An employer's seats in one unit follow a hypergeometric law (its counted members
    among the ``n`` free members, ``k`` drawn); the units are independent, so the tail of
    the total is the convolution of those laws.
    """
    panels: list[PanelConcentration] = []
    for d in draws:
        seats = d.seated or tuple(x for s in d.strata for x in s.drawn)
        by = Counter(
            experts[x].employer_ref for x in seats if x in experts and experts[x].employer_ref
        )
        panels.extend(
            PanelConcentration(d.draw_id, e, n, len(seats))
            for e, n in sorted(by.items())
            if n > policy.panel_max_per_employer
        )
    pmfs: dict[str, list[list[float]]] = defaultdict(list)
    observed: Counter[str] = Counter()
    expected: dict[str, float] = defaultdict(float)
    for u in units:
        by = Counter(
            experts[x].employer_ref for x in u.members if x in experts and experts[x].employer_ref
        )
        k = round(u.p * u.n)
        for e, m in by.items():
            pmfs[e].append(hypergeometric_pmf(u.n, m, k))
            expected[e] += k * m / u.n
        observed.update(
            experts[x].employer_ref for x in u.drawn if x in experts and experts[x].employer_ref
        )
    keys = sorted(e for e in pmfs if expected[e] > 0)
    pvals = [tail_of_sum(pmfs[e], observed[e]) for e in keys]
    tallies = [_Tally([expected[e]], observed[e]) for e in keys]
    rows = _excesses([("", e) for e in keys], tallies, pvals, policy, 1)
    rows = tuple(dataclasses.replace(r, trials=len(pmfs[r.subject])) for r in rows)
    family = PairAnalysis("employers", len(keys), _by_p(rows), _by_p(r for r in rows if r.flagged))
    return Employers(tuple(panels), family)


# -- platform statistics (细则 第16条) -----------------------------------------------------


def month_of(created_ms: int) -> str:
    """``YYYY-MM`` of a UTC millisecond timestamp in 中国标准时间 (UTC+8)."""
    return datetime.fromtimestamp(created_ms // 1000, tz=CHINA_STANDARD_TIME).strftime("%Y-%m")


def abandoned(draw: DrawRecord, policy: FairnessPolicy, as_of_ms: int) -> bool:
    """Committed and never executed: expired, or still pending past ``abandon_after_hours``."""
    if draw.executed:
        return False
    if draw.state == "EXPIRED":
        return True
    age = as_of_ms - draw.created_ms
    return draw.state in PENDING_STATES and age >= policy.abandon_after_hours * _MS_PER_HOUR


def _responses(draws: Sequence[DrawRecord], policy: FairnessPolicy) -> Responses:
    reasons = Counter(dec.reason for d in draws for dec in d.declines)
    struck = sum(n for r, n in reasons.items() if r in policy.service_reasons)
    no_answer = sum(
        n for r, n in reasons.items() if r in NO_ANSWER_REASONS and r not in policy.service_reasons
    )
    declined = sum(reasons.values()) - struck - no_answer
    accepted = sum(len(set(d.accepted)) for d in draws)
    answered = accepted + declined + no_answer

    def share(n: int) -> float:
        return n / answered if answered else 0.0

    return Responses(
        accepted, declined, no_answer, struck, tuple(sorted(reasons.items())),
        share(accepted), share(declined), share(no_answer),
    )  # fmt: skip


def _flags(draw: DrawRecord, policy: FairnessPolicy, as_of_ms: int, redraw: bool) -> dict[str, int]:
    return {
        "draws": 1,
        "executed": int(draw.executed),
        "cancelled": int(draw.state == "CANCELLED"),
        "expired": int(draw.state == "EXPIRED"),
        "abandoned": int(abandoned(draw, policy, as_of_ms)),
        "shortfalls": int(draw.shortfall or any(s.short for s in draw.strata)),
        "redraws": int(redraw),
        "seats": sum(s.seats for s in draw.strata),
        "declines": len(draw.declines),
    }


def platform(
    draws: Sequence[DrawRecord], chain_list: Sequence[Chain], policy: FairnessPolicy, as_of_ms: int
) -> PlatformStats:
    """Draws per month, per discipline, per trading system and per project; responses."""
    later = {i for c in chain_list for i in c.draw_ids[1:]}
    flags = {d.draw_id: _flags(d, policy, as_of_ms, d.draw_id in later) for d in draws}
    months: dict[str, Counter[str]] = defaultdict(Counter)
    requesters: dict[str, Counter[str]] = defaultdict(Counter)
    projects: dict[str, Counter[str]] = defaultdict(Counter)
    for d in draws:
        months[month_of(d.created_ms)].update(flags[d.draw_id])
        requesters[d.requester].update(flags[d.draw_id])
        projects[d.project_ref].update(flags[d.draw_id])
    period_fields = [f.name for f in dataclasses.fields(PeriodRow)][1:]
    party_fields = [f.name for f in dataclasses.fields(PartyRow)][1:]
    month_rows = tuple(
        PeriodRow(m, *(c[f] for f in period_fields)) for m, c in sorted(months.items())
    )
    requester_rows = tuple(
        PartyRow(r, *(c[f] for f in party_fields)) for r, c in sorted(requesters.items())
    )
    project_rows = tuple(
        PartyRow(p, *(c[f] for f in party_fields)) for p, c in sorted(projects.items())
    )

    def listed(key: str) -> tuple[str, ...]:
        return tuple(sorted(i for i, f in flags.items() if f[key]))

    return PlatformStats(
        draws=len(draws), executed=sum(f["executed"] for f in flags.values()),
        months=month_rows, disciplines=_disciplines(draws), requesters=requester_rows,
        projects=project_rows, responses=_responses(draws, policy),
        shortfalls=listed("shortfalls"), abandoned=listed("abandoned"),
        cancelled=listed("cancelled"), redraws=listed("redraws"),
    )  # fmt: skip


def _disciplines(draws: Sequence[DrawRecord]) -> tuple[DisciplineRow, ...]:
    acc: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    for d in draws:
        for s in d.strata:
            row = acc[s.discipline]
            row[0] += 1
            row[1] += d.executed
            row[2] += s.seats
            row[3] += s.short
            row[4] += s.size or len(set(s.pool))
    return tuple(
        DisciplineRow(code, n, executed, seats, short, pool / n)
        for code, (n, executed, seats, short, pool) in sorted(acc.items())
    )


# -- the whole report --------------------------------------------------------------------


def analyse(
    draws: Sequence[DrawRecord],
    experts: Iterable[ExpertInfo],
    policy: FairnessPolicy,
    *,
    as_of_ms: int,
) -> FairnessReport:
    """Run every detector and the platform statistics over the records.

    Raises:
        FairnessInputError: the records contradict themselves.
    """
    _check(draws)
    ordered = sorted(draws, key=lambda d: (d.created_ms, d.draw_id))
    info = {e.expert_id: e for e in experts}
    units = [u for d in ordered for u in units_of(d)]
    chain_list = chains(ordered)
    report = FairnessReport(
        policy=policy,
        as_of_ms=as_of_ms,
        selection=dataclasses.replace(selection(units, policy), strata_left_out=left_out(ordered)),
        groups=groups(units, policy),
        affinity=affinity(units, policy),
        redraws=redraws(ordered, chain_list, policy),
        declines=decline_pairs(ordered, policy),
        employers=employers(ordered, units, info, policy),
        platform=platform(ordered, chain_list, policy, as_of_ms),
    )
    return dataclasses.replace(report, findings=findings(report))


def _excess_finding(detector: str, r: Excess) -> Finding:
    where = f" for {r.group}" if r.group else ""
    detail = f"{r.observed} observed vs {r.expected:.2f} expected in {r.trials}{where}"
    subject = f"{r.group} / {r.subject}" if r.group else r.subject
    return Finding(detector, subject, detail, r.p_adjusted)


def findings(report: FairnessReport) -> tuple[Finding, ...]:
    """The summary: one line per flagged test, in detector order."""
    out: list[Finding] = []
    gof_result = report.selection.gof
    if gof_result is not None and gof_result.significant:
        out.append(Finding("selection_gof", "all draws", _gof_text(gof_result), gof_result.p_value))
    out.extend(_excess_finding("selection_expert", r) for r in report.selection.flagged)
    for g in report.groups:
        out.extend(
            Finding(f"gof_{g.dimension}", row.group, _gof_text(row.gof), row.p_adjusted)
            for row in g.groups
            if row.flagged
        )
    for analysis in (
        *report.affinity,
        report.redraws.steering,
        report.declines,
        report.employers.employers,
    ):
        out.extend(_excess_finding(analysis.name, r) for r in analysis.flagged)
    out.extend(
        Finding(
            "redraw_rate", r.requester, f"{r.redrawn} of {r.chains} tenders re-drawn ({r.rate:.0%})"
        )
        for r in report.redraws.requesters
        if r.flagged
    )
    out.extend(
        Finding(
            "panel_employer",
            p.draw_id,
            f"{p.seats} of {p.panel_size} seats from employer {p.employer_ref}",
        )
        for p in report.employers.panels
    )
    return tuple(out)


def _gof_text(g: Gof) -> str:
    return f"X²={g.statistic:.1f}, df≈{g.df:.1f} (scale {g.scale:.3f}), {g.draws} draws"


def summary_counts(report: FairnessReport) -> dict[str, Any]:
    """Headline numbers (for logs and the CLI): draws, findings per detector."""
    per = Counter(f.detector for f in report.findings)
    return {
        "draws": report.platform.draws,
        "executed": report.platform.executed,
        "findings": dict(per),
    }
