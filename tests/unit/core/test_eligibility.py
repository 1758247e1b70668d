"""Eligibility, avoidance and history: every rule, its boundaries, and properties."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from audit_log import canonical
from expert_draw.core import eds1, eligibility
from expert_draw.core.eligibility import (
    A1,
    A2,
    A4,
    A5,
    A7,
    A8,
    A10,
    A11,
    BUSY_WINDOW,
    C5,
    E1,
    E2,
    E3,
    E4,
    E5,
    E6,
    E7,
    FREQ_CAP,
    FREQ_TENDERER,
    LEGACY_EDITION,
    REASONS,
    REGION,
    REMOTE,
    SAME_PROJECT,
    Assessment,
    Candidate,
    ConflictInputs,
    DrawRequest,
    History,
    InputError,
    RegionRule,
    Rules,
    Seat,
    Window,
)
from expert_draw.core.experts import (
    Affiliation,
    AffiliationKind,
    CreditEvent,
    LibraryType,
    Profile,
    Qualification,
    Review,
    State,
    Status,
    StatusPeriod,
    Title,
    TitleLevel,
)
from expert_draw.core.identifiers import uscc_check
from expert_draw.core.policy import MatchMode, Policy, load_policy

DAY = 86_400_000
HOUR = 3_600_000
CST = dt.timezone(dt.timedelta(hours=8))
# The window: 2026-06-01 09:00 to 17:00 China Standard Time.
FROM = int(dt.datetime(2026, 6, 1, 9, tzinfo=CST).timestamp() * 1000)
TO = FROM + 8 * HOUR
FIRST = dt.date(2026, 6, 1)
DECLINE_CODES = {
    b"SIGNED_DECLINE", b"NO_ANSWER", b"LEAVE", b"HEALTH", b"CONFLICT_DECLARED", b"ABSENT",
    b"BUSY", b"STRUCK_48_3",
}  # fmt: skip


def uscc(n: int) -> str:
    first17 = f"91120000{n:09d}"
    return first17 + uscc_check(first17)


TENDERER, AGENCY, BIDDER, AVOIDED, OTHER = uscc(1), uscc(2), uscc(3), uscc(4), uscc(99)
AVOID_HASH = "k1:" + "a" * 64
PROJECT = "ab" * 32


def affiliation(
    kind: AffiliationKind | None,
    org: str,
    start: dt.date | None = dt.date(2005, 1, 1),
    end: dt.date | None = None,
) -> Affiliation:
    return Affiliation(kind, org, "", start, end)


PROFILE = Profile(
    title=Title(TitleLevel.SENIOR, "高级工程师", dt.date(2008, 6, 1)),
    work_start=dt.date(1998, 7, 1),
    qualifications=(),
    disciplines=(("2018", "A010101"),),
    region_code="120101",
    accepts_remote=False,
    library_type=LibraryType.PROVINCIAL,
    review=Review.APPROVED,
    declaration_date=dt.date(2025, 1, 10),
    training_date=dt.date(2025, 3, 1),
    age_exempt=False,
    affiliations=(affiliation(AffiliationKind.EMPLOYER, OTHER),),
)
EXPERT = Candidate(
    uuid="3f0c3a52-6a43-4b8e-9a57-0c1d2e3f4a5b",
    profile=PROFILE,
    birth_date=dt.date(1970, 3, 12),
    state=State.ACTIVE,
    periods=(),
    credits=(),
    id_hash="k1:" + "b" * 64,
)
INPUTS = ConflictInputs(
    tenderer=TENDERER,
    agency=AGENCY,
    bidders=(BIDDER,),
    avoid_orgs=(AVOIDED,),
    avoid_experts=(AVOID_HASH,),
    window=Window(FROM, TO),
    region=RegionRule(),
    venue_region="120101",
    library_type="",
    project_ref=PROJECT,
    salt="cd" * 32,
)
REQUEST = DrawRequest(("A0101",), "2018")


def assess(
    expert: Candidate = EXPERT,
    *,
    policy: Policy | str = "",
    inputs: ConflictInputs = INPUTS,
    request: DrawRequest = REQUEST,
    history: History | None = None,
    **profile: object,
) -> Assessment | None:
    if profile:
        expert = dataclasses.replace(expert, profile=dataclasses.replace(expert.profile, **profile))  # type: ignore[arg-type]
    rules_policy = policy if isinstance(policy, Policy) else load_policy(policy)
    return Rules(rules_policy, inputs, request, history or History()).assess(expert)


def reasons(expert: Candidate = EXPERT, **kwargs: object) -> set[bytes]:
    found = assess(expert, **kwargs)  # type: ignore[arg-type]
    assert found is not None
    return set(found.reasons)


def years(n: int, day: dt.date = FIRST) -> dt.date:
    return eligibility.years_before(day, n)


# -- codes and dates ----------------------------------------------------------------------


def test_reason_codes_are_valid_and_never_decline_codes() -> None:
    for code in REASONS:
        assert eds1.check_reason(code) == code
    assert not DECLINE_CODES & set(REASONS)
    assert all(REASONS.values())


def test_china_standard_time_dates() -> None:
    midnight = int(dt.datetime(2026, 6, 1, tzinfo=CST).timestamp() * 1000)
    assert eligibility.cst_date(midnight) == dt.date(2026, 6, 1)
    assert eligibility.cst_date(midnight - 1) == dt.date(2026, 5, 31)
    assert eligibility.cst_date(0) == dt.date(1970, 1, 1)
    assert eligibility.years_before(dt.date(2028, 2, 29), 1) == dt.date(2027, 2, 28)
    assert eligibility.years_before(dt.date(2028, 2, 29), 4) == dt.date(2024, 2, 29)
    earlier = int(dt.datetime(2023, 6, 1, 9, tzinfo=CST).timestamp() * 1000)
    assert eligibility.years_before_ms(FROM, 3) == earlier
    leap = int(dt.datetime(2028, 2, 29, 1, tzinfo=CST).timestamp() * 1000)
    assert eligibility.years_before_ms(leap, 1) == leap - 366 * DAY


def test_a_qualified_expert_is_eligible() -> None:
    found = assess()
    assert found == Assessment((b"A0101",), ())
    assert found.eligible


# -- matching -----------------------------------------------------------------------------


def test_prefix_and_exact_matching() -> None:
    assert assess(disciplines=(("2018", "A0102"),)) is None
    exact = DrawRequest(("A0101",), "2018", MatchMode.EXACT)
    assert assess(request=exact) is None  # A010101 is below A0101, not equal
    assert assess(request=exact, disciplines=(("2018", "A0101"),)) is not None
    assert assess(policy='[matching]\nmode = "exact"\n') is None
    inherit = DrawRequest(("A0101",), "2018")
    assert assess(policy='[matching]\nmode = "exact"\n', request=inherit) is None
    three = DrawRequest(("A0101", "A0102", "B0101"), "2018")
    held = (("2018", "A010203"), ("2018", "A010101"), ("2018", "C0101"), ("2018", "A010102"))
    found = assess(request=three, disciplines=held)
    assert found is not None
    assert found.discs == (b"A0101", b"A0102")
    shorter = DrawRequest(("A010101",), "2018")
    assert assess(request=shorter, disciplines=(("2018", "A0101"),)) is None


def test_other_editions_and_legacy_only_experts() -> None:
    legacy = (("2010-trial", "A010101"),)
    found = assess(disciplines=legacy)
    assert found is not None
    assert found.discs == (b"A0101",)
    assert found.reasons == (LEGACY_EDITION,)
    assert assess(disciplines=(("2010-trial", "B0101"),)) is None
    # Holding a code of the draw's edition: legacy codes do not match at all.
    assert assess(disciplines=(("2018", "B010101"), ("2010-trial", "A010101"))) is None
    both = assess(disciplines=(("2018", "A010101"), ("2010-trial", "A010101")))
    assert both is not None
    assert both.reasons == ()
    assert assess(disciplines=(("2015", "A010101"),)) is None  # neither edition
    assert assess(disciplines=legacy, policy="[matching]\nlegacy_editions = []\n") is None
    legacy_draw = DrawRequest(("A0101",), "2010-trial")
    found = assess(disciplines=legacy, request=legacy_draw)
    assert found is not None
    assert found.reasons == ()


# -- E1-E7 ---------------------------------------------------------------------------------


def test_e1_years_in_field() -> None:
    assert reasons(work_start=years(8)) == set()
    assert reasons(work_start=years(8) + dt.timedelta(days=1)) == {E1}
    assert reasons(work_start=None) == {E1}
    assert reasons(work_start=years(5), policy="[experience]\nmin_years_in_field = 5\n") == set()


def test_e1_title_and_equivalences() -> None:
    def title(level: TitleLevel | None, obtained: dt.date | None = dt.date(2015, 1, 1)) -> Title:
        return Title(level, "x", obtained)

    assert reasons(title=title(TitleLevel.ASSOCIATE_SENIOR)) == set()
    assert reasons(title=title(TitleLevel.INTERMEDIATE)) == {E1}
    assert reasons(title=title(None)) == {E1}
    assert reasons(title=title(TitleLevel.SENIOR, None)) == {E1}
    assert reasons(title=title(TitleLevel.SENIOR, FIRST)) == set()
    assert reasons(title=title(TitleLevel.SENIOR, FIRST + dt.timedelta(days=1))) == {E1}
    registered = "[experience]\nintermediate_with_registration = true\n"
    qualified = (Qualification("一级注册建造师", FIRST),)
    assert (
        reasons(title=title(TitleLevel.INTERMEDIATE), qualifications=qualified, policy=registered)
        == set()
    )
    later = (Qualification("一级注册建造师", FIRST + dt.timedelta(days=1)),)
    undated = (Qualification("x", None),)
    for quals in (later, undated, ()):
        assert reasons(
            title=title(TitleLevel.INTERMEDIATE), qualifications=quals, policy=registered
        ) == {E1}
    assert reasons(title=title(TitleLevel.JUNIOR), qualifications=qualified, policy=registered) == {
        E1
    }
    held = "[experience]\nintermediate_min_years = 5\n"
    assert reasons(title=title(TitleLevel.INTERMEDIATE, years(5)), policy=held) == set()
    late = years(5) + dt.timedelta(days=1)
    assert reasons(title=title(TitleLevel.INTERMEDIATE, late), policy=held) == {E1}
    senior_only = '[experience]\nmin_title = "senior"\nintermediate_with_registration = true\n'
    assert reasons(title=title(TitleLevel.ASSOCIATE_SENIOR), policy=senior_only) == {E1}
    assert (
        reasons(
            title=title(TitleLevel.ASSOCIATE_SENIOR), qualifications=qualified, policy=senior_only
        )
        == set()
    )


def test_e2_declaration() -> None:
    assert reasons(declaration_date=FIRST) == set()
    assert reasons(declaration_date=None) == {E2}
    assert reasons(declaration_date=FIRST + dt.timedelta(days=1)) == {E2}
    assert reasons(declaration_date=None, policy="[declaration]\nrequired = false\n") == set()


def test_e3_age_cap_lt_and_le() -> None:
    seventy = dataclasses.replace(EXPERT, birth_date=years(70))  # 70 on the window's day
    younger = dataclasses.replace(EXPERT, birth_date=years(70) + dt.timedelta(days=1))
    assert reasons(younger) == set()
    assert reasons(seventy) == {E3}
    assert reasons(seventy, policy='[age]\nmode = "le"\n') == set()
    assert reasons(
        dataclasses.replace(EXPERT, birth_date=years(71)), policy='[age]\nmode = "le"\n'
    ) == {E3}
    seventy_one_tomorrow = dataclasses.replace(EXPERT, birth_date=years(71) + dt.timedelta(days=1))
    assert reasons(seventy_one_tomorrow, policy='[age]\nmode = "le"\n') == set()
    assert reasons(seventy, age_exempt=True) == set()
    assert reasons(seventy, age_exempt=True, policy="[age]\nexempt_lifts_cap = false\n") == {E3}
    unknown = dataclasses.replace(EXPERT, birth_date=None)
    assert reasons(unknown) == {E3}
    assert reasons(unknown, policy="[age]\ncap = 0\n") == set()
    assert reasons(seventy, policy="[age]\ncap = 65\n") == {E3}


def test_e3_age_is_taken_in_china_standard_time() -> None:
    # 2026-05-31T16:30Z is already 1 June in China: the 70th birthday has come.
    window = Window(FROM - 8 * HOUR - 30 * 60_000, TO)
    assert eligibility.cst_date(window.from_ms) == FIRST
    utc = dt.datetime.fromtimestamp(window.from_ms / 1000, dt.UTC)
    assert utc.date() == dt.date(2026, 5, 31)
    seventy = dataclasses.replace(EXPERT, birth_date=years(70))
    assert reasons(seventy, inputs=dataclasses.replace(INPUTS, window=window)) == {E3}


def test_e3_leap_day_birthdays() -> None:
    born = dt.date(1956, 2, 29)
    expert = dataclasses.replace(EXPERT, birth_date=born)

    def on(day: dt.date) -> set[bytes]:
        start = int(dt.datetime(day.year, day.month, day.day, 9, tzinfo=CST).timestamp() * 1000)
        inputs = dataclasses.replace(INPUTS, window=Window(start, start + HOUR))
        return reasons(expert, inputs=inputs)

    assert on(dt.date(2026, 2, 28)) == set()  # 69 until 1 March in a common year
    assert on(dt.date(2026, 3, 1)) == {E3}


def test_e4_training() -> None:
    assert reasons(training_date=FIRST) == set()
    assert reasons(training_date=None) == {E4}
    assert reasons(training_date=FIRST + dt.timedelta(days=1)) == {E4}
    assert reasons(training_date=None, policy="[training]\nrequired = false\n") == set()
    expiring = "[training]\nmax_age_years = 2\n"
    assert reasons(training_date=years(2), policy=expiring) == set()
    assert reasons(training_date=years(2) - dt.timedelta(days=1), policy=expiring) == {E4}


def credit(code: str, event_ms: int) -> CreditEvent:
    return CreditEvent(code, "", "0" * 64, event_ms)


def with_credits(*events: CreditEvent) -> Candidate:
    return dataclasses.replace(EXPERT, credits=events)


def test_e5_credit_look_back() -> None:
    cutoff = eligibility.years_before_ms(FROM, 3)
    assert reasons(with_credits(credit("misconduct", cutoff))) == {E5}
    assert reasons(with_credits(credit("misconduct", cutoff - 1))) == set()
    assert reasons(with_credits(credit("undeclared_conflict", FROM + 1))) == {E5}
    assert reasons(with_credits(credit("criminal_penalty", 0))) == {E5}  # lifetime
    assert reasons(with_credits(credit("no_show", FROM - DAY))) == set()  # not an E5 code
    five = "[credit]\nlookback_years = 5\n"
    assert reasons(with_credits(credit("misconduct", cutoff - 1)), policy=five) == {E5}


def test_a4_tendering_penalties_count_for_life() -> None:
    assert reasons(with_credits(credit("administrative_penalty", 0))) == {A4}
    assert reasons(with_credits(credit("administrative_penalty", FROM - DAY))) == {A4, E5}
    assert (
        reasons(
            with_credits(credit("administrative_penalty", 0)),
            policy="[credit]\ntendering_penalty_codes = []\n",
        )
        == set()
    )


def test_c5_scores_as_hard_thresholds() -> None:
    recent, old = FROM - 10 * DAY, eligibility.years_before_ms(FROM, 3) - 1
    latest = "[scores]\nmin_latest = 60\n"
    assert reasons(with_credits(credit("score:59", recent)), policy=latest) == {C5}
    assert reasons(with_credits(credit("score:60", recent)), policy=latest) == set()
    low_then_high = with_credits(credit("score:40", recent - DAY), credit("score:90", recent))
    assert reasons(low_then_high, policy=latest) == set()
    assert reasons(
        with_credits(credit("score:90", recent - DAY), credit("score:40", recent)), policy=latest
    ) == {C5}
    newest_first = with_credits(credit("score:40", recent), credit("score:90", recent - DAY))
    assert reasons(newest_first, policy=latest) == {C5}  # the latest by time, not by position
    assert reasons(with_credits(credit("score:10", old)), policy=latest) == set()  # too old
    assert reasons(with_credits(credit("score:10", recent))) == set()  # off by default
    assert (
        reasons(with_credits(credit("score:x", recent), credit("score:²", recent)), policy=latest)
        == set()
    )
    mean = "[scores]\nmin_mean = 70\n"
    two = (credit("score:60", recent - DAY), credit("score:80", recent))
    assert reasons(with_credits(*two), policy=mean) == set()  # mean exactly 70
    lower = (credit("score:60", recent - DAY), credit("score:79", recent))
    assert reasons(with_credits(*lower), policy=mean) == {C5}


def test_c5_refusal_counter_at_the_cap_and_one_below() -> None:
    cap = "[scores]\nmax_refusals = 2\n"
    one = (credit("no_show", FROM - DAY),)
    two = (*one, credit("late_withdrawal", FROM - 2 * DAY))
    assert reasons(with_credits(*one), policy=cap) == set()
    assert reasons(with_credits(*two), policy=cap) == {C5}
    stale = (*one, credit("no_show", eligibility.years_before_ms(FROM, 3) - 1))
    assert reasons(with_credits(*stale), policy=cap) == set()


def period(status: Status, start: int, end: int | None) -> StatusPeriod:
    return StatusPeriod(status, "", start, end)


def with_periods(*periods: StatusPeriod) -> Candidate:
    return dataclasses.replace(EXPERT, periods=periods)


def test_e6_state_review_and_status_in_the_window() -> None:
    assert reasons(dataclasses.replace(EXPERT, state=State.DELETED)) == {E6}
    assert reasons(review=Review.PROVISIONAL) == {E6}
    assert reasons(review=None) == {E6}
    assert (
        reasons(with_periods(period(Status.ON_LEAVE, FROM - DAY, FROM))) == set()
    )  # ends at start
    assert reasons(with_periods(period(Status.ON_LEAVE, FROM - DAY, FROM + 1))) == {E6}
    assert reasons(with_periods(period(Status.ON_LEAVE, TO - 1, TO + DAY))) == {E6}
    assert reasons(with_periods(period(Status.ON_LEAVE, TO, TO + DAY))) == set()  # starts at end
    assert reasons(with_periods(period(Status.SUSPENDED, 0, None))) == {E6}
    assert reasons(with_periods(period(Status.RETIRED, FROM + HOUR, None))) == {E6}
    assert (
        reasons(with_periods(period(Status.SUSPENDED, FROM + HOUR, FROM + HOUR))) == set()
    )  # cancelled
    assert reasons(with_periods(period(Status.ACTIVE, 0, None))) == set()
    assert reasons(with_periods(period(Status.BLACKLISTED, FROM - DAY, None))) == {E5, E6}


def test_e7_library_type() -> None:
    government = dataclasses.replace(INPUTS, library_type="government")
    assert reasons(inputs=government) == set()
    assert reasons(inputs=government, library_type=LibraryType.OTHER) == {E7}
    assert reasons(inputs=government, library_type=None) == {E7}
    council = dataclasses.replace(INPUTS, library_type="state_council")
    assert reasons(inputs=council) == {E7}
    assert reasons(library_type=LibraryType.OTHER) == set()  # no requirement


# -- avoidance ------------------------------------------------------------------------------


def with_affiliations(*affiliations: Affiliation) -> set[bytes]:
    return reasons(affiliations=affiliations)


def test_affiliations_by_kind_and_party() -> None:
    e, r, rel, d = (AffiliationKind.EMPLOYER, AffiliationKind.REGISTRATION,
                    AffiliationKind.RELATIVE, AffiliationKind.DECLARED_AVOID)  # fmt: skip
    expected = {
        (e, TENDERER): {A7}, (e, AGENCY): {A7}, (e, BIDDER): {A5}, (e, AVOIDED): {A11},
        (r, TENDERER): {A10}, (r, AGENCY): {A10}, (r, BIDDER): {A10}, (r, AVOIDED): {A11},
        (rel, TENDERER): {A8}, (rel, AGENCY): {A8}, (rel, BIDDER): {A1}, (rel, AVOIDED): {A11},
        (d, TENDERER): {A11}, (d, AGENCY): {A11}, (d, BIDDER): {A11}, (d, AVOIDED): {A11},
    }  # fmt: skip
    for (kind, org), codes in expected.items():
        assert with_affiliations(affiliation(kind, org)) == codes, (kind, org)
        assert with_affiliations(affiliation(kind, OTHER)) == set()
    assert with_affiliations(affiliation(None, TENDERER)) == set()
    shared = dataclasses.replace(INPUTS, avoid_orgs=(TENDERER,))
    assert reasons(inputs=shared, affiliations=(affiliation(e, TENDERER),)) == {A7, A11}
    no_agency = dataclasses.replace(INPUTS, agency="")
    assert reasons(inputs=no_agency, affiliations=(affiliation(e, AGENCY),)) == set()


def test_a10_registration_differs_from_employer() -> None:
    # 阿拉善盟: employed elsewhere, registered (注册执业单位) at a bidder.
    history = (
        affiliation(AffiliationKind.EMPLOYER, OTHER),
        affiliation(AffiliationKind.REGISTRATION, BIDDER, dt.date(2019, 1, 1)),
    )
    assert with_affiliations(*history) == {A10}


def test_affiliation_look_back_boundaries() -> None:
    cutoff = years(3)
    employer = AffiliationKind.EMPLOYER
    assert with_affiliations(affiliation(employer, TENDERER, end=cutoff)) == {A7}
    just_before = cutoff - dt.timedelta(days=1)
    assert with_affiliations(affiliation(employer, TENDERER, end=just_before)) == set()
    last_day = eligibility.cst_date(TO - 1)
    assert with_affiliations(affiliation(employer, TENDERER, start=last_day)) == {A7}
    after = last_day + dt.timedelta(days=1)
    assert with_affiliations(affiliation(employer, TENDERER, start=after)) == set()
    assert with_affiliations(affiliation(employer, TENDERER, start=None)) == {A7}
    current_only = "[avoidance]\nlookback_years = 0\n"
    assert reasons(
        affiliations=(affiliation(employer, TENDERER, end=FIRST),), policy=current_only
    ) == {A7}
    ended = affiliation(employer, TENDERER, end=FIRST - dt.timedelta(days=1))
    assert reasons(affiliations=(ended,), policy=current_only) == set()
    declared = AffiliationKind.DECLARED_AVOID
    assert with_affiliations(affiliation(declared, BIDDER, end=FIRST)) == {A11}
    assert (
        with_affiliations(affiliation(declared, BIDDER, end=FIRST - dt.timedelta(days=1))) == set()
    )


def test_a2_supervising_posts() -> None:
    post = AffiliationKind.SUPERVISING_POST
    assert with_affiliations(affiliation(post, OTHER)) == {A2}
    assert with_affiliations(affiliation(post, OTHER, end=FIRST - dt.timedelta(days=1))) == set()
    two_years = "[avoidance]\nsupervising_lookback_years = 2\n"
    left = affiliation(post, OTHER, end=years(1))
    assert reasons(affiliations=(left,), policy=two_years) == {A2}
    parties = '[avoidance]\nsupervising_post = "parties"\n'
    assert reasons(affiliations=(affiliation(post, OTHER),), policy=parties) == set()
    for org in (TENDERER, AGENCY, BIDDER, AVOIDED):
        assert reasons(affiliations=(affiliation(post, org),), policy=parties) == {A2}


def test_a11_avoided_experts_by_keyed_hash() -> None:
    assert reasons(dataclasses.replace(EXPERT, id_hash=AVOID_HASH)) == {A11}
    assert reasons(dataclasses.replace(EXPERT, id_hash="k2:" + "a" * 64)) == set()


# -- region and venue ------------------------------------------------------------------------


def test_region_include_and_exclude() -> None:
    def rule(include: tuple[str, ...] = (), exclude: tuple[str, ...] = ()) -> ConflictInputs:
        return dataclasses.replace(INPUTS, region=RegionRule(include, exclude, "本地专家"))

    assert reasons(inputs=rule(include=("120000",))) == set()
    assert reasons(inputs=rule(include=("120100",))) == set()
    assert reasons(inputs=rule(include=("120101",))) == set()
    assert reasons(inputs=rule(include=("120102",))) == {REGION}
    assert reasons(inputs=rule(include=("110000", "130000"))) == {REGION}
    assert reasons(inputs=rule(exclude=("120100",))) == {REGION}
    assert reasons(inputs=rule(exclude=("120102",))) == set()
    assert reasons(inputs=rule(include=("120000",), exclude=("120101",))) == {REGION}


def test_remote_rule_against_the_venue() -> None:
    beijing = dataclasses.replace(INPUTS, venue_region="110101")
    assert reasons(inputs=beijing) == {REMOTE}
    assert reasons(inputs=beijing, accepts_remote=True) == set()
    same_province = dataclasses.replace(INPUTS, venue_region="120102")
    assert reasons(inputs=same_province) == set()
    county = "[region]\nvenue_prefix_digits = 6\n"
    assert reasons(inputs=same_province, policy=county) == {REMOTE}
    assert reasons(inputs=beijing, policy="[region]\nvenue_prefix_digits = 0\n") == set()
    assert reasons(inputs=dataclasses.replace(INPUTS, venue_region="")) == set()


# -- history ---------------------------------------------------------------------------------


def test_history_exclusions_and_caps() -> None:
    uuid = EXPERT.uuid
    assert reasons(history=History(busy=frozenset({uuid}))) == {BUSY_WINDOW}
    same = History(same_project=frozenset({uuid}))
    assert reasons(history=same) == {SAME_PROJECT}
    assert reasons(history=same, policy="[history]\nexclude_same_project = false\n") == set()
    caps = "[history]\nper_expert_max = 3\nper_tenderer_max = 2\n"
    assert reasons(history=History(seats={uuid: 2}, tenderer_seats={uuid: 1}), policy=caps) == set()
    assert reasons(history=History(seats={uuid: 3}), policy=caps) == {FREQ_CAP}
    assert reasons(
        history=History(seats={uuid: 3, "x": 9}, tenderer_seats={uuid: 2}), policy=caps
    ) == {
        FREQ_CAP,
        FREQ_TENDERER,
    }
    assert reasons(history=History(seats={uuid: 99}, tenderer_seats={uuid: 99})) == set()  # off


def test_history_from_seats() -> None:
    uuid = EXPERT.uuid
    caps = load_policy("[history]\nper_expert_days = 30\nper_tenderer_days = 10\n")

    def seat(
        who: str, start: int, end: int, tenderer: str = OTHER, project: str = "ef" * 32
    ) -> Seat:
        return Seat(who, tenderer, project, start, end)

    seats = [
        seat("before", FROM - HOUR, FROM),  # touches the start: no overlap
        seat("after", TO, TO + HOUR),  # touches the end: no overlap
        seat("overlap", FROM - HOUR, FROM + 1),
        seat("inside", FROM + HOUR, FROM + 2 * HOUR),
        seat("project", FROM - 90 * DAY, FROM - 89 * DAY, project=PROJECT),
        seat(uuid, FROM - 30 * DAY, FROM - 30 * DAY + HOUR, tenderer=TENDERER),
        seat(uuid, FROM - 30 * DAY - 1, FROM - 29 * DAY),
        seat(uuid, FROM - 10 * DAY, FROM - 10 * DAY + HOUR, tenderer=TENDERER),
        seat(uuid, FROM + 5 * DAY, FROM + 5 * DAY + HOUR, tenderer=TENDERER),
    ]
    history = History.from_seats(seats, INPUTS, caps)
    assert history.busy == {"overlap", "inside"}
    assert history.same_project == {"project"}
    assert history.seats[uuid] == 3
    assert "project" not in history.seats
    assert history.tenderer_seats == {uuid: 2}
    padded = load_policy("[history]\npadding_minutes = 60\n")
    assert History.from_seats(seats[:2], INPUTS, padded).busy == {"before", "after"}


# -- inputs ----------------------------------------------------------------------------------


def test_input_problems() -> None:
    policy = Policy()
    bad = dataclasses.replace(
        INPUTS,
        tenderer="",
        agency="91120000000000000X",
        bidders=("nope",),
        avoid_orgs=(TENDERER.lower(),),
        avoid_experts=("",),
        window=Window(TO, FROM),
        region=RegionRule(("12",), ("999999",), " "),
        venue_region="12",
        library_type="nosuch",
        project_ref="AB" * 32,
        salt="",
    )
    request = DrawRequest(("A0101", "A01", "A01", "A", "a0101", "A010101"), "")
    listed = eligibility.input_problems(bad, request, policy)
    found = dict(listed)
    assert set(found) == {
        "tenderer", "agency", "bidders[0]", "avoid_orgs[0]", "avoid_experts", "window",
        "region.include[0]", "region.exclude[0]", "region.reason", "venue_region",
        "library_type", "project_ref", "salt", "edition", "disciplines",
        "disciplines[0]", "disciplines[1]", "disciplines[2]", "disciplines[3]", "disciplines[4]",
        "disciplines[5]",
    }  # fmt: skip
    assert ("disciplines[4]", "not a national discipline code") in listed
    assert ("disciplines[1]", "the policy allows levels [2, 3]") in listed
    assert ("disciplines[0]", "a requested code lies below another") in listed
    assert ("disciplines", "a code is requested twice") in listed
    assert eligibility.input_problems(INPUTS, DrawRequest((), "2018"), policy) == [
        ("disciplines", "at least one discipline")
    ]
    no_reason = dataclasses.replace(INPUTS, region=RegionRule(("120000",), (), ""))
    assert eligibility.input_problems(no_reason, REQUEST, policy) == [
        ("region.reason", "a region constraint needs a reason")
    ]
    lax = load_policy("[region]\nrequire_reason = false\n")
    assert eligibility.input_problems(no_reason, REQUEST, lax) == []
    assert eligibility.input_problems(INPUTS, REQUEST, policy) == []
    with pytest.raises(InputError, match="tenderer") as caught:
        Rules(policy, bad, REQUEST, History())
    assert ("salt", "64 lowercase hex digits") in caught.value.problems


def test_replay_inputs_object_and_digest() -> None:
    shuffled = dataclasses.replace(
        INPUTS,
        bidders=(uscc(7), uscc(5)),
        avoid_orgs=(uscc(9), uscc(8)),
        avoid_experts=("k1:b", "k1:a"),
        region=RegionRule(("130000", "120000"), ("120102", "120101"), "就近"),
    )
    value = shuffled.to_json()
    assert value == {
        "tenderer": TENDERER, "agency": AGENCY, "bidders": [uscc(5), uscc(7)],
        "avoid_orgs": [uscc(8), uscc(9)], "avoid_experts": ["k1:a", "k1:b"],
        "window": {"from": FROM, "to": TO},
        "region": {"include": ["120000", "130000"], "exclude": ["120101", "120102"],
                   "reason": "就近"},
        "venue_region": "120101", "library_type": "", "project_ref": PROJECT, "salt": "cd" * 32,
    }  # fmt: skip
    assert shuffled.sha256() == hashlib.sha256(canonical.dumps(value)).hexdigest()
    ordered = dataclasses.replace(shuffled, bidders=(uscc(5), uscc(7)))
    assert ordered.sha256() == shuffled.sha256()


# -- properties --------------------------------------------------------------------------------

ORGS = st.sampled_from([TENDERER, AGENCY, BIDDER, AVOIDED, OTHER, uscc(50)])
DATES = st.dates(dt.date(1990, 1, 1), dt.date(2030, 12, 31))
KINDS = st.sampled_from([*AffiliationKind, None])
AFFILIATIONS = st.builds(
    lambda kind, org, a, b: affiliation(kind, org, min(a, b), max(a, b) if b.year % 3 else None),
    KINDS, ORGS, DATES, DATES,
)  # fmt: skip
PERIODS = st.builds(
    lambda status, start, length: period(status, start, None if length < 0 else start + length),
    st.sampled_from(list(Status)),
    st.integers(FROM - 30 * DAY, TO + DAY),
    st.integers(-1, 10 * DAY),
)
CODES = st.sampled_from(
    ["no_show", "late_withdrawal", "undeclared_conflict", "misconduct", "administrative_penalty",
     "criminal_penalty", "score:20", "score:95"]
)  # fmt: skip
CREDITS = st.builds(credit, CODES, st.integers(0, TO + DAY))
CANDIDATES = st.builds(
    lambda affs, periods, events, birth, level, region, remote, disc, hashed: dataclasses.replace(
        EXPERT,
        profile=dataclasses.replace(
            PROFILE, affiliations=tuple(affs), title=Title(level, "x", dt.date(2010, 1, 1)),
            region_code=region, accepts_remote=remote, disciplines=disc,
        ),
        periods=tuple(periods), credits=tuple(events), birth_date=birth,
        id_hash=AVOID_HASH if hashed else EXPERT.id_hash,
    ),
    st.lists(AFFILIATIONS, max_size=4),
    st.lists(PERIODS, max_size=3),
    st.lists(CREDITS, max_size=4),
    st.dates(dt.date(1940, 1, 1), dt.date(2000, 12, 31)),
    st.sampled_from(list(TitleLevel)),
    st.sampled_from(["120101", "120102", "110101"]),
    st.booleans(),
    st.sampled_from([(("2018", "A010101"),), (("2010-trial", "A0101"),),
                     (("2018", "A010101"), ("2018", "A010201"))]),
    st.booleans(),
)  # fmt: skip
STRICT = load_policy(
    "[scores]\nmin_latest = 50\nmax_refusals = 2\n[history]\nper_expert_max = 2\n"
    '[experience]\nintermediate_with_registration = true\n[age]\nmode = "le"\n'
)
TWO = DrawRequest(("A0101", "A0102"), "2018")


@given(CANDIDATES, st.booleans())
def test_reasons_are_sorted_unique_valid_codes(expert: Candidate, strict: bool) -> None:
    found = Rules(STRICT if strict else Policy(), INPUTS, TWO, History()).assess(expert)
    assert found is not None
    assert list(found.reasons) == sorted(set(found.reasons))
    assert set(found.reasons) <= set(REASONS)
    for code in found.reasons:
        eds1.check_reason(code)
    assert found.discs
    assert list(found.discs) == sorted(set(found.discs))
    assert set(found.discs) <= {b"A0101", b"A0102"}
    assert found.eligible == (found.reasons == ())


@given(
    CANDIDATES,
    st.one_of(
        AFFILIATIONS.map(lambda a: ("affiliation", a)),
        PERIODS.map(lambda p: ("period", p)),
        CREDITS.filter(lambda c: not c.code.startswith("score:")).map(lambda c: ("credit", c)),
        st.just(("busy", None)),
        st.just(("avoid", None)),
        ORGS.map(lambda o: ("bidder", o)),
    ),
)
def test_adding_a_conflict_never_removes_a_reason(
    expert: Candidate, change: tuple[str, object]
) -> None:
    rules = Rules(STRICT, INPUTS, TWO, History())
    before = rules.assess(expert)
    assert before is not None
    kind, value = change
    inputs, history = INPUTS, History()
    if isinstance(value, Affiliation):
        affiliations = (*expert.profile.affiliations, value)
        expert = dataclasses.replace(
            expert, profile=dataclasses.replace(expert.profile, affiliations=affiliations)
        )
    elif isinstance(value, StatusPeriod):
        expert = dataclasses.replace(expert, periods=(*expert.periods, value))
    elif isinstance(value, CreditEvent):
        expert = dataclasses.replace(expert, credits=(*expert.credits, value))
    elif kind == "busy":
        history = History(busy=frozenset({expert.uuid}))
    elif kind == "avoid":
        inputs = dataclasses.replace(INPUTS, avoid_experts=(expert.id_hash,))
    else:
        assert isinstance(value, str)
        inputs = dataclasses.replace(INPUTS, bidders=(*INPUTS.bidders, value))
    after = Rules(STRICT, inputs, TWO, history).assess(expert)
    assert after is not None
    assert set(before.reasons) <= set(after.reasons)
    assert after.discs == before.discs
    if not before.eligible:
        assert not after.eligible


@given(
    st.dates(dt.date(1930, 1, 1), dt.date(2010, 12, 31)),
    st.integers(0, 3000),
    st.sampled_from(["lt", "le"]),
    st.integers(18, 90),
)
def test_age_cap_equals_the_completed_years_rule(
    born: dt.date, offset_days: int, mode: str, cap: int
) -> None:
    start = FROM + offset_days * DAY - 12 * HOUR
    day = eligibility.cst_date(start)
    age = day.year - born.year - ((day.month, day.day) < (born.month, born.day))
    policy = load_policy(f'[age]\ncap = {cap}\nmode = "{mode}"\n')
    inputs = dataclasses.replace(INPUTS, window=Window(start, start + HOUR))
    found = Rules(policy, inputs, REQUEST, History()).assess(
        dataclasses.replace(EXPERT, birth_date=born)
    )
    assert found is not None
    allowed = age < cap if mode == "lt" else age <= cap
    assert (E3 not in found.reasons) == allowed
