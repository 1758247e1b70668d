"""The expert record: validation, masking, and what the audit log holds of it (pure).

An admin submits a :class:`Draft`: the personal part (name, 身份证号, phone, e-mail,
all encrypted at rest) and the profile (everything eligibility and avoidance read).
:func:`validate` returns every problem as a field violation; :func:`audit_record` gives
the ``expert.create`` record: the profile in clear (eligibility replay needs it,
audit-log.md §2 table) and the personal fields only as salted commitments.
"""

from __future__ import annotations

import bisect
import datetime as dt
import enum
import re
import unicodedata
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

from audit_log.entry import commitment
from expert_draw.core import identifiers
from expert_draw.errors import FieldViolation

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

MAX_NAME_CHARS = 64
MAX_ORG_NAME_CHARS = 128
MAX_DISCIPLINES = 10
MAX_QUALIFICATIONS = 20
MAX_AFFILIATIONS = 200
MIN_DISCIPLINE_LEVEL = 2
_PHONE = re.compile(r"1[3-9][0-9]{9}")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
MAX_EMAIL_CHARS = 254
EARLIEST = dt.date(1900, 1, 1)
PERSONAL_FIELDS = ("full_name", "resident_id_number", "phone", "email", "birth_date", "gender")


class TitleLevel(enum.IntEnum):
    """职称 levels, ordered."""

    JUNIOR = 1
    INTERMEDIATE = 2
    ASSOCIATE_SENIOR = 3
    SENIOR = 4


class Review(enum.StrEnum):
    """The review of an expert's application (rule E6)."""

    PROVISIONAL = "provisional"
    APPROVED = "approved"


class LibraryType(enum.StrEnum):
    """The library an expert belongs to (rule E7)."""

    PROVINCIAL = "provincial"
    STATE_COUNCIL = "state_council"
    OTHER = "other"


class AffiliationKind(enum.StrEnum):
    """What a dated relation to an organisation is (rules A1-A11)."""

    EMPLOYER = "employer"
    REGISTRATION = "registration"
    DECLARED_AVOID = "declared_avoid"
    RELATIVE = "relative"
    SUPERVISING_POST = "supervising_post"


class Education(enum.StrEnum):
    """The highest degree or diploma (学历)."""

    DOCTORATE = "doctorate"
    MASTER = "master"
    BACHELOR = "bachelor"
    ASSOCIATE = "associate"
    OTHER = "other"


class State(enum.StrEnum):
    """The record's state."""

    ACTIVE = "active"
    DELETED = "deleted"


@dataclass(frozen=True, slots=True)
class Title:
    """A professional title and when it was obtained."""

    level: TitleLevel | None
    name: str
    obtained: dt.date | None


@dataclass(frozen=True, slots=True)
class Qualification:
    """A registered practising qualification."""

    name: str
    registered: dt.date | None


@dataclass(frozen=True, slots=True)
class Affiliation:
    """A dated relation to an organisation, keyed by 统一社会信用代码."""

    kind: AffiliationKind | None
    organization_code: str
    organization_name: str
    start: dt.date | None
    end: dt.date | None


@dataclass(frozen=True, slots=True, repr=False)
class Personal:
    """The personal fields (encrypted at rest, committed in the log).

    Its repr hides every value: tracebacks and debug output print records' locals.
    """

    full_name: str
    resident_id_number: str
    phone: str
    email: str

    def __repr__(self) -> str:
        """Never the values."""
        return "Personal(<redacted>)"

    @property
    def birth_date(self) -> dt.date:
        """The birth date the 身份证号 encodes (valid numbers only)."""
        return identifiers.birth_date(self.resident_id_number)

    @property
    def gender(self) -> str:
        """``male`` or ``female``, from the parity of the 17th digit."""
        return "male" if int(self.resident_id_number[16]) % 2 else "female"


@dataclass(frozen=True, slots=True)
class Profile:
    """What eligibility and avoidance read; logged in clear."""

    title: Title
    work_start: dt.date | None
    qualifications: tuple[Qualification, ...]
    disciplines: tuple[tuple[str, str], ...]  # (edition, code)
    region_code: str
    accepts_remote: bool
    library_type: LibraryType | None
    review: Review | None
    declaration_date: dt.date | None
    training_date: dt.date | None
    age_exempt: bool
    affiliations: tuple[Affiliation, ...]
    education: Education | None = None


@dataclass(frozen=True, slots=True)
class Draft:
    """An expert as an admin submits it."""

    personal: Personal
    profile: Profile


class Disciplines(Protocol):
    """Port: what validation needs of the loaded editions."""

    def level_of(self, edition_id: str, code: str) -> int | None:
        """The discipline's level, or None when the edition or code is unknown."""
        ...

    def is_current(self, edition_id: str) -> bool:
        """Whether draws use this edition."""
        ...


def normalize(draft: Draft) -> Draft:
    """NFC-normalise and trim the free-text fields; upper-case the check characters."""
    p = draft.personal
    personal = Personal(
        full_name=_text(p.full_name),
        resident_id_number=p.resident_id_number.strip().upper(),
        phone=p.phone.strip(),
        email=p.email.strip(),
    )
    f = draft.profile
    profile = Profile(
        title=Title(f.title.level, _text(f.title.name), f.title.obtained),
        work_start=f.work_start,
        qualifications=tuple(Qualification(_text(q.name), q.registered) for q in f.qualifications),
        disciplines=f.disciplines,
        region_code=f.region_code.strip(),
        accepts_remote=f.accepts_remote,
        library_type=f.library_type,
        review=f.review,
        declaration_date=f.declaration_date,
        training_date=f.training_date,
        age_exempt=f.age_exempt,
        affiliations=tuple(normalize_affiliation(a) for a in f.affiliations),
        education=f.education,
    )  # fmt: skip
    return Draft(personal, profile)


def normalize_affiliation(a: Affiliation) -> Affiliation:
    """Upper-case the credit code, normalise the name."""
    return Affiliation(
        a.kind, a.organization_code.strip().upper(), _text(a.organization_name), a.start, a.end
    )


def _text(value: str) -> str:
    """NFC, the ideographic space (U+3000, common in Chinese input) as a space, trimmed."""
    return unicodedata.normalize("NFC", value).replace("\u3000", " ").strip()


def validate(draft: Draft, today: dt.date, disciplines: Disciplines) -> list[FieldViolation]:
    """Every problem of a normalised draft, as field violations under ``expert.``.

    Messages never echo personal values.
    """
    problems = _personal_problems(draft.personal, today)
    problems += _profile_problems(draft.profile, today, disciplines)
    return [FieldViolation(f"expert.{field}", why) for field, why in problems]


def _personal_problems(p: Personal, today: dt.date) -> list[tuple[str, str]]:
    found = []
    if not _printable(p.full_name, MAX_NAME_CHARS):
        found.append(("full_name", f"1 to {MAX_NAME_CHARS} printable characters"))
    problem = identifiers.resident_id_problem(p.resident_id_number)
    if problem is not None:
        found.append(("resident_id_number", problem))
    elif not EARLIEST <= p.birth_date <= today:
        found.append(("resident_id_number", "birth date part is not a past date"))
    if _PHONE.fullmatch(p.phone) is None:
        found.append(("phone", "11 digits starting with 13-19 (a mainland mobile number)"))
    if p.email and (len(p.email) > MAX_EMAIL_CHARS or _EMAIL.fullmatch(p.email) is None):
        found.append(("email", "not an e-mail address"))
    return found


def _profile_problems(  # noqa: C901 - one check per field
    f: Profile, today: dt.date, disciplines: Disciplines
) -> list[tuple[str, str]]:
    found = []
    if f.title.level is None:
        found.append(("title.level", "required"))
    if not _printable(f.title.name, MAX_NAME_CHARS):
        found.append(("title.title_name", f"1 to {MAX_NAME_CHARS} printable characters"))
    found += _date_problem("title.obtained_date", f.title.obtained, today, required=True)
    found += _date_problem("work_start_date", f.work_start, today, required=True)
    if len(f.qualifications) > MAX_QUALIFICATIONS:
        found.append(("qualifications", f"at most {MAX_QUALIFICATIONS}"))
    for i, q in enumerate(f.qualifications[:MAX_QUALIFICATIONS]):
        if not _printable(q.name, MAX_NAME_CHARS):
            why = f"1 to {MAX_NAME_CHARS} printable characters"
            found.append((f"qualifications[{i}].qualification_name", why))
        found += _date_problem(
            f"qualifications[{i}].registered_date", q.registered, today, required=True
        )
    found += _discipline_problems(f.disciplines, disciplines)
    problem = identifiers.region_code_problem(f.region_code)
    if problem is not None:
        found.append(("region_code", problem))
    if f.library_type is None:
        found.append(("library_type", "required"))
    if f.review is None:
        found.append(("review", "required"))
    found += _date_problem("declaration_date", f.declaration_date, today, required=False)
    found += _date_problem("training_date", f.training_date, today, required=False)
    if len(f.affiliations) > MAX_AFFILIATIONS:
        found.append(("affiliations", f"at most {MAX_AFFILIATIONS}"))
    for i, a in enumerate(f.affiliations[:MAX_AFFILIATIONS]):
        found += affiliation_problems(f"affiliations[{i}]", a, today)
    return found  # fmt: skip


def _printable(value: str, limit: int) -> bool:
    """1 to ``limit`` characters, none of them a control or format character.

    ``str.isprintable`` refuses control characters (NUL, ESC), separators other than
    the space, and format characters such as U+202E (right-to-left override), which
    would let a record display differently from what it holds.
    """
    return 1 <= len(value) <= limit and value.isprintable()


def _date_problem(
    field: str, value: dt.date | None, today: dt.date, *, required: bool
) -> list[tuple[str, str]]:
    if value is None:
        return [(field, "required")] if required else []
    if not EARLIEST <= value <= today:
        return [(field, f"must lie between {EARLIEST.isoformat()} and today")]
    return []


def _discipline_problems(
    codes: Sequence[tuple[str, str]], disciplines: Disciplines
) -> list[tuple[str, str]]:
    if not 1 <= len(codes) <= MAX_DISCIPLINES:
        return [("disciplines", f"1 to {MAX_DISCIPLINES} disciplines")]
    found = []
    if len(set(codes)) != len(codes):
        found.append(("disciplines", "a discipline is listed twice"))
    for i, (edition, code) in enumerate(codes):
        level = disciplines.level_of(edition, code)
        if level is None:
            found.append(
                (f"disciplines[{i}]", f"editions/{edition}/disciplines/{code} is not loaded")
            )
        elif disciplines.is_current(edition) and level < MIN_DISCIPLINE_LEVEL:
            found.append(
                (
                    f"disciplines[{i}]",
                    "门类 and 一级 codes are too broad: use a 二级 or 三级 discipline",
                )
            )
    return found  # fmt: skip


def affiliation_problems(field: str, a: Affiliation, today: dt.date) -> list[tuple[str, str]]:
    """What is wrong with one (normalised) affiliation, under the path ``field``."""
    found = []
    if a.kind is None:
        found.append((f"{field}.kind", "required"))
    problem = identifiers.uscc_problem(a.organization_code)
    if problem is not None:
        found.append((f"{field}.organization_code", problem))
    if a.organization_name and not _printable(a.organization_name, MAX_ORG_NAME_CHARS):
        found.append(
            (f"{field}.organization_name", f"at most {MAX_ORG_NAME_CHARS} printable characters")
        )
    found += _date_problem(f"{field}.start_date", a.start, today, required=True)
    if a.end is not None and a.start is not None and a.end < a.start:
        found.append((f"{field}.end_date", "before start_date"))
    elif a.end is not None and a.end < EARLIEST:
        found.append((f"{field}.end_date", f"must lie after {EARLIEST.isoformat()}"))
    return found


def legacy_only(profile: Profile, disciplines: Disciplines) -> bool:
    """True when no discipline belongs to the current edition (kept, not drawable)."""
    return not any(disciplines.is_current(edition) for edition, _ in profile.disciplines)


# -- what the log holds ------------------------------------------------------------------


def personal_values(personal: Personal) -> dict[str, str]:
    """The committed attributes and their values (email only when given)."""
    values = {
        "full_name": personal.full_name,
        "resident_id_number": personal.resident_id_number,
        "phone": personal.phone,
        "birth_date": personal.birth_date.isoformat(),
        "gender": personal.gender,
    }
    if personal.email:
        values["email"] = personal.email
    return values


def commitments(personal: Personal, salts: Mapping[str, bytes]) -> dict[str, str]:
    """``<attribute>_commit`` for each personal attribute, under its own 32-byte salt."""
    return {
        f"{name}_commit": commitment(salts[name], value)
        for name, value in personal_values(personal).items()
    }


def _day(value: dt.date | None) -> str | None:
    return None if value is None else value.isoformat()


def profile_json(profile: Profile, *, names: bool = True) -> dict[str, Any]:
    """The profile as aud1 values: dates as ``YYYY-MM-DD``, enums by name.

    ``names=False`` leaves organisation names out (the audit record).
    """
    title = profile.title
    return {
        "title": {"level": title.level.name.lower() if title.level else None, "name": title.name,
                  "obtained": _day(title.obtained)},
        "work_start": _day(profile.work_start),
        "qualifications": [
            {"name": q.name, "registered": _day(q.registered)} for q in profile.qualifications
        ],
        "disciplines": [f"{edition}/{code}" for edition, code in profile.disciplines],
        "region": profile.region_code,
        "accepts_remote": profile.accepts_remote,
        "library_type": str(profile.library_type) if profile.library_type else None,
        "review": str(profile.review) if profile.review else None,
        "declaration_date": _day(profile.declaration_date),
        "training_date": _day(profile.training_date),
        "age_exempt": profile.age_exempt,
        "education": str(profile.education) if profile.education else None,
        "affiliations": [
            {"kind": str(a.kind) if a.kind else None, "org": a.organization_code,
             "start": _day(a.start), "end": _day(a.end),
             **({"name": a.organization_name} if names else {})}
            for a in profile.affiliations
        ],
    }  # fmt: skip


def _date(value: str | None) -> dt.date | None:
    return None if value is None else dt.date.fromisoformat(value)


def profile_from_json(value: Mapping[str, Any]) -> Profile:
    """The inverse of :func:`profile_json` (stored profiles were valid when written)."""
    title = value["title"]
    return Profile(
        title=Title(TitleLevel[title["level"].upper()], title["name"], _date(title["obtained"])),
        work_start=_date(value["work_start"]),
        qualifications=tuple(
            Qualification(q["name"], _date(q["registered"])) for q in value["qualifications"]
        ),
        disciplines=tuple(
            (edition, code) for edition, _, code in (d.partition("/") for d in value["disciplines"])
        ),
        region_code=value["region"],
        accepts_remote=value["accepts_remote"],
        library_type=LibraryType(value["library_type"]),
        review=Review(value["review"]),
        declaration_date=_date(value["declaration_date"]),
        training_date=_date(value["training_date"]),
        age_exempt=value["age_exempt"],
        education=Education(value["education"]) if value.get("education") else None,
        affiliations=tuple(
            Affiliation(AffiliationKind(a["kind"]), a["org"], a.get("name", ""),
                        _date(a["start"]), _date(a["end"]))
            for a in value["affiliations"]
        ),
    )  # fmt: skip


def audit_record(
    profile: Profile, personal: Personal, salts: Mapping[str, bytes], version: int
) -> dict[str, Any]:
    """The ``record`` of an ``expert.create`` entry: profile in clear, personal committed.

    Organisation names are left out: conflicts are matched on codes, and a name adds
    nothing a replay needs. ``version`` names the salts that open the commitments.
    """
    return {
        **profile_json(profile, names=False),
        **commitments(personal, salts),
        "state": str(State.ACTIVE),
        "version": version,
    }


# -- masking -----------------------------------------------------------------------------


def mask_name(name: str) -> str:
    """``张三丰`` → ``张**``; a one-character name → ``*``."""
    if len(name) <= 1:
        return "*" * len(name)
    return name[:1] + "*" * (len(name) - 1)


def mask_resident_id(number: str) -> str:
    """The region (first 6) and the check character; birth date and gender digit hidden."""
    return number[:6] + "*" * (len(number) - 7) + number[-1:]


def mask_phone(phone: str) -> str:
    """``13812345678`` → ``138****5678``."""
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


def mask_email(email: str) -> str:
    """Only the domain: ``***@example.com``."""
    return "***@" + email.rpartition("@")[2] if email else ""


# -- status and credit -------------------------------------------------------------------


class Status(enum.StrEnum):
    """An expert's status at a moment; ``ACTIVE`` when no period covers it."""

    ACTIVE = "active"
    SUSPENDED = "suspended"
    ON_LEAVE = "on_leave"
    BLACKLISTED = "blacklisted"
    RETIRED = "retired"
    DECEASED = "deceased"


# When periods overlap, the strongest status wins.
_STRENGTH = {
    Status.ACTIVE: 0, Status.ON_LEAVE: 1, Status.SUSPENDED: 2, Status.BLACKLISTED: 3,
    Status.RETIRED: 4, Status.DECEASED: 5,
}  # fmt: skip
REINSTATABLE = frozenset({Status.SUSPENDED, Status.BLACKLISTED, Status.ON_LEAVE})


def stronger_than(status: Status) -> frozenset[Status]:
    """The statuses that win over ``status`` when periods overlap."""
    return frozenset(s for s, rank in _STRENGTH.items() if rank > _STRENGTH[status])


MAX_LEAVE_MS = 366 * 86_400_000


@dataclass(frozen=True, slots=True)
class StatusPeriod:
    """A period ``[start_ms, end_ms)`` with a status; ``end_ms`` None while it lasts."""

    status: Status
    reason: str
    start_ms: int
    end_ms: int | None

    def covers(self, ts_ms: int) -> bool:
        """Whether the period holds at ``ts_ms``."""
        return self.start_ms <= ts_ms and (self.end_ms is None or ts_ms < self.end_ms)

    def overlaps(self, start_ms: int, end_ms: int) -> bool:
        """Whether the period meets the window ``[start_ms, end_ms)``."""
        return self.start_ms < end_ms and (self.end_ms is None or start_ms < self.end_ms)


@dataclass(frozen=True, slots=True)
class CreditEvent:
    """A penalty or an evaluation score, with the digest of its evidence."""

    code: str
    reason: str
    evidence_sha256: str
    event_ms: int


def status_at(periods: Sequence[StatusPeriod], ts_ms: int) -> Status:
    """The strongest status of the periods that hold at ``ts_ms`` (ACTIVE if none)."""
    found = [p.status for p in periods if p.covers(ts_ms)]
    return max(found, key=_STRENGTH.__getitem__, default=Status.ACTIVE)


@dataclass(frozen=True, slots=True)
class StatusSteps:
    """:func:`status_at` of some periods, precomputed for any time.

    ``statuses[i]`` holds from ``starts[i]`` (inclusive) to ``starts[i + 1]``; before
    ``starts[0]`` (or with no periods) the status is ACTIVE.
    """

    starts: tuple[int, ...]
    statuses: tuple[Status, ...]

    def at(self, ts_ms: int) -> Status:
        """The status in force at ``ts_ms``, as ``status_at`` of the periods gives it."""
        index = bisect.bisect_right(self.starts, ts_ms) - 1
        return Status.ACTIVE if index < 0 else self.statuses[index]


def status_steps(periods: Sequence[StatusPeriod]) -> StatusSteps:
    """The status in force of ``periods`` as steps.

    Which periods cover a time changes only at a period's start or end, so the status is
    constant from one of those bounds to the next.
    """
    ends = {p.end_ms for p in periods if p.end_ms is not None}
    bounds = sorted({p.start_ms for p in periods} | ends)
    return StatusSteps(tuple(bounds), tuple(status_at(periods, b) for b in bounds))


def reinstatable(periods: Sequence[StatusPeriod], now_ms: int) -> list[int]:
    """Indices of the suspensions, blacklistings and leaves in force or ahead.

    Reinstatement ends those in force at ``now_ms`` and cancels those starting later.
    """
    return [
        i for i, p in enumerate(periods)
        if p.status in REINSTATABLE and (p.end_ms is None or p.end_ms > now_ms)
        and p.end_ms != p.start_ms
    ]  # fmt: skip


def period_problems(
    start_ms: int, end_ms: int | None, *, max_ms: int | None = None
) -> list[tuple[str, str]]:
    """What is wrong with a requested period (field names ``start_time``, ``end_time``)."""
    if end_ms is not None and end_ms <= start_ms:
        return [("end_time", "must be after start_time")]
    if max_ms is not None and (end_ms is None or end_ms - start_ms > max_ms):
        return [("end_time", f"at most {max_ms // 86_400_000} days after start_time")]
    return []


def score_code(score: int) -> str:
    """The credit-event code of an evaluation score."""
    return f"score:{score}"


# -- updates -----------------------------------------------------------------------------

PERSONAL_UPDATABLE = ("full_name", "phone", "email")
# Update-mask path -> (Profile attribute, profile_json key).
PROFILE_UPDATABLE = {
    "title": ("title", "title"),
    "work_start_date": ("work_start", "work_start"),
    "qualifications": ("qualifications", "qualifications"),
    "disciplines": ("disciplines", "disciplines"),
    "region_code": ("region_code", "region"),
    "accepts_remote": ("accepts_remote", "accepts_remote"),
    "library_type": ("library_type", "library_type"),
    "review": ("review", "review"),
    "declaration_date": ("declaration_date", "declaration_date"),
    "training_date": ("training_date", "training_date"),
    "age_exempt": ("age_exempt", "age_exempt"),
    "affiliations": ("affiliations", "affiliations"),
    "education": ("education", "education"),
}
UPDATABLE = frozenset((*PERSONAL_UPDATABLE, *PROFILE_UPDATABLE))


def merge(current: Draft, requested: Draft, mask: frozenset[str]) -> Draft:
    """``current`` with the masked fields taken from ``requested``."""
    personal = replace(current.personal, **{f: getattr(requested.personal, f)
                                            for f in PERSONAL_UPDATABLE if f in mask})  # fmt: skip
    profile = replace(current.profile, **{attr: getattr(requested.profile, attr)
                                          for path, (attr, _) in PROFILE_UPDATABLE.items()
                                          if path in mask})  # fmt: skip
    return Draft(personal, profile)


def changed_fields(before: Draft, after: Draft) -> list[str]:
    """The update-mask paths whose values differ (both drafts normalised)."""
    found = [
        f for f in PERSONAL_UPDATABLE if getattr(before.personal, f) != getattr(after.personal, f)
    ]
    old, new = profile_json(before.profile), profile_json(after.profile)
    found += [path for path, (_, key) in PROFILE_UPDATABLE.items() if old[key] != new[key]]
    return found
