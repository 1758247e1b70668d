"""Who may be drawn: discipline matching, eligibility, avoidance and history (pure).

For each candidate expert the draw needs the requested codes it matches (``discs``) and
its exclusion reason codes (``reasons``), both sorted sets of ASCII bytes that EDS-1
commits in the leaves and xleaves (draw-protocol.md §4; docs/spec/draw-v1.md §2).
:class:`Rules` compiles the policy, the draw's conflict inputs and its history once per
draw into sets and cut-off dates; :meth:`Rules.assess` then costs a few set look-ups
and comparisons per expert, with no clock and no I/O.

Time: the evaluation window ``[from_ms, to_ms)`` is UTC milliseconds; every recorded
date (birth, title, work start, affiliation, declaration, training) is a calendar date
in China Standard Time (UTC+8), so the window's first evaluation day is the UTC+8 date
of ``from_ms`` and its last the UTC+8 date of ``to_ms - 1``. Nothing here reads "today".

Reason codes (:data:`REASONS`) name a rule, never a person or an organisation.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from audit_log import canonical
from expert_draw.core import identifiers
from expert_draw.core.experts import (
    AffiliationKind,
    CreditEvent,
    Profile,
    Review,
    State,
    Status,
    StatusPeriod,
    TitleLevel,
)
from expert_draw.core.policy import AgeMode, MatchMode, Policy, SupervisingPost

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from expert_draw.core.experts import Affiliation

E1, E2, E3, E4, E5, E6, E7 = (b"E%d" % n for n in range(1, 8))
A1, A2, A4, A5, A7, A8, A10, A11 = (b"A%d" % n for n in (1, 2, 4, 5, 7, 8, 10, 11))
C5 = b"C5"
LEGACY_EDITION = b"LEGACY_EDITION"
BUSY_WINDOW = b"BUSY_WINDOW"
SAME_PROJECT = b"SAME_PROJECT"
FREQ_CAP = b"FREQ_CAP"
FREQ_TENDERER = b"FREQ_TENDERER"
REGION = b"REGION"
REMOTE = b"REMOTE"

REASONS: Mapping[bytes, str] = {
    E1: "years in the field or title (高级职称 or the policy's equivalence) not met",
    E2: "no integrity and competence declaration dated on or before the window",
    E3: "age beyond the policy's cap at the window's first day (UTC+8)",
    E4: "no e-evaluation training record valid at the window",
    E5: "penalty or bad record within the credit look-back, or blacklisted in the window",
    E6: "not drawable: deleted, not approved, or a non-active status in the window",
    E7: "expert library type not accepted by the request",
    C5: "evaluation scores or refusals beyond the policy thresholds",
    A1: "near relative at a known bidder",
    A2: "supervising post (项目主管部门 or 行政监督部门)",
    A4: "prior penalty for tendering violations",
    A5: "employment at a known bidder within the avoidance look-back",
    A7: "employment at the tenderer or agency within the avoidance look-back",
    A8: "near relative at the tenderer or agency",
    A10: "professional registration at the tenderer, agency or a bidder",
    A11: "on the requester's avoid lists, or a self-declared avoided organisation",
    LEGACY_EDITION: "holds only legacy-edition discipline codes",
    BUSY_WINDOW: "seated in another executed draw whose window overlaps",
    SAME_PROJECT: "seated in an earlier draw of the same project",
    FREQ_CAP: "seat count within the period has reached the per-expert cap",
    FREQ_TENDERER: "seat count for this tenderer has reached the per-pair cap",
    REGION: "outside the request's region constraint",
    REMOTE: "does not accept remote evaluation and lives outside the venue's area",
}

CST_OFFSET_MS = 8 * 3_600_000
DAY_MS = 86_400_000
MINUTE_MS = 60_000
_EPOCH = dt.date(1970, 1, 1)
_HEX32 = re.compile(r"[0-9a-f]{64}")
_NATIONAL = re.compile(r"[ABC](?:[0-9]{2}){0,3}")
_SCORE = "score:"
# Affiliation kind -> the reason per party: tenderer, agency, bidder, avoid list.
_PARTY_CODES = {
    AffiliationKind.EMPLOYER: (A7, A7, A5, A11),
    AffiliationKind.REGISTRATION: (A10, A10, A10, A11),
    AffiliationKind.RELATIVE: (A8, A8, A1, A11),
    AffiliationKind.SUPERVISING_POST: (A2, A2, A2, A2),
    AffiliationKind.DECLARED_AVOID: (A11, A11, A11, A11),
}
_NO_REASONS: tuple[bytes, ...] = ()
_A2: tuple[bytes, ...] = (A2,)
_PROVINCE_DIGITS = 2


class InputError(ValueError):
    """Draw inputs the rules cannot be compiled from; ``problems`` are (field, why)."""

    def __init__(self, problems: Sequence[tuple[str, str]]) -> None:
        """Create the error from at least one problem."""
        self.problems = tuple(problems)
        super().__init__("; ".join(f"{path}: {why}" for path, why in self.problems))


# -- dates -------------------------------------------------------------------------------


def cst_date(ts_ms: int) -> dt.date:
    """The calendar date in China Standard Time (UTC+8, no DST) of a UTC ms instant."""
    return _EPOCH + dt.timedelta(days=(ts_ms + CST_OFFSET_MS) // DAY_MS)


def years_before(day: dt.date, years: int) -> dt.date:
    """The same calendar day ``years`` earlier; 29 February becomes 28 February."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def years_before_ms(ts_ms: int, years: int) -> int:
    """The instant ``years`` calendar years before ``ts_ms``, counted in UTC+8."""
    local = ts_ms + CST_OFFSET_MS
    earlier = years_before(_EPOCH + dt.timedelta(days=local // DAY_MS), years)
    return (earlier - _EPOCH).days * DAY_MS + local % DAY_MS - CST_OFFSET_MS


# -- inputs ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Window:
    """The evaluation window ``[from_ms, to_ms)``, UTC milliseconds."""

    from_ms: int
    to_ms: int

    def overlaps(self, from_ms: int, to_ms: int, padding_ms: int = 0) -> bool:
        """Whether ``[from_ms, to_ms)`` comes within ``padding_ms`` of this window.

        The D8 schedule rule: ``BUSY_WINDOW`` before the draw, the ``BUSY`` strike at
        execute (draw-protocol.md §4), both with ``[history].padding_minutes``.
        """
        return from_ms < self.to_ms + padding_ms and self.from_ms - padding_ms < to_ms


@dataclass(frozen=True, slots=True)
class RegionRule:
    """The request's region constraint: 行政区划 codes and the mandatory reason."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ConflictInputs:
    """Every conflict input of a draw: the replay inputs of draw-protocol.md §4.

    Organisations are 统一社会信用代码; ``avoid_experts`` are the library's keyed
    身份证号 hashes; ``agency``, ``venue_region`` and ``library_type`` may be empty.
    """

    tenderer: str
    agency: str
    bidders: tuple[str, ...]
    avoid_orgs: tuple[str, ...]
    avoid_experts: tuple[str, ...]
    window: Window
    region: RegionRule
    venue_region: str
    library_type: str
    project_ref: str  # hex32
    salt: str  # hex32

    def to_json(self) -> dict[str, object]:
        """The replay inputs object (aud1 values; lists ascending)."""
        r = self.region
        return {
            "tenderer": self.tenderer, "agency": self.agency,
            "bidders": sorted(self.bidders), "avoid_orgs": sorted(self.avoid_orgs),
            "avoid_experts": sorted(self.avoid_experts),
            "window": {"from": self.window.from_ms, "to": self.window.to_ms},
            "region": {"include": sorted(r.include), "exclude": sorted(r.exclude),
                       "reason": r.reason},
            "venue_region": self.venue_region, "library_type": self.library_type,
            "project_ref": self.project_ref, "salt": self.salt,
        }  # fmt: skip

    def sha256(self) -> str:
        """``inputs_sha256``: lowercase hex SHA-256 of the aud1 bytes of :meth:`to_json`."""
        return hashlib.sha256(canonical.dumps(self.to_json())).hexdigest()


@dataclass(frozen=True, slots=True)
class DrawRequest:
    """What a draw matches on: requested codes, the params' edition, the match mode.

    ``match_mode`` None takes the policy's ``matching.mode``.
    """

    disciplines: tuple[str, ...]
    edition: str
    match_mode: MatchMode | None = None


@dataclass(frozen=True, slots=True)
class Candidate:
    """One expert as the adapter reads it (birth date decrypted in-process only)."""

    uuid: str
    profile: Profile
    birth_date: dt.date | None
    state: State
    periods: tuple[StatusPeriod, ...]
    credits: tuple[CreditEvent, ...]
    id_hash: str


@dataclass(frozen=True, slots=True)
class Seat:
    """A seat held at the freeze in another executed, not cancelled or expired, draw."""

    expert: str  # uuid
    tenderer: str
    project_ref: str
    from_ms: int
    to_ms: int


@dataclass(frozen=True, slots=True)
class History:
    """What earlier draws mean for this one (D8), by expert uuid.

    ``busy``: seated in a draw whose window overlaps this one (with the policy's
    padding); ``same_project``: seated in a draw with this ``project_ref``; ``seats`` and
    ``tenderer_seats``: seats within the frequency periods, overall and for this
    tenderer. :meth:`from_seats` derives all four from seat rows.
    """

    busy: frozenset[str] = frozenset()
    same_project: frozenset[str] = frozenset()
    seats: Mapping[str, int] = field(default_factory=dict)
    tenderer_seats: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def from_seats(cls, seats: Iterable[Seat], inputs: ConflictInputs, policy: Policy) -> History:
        """Apply the D8 definitions (docs/policy.md [history]) to seat rows."""
        h, w = policy.history, inputs.window
        pad = h.padding_minutes * MINUTE_MS
        expert_since = w.from_ms - h.per_expert_days * DAY_MS
        pair_since = w.from_ms - h.per_tenderer_days * DAY_MS
        busy, same = set(), set()
        total: Counter[str] = Counter()
        pair: Counter[str] = Counter()
        for s in seats:
            if w.overlaps(s.from_ms, s.to_ms, pad):
                busy.add(s.expert)
            if s.project_ref == inputs.project_ref:
                same.add(s.expert)
            if s.from_ms >= expert_since:
                total[s.expert] += 1
            if s.tenderer == inputs.tenderer and s.from_ms >= pair_since:
                pair[s.expert] += 1
        return cls(frozenset(busy), frozenset(same), dict(total), dict(pair))


@dataclass(frozen=True, slots=True)
class Assessment:
    """An expert's leaf: matched codes and exclusion reasons (sorted ASCII bytes)."""

    discs: tuple[bytes, ...]
    reasons: tuple[bytes, ...]

    @property
    def eligible(self) -> bool:
        """No reason: the expert gets a leaf, not an xleaf."""
        return not self.reasons


# -- checking the inputs -----------------------------------------------------------------


def input_problems(
    inputs: ConflictInputs, request: DrawRequest, policy: Policy
) -> list[tuple[str, str]]:
    """Every problem of a draw's inputs, as ``(field, why)``; empty when valid."""
    found = _org_problems(inputs) + _place_problems(inputs, policy)
    found += _discipline_problems(request, policy)
    w = inputs.window
    if not 0 <= w.from_ms < w.to_ms <= canonical.MAX_SAFE_INTEGER:
        found.append(("window", "from must precede to (UTC ms, non-negative)"))
    if any(not h for h in inputs.avoid_experts):
        found.append(("avoid_experts", "an empty hash"))
    for name, value in (("project_ref", inputs.project_ref), ("salt", inputs.salt)):
        if _HEX32.fullmatch(value) is None:
            found.append((name, "64 lowercase hex digits"))
    if inputs.library_type and policy.library_type_rule(inputs.library_type) is None:
        found.append(("library_type", "not a library type of the policy"))
    return found


def _org_problems(inputs: ConflictInputs) -> list[tuple[str, str]]:
    orgs = [("tenderer", inputs.tenderer)]
    orgs += [("agency", inputs.agency)] if inputs.agency else []
    orgs += [(f"bidders[{i}]", c) for i, c in enumerate(inputs.bidders)]
    orgs += [(f"avoid_orgs[{i}]", c) for i, c in enumerate(inputs.avoid_orgs)]
    return [(name, why) for name, code in orgs if (why := identifiers.uscc_problem(code))]


def _place_problems(inputs: ConflictInputs, policy: Policy) -> list[tuple[str, str]]:
    r = inputs.region
    places = [(f"region.include[{i}]", c) for i, c in enumerate(r.include)]
    places += [(f"region.exclude[{i}]", c) for i, c in enumerate(r.exclude)]
    places += [("venue_region", inputs.venue_region)] if inputs.venue_region else []
    found = [(name, why) for name, code in places if (why := identifiers.region_code_problem(code))]
    if (r.include or r.exclude) and not r.reason.strip() and policy.region.require_reason:
        found.append(("region.reason", "a region constraint needs a reason"))
    return found


def _discipline_problems(request: DrawRequest, policy: Policy) -> list[tuple[str, str]]:
    codes = request.disciplines
    found = [] if request.edition else [("edition", "required")]
    if not codes:
        return [*found, ("disciplines", "at least one discipline")]
    levels = policy.matching.allowed_levels
    for i, code in enumerate(codes):
        if _NATIONAL.fullmatch(code) is None:
            found.append((f"disciplines[{i}]", "not a national discipline code"))
        elif (len(code) - 1) // 2 not in levels:
            found.append((f"disciplines[{i}]", f"the policy allows levels {list(levels)}"))
        if any(other != code and code.startswith(other) for other in codes):
            found.append((f"disciplines[{i}]", "a requested code lies below another"))
    if len(set(codes)) != len(codes):
        found.append(("disciplines", "a code is requested twice"))
    return found


# -- the rules ---------------------------------------------------------------------------


class Rules:
    """The policy, inputs and history of one draw, compiled for :meth:`assess`."""

    __slots__ = (
        "_accepted", "_affil_cutoff", "_age_capped", "_avoid_experts", "_born_by", "_busy",
        "_codes", "_credit_since", "_e5", "_edition", "_exclude", "_exempt_lifts", "_first_day",
        "_from", "_include", "_intermediate_since", "_last_day", "_legacy", "_lengths",
        "_lifetime", "_max_pair", "_max_refusals", "_max_seats", "_min_latest", "_min_mean",
        "_min_title", "_mode_exact", "_need_declaration", "_need_training", "_pair_seats",
        "_refusal_codes", "_registration", "_requested", "_roles", "_same", "_score_since",
        "_seats", "_sup_any", "_sup_cutoff", "_tendering", "_to", "_trained_since", "_venue",
        "_worked_since",
    )  # fmt: skip

    def __init__(
        self, policy: Policy, inputs: ConflictInputs, request: DrawRequest, history: History
    ) -> None:
        """Compile the sets and cut-offs of one draw.

        Raises:
            InputError: the inputs break :func:`input_problems`.
        """
        problems = input_problems(inputs, request, policy)
        if problems:
            raise InputError(problems)
        self._matching(policy, request)
        self._dates(policy, inputs.window)
        self._parties(policy, inputs)
        h = policy.history
        self._busy = history.busy
        self._same = history.same_project if h.exclude_same_project else frozenset()
        self._seats, self._max_seats = history.seats, h.per_expert_max
        self._pair_seats, self._max_pair = history.tenderer_seats, h.per_tenderer_max

    def _matching(self, policy: Policy, request: DrawRequest) -> None:
        self._edition = request.edition
        self._legacy = frozenset(policy.matching.legacy_editions) - {request.edition}
        self._requested = {code: code.encode("ascii") for code in request.disciplines}
        self._lengths = sorted({len(code) for code in request.disciplines})
        self._mode_exact = (request.match_mode or policy.matching.mode) is MatchMode.EXACT

    def _dates(self, policy: Policy, window: Window) -> None:
        self._from, self._to = window.from_ms, window.to_ms
        first = self._first_day = cst_date(window.from_ms)
        self._last_day = cst_date(window.to_ms - 1)
        e, a = policy.experience, policy.age
        self._worked_since = years_before(first, e.min_years_in_field)
        self._min_title = e.min_title
        self._registration = e.intermediate_with_registration
        n = e.intermediate_min_years
        self._intermediate_since = years_before(first, n) if n else None
        self._need_declaration = policy.declaration.required
        cap = a.cap + (1 if a.mode is AgeMode.LE else 0)  # age <= cap: age < cap + 1
        self._age_capped = bool(a.cap)
        self._born_by = years_before(first, cap) if a.cap else dt.date.min
        self._exempt_lifts = a.exempt_lifts_cap
        t = policy.training
        self._need_training = t.required
        n = t.max_age_years
        self._trained_since = years_before(first, n) if n else dt.date.min
        c, s = policy.credit, policy.scores
        self._credit_since = years_before_ms(window.from_ms, c.lookback_years)
        self._e5, self._lifetime = frozenset(c.codes), frozenset(c.lifetime_codes)
        self._tendering = frozenset(c.tendering_penalty_codes)
        self._score_since = years_before_ms(window.from_ms, s.lookback_years)
        self._min_latest, self._min_mean = s.min_latest, s.min_mean
        self._refusal_codes, self._max_refusals = frozenset(s.refusal_codes), s.max_refusals
        v = policy.avoidance
        self._affil_cutoff = years_before(first, v.lookback_years)
        self._sup_cutoff = years_before(first, v.supervising_lookback_years)
        self._sup_any = v.supervising_post is SupervisingPost.ANY

    def _parties(self, policy: Policy, inputs: ConflictInputs) -> None:
        roles: dict[str, int] = {}
        groups = ((inputs.tenderer,), (inputs.agency,), inputs.bidders, inputs.avoid_orgs)
        for bit, group in enumerate(groups):
            for code in group:
                if code:
                    roles[code] = roles.get(code, 0) | 1 << bit
        self._roles = roles
        self._codes = {
            (kind, mask): tuple(sorted({c for bit, c in enumerate(codes) if mask >> bit & 1}))
            for kind, codes in _PARTY_CODES.items()
            for mask in set(roles.values())
        }
        self._avoid_experts = frozenset(inputs.avoid_experts)
        accepted = policy.library_type_rule(inputs.library_type) if inputs.library_type else None
        self._accepted = accepted
        r = inputs.region
        self._include = tuple(_area(c) for c in r.include)
        self._exclude = tuple(_area(c) for c in r.exclude)
        digits = policy.region.venue_prefix_digits
        self._venue = inputs.venue_region[:digits] if digits else ""

    def assess(self, expert: Candidate) -> Assessment | None:
        """The expert's leaf, or None when it matches no requested discipline."""
        discs, legacy = self._match(expert.profile.disciplines)
        if not discs:
            return None
        out: list[bytes] = [LEGACY_EDITION] if legacy else []
        profile = expert.profile
        self._gates(expert, profile, out)
        self._qualification(expert.birth_date, profile, out)
        if expert.credits:
            self._credit(expert.credits, out)
        if profile.affiliations:
            self._affiliations(profile.affiliations, out)
        self._place_and_history(expert, profile, out)
        return Assessment(discs, tuple(sorted(set(out))) if out else _NO_REASONS)

    def _match(self, codes: Sequence[tuple[str, str]]) -> tuple[tuple[bytes, ...], bool]:
        """Matched requested codes, and whether they come through legacy codes only."""
        current: set[bytes] = set()
        legacy: set[bytes] = set()
        held_current = False
        for edition, code in codes:
            if edition == self._edition:
                held_current = True
                found = current
            elif edition in self._legacy:
                found = legacy
            else:
                continue
            hit = self._requested_for(code)
            if hit is not None:
                found.add(hit)
        if held_current:
            return tuple(sorted(current)), False
        return tuple(sorted(legacy)), True

    def _requested_for(self, code: str) -> bytes | None:
        requested = self._requested
        if self._mode_exact:
            return requested.get(code)
        for n in self._lengths:  # at most one hit: no requested code lies below another
            hit = requested.get(code[:n])
            if hit is not None:
                return hit
        return None

    def _gates(self, expert: Candidate, profile: Profile, out: list[bytes]) -> None:
        """E6 (and E5 for a blacklisting), E2, E7."""
        if expert.state is not State.ACTIVE or profile.review is not Review.APPROVED:
            out.append(E6)
        f, t = self._from, self._to
        for p in expert.periods:
            if p.status is Status.ACTIVE or p.start_ms >= t:
                continue
            if p.end_ms is None or (p.end_ms > f and p.end_ms > p.start_ms):
                out.append(E6)
                if p.status is Status.BLACKLISTED:
                    out.append(E5)
        declared = profile.declaration_date
        if self._need_declaration and (declared is None or declared > self._first_day):
            out.append(E2)
        if self._accepted is not None and profile.library_type not in self._accepted:
            out.append(E7)

    def _qualification(self, born: dt.date | None, profile: Profile, out: list[bytes]) -> None:
        """E1, E3, E4."""
        if not self._experienced(profile):
            out.append(E1)
        capped = self._age_capped and not (profile.age_exempt and self._exempt_lifts)
        if capped and (born is None or born <= self._born_by):
            out.append(E3)
        trained = profile.training_date
        if self._need_training and (
            trained is None or not self._trained_since <= trained <= self._first_day
        ):
            out.append(E4)

    def _experienced(self, profile: Profile) -> bool:
        """E1: years in the field, then the title or an equivalence for a 中级 title."""
        if profile.work_start is None or profile.work_start > self._worked_since:
            return False
        title = profile.title
        level, obtained = title.level, title.obtained
        if level is None or obtained is None or obtained > self._first_day:
            return False
        if level >= self._min_title:
            return True
        if level < TitleLevel.INTERMEDIATE:
            return False
        day = self._first_day
        if self._registration and any(
            q.registered is not None and q.registered <= day for q in profile.qualifications
        ):
            return True
        return self._intermediate_since is not None and obtained <= self._intermediate_since

    def _credit(self, events: Sequence[CreditEvent], out: list[bytes]) -> None:
        """E5, A4 and C5 from the credit events."""
        latest_ms, latest, total, scored, refusals = -1, 0, 0, 0, 0
        for e in events:
            code = e.code
            if code.startswith(_SCORE):
                value = code[len(_SCORE) :]
                if e.event_ms >= self._score_since and value.isascii() and value.isdigit():
                    total, scored = total + int(value), scored + 1
                    if e.event_ms >= latest_ms:
                        latest_ms, latest = e.event_ms, int(value)
                continue
            if code in self._lifetime or (code in self._e5 and e.event_ms >= self._credit_since):
                out.append(E5)
            if code in self._tendering:
                out.append(A4)
            if code in self._refusal_codes and e.event_ms >= self._score_since:
                refusals += 1
        if scored and (latest < self._min_latest or total < self._min_mean * scored):
            out.append(C5)
        if self._max_refusals and refusals >= self._max_refusals:
            out.append(C5)

    def _affiliations(self, affiliations: Sequence[Affiliation], out: list[bytes]) -> None:
        """A1, A2, A5, A7, A8, A10, A11 from the dated affiliations."""
        roles, last = self._roles, self._last_day
        for a in affiliations:
            kind = a.kind
            if kind is AffiliationKind.SUPERVISING_POST and self._sup_any:
                codes = _A2  # any supervising post, wherever it is
            else:
                mask = roles.get(a.organization_code)
                if mask is None or kind is None:
                    continue
                codes = self._codes[kind, mask]
            if kind is AffiliationKind.DECLARED_AVOID:
                cutoff = self._first_day  # a declaration counts while it is in force
            elif kind is AffiliationKind.SUPERVISING_POST:
                cutoff = self._sup_cutoff
            else:
                cutoff = self._affil_cutoff
            if (a.start is not None and a.start > last) or (a.end is not None and a.end < cutoff):
                continue
            out.extend(codes)

    def _place_and_history(self, expert: Candidate, profile: Profile, out: list[bytes]) -> None:
        """A11 (avoided expert), REGION, REMOTE, BUSY_WINDOW, SAME_PROJECT, FREQ_*."""
        if expert.id_hash in self._avoid_experts:
            out.append(A11)
        area = profile.region_code
        if (self._include and not area.startswith(self._include)) or (
            self._exclude and area.startswith(self._exclude)
        ):
            out.append(REGION)
        if self._venue and not profile.accepts_remote and not area.startswith(self._venue):
            out.append(REMOTE)
        uuid = expert.uuid
        if uuid in self._busy:
            out.append(BUSY_WINDOW)
        if uuid in self._same:
            out.append(SAME_PROJECT)
        if self._max_seats and self._seats.get(uuid, 0) >= self._max_seats:
            out.append(FREQ_CAP)
        if self._max_pair and self._pair_seats.get(uuid, 0) >= self._max_pair:
            out.append(FREQ_TENDERER)


def _area(code: str) -> str:
    """The prefix a 行政区划 code covers: ``120000`` → ``12``, ``120100`` → ``1201``."""
    while code.endswith("00") and len(code) > _PROVINCE_DIGITS:
        code = code[:-2]
    return code
