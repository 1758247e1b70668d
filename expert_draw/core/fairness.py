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
from array import array
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from expert_draw.core.policy import PolicyError

if TYPE_CHECKING:
    import numpy as np
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

# Sizes of the vectorised steps (memory, not results, depends on them).
_CHUNK = 1 << 21  # members per step over the units
_DENSE_KEYS = 1 << 22  # counts held in one dense array; beyond, sorted distinct keys
_DENSE_CELLS = 1 << 22  # cells of one dense block of the goodness-of-fit factor
_DENSE_BINS = 5_000  # the widest block whose Gram matrix is summed dense
_BATCH_NEED = 64  # Poisson-binomial tails needing at most this many successes: row-wise


def adjust(p_values: Sequence[float], method: str) -> list[float]:
    """Family-wise adjusted p-values: Holm's step-down, or Bonferroni.

    Holm: sort ascending, ``p'_(i) = max_{j ≤ i} min(1, (m − j + 1)·p_(j))``; both control
    the family-wise error rate under any dependence between the tests.
    """
    return _adjust(p_values, method, len(p_values))


def _adjust(p_values: Sequence[float], method: str, tests: int) -> list[float]:
    """:func:`adjust` in a family of ``tests`` tests whose others all have ``p = 1``.

    A p-value of 1 sorts after every smaller one, and its adjusted value is 1 whatever
    its rank; so the tests left out change neither the ranks nor the adjusted values of
    the given ones, only ``m``.
    """
    m = tests
    if method == "bonferroni":
        return [min(1.0, m * p) for p in p_values]
    adjusted = [0.0] * len(p_values)
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


Laws = tuple[tuple[float, int], ...]  # (p, how many Bernoulli(p)), ascending p


def _tails(items: Sequence[tuple[Laws, int]]) -> list[float]:
    """:func:`bernoulli_tail` of many sums at once, each given as ``(laws, observed)``.

    Sums with the same laws and the same count still needed share one computation; those
    needing at most ``_BATCH_NEED`` successes are computed together (:func:`_binomial_tails`),
    the others one by one exactly as :func:`bernoulli_tail` does.
    """
    out = [1.0] * len(items)
    jobs: dict[tuple[Laws, int], list[int]] = defaultdict(list)
    for i, (laws, observed) in enumerate(items):
        if observed <= 0:
            continue
        need = observed - sum(n for p, n in laws if p >= 1.0)
        if need > 0:
            jobs[tuple(sorted((p, n) for p, n in laws if 0.0 < p < 1.0)), need].append(i)
    by_need: dict[int, list[Laws]] = defaultdict(list)
    for laws, need in jobs:
        by_need[need].append(laws)
    values: dict[tuple[Laws, int], float] = {}
    for need, rows in by_need.items():
        if need <= _BATCH_NEED:
            values.update(zip(((r, need) for r in rows), _binomial_tails(rows, need), strict=True))
            continue
        values.update(((r, need), _binomial_tail(r, need)) for r in rows)
    for key, where in jobs.items():
        for i in where:
            out[i] = values[key]
    return out


def _binomial_tail(laws: Laws, need: int) -> float:
    """``P(Σ_j Binomial(n_j, p_j) ≥ need)`` as :func:`bernoulli_tail` computes it."""
    pmfs = []
    for p, n in laws:
        whole = binomial_pmf(n, p)
        support = min(n, need)
        pmfs.append([*whole[:support], float(sum(whole[support:]))])
    return tail_of_sum(pmfs, need)


def _binomial_tails(rows: Sequence[Laws], need: int) -> list[float]:
    """``P(Σ_j Binomial(n_j, p_j) ≥ need)`` for each row of laws (``0 < p < 1``), row-wise.

    The recursion of :func:`tail_of_sum` on many rows at once (``_DENSE_CELLS`` cells of
    laws at a time): the state holds ``P(S = 0..need−1)`` and, in its last cell,
    ``P(S ≥ need)``; each law enters as its pmf below ``need`` and its upper tail
    ``P(X ≥ need)`` (``scipy.special.bdtrc``).
    """
    out: list[float] = []
    batch: list[Laws] = []
    held = 0
    for laws in rows:
        batch.append(laws)
        held += len(laws) * (need + 1)
        if held >= _DENSE_CELLS:
            out.extend(_binomial_batch(batch, need))
            batch, held = [], 0
    return out + _binomial_batch(batch, need) if batch else out


def _binomial_batch(rows: Sequence[Laws], need: int) -> list[float]:
    import numpy as np
    from scipy import special

    row, prob, size, slot = [], [], [], []
    for r, laws in enumerate(rows):
        for s, (p, n) in enumerate(laws):
            row.append(r)
            prob.append(p)
            size.append(n)
            slot.append(s)
    state = np.zeros((len(rows), need + 1))
    state[:, 0] = 1.0
    if row:
        at_row = np.array(row)
        slots = np.array(slot)
        pc = np.array(prob)[:, None]
        nc = np.array(size, dtype=float)[:, None]
        v = np.arange(need, dtype=float)
        rest = np.maximum(nc - v, 0.0)
        log = (
            special.gammaln(nc + 1) - special.gammaln(v + 1) - special.gammaln(rest + 1)
            + v * np.log(pc) + rest * np.log1p(-pc)
        )  # fmt: skip
        law = np.zeros((len(row), need + 1))
        law[:, :need] = np.where(v <= nc, np.exp(log), 0.0)
        big = np.flatnonzero(np.array(size) >= need)  # else P(X ≥ need) = 0
        law[big, need] = special.bdtrc(need - 1, np.array(size)[big], pc[big, 0])
        tail = np.cumsum(law[:, ::-1], axis=1)[:, ::-1]  # tail[:, v] = P(X ≥ v)
        for s in range(int(slots.max()) + 1):
            at = np.flatnonzero(slots == s)
            before = state[at_row[at]]
            f = law[at]
            after = np.zeros_like(before)
            for i in range(need):
                after[:, i:need] += before[:, i : i + 1] * f[:, : need - i]
            after[:, need] = before[:, need] + (before[:, :need] * tail[at, need:0:-1]).sum(axis=1)
            state[at_row[at]] = after
    out: list[float] = np.minimum(state[:, need], 1.0).tolist()
    return out


# A law cut at ``cut``: (lo, P(X = lo + i) for lo + i < cut, P(X ≥ cut)).
Law = tuple[int, "npt.NDArray[np.float64]", float]


def _cut_law(pmf: Sequence[float], cut: int) -> Law:
    """A pmf (``P(X = 0), P(X = 1), ...``) cut at ``cut``."""
    import numpy as np

    return _trimmed(0, np.asarray(pmf[:cut], dtype=float), float(sum(pmf[cut:])))


def _trimmed(lo: int, body: npt.NDArray[np.float64], lump: float) -> Law:
    import numpy as np

    nonzero = np.flatnonzero(body)
    if not len(nonzero):
        return 0, body[:0], lump
    return lo + int(nonzero[0]), body[nonzero[0] : nonzero[-1] + 1], lump


def _add_laws(a: Law, b: Law, cut: int) -> Law:
    """The law of ``A + B`` (independent), cut at ``cut``.

    ``P(A + B ≥ cut) = P(A ≥ cut) + Σ_{i<cut} P(A = i)·P(B ≥ cut − i)``: a sum of
    positive terms, as in :func:`tail_of_sum`, so small tails keep their precision.
    """
    import numpy as np

    la, fa, ta = a
    lb, fb, tb = b
    lump = ta + tb * float(fa.sum())
    if not len(fa) or not len(fb):
        return 0, fa[:0], lump
    upper = np.cumsum(fb[::-1])[::-1]  # upper[t] = P(lb + t ≤ B < cut)
    t = cut - la - lb - np.arange(len(fa))
    reach = np.where(t < len(fb), upper[np.clip(t, 0, len(fb) - 1)], 0.0)
    lump += float(fa @ reach)
    body = np.convolve(fa, fb)[: max(cut - la - lb, 0)]
    return _trimmed(la + lb, body, lump)


def _power_law(law: Law, times: int, cut: int) -> Law:
    """The law of the sum of ``times`` independent copies, cut at ``cut`` (by squaring)."""
    import numpy as np

    out: Law = (0, np.ones(1), 0.0)
    while times:
        if times & 1:
            out = _add_laws(out, law, cut)
        times >>= 1
        if times:
            law = _add_laws(law, law, cut)
    return out


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
        return _weight(self.n, self.p)


def _weight(n: int, p: float) -> float:
    if n < 2 or p >= 1.0:  # noqa: PLR2004 - one member: no variance
        return 0.0
    return p * (1 - p) * n / (n - 1)


def _unit_strata(draw: DrawRecord) -> Iterator[tuple[Stratum, dict[str, None]]]:
    """The strata of an executed draw that form units, each with its distinct members."""
    if not draw.executed:
        return
    seen: set[str] = set()
    for s in draw.strata:
        pool = dict.fromkeys(s.pool)
        if pool and seen.isdisjoint(pool):
            yield s, pool
        seen.update(pool)


def units_of(draw: DrawRecord) -> list[Unit]:
    """The exact units of an executed draw (none for a draw never executed)."""
    out = []
    for s, pool in _unit_strata(draw):
        n = len(pool)
        out.append(
            Unit(draw, s.discipline, tuple(pool), frozenset(s.drawn), n, min(s.seats, n) / n)
        )
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
            if set(s.drawn).difference(s.pool):
                raise FairnessInputError(f"{d.draw_id}: {s.discipline} drew outside its pool")


class _Index(dict[str, int]):
    """Numbers for ids, given in order of first use."""

    def __missing__(self, key: str) -> int:
        self[key] = number = len(self)
        return number


# (draw, discipline, members, drawn, n, p) of one unit; ``members`` answers ``in``.
_Part = tuple[DrawRecord, str, Collection[str], Iterable[str], int, float]


@dataclass(frozen=True, slots=True, eq=False)
class _Units:
    """The units in flat arrays (experts as numbers), for the vectorised detectors.

    Unit ``i`` has the members ``members[start[i]:start[i + 1]]``; ``drawn`` lists the
    distinct drawn experts of every unit (``drawn_unit``: whose), ``inside`` whether each
    is one of its unit's members. A few hundred bytes per unit, four per member.
    """

    ids: list[str]
    members: npt.NDArray[np.int32]
    start: npt.NDArray[np.int64]
    drawn: npt.NDArray[np.int32]
    drawn_unit: npt.NDArray[np.int64]
    inside: npt.NDArray[np.bool_]
    n: npt.NDArray[np.int64]
    p: npt.NDArray[np.float64]
    weight: npt.NDArray[np.float64]
    draw: npt.NDArray[np.int64]
    discipline: list[str]
    tenderer: list[str]
    agency: list[str]
    left_out: int = 0

    @classmethod
    def of_units(cls, units: Iterable[Unit]) -> _Units:
        return cls.build((u.draw, u.discipline, u.members, u.drawn, u.n, u.p) for u in units)

    @classmethod
    def of_draws(cls, draws: Iterable[DrawRecord]) -> _Units:
        left = [0]

        def parts() -> Iterator[_Part]:
            for d in draws:
                if not d.executed:
                    continue
                found = 0
                for s, pool in _unit_strata(d):
                    found += 1
                    n = len(pool)
                    yield d, s.discipline, pool, dict.fromkeys(s.drawn), n, min(s.seats, n) / n
                left[0] += sum(1 for s in d.strata if s.pool) - found

        made = cls.build(parts())
        return dataclasses.replace(made, left_out=left[0])

    @classmethod
    def build(cls, parts: Iterable[_Part]) -> _Units:
        """Number the experts and lay the units out (one pass, no per-member object)."""
        import numpy as np

        index = _Index()
        number = index.__getitem__
        members, start = array("i"), array("q", [0])
        drawn, drawn_unit, inside = array("i"), array("q"), array("b")
        sizes, probs, weights, draw_of = array("q"), array("d"), array("d"), array("q")
        draw_no: dict[str, int] = {}
        discipline, tenderer, agency = [], [], []
        for d, code, pool, chosen, n, p in parts:
            unit = len(sizes)
            members.extend(map(number, pool))
            start.append(len(members))
            for x in chosen:
                drawn.append(number(x))
                drawn_unit.append(unit)
                inside.append(x in pool)
            sizes.append(n)
            probs.append(p)
            weights.append(_weight(n, p))
            draw_of.append(draw_no.setdefault(d.draw_id, len(draw_no)))
            discipline.append(code)
            tenderer.append(d.tenderer)
            agency.append(d.agency)

        def flat(values: array[Any], dtype: type[np.generic]) -> npt.NDArray[Any]:
            return np.frombuffer(values, dtype=dtype) if len(values) else np.zeros(0, dtype)

        return cls(
            ids=list(index), members=flat(members, np.int32), start=flat(start, np.int64),
            drawn=flat(drawn, np.int32), drawn_unit=flat(drawn_unit, np.int64),
            inside=flat(inside, np.int8).astype(bool), n=flat(sizes, np.int64),
            p=flat(probs, np.float64), weight=flat(weights, np.float64),
            draw=flat(draw_of, np.int64), discipline=discipline, tenderer=tenderer,
            agency=agency,
        )  # fmt: skip

    def chunks(
        self, units: npt.NDArray[np.int64] | None = None, *, rows: int = 1 << 62
    ) -> Iterator[tuple[npt.NDArray[np.int64], npt.NDArray[np.int32], npt.NDArray[np.int64]]]:
        """The units (all, or the given ascending numbers), a run at a time.

        Yields the run's unit numbers, their members one unit after another, and each
        unit's member count. A run holds at most ``_CHUNK`` members (or one unit) and at
        most ``rows`` units.
        """
        import numpy as np

        chosen = np.arange(len(self.n)) if units is None else units
        counts = self.start[chosen + 1] - self.start[chosen]
        ends = np.cumsum(counts)
        i, total = 0, len(chosen)
        while i < total:
            base = int(ends[i - 1]) if i else 0
            j = int(np.searchsorted(ends, base + _CHUNK, side="right"))
            j = min(max(j, i + 1), i + rows, total)
            run, lens = chosen[i:j], counts[i:j]
            first, last = int(run[0]), int(run[-1])
            if last - first + 1 == len(run) and bool(np.all(np.diff(run) == 1)):
                members = self.members[self.start[first] : self.start[last + 1]]
            else:
                shift = self.start[run] - (np.cumsum(lens) - lens)
                members = self.members[np.repeat(shift, lens) + np.arange(int(lens.sum()))]
            yield run, members, lens
            i = j

    def seated(
        self, units: npt.NDArray[np.int64] | None = None, *, members_only: bool = True
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int32]]:
        """The drawn experts of the units (all, or the given ones): (unit, expert) pairs."""
        import numpy as np

        keep = self.inside.copy() if members_only else np.ones(len(self.drawn), dtype=bool)
        if units is not None:
            chosen = np.zeros(len(self.n), dtype=bool)
            chosen[units] = True
            keep &= chosen[self.drawn_unit]
        return self.drawn_unit[keep], self.drawn[keep]


def _distinct(
    keys: npt.NDArray[np.int64], space: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """``np.unique(keys, return_counts=True)`` for keys below ``space`` (by counting if small)."""
    import numpy as np

    if space > 4 * _CHUNK:
        found, counts = np.unique(keys, return_counts=True)
        return found, counts
    total = np.bincount(keys, minlength=space)
    where = np.flatnonzero(total)
    return where, total[where]


def _count_keys(
    parts: Iterable[npt.NDArray[np.int64]], space: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The distinct keys (``0 ≤ key < space``) of the parts, ascending, and their counts."""
    import numpy as np

    if space <= _DENSE_KEYS:
        total = np.zeros(space, dtype=np.int64)
        for keys in parts:
            total += np.bincount(keys, minlength=space)
        found = np.flatnonzero(total)
        return found, total[found]
    held_keys: list[npt.NDArray[np.int64]] = []
    held_counts: list[npt.NDArray[np.int64]] = []

    def merge() -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        if not held_keys:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        keys, where = np.unique(np.concatenate(held_keys), return_inverse=True)
        counts = np.bincount(where, weights=np.concatenate(held_counts), minlength=len(keys))
        return keys, counts.astype(np.int64)

    for part in parts:
        keys, counts = np.unique(part, return_counts=True)
        held_keys.append(keys)
        held_counts.append(counts)
        if sum(len(k) for k in held_keys) > 4 * _CHUNK:
            keys, counts = merge()
            held_keys[:], held_counts[:] = [keys], [counts]
    return merge()


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
    return _gof(_Units.of_units(units), None, policy)


def _gof(units: _Units, chosen: npt.NDArray[np.int64] | None, policy: FairnessPolicy) -> Gof | None:
    """:func:`gof` over the units (all, or the given ascending numbers)."""
    import numpy as np
    from scipy import stats

    size = len(units.ids)
    expected = np.zeros(size)
    present = np.zeros(size, dtype=bool)
    for run, members, counts in units.chunks(chosen):
        # unbuffered, in unit order: the same sums, bit for bit, as one expert at a time
        np.add.at(expected, members, np.repeat(units.p[run], counts))
        present[members] = True
    xs = np.flatnonzero(present)
    values = expected[xs].tolist()
    if sum(values) < 2 * policy.min_expected:
        return None
    names = [units.ids[x] for x in xs.tolist()]
    bin_of, merged = _bins(dict(zip(names, values, strict=True)), policy.min_expected)
    bins_of = np.full(size, -1, dtype=np.int64)
    bins_of[xs] = [bin_of[e] for e in names]
    nbins = int(bins_of[xs].max()) + 1
    shared = np.bincount(bins_of[xs], minlength=nbins) > 1
    every = np.arange(len(units.n)) if chosen is None else chosen
    weighted = every[units.weight[every] > 0]
    diag, square = _bin_moments(units, weighted, bins_of, shared, nbins)
    variance = diag - square
    keep = variance > 1e-12 * max(1.0, float(variance.max(initial=0.0)))
    bins = int(keep.sum())
    if bins < 2:  # noqa: PLR2004 - a test needs two bins
        return None
    _, seated = units.seated(chosen)
    observed = np.bincount(seated, minlength=size)
    o = np.bincount(bins_of[xs], weights=observed[xs], minlength=nbins)
    e = np.bincount(bins_of[xs], weights=expected[xs], minlength=nbins)
    column = np.full(nbins, -1, dtype=np.int64)
    column[keep] = np.arange(bins)
    column_of = np.full(size, -1, dtype=np.int64)
    column_of[xs] = column[bins_of[xs]]
    frob = _frobenius(units, weighted, column_of, 1 / np.sqrt(variance[keep]))
    w_diag = square[keep] / variance[keep]
    rho2 = bins + frob - float(w_diag @ w_diag)
    statistic = float((((o - e)[keep]) ** 2 / variance[keep]).sum())
    h = bins * bins / rho2
    g = bins / h
    p = float(stats.chi2.sf(statistic / g, h))
    return Gof(
        statistic=statistic, df=h, scale=g, p_value=p, bins=bins, merged_experts=merged,
        experts=len(xs), draws=len(np.unique(units.draw[every])),
        seats=int(o.sum()), significant=p <= policy.alpha,
    )  # fmt: skip


def _bin_moments(
    units: _Units,
    weighted: npt.NDArray[np.int64],
    bins_of: npt.NDArray[np.int64],
    shared: npt.NDArray[np.bool_],
    nbins: int,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Per bin ``Σ_u w_u c_ub`` and ``Σ_u (w_u / n_u) c_ub²``: ``c_ub`` members of ``u`` in ``b``.

    ``c_ub`` is 0 or 1 but in a bin ``shared`` by several experts, counted per unit.
    """
    import numpy as np

    diag = np.zeros(nbins)
    square = np.zeros(nbins)
    for run, members, counts in units.chunks(weighted):
        b = bins_of[members]
        w = units.weight[run]
        f = w / units.n[run]
        np.add.at(diag, b, np.repeat(w, counts))
        row = np.repeat(np.arange(len(run)), counts)
        alone = ~shared[b]
        np.add.at(square, b[alone], f[row[alone]])
        if not alone.all():
            pairs, c = np.unique(row[~alone] * nbins + b[~alone], return_counts=True)
            np.add.at(square, pairs % nbins, f[pairs // nbins] * c.astype(float) ** 2)
    return diag, square


def _frobenius(
    units: _Units,
    rows: npt.NDArray[np.int64],
    column_of: npt.NDArray[np.int64],
    scale: npt.NDArray[np.float64],
) -> float:
    """``‖SᵀS‖²_F``, ``S`` the units' bin counts times ``√(w_u/n_u)`` times each column's scale.

    ``column_of`` maps an expert to its column (its bin, if kept; −1: none). Columns that
    never share a unit make separate blocks of ``SᵀS``. Each block's Gram matrix is summed
    dense over its units, a few thousand at a time (a block wider than ``_DENSE_BINS``
    goes sparse, as the smaller of ``SSᵀ`` and ``SᵀS``).
    """
    import numpy as np
    from scipy import sparse

    width = len(scale)
    factor = np.sqrt(units.weight / units.n)
    total = 0.0
    local = np.full(width, -1, dtype=np.int64)
    for block_rows, columns in _blocks(units, rows, column_of, width):
        s = len(columns)
        local[columns] = np.arange(s)
        gram = np.zeros((s, s)) if s <= _DENSE_BINS else None
        entries: list[tuple[npt.NDArray[Any], ...]] = []
        done = 0
        for run, members, counts in units.chunks(block_rows, rows=max(1, _DENSE_CELLS // s)):
            c = column_of[members]
            row = np.repeat(np.arange(len(run)), counts)
            ok = c >= 0
            row, c = row[ok], c[ok]
            value = factor[run][row] * scale[c]
            if gram is not None:
                a = np.bincount(row * s + local[c], weights=value, minlength=len(run) * s)
                a = a.reshape(len(run), s)
                gram += a.T @ a
            else:
                entries.append((row + done, local[c], value))
            done += len(run)
        if gram is not None:
            total += float(np.vdot(gram, gram))
        elif entries:
            r, c, v = (np.concatenate(x) for x in zip(*entries, strict=True))
            a = sparse.csr_matrix((v, (r, c)), shape=(done, s))
            product = a @ a.T if a.shape[0] < a.shape[1] else a.T @ a
            total += float(product.multiply(product).sum())
        local[columns] = -1
    return total


def _blocks(
    units: _Units, rows: npt.NDArray[np.int64], column_of: npt.NDArray[np.int64], width: int
) -> list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]]:
    """The connected blocks of columns (linked by a shared unit), each with its units.

    Labels are merged a run of units at a time: once they settle (a few runs), a run
    only compares each member's label with its unit's first.
    """
    import numpy as np
    from scipy import sparse
    from scipy.sparse import csgraph

    label = np.arange(width)
    first = np.full(len(rows), -1, dtype=np.int64)
    done = 0
    for run, members, counts in units.chunks(rows):
        c = column_of[members]
        row = np.repeat(np.arange(len(run)), counts)
        ok = c >= 0
        row, c = row[ok], c[ok]
        if len(row):
            starts = np.flatnonzero(np.r_[True, row[1:] != row[:-1]])
            first[done + row[starts]] = c[starts]
            a = label[first[done + row]]
            b = label[c]
            differ = a != b
            if differ.any():
                a, b = a[differ], b[differ]
                graph = sparse.csr_matrix((np.ones(len(a)), (a, b)), shape=(width, width))
                _, merged = csgraph.connected_components(graph, directed=False)
                label = merged[label]
        done += len(run)
    has = first >= 0
    unit_label = label[first[has]]
    unit_rows = rows[has]
    by_rows = np.argsort(unit_label, kind="stable")
    by_columns = np.argsort(label, kind="stable")
    names = np.unique(label)
    row_cut = np.searchsorted(unit_label[by_rows], names)
    column_cut = np.searchsorted(label[by_columns], names)
    row_end = np.r_[row_cut[1:], len(by_rows)]
    column_end = np.r_[column_cut[1:], len(by_columns)]
    return [
        (unit_rows[by_rows[row_cut[i] : row_end[i]]],
         by_columns[column_cut[i] : column_end[i]].astype(np.int64))
        for i in range(len(names))
    ]  # fmt: skip


# -- detectors ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Pair:
    """One (group, subject) of a family: its Bernoulli laws, seats, expectation, trials."""

    group: str
    subject: str
    laws: Laws
    observed: int
    expected: float
    trials: int


@dataclass
class _Tally:
    """Probabilities (each with how often it occurs) and an observed count."""

    counts: Counter[float] = field(default_factory=Counter)
    observed: int = 0


def _pairs_of(tallies: Mapping[tuple[str, str], _Tally]) -> tuple[list[_Pair], int]:
    """The tested pairs (some ``0 < p < 1``) as :class:`_Pair`, and how many there are."""
    out = []
    for (g, s), t in tallies.items():
        if any(0 < p < 1 for p in t.counts):
            laws = tuple(sorted(t.counts.items()))
            expected = sum(p * n for p, n in laws)
            out.append(_Pair(g, s, laws, t.observed, expected, sum(t.counts.values())))
    return out, len(out)


def _family(
    name: str,
    family: tuple[Sequence[_Pair], int],
    policy: FairnessPolicy,
    min_count: int,
    *,
    keep_all: bool = False,
) -> PairAnalysis:
    """Tail p-values of a family of Bernoulli sums, corrected; rows with ``≥ min_count``.

    ``family`` is (pairs, tested): the family has ``tested`` sums, and ``pairs`` holds
    at least every one observed at least once (the others have ``p = 1``: they only
    count in the correction, see :func:`_adjust`).
    """
    pairs, tested = family
    pvals = _tails([(q.laws, q.observed) for q in pairs])
    adjusted = _adjust(pvals, policy.correction, tested)
    rows = tuple(
        Excess(
            group=q.group,
            subject=q.subject,
            trials=q.trials,
            observed=q.observed,
            expected=q.expected,
            p_value=p,
            p_adjusted=a,
            flagged=a <= policy.alpha and q.observed >= min_count,
        )
        for q, p, a in zip(pairs, pvals, adjusted, strict=True)
    )
    shown = rows if keep_all else tuple(r for r in rows if r.observed >= min_count)
    return PairAnalysis(name, tested, _by_p(shown), _by_p(r for r in rows if r.flagged))


def _by_p(rows: Iterable[Excess]) -> tuple[Excess, ...]:
    return tuple(sorted(rows, key=lambda r: (r.p_value, r.group, r.subject)))


def selection(units: Sequence[Unit], policy: FairnessPolicy) -> Selection:
    """Per expert: draws eligible, seats, expectation, tail p-value; and the global test."""
    return _selection(_Units.of_units(units), policy)


def _selection(units: _Units, policy: FairnessPolicy) -> Selection:
    import numpy as np

    size = len(units.ids)
    levels, level = np.unique(units.p, return_inverse=True)
    width = len(levels)
    expected = np.zeros(size)

    def keys() -> Iterator[npt.NDArray[np.int64]]:
        for run, members, counts in units.chunks():
            np.add.at(expected, members, np.repeat(units.p[run], counts))  # in unit order
            yield members.astype(np.int64) * width + np.repeat(level[run], counts)

    found, counts = _count_keys(keys(), size * width)
    _, seated = units.seated()
    observed = np.bincount(seated, minlength=size).tolist()
    sums = expected.tolist()
    p_of = levels.tolist()
    tested: list[_Pair] = []
    untested: list[Excess] = []
    laws: list[tuple[float, int]] = []
    subjects = (found // width).tolist() if width else []
    for i, (x, j, c) in enumerate(
        zip(subjects, (found % max(width, 1)).tolist(), counts.tolist(), strict=True)
    ):
        laws.append((p_of[j], c))
        if i + 1 < len(subjects) and subjects[i + 1] == x:
            continue
        trials = sum(n for _, n in laws)
        if any(0 < p < 1 for p, _ in laws):
            tested.append(_Pair("", units.ids[x], tuple(laws), observed[x], sums[x], trials))
        else:
            untested.append(
                Excess("", units.ids[x], trials, observed[x], sums[x], 1.0, 1.0, flagged=False)
            )
        laws = []
    family = _family("selection", (tested, len(tested)), policy, 1, keep_all=True)
    experts = tuple(sorted((*family.rows, *untested), key=lambda r: r.subject))
    return Selection(experts, _gof(units, None, policy), family.flagged)


def left_out(draws: Iterable[DrawRecord]) -> int:
    """Strata of executed draws that form no unit (they overlap an earlier stratum)."""
    return sum(
        sum(1 for s in d.strata if s.pool) - sum(1 for _ in _unit_strata(d))
        for d in draws
        if d.executed
    )


def groups(units: Sequence[Unit], policy: FairnessPolicy) -> tuple[GroupAnalysis, ...]:
    """The goodness-of-fit test per tenderer, per agency and per discipline."""
    return _groups(_Units.of_units(units), policy)


def _groups(units: _Units, policy: FairnessPolicy) -> tuple[GroupAnalysis, ...]:
    import numpy as np

    out = []
    for dimension, labels in (
        ("tenderer", units.tenderer),
        ("agency", units.agency),
        ("discipline", units.discipline),
    ):
        by: dict[str, list[int]] = defaultdict(list)
        for i, key in enumerate(labels):
            if key:
                by[key].append(i)
        tested: list[tuple[str, int, Gof]] = []
        skipped = 0
        for name, members in sorted(by.items()):
            chosen = np.array(members, dtype=np.int64)
            n = len(np.unique(units.draw[chosen]))
            result = _gof(units, chosen, policy) if n >= policy.group_min_draws else None
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
    return _affinity(_Units.of_units(units), policy)


def _affinity(units: _Units, policy: FairnessPolicy) -> tuple[PairAnalysis, ...]:
    """Counts per (group, expert, p) over the units; laws only for the pairs ever seated.

    A pair never seated has ``p = 1``: it counts in the correction, nothing else.
    """
    import numpy as np

    size = len(units.ids)
    levels, level = np.unique(units.p, return_inverse=True)
    width = max(len(levels), 1)
    between = (levels > 0) & (levels < 1)
    p_of = levels.tolist()
    out = []
    for dimension, labels in (("tenderer", units.tenderer), ("agency", units.agency)):
        names = sorted({x for x in labels if x})
        code = {x: i for i, x in enumerate(names)}
        group = np.array([code.get(x, -1) for x in labels], dtype=np.int64)
        chosen = np.flatnonzero(group >= 0)
        cell = group * width + level

        def keys(
            chosen: npt.NDArray[np.int64] = chosen, cell: npt.NDArray[np.int64] = cell
        ) -> Iterator[npt.NDArray[np.int64]]:
            for run, members, counts in units.chunks(chosen):
                yield np.repeat(cell[run], counts) * size + members

        found, counts = _count_keys(keys(), len(names) * width * size)
        subject = found % size
        lev = (found // size) % width
        pair = (found // size // width) * size + subject
        tested_pairs = np.unique(pair[between[lev]])
        unit, expert = units.seated(chosen)
        seen, seats = np.unique(group[unit] * size + expert, return_counts=True)
        ok = np.isin(seen, tested_pairs)
        seen, seats = seen[ok], seats[ok]
        pick = np.flatnonzero(np.isin(pair, seen))
        pick = pick[np.lexsort((lev[pick], pair[pick]))]
        seats_of = dict(zip(seen.tolist(), seats.tolist(), strict=True))
        pairs: list[_Pair] = []
        ps, js, cs = pair[pick].tolist(), lev[pick].tolist(), counts[pick].tolist()
        laws: list[tuple[float, int]] = []
        for i, (pr, j, c) in enumerate(zip(ps, js, cs, strict=True)):
            laws.append((p_of[j], c))
            if i + 1 < len(ps) and ps[i + 1] == pr:
                continue
            pairs.append(_Pair(
                names[pr // size], units.ids[pr % size], tuple(laws), seats_of[pr],
                sum(p * n for p, n in laws), sum(n for _, n in laws),
            ))  # fmt: skip
            laws = []
        out.append(
            _family(f"affinity_{dimension}", (pairs, len(tested_pairs)), policy,
                    policy.affinity_min_count)
        )  # fmt: skip
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
    steering = _family("steering", _pairs_of(tallies), policy, policy.steer_min_chains)
    return Redraws(tuple(chain_list), tuple(rows), platform, steering)


def _steering(
    requester: str, executed: Sequence[DrawRecord], tallies: dict[tuple[str, str], _Tally]
) -> None:
    earlier: dict[str, list[float]] = defaultdict(list)
    seated_before: set[str] = set()
    for d in executed[:-1]:
        for s, pool in _unit_strata(d):
            p = min(s.seats, len(pool)) / len(pool)
            for x in pool:
                earlier[x].append(p)
            seated_before.update(s.drawn)
    for s, pool in _unit_strata(executed[-1]):
        p = min(s.seats, len(pool)) / len(pool)
        drawn = set(s.drawn)
        for x in pool:
            if x not in earlier:
                continue
            q = p * math.prod(1 - e for e in earlier[x])
            t = tallies[requester, x]
            t.counts[q] += 1
            t.observed += x in drawn and x not in seated_before


def decline_pairs(draws: Sequence[DrawRecord], policy: FairnessPolicy) -> PairAnalysis:
    """(decliner, replacement) pairs recurring more often than a fair replacement gives.

    Given the seats and the members already used, a mode-A replacement is a uniform
    choice among the stratum's members not yet used, so each candidate ``z`` of a
    decline by ``x`` adds ``1/|candidates|`` to the expectation of the pair ``(x, z)``.
    Declines with a service reason (``service_reasons``) are not counted.
    """
    import numpy as np

    index = _Index()
    number = index.__getitem__
    service = set(policy.service_reasons)
    decliners: list[int] = []
    shares: list[float] = []
    candidates_of: list[npt.NDArray[np.int64]] = []
    seen: Counter[tuple[int, int]] = Counter()
    for d in draws:
        if not d.executed:
            continue
        used = {x for s in d.strata for x in s.drawn}
        for dec in d.declines:
            stratum = _stratum_of(d, dec)
            if dec.replaced_by and dec.reason not in service and stratum is not None:
                candidates = {z for z in stratum.pool if z not in used and z != dec.expert_id}
                candidates.add(dec.replaced_by)
                decliners.append(number(dec.expert_id))
                shares.append(1 / len(candidates))
                candidates_of.append(
                    np.fromiter(map(number, candidates), dtype=np.int64, count=len(candidates))
                )
                seen[number(dec.expert_id), number(dec.replaced_by)] += 1
            used.update(x for x in (dec.expert_id, dec.replaced_by) if x)
    if not decliners:
        return _family("decline_pairs", ([], 0), policy, policy.decline_min_count)
    size = len(index)
    ids = list(index)
    lens = np.array([len(c) for c in candidates_of])
    keys = np.repeat(np.array(decliners, dtype=np.int64) * size, lens)
    keys += np.concatenate(candidates_of)
    share = np.repeat(np.array(shares), lens)
    tested = np.unique(keys[share < 1.0])  # every share is above 0
    observed = {x * size + z: n for (x, z), n in seen.items()}
    wanted = np.array(sorted(observed), dtype=np.int64)
    wanted = wanted[np.isin(wanted, tested)]
    pick = np.flatnonzero(np.isin(keys, wanted))
    pick = pick[np.lexsort((share[pick], keys[pick]))]
    pairs: list[_Pair] = []
    ks, qs = keys[pick].tolist(), share[pick].tolist()
    laws: Counter[float] = Counter()
    for i, (k, q) in enumerate(zip(ks, qs, strict=True)):
        laws[q] += 1
        if i + 1 < len(ks) and ks[i + 1] == k:
            continue
        ordered = tuple(sorted(laws.items()))
        pairs.append(_Pair(
            ids[k // size], ids[k % size], ordered, observed[k],
            sum(p * n for p, n in ordered), sum(laws.values()),
        ))  # fmt: skip
        laws = Counter()
    return _family("decline_pairs", (pairs, len(tested)), policy, policy.decline_min_count)


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
    return _employers(draws, _Units.of_units(units), experts, policy)


def _employers(
    draws: Sequence[DrawRecord],
    units: _Units,
    experts: Mapping[str, ExpertInfo],
    policy: FairnessPolicy,
) -> Employers:
    """:func:`employers`, with the units that give an employer the same law counted together.

    The law of a unit is fixed by ``n``, ``k`` and the employer's members ``m``; the sum
    over ``c`` units with one law is that law raised to the power ``c``.
    """
    import numpy as np

    code: dict[str, int] = {}
    employer_of = np.full(len(units.ids), -1, dtype=np.int64)
    for x, expert in enumerate(units.ids):
        info = experts.get(expert)
        if info is not None and info.employer_ref:
            employer_of[x] = code.setdefault(info.employer_ref, len(code))
    names = list(code)
    _, seated = units.seated(members_only=False)
    seat_employer = employer_of[seated]
    observed = np.bincount(seat_employer[seat_employer >= 0], minlength=len(names)).tolist()
    per: dict[int, list[tuple[int, int, int, int]]] = defaultdict(list)
    expected: dict[int, float] = defaultdict(float)
    for (emp, n, m, k), c in sorted(_employer_laws(units, employer_of, len(names)).items()):
        per[emp].append((n, m, k, c))
        expected[emp] += c * (k * m / n)
    keys = sorted((e for e in per if expected[e] > 0), key=names.__getitem__)
    pmfs: dict[tuple[int, int, int], list[float]] = {}
    pvals = [_employer_tail(per[emp], observed[emp], pmfs) for emp in keys]
    adjusted = _adjust(pvals, policy.correction, len(keys))
    rows = tuple(
        Excess(
            group="", subject=names[emp], trials=sum(c for *_, c in per[emp]),
            observed=observed[emp], expected=expected[emp], p_value=p, p_adjusted=q,
            flagged=q <= policy.alpha and observed[emp] >= 1,
        )
        for emp, p, q in zip(keys, pvals, adjusted, strict=True)
    )  # fmt: skip
    family = PairAnalysis("employers", len(keys), _by_p(rows), _by_p(r for r in rows if r.flagged))
    return Employers(_panels(draws, experts, policy), family)


def _panels(
    draws: Sequence[DrawRecord], experts: Mapping[str, ExpertInfo], policy: FairnessPolicy
) -> tuple[PanelConcentration, ...]:
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
    return tuple(panels)


def _employer_laws(
    units: _Units, employer_of: npt.NDArray[np.int64], employers: int
) -> Counter[tuple[int, int, int, int]]:
    """How many units give each (employer, n, its members m, k), over every unit."""
    import numpy as np

    laws: Counter[tuple[int, int, int, int]] = Counter()
    if not len(units.n) or not employers:
        return laws
    drawn = np.array(
        [round(p * n) for p, n in zip(units.p.tolist(), units.n.tolist(), strict=True)]
    )
    shapes, shape = np.unique(np.stack([units.n, drawn]), axis=1, return_inverse=True)
    kinds = shapes.shape[1]
    top = int(units.n.max()) + 1
    for run, members, counts in units.chunks():
        e = employer_of[members]
        row = np.repeat(np.arange(len(run)), counts)
        ok = e >= 0
        key, marked = _distinct(row[ok] * employers + e[ok], len(run) * employers)
        found, times = np.unique(
            (key % employers * kinds + shape[run[key // employers]]) * top + marked,
            return_counts=True,
        )
        for f, c in zip(found.tolist(), times.tolist(), strict=True):
            (emp, which), m = divmod(f // top, kinds), f % top
            laws[emp, int(shapes[0, which]), m, int(shapes[1, which])] += c
    return laws


def _employer_tail(
    laws: Sequence[tuple[int, int, int, int]],
    observed: int,
    pmfs: dict[tuple[int, int, int], list[float]],
) -> float:
    """``P(Σ ≥ observed)`` over units with the laws ``(n, m, k, how many units)``."""
    import numpy as np

    if observed <= 0:
        return 1.0
    total: Law = (0, np.ones(1), 0.0)
    for n, m, k, c in laws:
        pmf = pmfs.get((n, m, k))
        if pmf is None:
            pmf = pmfs[n, m, k] = hypergeometric_pmf(n, m, k)
        total = _add_laws(total, _power_law(_cut_law(pmf, observed), c, observed), observed)
    return min(1.0, total[2])


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
    units = _Units.of_draws(ordered)
    chain_list = chains(ordered)
    chosen = dataclasses.replace(_selection(units, policy), strata_left_out=units.left_out)
    by_group = _groups(units, policy)
    pairs = _affinity(units, policy)
    by_employer = _employers(ordered, units, info, policy)
    del units  # the largest object here: not held through the rest
    report = FairnessReport(
        policy=policy,
        as_of_ms=as_of_ms,
        selection=chosen,
        groups=by_group,
        affinity=pairs,
        redraws=redraws(ordered, chain_list, policy),
        declines=decline_pairs(ordered, policy),
        employers=by_employer,
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
