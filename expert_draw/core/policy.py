"""The draw policy: every configurable rule of domain-rules.md §7, loaded from TOML (pure).

A policy is a frozen tree of validated dataclasses. :func:`load_policy` reads a TOML
document (docs/policy.md describes every key; a key left out takes its default, an
unknown key is an error) and raises one :class:`PolicyError` listing every problem with
its key path. :meth:`Policy.config_json` is the ``config`` of the ``policy.set`` audit
entry: every key with its effective value, so leaving a key out and writing its default
give the same bytes; :meth:`Policy.digest` is the SHA-256 of the aud1 canonical bytes of
that object, which each draw commits to as ``rules_digest`` (draw-protocol.md §4).

Numbers that vary by locality are never constants: age caps, committee sizes, look-backs
and frequency caps all live here, each with the default docs/policy.md justifies.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import re
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from audit_log import canonical
from expert_draw.core.experts import LibraryType, TitleLevel

FORMAT_VERSION = 1
# The credit-event codes the library records (PenaltyKind names in lower case); scores
# are ``score:<n>`` and are read by the [scores] rules, never listed here.
CREDIT_CODES = frozenset(
    {"no_show", "late_withdrawal", "undeclared_conflict", "misconduct",
     "administrative_penalty", "criminal_penalty"}
)  # fmt: skip
MAX_INT = canonical.MAX_SAFE_INTEGER
MAX_U32 = 2**32 - 1
_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")
_EDITION = re.compile(r"[0-9a-z](?:[0-9a-z-]{0,30}[0-9a-z])?")
T = TypeVar("T")
E = TypeVar("E", bound=enum.Enum)
Problem = tuple[str, str]  # (key path, why)
Parse = Callable[[object], object]


class PolicyError(ValueError):
    """A policy document or value that breaks the format; ``problems`` names each one.

    Each problem is ``(key path, why)``; the path is dotted from the document root
    (``age.mode``, ``methods.gov_tender.max_lead_hours``), or ``""`` for the document.
    """

    def __init__(self, problems: Sequence[Problem]) -> None:
        """Create the error from at least one problem."""
        self.problems = tuple(problems)
        text = "; ".join(f"{path or '(document)'}: {why}" for path, why in self.problems)
        super().__init__(f"invalid policy: {text}")


class MatchMode(enum.StrEnum):
    """How a requested discipline code matches an expert's codes (domain-rules.md §3)."""

    PREFIX = "prefix"
    EXACT = "exact"


class AgeMode(enum.StrEnum):
    """How the age is compared with the cap (E3): ``lt`` age < cap, ``le`` age ≤ cap."""

    LT = "lt"
    LE = "le"


class SupervisingPost(enum.StrEnum):
    """Which ``supervising_post`` affiliations exclude (A2; docs/policy.md [avoidance])."""

    ANY = "any"
    PARTIES = "parties"


class ReplacementMode(enum.StrEnum):
    """Replacement mode (draw-protocol.md §4); mode B is *optional, later*."""

    A = "A"


# -- value parsers: TOML value -> typed value, or _BadValueError ------------------------


class _BadValueError(Exception):
    """Problems of one value, with paths relative to it (``""`` is the value itself)."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(problems)
        self.problems = problems


def _bad(why: str) -> _BadValueError:
    return _BadValueError([("", why)])


def _join(head: str, tail: str) -> str:
    """``age`` + ``cap`` is ``age.cap``; ``codes`` + ``[1]`` is ``codes[1]``."""
    if not tail:
        return head
    return f"{head}{tail}" if tail.startswith("[") else f"{head}.{tail}"


def _integer(low: int, high: int = MAX_INT) -> Parse:
    def parse(value: object) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise _bad("must be an integer")
        if not low <= value <= high:
            raise _bad(f"must lie between {low} and {high}")
        return value

    return parse


def _one_of(*allowed: int) -> Parse:
    def parse(value: object) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise _bad("must be an integer")
        if value not in allowed:
            raise _bad(f"must be one of {', '.join(map(str, allowed))}")
        return value

    return parse


def _boolean(value: object) -> bool:
    if not isinstance(value, bool):
        raise _bad("must be true or false")
    return value


def _choice(kind: type[E]) -> Parse:
    names = ", ".join(f'"{m.value}"' for m in kind)

    def parse(value: object) -> E:
        for member in kind:
            if member.value == value:
                return member
        raise _bad(f"must be one of {names}")

    return parse


def _title(value: object) -> TitleLevel:
    for level in TitleLevel:
        if level.name.lower() == value:
            return level
    raise _bad('must be one of "intermediate", "associate_senior", "senior"')


def _string(pattern: re.Pattern[str], what: str) -> Parse:
    def parse(value: object) -> str:
        if not isinstance(value, str) or pattern.fullmatch(value) is None:
            raise _bad(f"must be {what}")
        return value

    return parse


def _member(allowed: frozenset[str]) -> Parse:
    def parse(value: object) -> str:
        if not isinstance(value, str) or value not in allowed:
            raise _bad(f"must be one of {', '.join(sorted(allowed))}")
        return value

    return parse


def _list(item: Parse, *, non_empty: bool = False) -> Parse:
    """A TOML array of unique items, kept as a tuple in document order."""

    def parse(value: object) -> tuple[object, ...]:
        if not isinstance(value, list | tuple):
            raise _bad("must be an array")
        if non_empty and not value:
            raise _bad("must not be empty")
        found: list[object] = []
        problems: list[Problem] = []
        for i, raw in enumerate(value):
            try:
                parsed = item(raw)
            except _BadValueError as e:
                problems += [(_join(f"[{i}]", p), why) for p, why in e.problems]
                continue
            if parsed in found:
                problems.append((f"[{i}]", "listed twice"))
            found.append(parsed)
        if problems:
            raise _BadValueError(problems)
        return tuple(found)

    return parse


def _table(item: Parse) -> Parse:
    """A TOML table of named entries, kept as ``((name, value), ...)`` sorted by name."""

    def parse(value: object) -> tuple[tuple[str, object], ...]:
        if not isinstance(value, dict) or not value:
            raise _bad("must be a non-empty table")
        found: list[tuple[str, object]] = []
        problems: list[Problem] = []
        for name, raw in value.items():
            if _NAME.fullmatch(name) is None:
                problems.append((name, "names are 1-32 characters of [a-z0-9_], a letter first"))
                continue
            try:
                found.append((name, item(raw)))
            except _BadValueError as e:
                problems += [(_join(name, p), why) for p, why in e.problems]
        if problems:
            raise _BadValueError(problems)
        return tuple(sorted(found, key=lambda pair: pair[0]))

    return parse


def _dump(value: object) -> object:
    """A typed value as its TOML/aud1 form (the inverse of the parsers)."""
    if isinstance(value, TitleLevel):
        return value.name.lower()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple):
        return [_dump(item) for item in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _config(value)
    return value


def _dump_table(value: object) -> object:
    return {name: _dump(item) for name, item in cast("tuple[tuple[str, object], ...]", value)}


def _key(parse: Parse, dump: Callable[[object], object] = _dump) -> dict[str, object]:
    """The field metadata of a policy key: its parser and its dumper."""
    return {"parse": parse, "dump": dump}


def _config(section: object) -> dict[str, object]:
    out: dict[str, object] = {}
    for f in dataclasses.fields(cast("Any", section)):
        value = getattr(section, f.name)
        out[f.name] = _config(value) if "section" in f.metadata else f.metadata["dump"](value)
    return out


def _load(kind: type[T], value: object) -> T:
    """Build a section from its TOML table.

    Raises:
        _BadValueError: every problem, with paths relative to the table.
    """
    if not isinstance(value, dict):
        raise _bad("must be a table")
    known = {f.name: f for f in dataclasses.fields(cast("Any", kind))}
    problems = [(key, "unknown key") for key in value if key not in known]
    values: dict[str, object] = {}
    for name, f in known.items():
        if name not in value:
            continue
        try:
            if "section" in f.metadata:
                values[name] = _load(f.metadata["section"], value[name])
            else:
                values[name] = f.metadata["parse"](value[name])
        except _BadValueError as e:
            problems += [(_join(name, p), why) for p, why in e.problems]
    if problems:
        raise _BadValueError(problems)
    try:
        return kind(**values)
    except PolicyError as e:
        raise _BadValueError(list(e.problems)) from None


def _validate(section: object, extra: list[Problem]) -> None:
    """Check every key of a section built in code as the loader would, plus ``extra``.

    Raises:
        PolicyError: every problem, with paths relative to the section.
    """
    problems: list[Problem] = []
    for f in dataclasses.fields(cast("Any", section)):
        if "section" in f.metadata:
            continue  # built and checked on its own
        try:
            f.metadata["parse"](f.metadata["dump"](getattr(section, f.name)))
        except _BadValueError as e:
            problems += [(_join(f.name, p), why) for p, why in e.problems]
    problems += extra
    if problems:
        raise PolicyError(problems)


# -- the sections ------------------------------------------------------------------------


class _Section:
    """A table of the policy: checked when built, from a document or in code."""

    __slots__ = ()

    def __post_init__(self) -> None:
        """Check every key as the loader would, then the keys against each other.

        Raises:
            PolicyError: every problem, with key paths relative to the table.
        """
        _validate(self, self._inconsistencies())

    def _inconsistencies(self) -> list[Problem]:
        return []


_CODES = _list(_member(CREDIT_CODES))
_YEARS = _integer(0, 150)


@dataclass(frozen=True, slots=True)
class Matching(_Section):
    """[matching]: discipline matching (domain-rules.md §3; draw-protocol.md §4)."""

    mode: MatchMode = field(default=MatchMode.PREFIX, metadata=_key(_choice(MatchMode)))
    allowed_levels: tuple[int, ...] = field(
        default=(2, 3), metadata=_key(_list(_integer(0, 3), non_empty=True))
    )
    legacy_editions: tuple[str, ...] = field(
        default=("2010-trial",),
        metadata=_key(_list(_string(_EDITION, "an edition id ([0-9a-z-], 1-32)"))),
    )


@dataclass(frozen=True, slots=True)
class Experience(_Section):
    """[experience], rule E1: years in the field and 高级职称 or an equivalence."""

    min_years_in_field: int = field(default=8, metadata=_key(_integer(0, 60)))
    min_title: TitleLevel = field(default=TitleLevel.ASSOCIATE_SENIOR, metadata=_key(_title))
    intermediate_with_registration: bool = field(default=False, metadata=_key(_boolean))
    intermediate_min_years: int = field(default=0, metadata=_key(_integer(0, 60)))

    def _inconsistencies(self) -> list[Problem]:
        low = self.min_title < TitleLevel.INTERMEDIATE
        return [("min_title", "must be intermediate or higher")] if low else []


@dataclass(frozen=True, slots=True)
class Declaration(_Section):
    """[declaration], rule E2: a dated integrity and competence declaration."""

    required: bool = field(default=True, metadata=_key(_boolean))


@dataclass(frozen=True, slots=True)
class Age(_Section):
    """[age], rule E3: the age cap at the evaluation date (0: no cap)."""

    cap: int = field(default=70, metadata=_key(_integer(0, 150)))
    mode: AgeMode = field(default=AgeMode.LT, metadata=_key(_choice(AgeMode)))
    exempt_lifts_cap: bool = field(default=True, metadata=_key(_boolean))


@dataclass(frozen=True, slots=True)
class Training(_Section):
    """[training], rule E4: e-evaluation training (0 years: a record never expires)."""

    required: bool = field(default=True, metadata=_key(_boolean))
    max_age_years: int = field(default=0, metadata=_key(_YEARS))


@dataclass(frozen=True, slots=True)
class Credit(_Section):
    """[credit], rules E5 and A4: which credit events exclude, and for how long."""

    lookback_years: int = field(default=3, metadata=_key(_integer(1, 150)))
    codes: tuple[str, ...] = field(
        default=("administrative_penalty", "criminal_penalty", "misconduct", "undeclared_conflict"),
        metadata=_key(_CODES),
    )
    lifetime_codes: tuple[str, ...] = field(default=("criminal_penalty",), metadata=_key(_CODES))
    tendering_penalty_codes: tuple[str, ...] = field(
        default=("administrative_penalty",), metadata=_key(_CODES)
    )


@dataclass(frozen=True, slots=True)
class Scores(_Section):
    """[scores], rule C5: evaluation scores and refusals as hard thresholds (0: off)."""

    lookback_years: int = field(default=3, metadata=_key(_integer(1, 150)))
    min_latest: int = field(default=0, metadata=_key(_integer(0, 100)))
    min_mean: int = field(default=0, metadata=_key(_integer(0, 100)))
    refusal_codes: tuple[str, ...] = field(
        default=("no_show", "late_withdrawal"), metadata=_key(_CODES)
    )
    max_refusals: int = field(default=0, metadata=_key(_integer(0, 1000)))


@dataclass(frozen=True, slots=True)
class Avoidance(_Section):
    """[avoidance], rules A1-A11: how far back affiliations count."""

    lookback_years: int = field(default=3, metadata=_key(_YEARS))
    supervising_post: SupervisingPost = field(
        default=SupervisingPost.ANY, metadata=_key(_choice(SupervisingPost))
    )
    supervising_lookback_years: int = field(default=0, metadata=_key(_YEARS))


@dataclass(frozen=True, slots=True)
class Region(_Section):
    """[region]: the request's region constraint and the venue rule for local experts."""

    require_reason: bool = field(default=True, metadata=_key(_boolean))
    venue_prefix_digits: int = field(default=2, metadata=_key(_one_of(0, 2, 4, 6)))


@dataclass(frozen=True, slots=True)
class History(_Section):
    """[history], rule D8: schedule overlap, same project, frequency caps (0: off)."""

    padding_minutes: int = field(default=0, metadata=_key(_integer(0, 7 * 24 * 60)))
    exclude_same_project: bool = field(default=True, metadata=_key(_boolean))
    per_expert_max: int = field(default=0, metadata=_key(_integer(0, 10_000)))
    per_expert_days: int = field(default=365, metadata=_key(_integer(1, 3660)))
    per_tenderer_max: int = field(default=0, metadata=_key(_integer(0, 10_000)))
    per_tenderer_days: int = field(default=365, metadata=_key(_integer(1, 3660)))


@dataclass(frozen=True, slots=True)
class Leave(_Section):
    """[leave], rule C4: no leave may start within this many hours of a seat's window."""

    lock_hours: int = field(default=24, metadata=_key(_integer(0, 24 * 30)))


@dataclass(frozen=True, slots=True)
class Committee(_Section):
    """[committee], rule D3: odd size, experts at least ``num/den`` of the committee."""

    odd: bool = field(default=True, metadata=_key(_boolean))
    expert_share_num: int = field(default=2, metadata=_key(_integer(1, 100)))
    expert_share_den: int = field(default=3, metadata=_key(_integer(1, 100)))

    def _inconsistencies(self) -> list[Problem]:
        high = self.expert_share_num > self.expert_share_den
        return [("expert_share_num", "must not exceed expert_share_den")] if high else []


@dataclass(frozen=True, slots=True)
class Method(_Section):
    """One [methods.<name>] table: a procurement method's timing (D5) and size (D3)."""

    max_lead_hours: int = field(default=0, metadata=_key(_integer(0, 24 * 366)))
    min_lead_minutes: int = field(default=0, metadata=_key(_integer(0, 24 * 60 * 30)))
    min_size: int = field(default=5, metadata=_key(_integer(1, 99)))


@dataclass(frozen=True, slots=True)
class Pool(_Section):
    """[pool]: the pool minimum and the look-back window for pool changes."""

    min_pool_factor: int = field(default=3, metadata=_key(_integer(1, 1000)))
    lookback_seconds: int = field(default=3600, metadata=_key(_integer(0, 366 * 86_400)))


@dataclass(frozen=True, slots=True)
class Beacon(_Section):
    """[beacon]: drand use, Δ, the nonce margin, the no-beacon nonce deadline."""

    require: bool = field(default=False, metadata=_key(_boolean))
    delta_rounds: int = field(default=100, metadata=_key(_integer(1, MAX_U32)))
    margin_seconds: int = field(default=30, metadata=_key(_integer(1, MAX_U32)))
    nonce_deadline_seconds: int = field(default=600, metadata=_key(_integer(1, 86_400)))

    def _inconsistencies(self) -> list[Problem]:
        late = self.margin_seconds >= 3 * self.delta_rounds
        why = "must be less than 3 × delta_rounds seconds, else no nonce can be on time"
        return [("margin_seconds", why)] if late else []


@dataclass(frozen=True, slots=True)
class Replacement(_Section):
    """[replacement], rules D6 and D7: reserves and replacements per discipline."""

    mode: ReplacementMode = field(
        default=ReplacementMode.A, metadata=_key(_choice(ReplacementMode))
    )
    reserves: int = field(default=2, metadata=_key(_integer(0, 1000)))
    max_repl: int = field(default=3, metadata=_key(_integer(0, 1000)))


def _default_library_types() -> tuple[tuple[str, tuple[LibraryType, ...]], ...]:
    return (
        ("government", (LibraryType.PROVINCIAL, LibraryType.STATE_COUNCIL)),
        ("provincial", (LibraryType.PROVINCIAL,)),
        ("state_council", (LibraryType.STATE_COUNCIL,)),
    )


def _default_methods() -> tuple[tuple[str, Method], ...]:
    return (
        ("gov_consultation", Method(min_size=3)),
        ("gov_inquiry", Method(max_lead_hours=48, min_size=3)),
        ("gov_negotiation", Method(min_size=3)),
        ("gov_tender", Method(max_lead_hours=48)),
        ("mee_international", Method(max_lead_hours=48)),
        ("tender", Method()),
    )


def _method(value: object) -> Method:
    return _load(Method, value)


@dataclass(frozen=True, slots=True)
class Policy(_Section):
    """The whole draw policy; every key has a default (docs/policy.md)."""

    version: int = field(default=FORMAT_VERSION, metadata=_key(_one_of(FORMAT_VERSION)))
    matching: Matching = field(default_factory=Matching, metadata={"section": Matching})
    experience: Experience = field(default_factory=Experience, metadata={"section": Experience})
    declaration: Declaration = field(default_factory=Declaration, metadata={"section": Declaration})
    age: Age = field(default_factory=Age, metadata={"section": Age})
    training: Training = field(default_factory=Training, metadata={"section": Training})
    credit: Credit = field(default_factory=Credit, metadata={"section": Credit})
    scores: Scores = field(default_factory=Scores, metadata={"section": Scores})
    avoidance: Avoidance = field(default_factory=Avoidance, metadata={"section": Avoidance})
    region: Region = field(default_factory=Region, metadata={"section": Region})
    history: History = field(default_factory=History, metadata={"section": History})
    leave: Leave = field(default_factory=Leave, metadata={"section": Leave})
    committee: Committee = field(default_factory=Committee, metadata={"section": Committee})
    pool: Pool = field(default_factory=Pool, metadata={"section": Pool})
    beacon: Beacon = field(default_factory=Beacon, metadata={"section": Beacon})
    replacement: Replacement = field(default_factory=Replacement, metadata={"section": Replacement})
    library_types: tuple[tuple[str, tuple[LibraryType, ...]], ...] = field(
        default_factory=_default_library_types,
        metadata=_key(_table(_list(_choice(LibraryType), non_empty=True)), _dump_table),
    )
    methods: tuple[tuple[str, Method], ...] = field(
        default_factory=_default_methods, metadata=_key(_table(_method), _dump_table)
    )

    def config_json(self) -> dict[str, object]:
        """The ``config`` of the ``policy.set`` entry: every key at its effective value."""
        return _config(self)

    def canonical_bytes(self) -> bytes:
        """The aud1 canonical bytes of :meth:`config_json`."""
        return canonical.dumps(self.config_json())

    def digest(self) -> bytes:
        """SHA-256 of :meth:`canonical_bytes` (32 bytes): a draw's ``rules_digest``."""
        return hashlib.sha256(self.canonical_bytes()).digest()

    def library_type_rule(self, name: str) -> frozenset[LibraryType] | None:
        """The expert library types a request's ``library_type`` accepts (None: unknown)."""
        for key, accepted in self.library_types:
            if key == name:
                return frozenset(accepted)
        return None

    def method(self, name: str) -> Method | None:
        """The procurement method's rules (None: not configured)."""
        return next((m for key, m in self.methods if key == name), None)

    def committee_problems(self, method: str, experts: int, representatives: int) -> list[str]:
        """Why a committee of ``experts`` plus tenderer ``representatives`` breaks D3.

        An empty list means the size is allowed for the procurement method.
        """
        rules = self.method(method)
        if rules is None:
            return [f"unknown procurement method {method!r}"]
        size, c = experts + representatives, self.committee
        found = []
        if experts < 0 or representatives < 0:
            found.append("member counts cannot be negative")
        if size < rules.min_size:
            found.append(f"a {method} committee has at least {rules.min_size} members")
        if c.odd and size % 2 == 0:
            found.append("the committee size must be odd")
        if experts * c.expert_share_den < c.expert_share_num * size:
            share = f"{c.expert_share_num}/{c.expert_share_den}"
            found.append(f"experts must be at least {share} of the committee")
        return found

    def timing_problem(self, method: str, now_ms: int, window_from_ms: int) -> str | None:
        """Why a draw at ``now_ms`` for a window starting at ``window_from_ms`` breaks D5."""
        rules = self.method(method)
        if rules is None:
            return f"unknown procurement method {method!r}"
        lead_ms = window_from_ms - now_ms
        if rules.max_lead_hours and lead_ms > rules.max_lead_hours * 3_600_000:
            return f"a {method} draw starts at most {rules.max_lead_hours} h before the window"
        if lead_ms <= rules.min_lead_minutes * 60_000:
            minutes = rules.min_lead_minutes
            ahead = f"more than {minutes} min before" if minutes else "before"
            return f"a {method} draw must come {ahead} the window starts"
        return None


DEFAULT = Policy()


def load_policy(text: str | bytes) -> Policy:
    """Parse and validate a TOML policy document (UTF-8 when given as bytes).

    Raises:
        PolicyError: listing every problem with its key path: TOML syntax, unknown
            keys, wrong types, values out of range, inconsistent values.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise PolicyError([("", "not UTF-8")]) from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise PolicyError([("", f"not TOML: {e}")]) from None
    try:
        return _load(Policy, document)
    except _BadValueError as e:
        raise PolicyError(e.problems) from None


def policy_from_config(config: object) -> Policy:
    """The policy a ``policy.set`` entry's ``config`` states (every key present).

    Raises:
        PolicyError: the object is not a valid policy.
    """
    try:
        return _load(Policy, config)
    except _BadValueError as e:
        raise PolicyError(e.problems) from None
