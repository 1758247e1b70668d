"""Fairness analytics (expert_draw/core/fairness.py): each detector fires on a scenario
built to trigger it and stays quiet on a fair one; the policy table; the statistics."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime

import pytest

from expert_draw.core import fairness as f
from expert_draw.core.fairness import Decline, DrawRecord, ExpertInfo, FairnessPolicy, Stratum
from expert_draw.core.policy import PolicyError

T0 = int(datetime(2030, 3, 1, tzinfo=UTC).timestamp() * 1000)
HOUR = 3_600_000
POOL = tuple(f"e{i:02d}" for i in range(10))


def draw(
    i: int,
    seated: tuple[str, ...],
    *,
    pool: tuple[str, ...] = POOL,
    k: int | None = None,
    requester: str = "ts-a",
    tender: str | None = None,
    tenderer: str = "91110000TENDERER01",
    agency: str = "91110000AGENCY0001",
    state: str = "AWARDED",
    declines: tuple[Decline, ...] = (),
    supersedes: str = "",
    discipline: str = "A01",
    created_ms: int | None = None,
    project: str = "ab01",
) -> DrawRecord:
    stratum = Stratum(discipline, pool, len(seated) if k is None else k, seated)
    return DrawRecord(
        draw_id=f"d-{i:04d}",
        requester=requester,
        project_ref=project,
        tender_ref=tender if tender is not None else f"t{i:04d}",
        tenderer=tenderer,
        agency=agency,
        state=state,
        created_ms=T0 + i * HOUR if created_ms is None else created_ms,
        strata=(stratum,),
        supersedes=supersedes,
        seated=seated,
        declines=declines,
    )


def rotation(
    n_draws: int, k: int = 2, pool: tuple[str, ...] = POOL, start: int = 0, **kw: object
) -> list[DrawRecord]:
    """Draws whose panels rotate through the pool: every count equals its expectation."""
    return [
        draw(start + i, tuple(pool[(i * k + j) % len(pool)] for j in range(k)), pool=pool, **kw)  # type: ignore[arg-type]
        for i in range(n_draws)
    ]


def report(
    draws: list[DrawRecord], experts: list[ExpertInfo] | None = None, **policy: object
) -> f.FairnessReport:
    return f.analyse(draws, experts or [], FairnessPolicy(**policy), as_of_ms=T0 + 10_000 * HOUR)  # type: ignore[arg-type]


# -- policy --------------------------------------------------------------------------------


def test_policy_defaults_and_valid_table() -> None:
    assert FairnessPolicy.from_mapping({}) == FairnessPolicy()
    p = FairnessPolicy.from_mapping(
        {"alpha": 0.01, "correction": "bonferroni", "min_expected": 3, "service_reasons": ["BUSY"],
         "group_min_draws": 10, "panel_max_per_employer": 1}
    )  # fmt: skip
    assert (p.alpha, p.correction, p.min_expected, p.service_reasons) == (
        0.01,
        "bonferroni",
        3.0,
        ("BUSY",),
    )
    assert p.to_mapping()["group_min_draws"] == 10


@pytest.mark.parametrize(
    ("table", "path"),
    [
        ({"alpha": 0}, "fairness.alpha"),
        ({"alpha": 1.5}, "fairness.alpha"),
        ({"alpha": True}, "fairness.alpha"),
        ({"alpha": "0.01"}, "fairness.alpha"),
        ({"correction": "fdr"}, "fairness.correction"),
        ({"min_expected": 0}, "fairness.min_expected"),
        ({"min_expected": math.nan}, "fairness.min_expected"),
        ({"group_min_draws": 0}, "fairness.group_min_draws"),
        ({"group_min_draws": 2.5}, "fairness.group_min_draws"),
        ({"steer_min_attempts": 1}, "fairness.steer_min_attempts"),
        ({"redraw_max_rate": 1.1}, "fairness.redraw_max_rate"),
        ({"service_reasons": ["busy"]}, "fairness.service_reasons"),
        ({"service_reasons": "BUSY"}, "fairness.service_reasons"),
        ({"alpah": 0.01}, "fairness.alpah"),
    ],
)
def test_policy_rejects_bad_values(table: dict[str, object], path: str) -> None:
    with pytest.raises(PolicyError) as caught:
        FairnessPolicy.from_mapping(table)
    assert [p for p, _ in caught.value.problems] == [path]


def test_policy_lists_every_problem() -> None:
    with pytest.raises(PolicyError) as caught:
        FairnessPolicy.from_mapping({"alpha": 2, "correction": "x", "nope": 1})
    assert {p for p, _ in caught.value.problems} == {
        "fairness.alpha",
        "fairness.correction",
        "fairness.nope",
    }


# -- statistics helpers ---------------------------------------------------------------


def test_holm_and_bonferroni() -> None:
    p = [0.01, 0.04, 0.03, 0.005]
    assert f.adjust(p, "bonferroni") == pytest.approx([0.04, 0.16, 0.12, 0.02])
    # Holm: sorted 0.005·4, 0.01·3, 0.03·2, 0.04·1 -> 0.02, 0.03, 0.06, max(0.06, 0.04)
    assert f.adjust(p, "holm") == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert f.adjust([], "holm") == []


def brute_force(ps: list[float], o: int) -> float:
    total = 0.0
    for outcome in itertools.product((0, 1), repeat=len(ps)):
        if sum(outcome) >= o:
            total += math.prod(p if x else 1 - p for p, x in zip(ps, outcome, strict=True))
    return total


@pytest.mark.parametrize("o", [0, 1, 3, 5, 8, 9])
def test_bernoulli_tail_is_exact(o: int) -> None:
    ps = [0.1, 0.1, 0.1, 0.3, 0.5, 0.5, 0.9, 1.0]
    assert f.bernoulli_tail(ps, o) == pytest.approx(brute_force(ps, o), abs=1e-12)


def test_tail_of_sum_of_hypergeometric_counts() -> None:
    laws = [
        f.hypergeometric_pmf(10, 3, 2),
        f.hypergeometric_pmf(6, 2, 3),
        f.hypergeometric_pmf(5, 5, 1),
    ]
    for o in range(7):
        want = sum(
            math.prod(law[v] for law, v in zip(laws, vs, strict=True))
            for vs in itertools.product(*(range(len(law)) for law in laws))
            if sum(vs) >= o
        )
        assert f.tail_of_sum(laws, o) == pytest.approx(want, abs=1e-15)
    # tiny tails keep their precision (no 1 - cdf)
    assert f.bernoulli_tail([0.01] * 10, 10) == pytest.approx(1e-20, rel=1e-9)


# -- units -------------------------------------------------------------------------------------


def test_units_count_each_expert_once_and_leave_out_overlapping_strata() -> None:
    a = Stratum("A01", ("x", "y", "z"), 1, ("x",))
    b = Stratum("B02", ("y", "w"), 1, ("w",))  # shares y with A01: no closed form
    c = Stratum("C03", ("u", "v"), 1, ("v",))  # disjoint: exact
    d = DrawRecord("d-1", "ts", "p", "t", "tn", "ag", "AWARDED", T0, (a, b, c))
    units = f.units_of(d)
    assert [(u.discipline, u.members, u.p) for u in units] == [
        ("A01", ("x", "y", "z"), pytest.approx(1 / 3)),
        ("C03", ("u", "v"), 0.5),
    ]
    assert f.left_out([d]) == 1
    # drawn panels make a draw executed whatever its state says
    assert (
        len(f.units_of(DrawRecord("d-2", "ts", "p", "t", "tn", "ag", "CANCELLED", T0, (a,)))) == 1
    )
    never = DrawRecord(
        "d-3", "ts", "p", "t", "tn", "ag", "EXPIRED", T0, (Stratum("A01", ("x", "y"), 1),)
    )
    assert f.units_of(never) == []


def test_input_errors() -> None:
    with pytest.raises(f.FairnessInputError, match="more than once"):
        report([draw(1, ("e00",)), draw(1, ("e01",))])
    with pytest.raises(f.FairnessInputError, match="outside its pool"):
        report([draw(1, ("zz",))])
    with pytest.raises(f.FairnessInputError, match="no seat"):
        report([draw(1, (), k=0)])


# -- selection frequency ---------------------------------------------------------------


def test_selection_fair_rotation_is_not_flagged() -> None:
    r = report(rotation(100))
    gof = r.selection.gof
    assert gof is not None
    assert gof.statistic == pytest.approx(0.0, abs=1e-9)
    assert not gof.significant
    assert gof.p_value > 0.99
    assert r.selection.flagged == ()
    assert all(e.observed == 20 and e.expected == pytest.approx(20) for e in r.selection.experts)
    assert r.findings == ()


def test_selection_favoured_expert_is_flagged() -> None:
    draws = rotation(100)
    # e09 is seated in every draw: replace the second seat by e09 where it is absent
    biased = [
        dataclass_replace_seats(
            d,
            (d.strata[0].drawn[0], "e09") if "e09" not in d.strata[0].drawn else d.strata[0].drawn,
        )
        for d in draws
    ]
    r = report(biased)
    assert r.selection.gof is not None
    assert r.selection.gof.significant
    assert [e.subject for e in r.selection.flagged] == ["e09"]
    top = r.selection.flagged[0]
    assert (top.observed, top.trials) == (100, 100)
    assert top.expected == pytest.approx(20)
    assert top.p_value == pytest.approx(0.2**100, rel=1e-6)
    assert {x.detector for x in r.findings} >= {"selection_gof", "selection_expert"}
    assert f.summary_counts(r)["findings"]["selection_expert"] == 1


def dataclass_replace_seats(d: DrawRecord, seats: tuple[str, ...]) -> DrawRecord:
    import dataclasses

    s = d.strata[0]
    return dataclasses.replace(d, strata=(dataclasses.replace(s, drawn=seats),), seated=seats)


def test_small_expectations_are_merged_into_bins() -> None:
    pool = tuple(f"e{i:02d}" for i in range(40))
    r = report(rotation(20, k=2, pool=pool))  # 1 expected seat each: merged in fives
    gof = r.selection.gof
    assert gof is not None
    assert gof.merged_experts == 40
    assert gof.bins == 8
    assert report(rotation(2, k=2, pool=pool)).selection.gof is None  # 4 seats: no test


def test_gof_scale_matches_sampling_without_replacement() -> None:
    # one pool of n, k seats: X² is exactly (n/(n-1))·χ²(n-1), so h = n-1, g = n/(n-1)
    gof = report(rotation(100)).selection.gof
    assert gof is not None
    assert gof.df == pytest.approx(9)
    assert gof.scale == pytest.approx(10 / 9)


# -- per group -------------------------------------------------------------------------


def test_group_gof_flags_only_the_biased_tenderer() -> None:
    fair = rotation(60, tenderer="TENDERER-FAIR")
    biased = [
        dataclass_replace_seats(d, ("e00", "e01"))
        for d in rotation(60, start=100, tenderer="TENDERER-BIASED")
    ]
    small = rotation(10, start=300, tenderer="TENDERER-SMALL")
    r = report(fair + biased + small)
    by = {g.dimension: g for g in r.groups}
    tenderers = {row.group: row for row in by["tenderer"].groups}
    assert set(tenderers) == {"TENDERER-FAIR", "TENDERER-BIASED"}
    assert by["tenderer"].skipped == 1
    assert tenderers["TENDERER-BIASED"].flagged
    assert not tenderers["TENDERER-FAIR"].flagged
    assert {row.group for row in by["discipline"].groups} == {"A01"}


# -- affinity -------------------------------------------------------------------------------


def test_affinity_flags_an_expert_drawn_for_one_tenderer_again_and_again() -> None:
    pool = tuple(f"e{i:02d}" for i in range(20))
    base = rotation(200, k=2, pool=pool, tenderer="TN-OTHER")
    friend = [
        draw(1000 + i, ("e19", pool[i % 19]), pool=pool, tenderer="TN-FRIEND", agency="AG-FRIEND")
        for i in range(8)
    ]
    r = report(base + friend)
    tenderer, agency = r.affinity
    assert [(x.group, x.subject, x.observed) for x in tenderer.flagged] == [("TN-FRIEND", "e19", 8)]
    assert [(x.group, x.subject) for x in agency.flagged] == [("AG-FRIEND", "e19")]
    assert tenderer.tested == 20 + 20


def test_affinity_quiet_on_fair_draws_and_respects_min_count() -> None:
    pool = tuple(f"e{i:02d}" for i in range(20))
    r = report(rotation(200, k=2, pool=pool))
    assert all(a.flagged == () for a in r.affinity)
    # two seats out of two draws at p = 0.1 each: p = 0.01·(family), and below the minimum count
    r = report(
        [
            draw(1, ("e19", "e00"), pool=pool, tenderer="X"),
            draw(2, ("e19", "e01"), pool=pool, tenderer="X"),
        ]
    )
    assert r.affinity[0].flagged == ()


# -- re-draws and steering ------------------------------------------------------------------


POOL30 = tuple(f"m{i:02d}" for i in range(30))


def steered_chains(
    requester: str, friend: str, tenders: int, attempts: int, start: int
) -> list[DrawRecord]:
    """Each tender is drawn ``attempts`` times; only the last panel seats the friend."""
    out = []
    others = [x for x in POOL30 if x != friend]
    n = start
    for t in range(tenders):
        previous = ""
        for a in range(attempts):
            last = a == attempts - 1
            seats = (
                (friend, others[(n * 2) % 29], others[(n * 2 + 1) % 29])
                if last
                else tuple(others[(n * 3 + j) % 29] for j in range(3))
            )
            state = "AWARDED" if last else "CANCELLED"
            d = draw(
                n,
                seats,
                pool=POOL30,
                requester=requester,
                tender=f"{requester}-t{t}",
                state=state,
                supersedes=previous,
            )
            out.append(d)
            previous = d.draw_id
            n += 1
    return out


def test_steering_requester_redraws_until_a_friend_is_seated() -> None:
    honest_once = [
        draw(
            5000 + i,
            POOL30[(3 * i) % 30 : (3 * i) % 30 + 3],
            pool=POOL30,
            requester="ts-friend",
            tender=f"one-{i}",
        )
        for i in range(4)
    ]
    r = report(steered_chains("ts-friend", "m07", tenders=6, attempts=3, start=0) + honest_once)
    steering = r.redraws.steering
    assert [(x.group, x.subject, x.observed) for x in steering.flagged] == [("ts-friend", "m07", 6)]
    rates = {x.requester: x for x in r.redraws.requesters}
    assert rates["ts-friend"].flagged
    assert (rates["ts-friend"].chains, rates["ts-friend"].redrawn) == (10, 6)
    chains = [c for c in r.redraws.chains if len(c.draw_ids) > 1]
    assert len(chains) == 6
    assert all(len(c.draw_ids) == 3 and c.executed == 3 for c in chains)
    assert "steering" in {x.detector for x in r.findings}
    assert "redraw_rate" in {x.detector for x in r.findings}


def test_honest_redraws_are_not_steering() -> None:
    # re-draws whose last panels rotate: nobody is seated last again and again
    draws = []
    n = 0
    for t in range(12):
        previous = ""
        for a in range(2):
            seats = tuple(POOL30[(n * 3 + j) % 30] for j in range(3))
            d = draw(n, seats, pool=POOL30, requester="ts-honest", tender=f"h-{t}", supersedes=previous,
                     state="AWARDED" if a else "CANCELLED")  # fmt: skip
            draws.append(d)
            previous = d.draw_id
            n += 1
    r = report(draws, redraw_max_rate=1.0)
    assert r.redraws.steering.flagged == ()
    assert r.redraws.steering.tested > 0
    assert not any(x.flagged for x in r.redraws.requesters)


def test_chains_link_by_supersedes_and_by_same_tender() -> None:
    a = draw(1, ("e00",), tender="T1")
    b = draw(2, ("e01",), tender="T2", supersedes=a.draw_id)  # a new tender_ref, linked
    c = draw(3, ("e02",), tender="T1")  # the same tender again, not linked
    other = draw(4, ("e03",), tender="T1", requester="ts-b")  # another requester
    chains = f.chains([a, b, c, other])
    assert sorted(c.draw_ids for c in chains) == [("d-0001", "d-0002", "d-0003"), ("d-0004",)]


# -- decline patterns ---------------------------------------------------------------------


POOL20 = tuple(f"x{i:02d}" for i in range(20))


def declining(
    i: int, decliner: str, replacement: str, reason: str = "SIGNED_DECLINE"
) -> DrawRecord:
    seats = (
        decliner,
        *(x for x in POOL20[(i % 5) * 3 : (i % 5) * 3 + 4] if x not in (decliner, replacement)),
    )[:3]
    final = tuple(replacement if x == decliner else x for x in seats)
    d = draw(i, seats, pool=POOL20, declines=(Decline(decliner, reason, replacement),))
    import dataclasses

    return dataclasses.replace(d, seated=final)


def test_decline_pattern_pair_is_flagged() -> None:
    draws = [declining(i, "x19", "x18") for i in range(6)]
    r = report(draws)
    assert [(x.group, x.subject, x.observed) for x in r.declines.flagged] == [("x19", "x18", 6)]
    assert r.declines.flagged[0].expected == pytest.approx(6 / 17)


def test_random_declines_and_service_strikes_are_not_flagged() -> None:
    fair = [declining(i, "x19", POOL20[(i * 7) % 15 + 3]) for i in range(15)]
    r = report(fair)
    assert r.declines.flagged == ()
    struck = [declining(i, "x19", "x18", reason="BUSY") for i in range(6)]
    assert report(struck).declines.tested == 0


# -- employers -----------------------------------------------------------------------------


def employers_of(pool: tuple[str, ...], big: set[str]) -> list[ExpertInfo]:
    return [ExpertInfo(x, "EMP-BIG" if x in big else f"EMP-{x}") for x in pool]


def test_panel_over_the_employer_cap() -> None:
    experts = employers_of(POOL, {"e00", "e01", "e02"})
    r = report([draw(1, ("e00", "e01", "e02")), draw(2, ("e00", "e01", "e03"))], experts)
    assert [(p.draw_id, p.employer_ref, p.seats, p.panel_size) for p in r.employers.panels] == [
        ("d-0001", "EMP-BIG", 3, 3)
    ]
    assert (
        report([draw(2, ("e00", "e01", "e03"))], experts, panel_max_per_employer=1).employers.panels
        != ()
    )


def test_employer_seated_above_its_pool_share() -> None:
    pool = tuple(f"e{i:02d}" for i in range(20))
    big = {"e00", "e01", "e02", "e03"}  # a fifth of every pool
    experts = employers_of(pool, big)
    fair = rotation(100, k=2, pool=pool)
    r = report(fair, experts)
    assert r.employers.employers.flagged == ()
    # one of the two seats always goes to the big employer: 100 seats where 40 are expected
    tilted = [
        dataclass_replace_seats(d, (sorted(big)[i % 4], pool[4 + i % 16]))
        for i, d in enumerate(fair)
    ]
    r = report(tilted, experts)
    flagged = r.employers.employers.flagged
    assert [(x.subject, x.observed) for x in flagged] == [("EMP-BIG", 100)]
    assert flagged[0].expected == pytest.approx(40)


# -- platform statistics ------------------------------------------------------------------


def test_platform_statistics() -> None:
    late_utc = int(
        datetime(2030, 1, 31, 16, 30, tzinfo=UTC).timestamp() * 1000
    )  # 2030-02-01 00:30 CST
    draws = [
        draw(
            1,
            ("e00", "e01"),
            created_ms=late_utc,
            project="p1",
            declines=(
                Decline("e00", "SIGNED_DECLINE", "e02"),
                Decline("e01", "NO_ANSWER", "e03"),
                Decline("e02", "BUSY", "e04"),
            ),
            requester="ts-a",
        ),
        draw(2, (), k=2, state="EXPIRED", project="p1", requester="ts-a"),
        draw(3, (), k=2, state="COMMITTED", project="p2", requester="ts-b", created_ms=T0),
        draw(
            4,
            (),
            k=2,
            state="COMMITTED",
            project="p2",
            requester="ts-b",
            created_ms=T0 + 9_999 * HOUR,
        ),
        draw(5, ("e05", "e06"), state="CANCELLED", project="p2", requester="ts-b", tender="T5"),
        draw(
            6,
            ("e07", "e08"),
            project="p2",
            requester="ts-b",
            tender="T5",
            supersedes="d-0005",
            discipline="B02",
        ),
    ]
    import dataclasses

    draws[0] = dataclasses.replace(draws[0], accepted=("e03", "e04", "e04"))
    draws[1] = dataclasses.replace(draws[1], shortfall=True)
    r = report(draws)
    p = r.platform
    assert (p.draws, p.executed) == (6, 3)
    assert [m.period for m in p.months] == ["2030-02", "2030-03", "2031-04"]
    assert (p.months[0].draws, p.months[0].declines) == (1, 3)
    assert p.abandoned == ("d-0002", "d-0003")  # expired; committed 10000 h ago (not d-0004: 1 h)
    assert p.cancelled == ("d-0005",)
    assert p.redraws == ("d-0006",)
    assert p.shortfalls == ("d-0002",)
    resp = p.responses
    assert (resp.accepted, resp.declined, resp.no_answer, resp.struck) == (2, 1, 1, 1)
    assert resp.accept_rate == pytest.approx(0.5)
    assert dict(resp.by_reason) == {"SIGNED_DECLINE": 1, "NO_ANSWER": 1, "BUSY": 1}
    requesters = {x.key: x for x in p.requesters}
    assert (
        requesters["ts-a"].draws,
        requesters["ts-a"].abandoned,
        requesters["ts-a"].declines,
    ) == (2, 1, 3)
    assert (
        requesters["ts-b"].cancelled,
        requesters["ts-b"].redraws,
        requesters["ts-b"].abandoned,
    ) == (1, 1, 1)
    projects = {x.key: x for x in p.projects}
    assert (projects["p1"].draws, projects["p2"].draws) == (2, 4)
    disciplines = {d.discipline: d for d in p.disciplines}
    assert (disciplines["A01"].strata, disciplines["A01"].executed, disciplines["B02"].seats) == (
        5,
        2,
        2,
    )
    assert disciplines["A01"].mean_pool == pytest.approx(10)


def test_month_is_china_standard_time() -> None:
    assert (
        f.month_of(int(datetime(2030, 1, 31, 15, 59, tzinfo=UTC).timestamp() * 1000)) == "2030-01"
    )
    assert f.month_of(int(datetime(2030, 1, 31, 16, 0, tzinfo=UTC).timestamp() * 1000)) == "2030-02"


def test_abandonment_threshold_is_policy() -> None:
    d = draw(1, (), k=1, state="AWAITING_BEACON", created_ms=T0)
    assert not f.abandoned(d, FairnessPolicy(abandon_after_hours=48), T0 + 47 * HOUR)
    assert f.abandoned(d, FairnessPolicy(abandon_after_hours=48), T0 + 48 * HOUR)


def test_gof_with_one_seat_per_draw() -> None:
    # the effective df and scale reduce to Pearson's for k = 1 (multinomial cells)
    r = report(rotation(50, k=1))
    gof = r.selection.gof
    assert gof is not None
    assert gof.df == pytest.approx(9)
    assert gof.scale == pytest.approx(10 / 9)
