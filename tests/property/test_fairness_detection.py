"""The fairness analytics on draws made by the real EDS-1 selection, and on biased ones.

Every draw runs the product's ``eds1.orders`` and ``eds1.panels`` (and ``eds1.Seating``
for declines) on real ``Member`` objects, with the real HMAC ranks under the seed
``H("fairness-analytics" ‖ u64be(i))``; pools vary with ``random.Random(i)`` (a fixed seed
per draw). The analytics must not flag the product at the policy's α, must be calibrated
(p-values of independent replicates look uniform), and must flag injected biased
implementations: one that favours a chosen expert, one that falls back to the first
members of the pool, one biased for a single tenderer, a requester who re-draws until a
friend is seated, and an expert who declines whenever a colleague is next in line.
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
from collections.abc import Callable, Sequence

import pytest
from scipy import stats

from expert_draw.core import eds1
from expert_draw.core import fairness as f
from expert_draw.core.eds1 import Member, Quota

POLICY = f.FairnessPolicy()
EXPERTS = tuple(f"e{i:03d}" for i in range(60))
PSEUDONYM = {e: hashlib.sha256(b"pseudonym" + e.encode()).digest()[:16] for e in EXPERTS}
EXPERT_OF = {p: e for e, p in PSEUDONYM.items()}
IDC = {e: hashlib.sha256(b"idc" + e.encode()).digest() for e in EXPERTS}
Ranker = Callable[[bytes], bytes]
RankerFactory = Callable[[bytes, int], Ranker]


def seed(i: int) -> bytes:
    return hashlib.sha256(b"fairness-analytics" + i.to_bytes(8, "big")).digest()


def honest(seed_value: bytes, _i: int) -> Ranker:
    return lambda p: eds1.rank(seed_value, p)


def favouring(
    expert: str, threshold: int, only: Callable[[int], bool] = lambda _i: True
) -> RankerFactory:
    """Biased: in about threshold/256 of the draws, ``expert`` ranks first when eligible."""
    favourite = PSEUDONYM[expert]

    def factory(seed_value: bytes, i: int) -> Ranker:
        cheat = seed_value[0] < threshold and only(i)
        return lambda p: (
            (b"\x00" if cheat and p == favourite else b"\x01") + eds1.rank(seed_value, p)
        )

    return factory


def first_members(threshold: int) -> RankerFactory:
    """Biased: in about threshold/256 of the draws, the pool's first members (by id) win."""

    def factory(seed_value: bytes, _i: int) -> Ranker:
        if seed_value[0] < threshold:
            return lambda p: EXPERT_OF[p].encode()
        return lambda p: eds1.rank(seed_value, p)

    return factory


def pools(i: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    rnd = random.Random(i)
    a = tuple(sorted(rnd.sample(EXPERTS[:40], rnd.randint(12, 30))))
    b = tuple(sorted(rnd.sample(EXPERTS[30:], rnd.randint(8, 25))))
    return a, b


def execute(
    i: int,
    ranker: RankerFactory = honest,
    *,
    draw_seed: bytes | None = None,
    requester: str = "ts-1",
    tender: str | None = None,
    state: str = "AWARDED",
    supersedes: str = "",
    at: int | None = None,
) -> f.DrawRecord:
    """One two-discipline draw (A01: 3 seats, B02: 2 seats) through the product."""
    a, b = pools(i)
    discs: dict[str, list[bytes]] = {}
    for e in a:
        discs.setdefault(e, []).append(b"A01")
    for e in b:
        discs.setdefault(e, []).append(b"B02")
    members = [Member(PSEUDONYM[e], tuple(sorted(d)), (), IDC[e]) for e, d in discs.items()]
    disciplines = [b"A01", b"B02"]
    order = eds1.orders(members, disciplines, ranker(draw_seed or seed(i), i))
    panel, _ = eds1.panels(order, disciplines, {b"A01": Quota(3, 1), b"B02": Quota(2, 1)})
    strata = (
        f.Stratum("A01", a, 3, tuple(EXPERT_OF[p] for p in panel[b"A01"])),
        f.Stratum("B02", b, 2, tuple(EXPERT_OF[p] for p in panel[b"B02"])),
    )
    return f.DrawRecord(
        draw_id=f"d-{i}-{(draw_seed or b'').hex()[:8]}", requester=requester, project_ref=f"{i:x}",
        tender_ref=tender or f"t{i}", tenderer=f"TN{i % 7}", agency=f"AG{i % 3}", state=state,
        created_ms=1_900_000_000_000 + (i if at is None else at) * 60_000, strata=strata, supersedes=supersedes,
        seated=tuple(x for s in strata for x in s.drawn),
    )  # fmt: skip


def analyse(draws: Sequence[f.DrawRecord]) -> f.FairnessReport:
    return f.analyse(draws, [], POLICY, as_of_ms=2_000_000_000_000)


@pytest.fixture(scope="module")
def honest_report() -> f.FairnessReport:
    return analyse([execute(i) for i in range(1500)])


def test_the_product_is_not_flagged(honest_report: f.FairnessReport) -> None:
    r = honest_report
    gof = r.selection.gof
    assert gof is not None
    print(  # noqa: T201 - the figures docs/fairness-analytics.md records
        f"FAIRNESS honest N={gof.draws} X2={gof.statistic:.1f} df={gof.df:.1f} p={gof.p_value:.4g}"
    )
    assert gof.p_value > POLICY.alpha
    assert r.selection.flagged == ()
    assert not any(g.flagged for a in r.groups for g in a.groups)
    assert all(a.flagged == () for a in r.affinity)
    assert r.findings == ()
    # B02 overlaps A01 (e030-e039), so B02 strata are left out; A01 and B02 both tested
    assert r.selection.strata_left_out > 0
    assert {row.group for a in r.groups if a.dimension == "tenderer" for row in a.groups} == {
        f"TN{i}" for i in range(7)
    }


def test_p_values_of_replicates_are_uniform() -> None:
    """The Rao–Scott approximation is calibrated: 40 independent replicates of 150 draws."""
    ps = []
    for rep in range(40):
        draws = [execute(100_000 + rep * 1000 + i) for i in range(150)]
        gof = f.gof([u for d in draws for u in f.units_of(d)], POLICY)
        assert gof is not None
        ps.append(gof.p_value)
    ks = stats.kstest(ps, "uniform")
    print(f"FAIRNESS calibration KS D={ks.statistic:.3f} p={ks.pvalue:.4g} min p={min(ps):.3g}")  # noqa: T201
    assert ks.pvalue > POLICY.alpha
    assert min(ps) > POLICY.alpha / 10


def test_a_favoured_expert_is_caught() -> None:
    r = analyse([execute(i, favouring("e005", 40)) for i in range(1500)])
    gof = r.selection.gof
    assert gof is not None
    print(f"FAIRNESS favour N={gof.draws} X2={gof.statistic:.1f} p={gof.p_value:.4g}")  # noqa: T201
    assert gof.significant
    assert [x.subject for x in r.selection.flagged] == ["e005"]


def test_first_members_of_the_pool_are_caught() -> None:
    r = analyse([execute(i, first_members(20)) for i in range(1500)])
    gof = r.selection.gof
    assert gof is not None
    print(f"FAIRNESS first-members N={gof.draws} X2={gof.statistic:.1f} p={gof.p_value:.4g}")  # noqa: T201
    assert gof.significant
    assert r.selection.flagged != ()


def test_a_bias_for_one_tenderer_is_caught_in_its_group() -> None:
    r = analyse(
        [execute(i, favouring("e012", 128, only=lambda i: i % 7 == 3)) for i in range(1500)]
    )
    tenderers = next(a for a in r.groups if a.dimension == "tenderer")
    assert [g.group for g in tenderers.groups if g.flagged] == ["TN3"]
    assert [(x.group, x.subject) for x in r.affinity[0].flagged] == [("TN3", "e012")]


def test_a_requester_who_redraws_until_a_friend_is_seated_is_caught() -> None:
    draws = [execute(i) for i in range(400)]
    n = 0
    tenders = [i for i in range(500, 600) if "e007" in pools(i)[0]][:6]
    for i in tenders:  # ts-friend: re-draw (new seeds) until e007 sits on A01
        previous = ""
        for _ in range(200):
            n += 1
            d = execute(i, draw_seed=seed(10**6 + n), requester="ts-friend", at=10**4 + n,
                        tender=f"friend-{i}", supersedes=previous, state="CANCELLED")  # fmt: skip
            if "e007" in d.strata[0].drawn:
                draws.append(dataclasses.replace(d, state="AWARDED"))
                break
            draws.append(d)
            previous = d.draw_id
    for tender in range(8):  # ts-honest: one or two re-draws per tender, decided in advance
        previous = ""
        for attempt in range(1 + tender % 3):
            d = execute(600 + tender, draw_seed=seed(2 * 10**6 + tender * 10 + attempt),
                        requester="ts-honest", tender=f"honest-{tender}", supersedes=previous,
                        at=2 * 10**4 + tender * 10 + attempt)  # fmt: skip
            draws.append(d)
            previous = d.draw_id
    r = analyse(draws)
    steering = r.redraws.steering
    print(  # noqa: T201 - the figures docs/fairness-analytics.md records
        f"FAIRNESS steering tested={steering.tested} flagged={[(x.group, x.subject) for x in steering.flagged]}"
    )
    assert [(x.group, x.subject) for x in steering.flagged] == [("ts-friend", "e007")]
    rates = {x.requester: x for x in r.redraws.requesters}
    assert rates["ts-friend"].flagged


def _decline_run(i: int, collude: bool) -> f.DrawRecord:
    """A single-discipline draw (k=3, r=2) with one decline through ``eds1.Seating``.

    Honest: the seat at index ``seed[1] % 3`` declines in about half of the draws.
    Colluding: e021 declines whenever it is seated and e022 is the next in line.
    """
    d = execute(i)
    a = d.strata[0]
    members = [Member(PSEUDONYM[e], (b"A01",), (), IDC[e]) for e in a.pool]
    order = eds1.orders(members, [b"A01"], honest(seed(i), i))
    panel, reserve = eds1.panels(order, [b"A01"], {b"A01": Quota(3, 2)})
    seating = eds1.Seating(order, panel, reserve, {b"A01": 2})
    seats = [EXPERT_OF[p] for p in panel[b"A01"]]
    decliner = None
    if collude:
        nxt = seating.candidate(b"A01")
        if "e021" in seats and nxt is not None and EXPERT_OF[nxt] == "e022":
            decliner = "e021"
    elif seed(i)[0] < 128:
        decliner = seats[seed(i)[1] % 3]
    declines: tuple[f.Decline, ...] = ()
    if decliner is not None:
        out = seating.decline(PSEUDONYM[decliner])
        assert out is not None
        assert out.incoming is not None
        declines = (f.Decline(decliner, "SIGNED_DECLINE", EXPERT_OF[out.incoming]),)
    stratum = f.Stratum("A01", a.pool, 3, tuple(seats))
    final = tuple(EXPERT_OF[p] for p in seating.seats[b"A01"])
    return dataclasses.replace(d, strata=(stratum,), seated=final, declines=declines)


def test_declines_until_a_colleague_is_seated_are_caught() -> None:
    honest_runs = [_decline_run(i, collude=False) for i in range(1000)]
    r = analyse(honest_runs)
    print(f"FAIRNESS declines honest tested={r.declines.tested} flagged={len(r.declines.flagged)}")  # noqa: T201
    assert r.declines.flagged == ()
    colluding = [_decline_run(i, collude=True) for i in range(1000)]
    r = analyse(colluding)
    pairs = [(x.group, x.subject) for x in r.declines.flagged]
    print(  # noqa: T201 - the figures docs/fairness-analytics.md records
        f"FAIRNESS declines colluding {[(x.group, x.subject, x.observed) for x in r.declines.flagged]}"
    )
    assert pairs == [("e021", "e022")]
