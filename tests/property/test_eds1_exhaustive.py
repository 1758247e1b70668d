"""Exact fairness of the EDS-1 draw over every rank order (design §9, "Exactness").

No statistics: for n ≤ 7 eligible members every one of the n! rank orders goes through
the rank seam (``eds1.orders``' ``ranker``; here each pseudonym's rank is ``u32be`` of its
position in the permutation), and the product's ``eds1.orders``, ``eds1.panels`` and
``eds1.Seating`` run on real ``Member`` objects. Since HMAC ranks of distinct pseudonyms
give every rank order with the same probability (up to the PRF assumption, which the χ²
tests of test_eds1_distribution.py probe), exact uniformity over the n! orders is exact
uniformity of the draw. Overlapping strata are compared, permutation by permutation, with
a brute-force reference of the §4 pseudocode written independently below.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from expert_draw.core import eds1
from expert_draw.core.eds1 import Member, Quota, ReplacementError, Seating

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

IDC = bytes(32)
A, B, C = b"A01", b"B02", b"C03"

Lists = dict[bytes, list[bytes]]
Outcome = tuple[tuple[bytes, ...], ...]
"""Panels in ``D`` order, then reserves in ``D`` order."""


def pseudonym(i: int) -> bytes:
    """A fixed 16-byte pseudonym; its byte order is unrelated to ``i``."""
    return hashlib.sha256(b"exhaustive" + eds1.u32(i)).digest()[:16]


def member(i: int, *discs: bytes, excluded: bool = False) -> Member:
    """Member ``i`` holding ``discs``; ``excluded`` gives it an exclusion reason."""
    return Member(pseudonym(i), tuple(sorted(discs)), (b"E6",) if excluded else (), IDC)


def seam(permutation: Sequence[bytes]) -> eds1.Ranker:
    """The rank seam: each pseudonym's rank is ``u32be`` of its position."""
    position = {p: eds1.u32(i) for i, p in enumerate(permutation)}
    return position.__getitem__


def every_order(members: Sequence[Member]) -> Iterator[tuple[bytes, ...]]:
    """All rank orders of ``members`` (pass eligible ones: ``orders`` ranks no one else)."""
    return itertools.permutations([m.pseudonym for m in members])


def draw(
    members: Sequence[Member],
    disciplines: Sequence[bytes],
    quotas: Mapping[bytes, Quota],
    permutation: Sequence[bytes],
) -> tuple[Lists, Lists, Lists]:
    """The product's ``(order, panel, reserve)`` under one rank order."""
    order = eds1.orders(members, disciplines, seam(permutation))
    panel, reserve = eds1.panels(order, disciplines, quotas)
    return order, panel, reserve


def outcome(panel: Lists, reserve: Lists, disciplines: Sequence[bytes]) -> Outcome:
    """Panels then reserves as one hashable value."""
    return tuple(tuple(panel[d]) for d in disciplines) + tuple(
        tuple(reserve[d]) for d in disciplines
    )


# -- one discipline -----------------------------------------------------------------------

SIZES = [(n, k) for n in range(1, 8) for k in range(1, n + 1)]


@pytest.mark.parametrize(("n", "k"), SIZES, ids=[f"n{n}-k{k}" for n, k in SIZES])
def test_every_k_subset_and_ordered_tuple(n: int, k: int) -> None:
    """Over all n! orders: each ordered k-tuple exactly (n−k)! times, each k-subset k!(n−k)!.

    Also: the order is exactly the rank order (ascending, so a descending sort or a
    skipped index fails here deterministically), and an excluded member of the pool,
    whom the seam cannot even rank, is never drawn.
    """
    members = [member(i, A) for i in range(n)]
    excluded = member(99, A, excluded=True)
    tuples: Counter[tuple[bytes, ...]] = Counter()
    for permutation in every_order(members):
        order, panel, reserve = draw([excluded, *members], [A], {A: Quota(k, 0)}, permutation)
        assert order[A] == list(permutation)
        assert reserve[A] == []
        tuples[tuple(panel[A])] += 1
    assert len(tuples) == math.perm(n, k)
    assert set(tuples.values()) == {math.factorial(n - k)}
    subsets = Counter(frozenset(t) for t in tuples.elements())
    assert len(subsets) == math.comb(n, k)
    assert set(subsets.values()) == {math.factorial(k) * math.factorial(n - k)}
    pool = {m.pseudonym for m in members}
    assert all(set(t) <= pool for t in tuples)


RESERVES = [(n, k, r) for n in range(2, 8) for k in range(1, n) for r in range(1, n - k + 1)]


@pytest.mark.parametrize(("n", "k", "r"), RESERVES, ids=[f"n{n}-k{k}-r{r}" for n, k, r in RESERVES])
def test_reserves_are_uniform_given_the_panel(n: int, k: int, r: int) -> None:
    """Panel then reserves is a uniform ordered (k+r)-tuple: each exactly (n−k−r)! times.

    So, given the panel, each ordered reserve list of the others is equally likely, and
    no one is both seated and a reserve.
    """
    members = [member(i, A) for i in range(n)]
    seen: Counter[Outcome] = Counter()
    for permutation in every_order(members):
        _, panel, reserve = draw(members, [A], {A: Quota(k, r)}, permutation)
        assert panel[A] + reserve[A] == list(permutation[: k + r])
        seen[outcome(panel, reserve, [A])] += 1
    assert len(seen) == math.perm(n, k + r)
    assert set(seen.values()) == {math.factorial(n - k - r)}
    given_panel: defaultdict[frozenset[bytes], Counter[tuple[bytes, ...]]] = defaultdict(Counter)
    for (seats, spare), count in seen.items():
        assert not set(seats) & set(spare)
        given_panel[frozenset(seats)][spare] += count
    for spares in given_panel.values():
        assert len(spares) == math.perm(n - k, r)
        assert len(set(spares.values())) == 1


# -- two disciplines ----------------------------------------------------------------------


def test_quotas_over_two_disjoint_disciplines() -> None:
    """Two disjoint strata (4 and 3 members, one excluded member in each): every
    combination of ordered panel+reserve tuples is equally likely, so the strata are
    independent and each uniform, with exact quotas every time.
    """
    members = [member(i, A) for i in range(4)] + [member(i, B) for i in range(4, 7)]
    members += [member(7, A, excluded=True), member(8, B, excluded=True)]
    quotas = {A: Quota(2, 1), B: Quota(1, 1)}
    eligible = [m for m in members if m.eligible]
    seen: Counter[Outcome] = Counter()
    for permutation in every_order(eligible):
        _, panel, reserve = draw(members, [A, B], quotas, permutation)
        assert [len(panel[A]), len(reserve[A]), len(panel[B]), len(reserve[B])] == [2, 1, 1, 1]
        seen[outcome(panel, reserve, [A, B])] += 1
    assert len(seen) == math.perm(4, 3) * math.perm(3, 2)
    assert set(seen.values()) == {math.factorial(7) // (math.perm(4, 3) * math.perm(3, 2))}


def reference_draw(
    members: Sequence[Member],
    disciplines: Sequence[bytes],
    quotas: Mapping[bytes, Quota],
    permutation: Sequence[bytes],
) -> tuple[Lists, Lists]:
    """§4 by brute force, written apart from the product.

    Walks the global rank order once per (pass, discipline) and takes the first members
    that are eligible, hold the discipline and are not yet claimed. A member's rank is
    its position in ``permutation``; equal ranks cannot occur.
    """
    holds = {m.pseudonym: set(m.discs) for m in members if not m.reasons}
    walk = [p for p in permutation if p in holds]
    claimed: set[bytes] = set()
    result: tuple[Lists, Lists] = ({}, {})
    for lists, want in ((result[0], "k"), (result[1], "r")):
        for d in disciplines:
            quota = quotas[d].k if want == "k" else quotas[d].r
            lists[d] = []
            for p in walk:
                if len(lists[d]) == quota:
                    break
                if d in holds[p] and p not in claimed:
                    lists[d].append(p)
                    claimed.add(p)
    return result


@dataclass(frozen=True)
class Overlap:
    """A pool with experts in two requested disciplines."""

    name: str
    members: list[Member]
    disciplines: list[bytes]
    quotas: dict[bytes, Quota]
    feasible: bool  # what ``shortfalls`` decides at the freeze
    ever_short: bool  # some rank order leaves a list short


OVERLAPS = [
    Overlap(
        "two-shared",  # refused at the freeze (the condition is sufficient), never short
        [member(1, A), member(2, A), member(3, A, B), member(4, B), member(5, A, B),
         member(6, B), member(7, A, excluded=True)],
        [A, B], {A: Quota(2, 1), B: Quota(1, 1)}, feasible=False, ever_short=False,
    ),
    Overlap(
        "everyone-both",
        [member(i, A, B) for i in range(6)],
        [A, B], {A: Quota(2, 1), B: Quota(2, 1)}, feasible=True, ever_short=False,
    ),
    Overlap(
        "chain-of-three",
        [member(1, A), member(2, A, B), member(3, B), member(4, B, C), member(5, C),
         member(6, A, C), member(8, A), member(7, A, B, excluded=True)],
        [A, B, C], {A: Quota(1, 1), B: Quota(1, 0), C: Quota(1, 0)}, feasible=True,
        ever_short=False,
    ),
    Overlap(
        "short-pool",  # refused at the freeze, and B does come up short
        [member(1, A, B), member(2, A, B), member(3, A), member(4, B)],
        [A, B], {A: Quota(2, 0), B: Quota(2, 0)}, feasible=False, ever_short=True,
    ),
]  # fmt: skip


def exchangeable_classes(members: Sequence[Member]) -> list[list[bytes]]:
    """Eligible members grouped by their set of disciplines."""
    groups: defaultdict[tuple[bytes, ...], list[bytes]] = defaultdict(list)
    for m in members:
        if m.eligible:
            groups[m.discs].append(m.pseudonym)
    return list(groups.values())


@pytest.mark.parametrize("case", OVERLAPS, ids=[case.name for case in OVERLAPS])
def test_overlapping_strata_match_the_reference(case: Overlap) -> None:
    """Overlapping strata: the product equals the §4 reference under every rank order.

    And, over all orders: nobody is drawn twice; each list holds only its discipline's
    eligible members; quotas are exact whenever ``shortfalls`` finds the pool feasible;
    the first discipline's panel is a uniform ordered tuple of its holders; and members
    holding the same disciplines are exchangeable (equal chances for every list and
    position).
    """
    eligible = [m for m in case.members if m.eligible]
    holders = {d: {m.pseudonym for m in eligible if d in m.discs} for d in case.disciplines}
    verdict = eds1.shortfalls(case.members, case.disciplines, case.quotas, 1)
    assert all(ok for _, ok, _ in verdict.values()) == case.feasible
    product: Counter[Outcome] = Counter()
    reference: Counter[Outcome] = Counter()
    place: Counter[tuple[str, int, int, bytes]] = Counter()  # (list, d, position, member)
    short = 0
    for permutation in every_order(eligible):
        _, panel, reserve = draw(case.members, case.disciplines, case.quotas, permutation)
        expected = reference_draw(case.members, case.disciplines, case.quotas, permutation)
        assert (panel, reserve) == expected
        product[outcome(panel, reserve, case.disciplines)] += 1
        reference[outcome(*expected, case.disciplines)] += 1
        drawn = [p for lists in (panel, reserve) for seats in lists.values() for p in seats]
        assert len(drawn) == len(set(drawn))
        for kind, lists in (("k", panel), ("r", reserve)):
            for di, d in enumerate(case.disciplines):
                assert set(lists[d]) <= holders[d]
                for at, p in enumerate(lists[d]):
                    place[kind, di, at, p] += 1
        sizes = [(len(panel[d]), len(reserve[d])) for d in case.disciplines]
        wanted = [(case.quotas[d].k, case.quotas[d].r) for d in case.disciplines]
        assert all(got <= want for got, want in zip(sum(sizes, ()), sum(wanted, ()), strict=True))
        short += sizes != wanted
    assert product == reference
    assert (short > 0) == case.ever_short
    assert short == 0 or not case.feasible  # a feasible pool fills every list, every time
    first = case.disciplines[0]
    heads = Counter(t[0] for t in product.elements())
    assert len(heads) == math.perm(len(holders[first]), case.quotas[first].k)
    assert len(set(heads.values())) == 1
    for group in exchangeable_classes(case.members):
        for kind, di, at in {key[:3] for key in place}:
            assert len({place[kind, di, at, p] for p in group}) == 1


# -- mode-A replacements --------------------------------------------------------------------


def reference_candidate(
    order: Lists, panel: Lists, reserve: Lists, used: set[bytes], d: bytes
) -> bytes | None:
    """§4 mode A: the first x in order[d] with x ∉ used and x ∉ claimed − reserve[d]."""
    claimed = {p for lists in (panel, reserve) for seats in lists.values() for p in seats}
    other = claimed - set(reserve[d])
    return next((x for x in order[d] if x not in used and x not in other), None)


@pytest.mark.parametrize(("n", "k", "r"), [(7, 3, 1), (7, 2, 0), (6, 3, 2), (5, 4, 0)])
def test_replacement_after_seat_j_is_uniform(n: int, k: int, r: int) -> None:
    """After panel seat j declines, the replacement is uniform over the non-panel members.

    For every j and every panel set, each of the n−k others replaces it exactly as often;
    it is always ``order[k]`` (the first reserve when there is one) and takes seat j.
    """
    members = [member(i, A) for i in range(n)]
    for j in range(k):
        given_panel: defaultdict[frozenset[bytes], Counter[bytes]] = defaultdict(Counter)
        for permutation in every_order(members):
            order, panel, reserve = draw(members, [A], {A: Quota(k, r)}, permutation)
            seating = Seating(order, panel, reserve, {A: 1})
            replaced = seating.decline(panel[A][j])
            assert replaced is not None
            assert replaced.incoming == order[A][k] == (reserve[A] or [order[A][k]])[0]
            assert seating.seats[A] == [*panel[A][:j], order[A][k], *panel[A][j + 1 :]]
            given_panel[frozenset(panel[A])][replaced.incoming] += 1
        assert len(given_panel) == math.comb(n, k)
        for counts in given_panel.values():
            assert len(counts) == n - k
            assert len(set(counts.values())) == 1


def test_replacement_chains_are_uniform_and_stop_at_max_repl() -> None:
    """A chain of declines takes order[k], order[k+1], … : a uniform ordered tuple of the
    non-panel members given the panel; past ``max_repl`` the seat is lost (``None``).

    A reserve struck before being called only joins ``used``: the next seated decline
    skips it. Declining twice, or someone outside the eligible pool, is refused.
    """
    n, k, r, cap = 7, 2, 1, 3
    members = [member(i, A) for i in range(n)]
    outsider = member(50, A, excluded=True)
    chains: defaultdict[frozenset[bytes], Counter[tuple[bytes, ...]]] = defaultdict(Counter)
    for permutation in every_order(members):
        order, panel, reserve = draw([*members, outsider], [A], {A: Quota(k, r)}, permutation)
        seating = Seating(order, panel, reserve, {A: cap})
        chain = []
        leaving = panel[A][0]
        for _ in range(cap):
            replaced = seating.decline(leaving)
            assert replaced is not None
            assert replaced.incoming is not None
            chain.append(replaced.incoming)
            leaving = replaced.incoming
        assert chain == order[A][k : k + cap]
        assert seating.decline(leaving) == eds1.Replaced(A, leaving, None)
        assert seating.seats[A] == panel[A][1:]
        chains[frozenset(panel[A])][tuple(chain)] += 1
        with pytest.raises(ReplacementError):
            seating.decline(leaving)
        with pytest.raises(ReplacementError):
            seating.decline(outsider.pseudonym)
        struck = Seating(order, panel, reserve, {A: cap})
        assert struck.decline(reserve[A][0]) is None
        replaced = struck.decline(panel[A][1])
        assert replaced is not None
        assert replaced.incoming == order[A][k + 1]
    for counts in chains.values():
        assert len(counts) == math.perm(n - k, cap)
        assert len(set(counts.values())) == 1


DECLINES: list[tuple[bytes, int]] = [(A, 0), (B, 0), (A, 0), (A, 1), (B, 0)]
"""A decline script: each step, the holder of seat (discipline, index) declines."""


@pytest.mark.parametrize("case", OVERLAPS[:3], ids=[case.name for case in OVERLAPS[:3]])
def test_overlapping_replacements_match_the_reference(case: Overlap) -> None:
    """Mode A with overlapping strata equals the §4 rule under every rank order.

    A scripted sequence of seated declines (and one struck reserve) runs through
    ``Seating``; each replacement equals the reference candidate, nobody is seated
    twice, and a replacement is never a member who has left or a member claimed by
    another discipline's lists.
    """
    eligible = [m for m in case.members if m.eligible]
    max_repl = dict.fromkeys(case.disciplines, 2)
    for permutation in every_order(eligible):
        order, panel, reserve = draw(case.members, case.disciplines, case.quotas, permutation)
        seating = Seating(order, panel, reserve, max_repl)
        used = {p for seats in panel.values() for p in seats}
        seats = {d: list(panel[d]) for d in case.disciplines}
        made = dict.fromkeys(case.disciplines, 0)
        struck = next((p for d in case.disciplines for p in reserve[d]), None)
        if struck is not None:
            assert seating.decline(struck) is None
            used.add(struck)
        for d, index in DECLINES:
            if d not in seats or index >= len(seats[d]):
                continue
            leaving = seats[d][index]
            if seating.exhausted:  # an unfilled seat cancelled the draw: nothing follows
                with pytest.raises(eds1.ReplacementError):
                    seating.decline(leaving)
                break
            expected = (
                reference_candidate(order, panel, reserve, used | {leaving}, d)
                if made[d] < max_repl[d]
                else None
            )
            assert seating.decline(leaving) == eds1.Replaced(d, leaving, expected)
            used.add(leaving)
            if expected is None:
                del seats[d][index]
            else:
                seats[d][index] = expected
                used.add(expected)
                made[d] += 1
            assert seating.seats == seats
            everyone = [p for s in seats.values() for p in s]
            assert len(everyone) == len(set(everyone))


def test_no_replacement_when_max_repl_is_zero() -> None:
    """``max_repl = 0``: every seated decline loses its seat, under every rank order."""
    members = [member(i, A) for i in range(5)]
    for permutation in every_order(members):
        order, panel, reserve = draw(members, [A], {A: Quota(2, 1)}, permutation)
        seating = Seating(order, panel, reserve, {A: 0})
        assert seating.decline(panel[A][1]) == eds1.Replaced(A, panel[A][1], None)
        assert seating.seats[A] == panel[A][:1]


def test_seam_callers_see_only_eligible_members() -> None:
    """``orders`` asks the ranker for eligible members only, once each, in every order."""
    members = [member(i, A, B) for i in range(4)] + [member(9, A, excluded=True)]
    for permutation in every_order(members[:4]):
        ranker = Recording(seam(permutation))
        eds1.orders(members, [A, B], ranker)
        assert sorted(ranker.asked) == sorted(m.pseudonym for m in members[:4])


class Recording:
    """A ranker that records whom it was asked about."""

    def __init__(self, ranker: eds1.Ranker) -> None:
        """Wrap ``ranker``."""
        self.ranker = ranker
        self.asked: list[bytes] = []

    def __call__(self, pseudonym: bytes) -> bytes:
        """The wrapped rank, recorded."""
        self.asked.append(pseudonym)
        return self.ranker(pseudonym)
