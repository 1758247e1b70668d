"""Hypothesis properties of the EDS-1 draw (design §9, "Hypothesis properties").

Random pools (overlapping disciplines, excluded members, arbitrary 16-byte pseudonyms)
drawn with real HMAC ranks or with a tie-heavy rank seam, through the product's
``eds1.orders``, ``eds1.panels``, ``eds1.shortfalls``, ``eds1.seed`` and ``eds1.Seating``.
The suite's Hypothesis profile (``ci``, derandomized; tests/conftest.py) applies.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pytest
from hypothesis import given, note
from hypothesis import strategies as st

from expert_draw.core import eds1
from expert_draw.core.eds1 import Member, Quota, ReplacementError, Seating

CODES = (b"A01", b"B02", b"C03")
REASONS = ((), (), (), (b"E6",), (b"A1", b"LEGACY_EDITION"))  # mostly eligible

Lists = dict[bytes, list[bytes]]


@dataclass(frozen=True)
class Pool:
    """Members, the requested disciplines (ascending) and their quotas."""

    members: list[Member]
    disciplines: list[bytes]
    quotas: dict[bytes, Quota]

    @property
    def eligible(self) -> list[Member]:
        """Members without an exclusion reason."""
        return [m for m in self.members if m.eligible]

    @property
    def excluded(self) -> set[bytes]:
        """Pseudonyms of the excluded members."""
        return {m.pseudonym for m in self.members if not m.eligible}


@st.composite
def members(draw: st.DrawFn, min_size: int = 0, max_size: int = 14) -> list[Member]:
    """Members with unique pseudonyms, 1–3 of the codes, sometimes exclusion reasons."""
    pseudonyms = draw(
        st.lists(st.binary(min_size=16, max_size=16), min_size=min_size, max_size=max_size,
                 unique=True)
    )  # fmt: skip
    return [
        Member(
            p,
            tuple(sorted(draw(st.sets(st.sampled_from(CODES), min_size=1)))),
            draw(st.sampled_from(REASONS)),
            draw(st.binary(min_size=32, max_size=32)),
        )
        for p in pseudonyms
    ]


@st.composite
def pools(draw: st.DrawFn) -> Pool:
    """Any pool: feasible or not, 1–3 requested disciplines, k 1–3, r 0–2."""
    disciplines = sorted(draw(st.sets(st.sampled_from(CODES), min_size=1)))
    quotas = {d: Quota(draw(st.integers(1, 3)), draw(st.integers(0, 2))) for d in disciplines}
    return Pool(draw(members()), disciplines, quotas)


@st.composite
def feasible_pools(draw: st.DrawFn) -> Pool:
    """A pool that passes the freeze whatever the overlaps.

    Each discipline gets ``Σ_d (k_d + r_d)`` members of its own, which is at least its
    own quota plus everything the other disciplines could claim from it.
    """
    pool = draw(pools())
    total = sum(q.k + q.r for q in pool.quotas.values())
    own = [
        Member(hashlib.sha256(b"own" + d + eds1.u32(i)).digest()[:16], (d,), (), bytes(32))
        for d in pool.disciplines
        for i in range(total)
    ]
    taken = {m.pseudonym for m in own}
    return Pool(
        [*own, *(m for m in pool.members if m.pseudonym not in taken)],
        pool.disciplines,
        pool.quotas,
    )


@st.composite
def rankers(draw: st.DrawFn) -> eds1.Ranker:
    """The real HMAC rank under a random seed, or a seam with many ties and prefixes.

    The seam maps a pseudonym to one of up to four short ranks by its last byte, so
    equal ranks (ordered by pseudonym) and ranks that are prefixes of others are common.
    """
    if draw(st.booleans()):
        seed = draw(st.binary(min_size=32, max_size=32))
        return lambda p: eds1.rank(seed, p)
    table = draw(st.lists(st.sampled_from([b"", b"\x00", b"\x00\x00", b"\x01", b"\xff"]),
                          min_size=1, max_size=4))  # fmt: skip
    return lambda p: table[p[-1] % len(table)]


def draw_all(pool: Pool, ranker: eds1.Ranker) -> tuple[Lists, Lists, Lists]:
    """``(order, panel, reserve)`` from the product."""
    order = eds1.orders(pool.members, pool.disciplines, ranker)
    panel, reserve = eds1.panels(order, pool.disciplines, pool.quotas)
    return order, panel, reserve


# -- orders -------------------------------------------------------------------------------


@given(pools(), rankers())
def test_order_is_a_permutation_of_the_eligible_holders(pool: Pool, ranker: eds1.Ranker) -> None:
    """``order[d]`` is a permutation of the eligible holders of d, sorted by (rank, pseudonym),
    and all orders are the one global order restricted to each discipline."""
    order = eds1.orders(pool.members, pool.disciplines, ranker)
    everyone = sorted(pool.eligible, key=lambda m: (ranker(m.pseudonym), m.pseudonym))
    for d in pool.disciplines:
        holders = [m.pseudonym for m in pool.eligible if d in m.discs]
        assert sorted(order[d]) == sorted(holders)
        assert len(set(order[d])) == len(order[d])
        assert order[d] == [m.pseudonym for m in everyone if d in m.discs]
        keys = [(ranker(p), p) for p in order[d]]
        assert keys == sorted(keys)


@given(pools(), rankers())
def test_no_excluded_member_anywhere(pool: Pool, ranker: eds1.Ranker) -> None:
    """No member with an exclusion reason is in an order, panel or reserve, or can decline."""
    order, panel, reserve = draw_all(pool, ranker)
    for lists in (order, panel, reserve):
        for seats in lists.values():
            assert not set(seats) & pool.excluded
    seating = Seating(order, panel, reserve, dict.fromkeys(pool.disciplines, 5))
    for p in sorted(pool.excluded):
        with pytest.raises(ReplacementError):
            seating.decline(p)


@given(pools(), rankers(), st.data())
def test_removing_a_member_keeps_the_others_order(
    pool: Pool, ranker: eds1.Ranker, data: st.DataObject
) -> None:
    """Removing one member (or excluding it) leaves the others' order unchanged."""
    if not pool.members:
        return
    gone = data.draw(st.sampled_from(pool.members))
    before = eds1.orders(pool.members, pool.disciplines, ranker)
    without = [m for m in pool.members if m is not gone]
    struck = [Member(m.pseudonym, m.discs, (b"E6",), m.idc) if m is gone else m
              for m in pool.members]  # fmt: skip
    expected = {d: [p for p in before[d] if p != gone.pseudonym] for d in pool.disciplines}
    assert eds1.orders(without, pool.disciplines, ranker) == expected
    assert eds1.orders(struck, pool.disciplines, ranker) == expected


@given(pools(), rankers(), st.data())
def test_input_order_is_irrelevant(pool: Pool, ranker: eds1.Ranker, data: st.DataObject) -> None:
    """Shuffling the members changes no order, panel or reserve."""
    shuffled = data.draw(st.permutations(pool.members))
    assert draw_all(pool, ranker) == draw_all(Pool(shuffled, pool.disciplines, pool.quotas), ranker)


# -- panels and reserves ------------------------------------------------------------------


@given(pools(), rankers())
def test_no_expert_drawn_twice(pool: Pool, ranker: eds1.Ranker) -> None:
    """Across all panels and reserves nobody appears twice; each list holds only its
    discipline's eligible members, within its quota, and is the first free members of
    its order."""
    order, panel, reserve = draw_all(pool, ranker)
    drawn = [p for lists in (panel, reserve) for seats in lists.values() for p in seats]
    assert len(drawn) == len(set(drawn))
    claimed: set[bytes] = set()
    for lists, size in ((panel, "k"), (reserve, "r")):
        for d in pool.disciplines:
            free = [p for p in order[d] if p not in claimed]
            assert lists[d] == free[: getattr(pool.quotas[d], size)]
            claimed.update(lists[d])


@given(feasible_pools(), rankers())
def test_quotas_exact(pool: Pool, ranker: eds1.Ranker) -> None:
    """A pool the freeze accepts (``shortfalls``: seats ok) fills every panel and reserve."""
    verdict = eds1.shortfalls(pool.members, pool.disciplines, pool.quotas, 1)
    assert all(ok for _, ok, _ in verdict.values())
    _, panel, reserve = draw_all(pool, ranker)
    for d in pool.disciplines:
        assert len(panel[d]) == pool.quotas[d].k
        assert len(reserve[d]) == pool.quotas[d].r


@given(pools(), rankers())
def test_shortfalls_is_sufficient(pool: Pool, ranker: eds1.Ranker) -> None:
    """Whenever ``shortfalls`` says seats ok for every discipline, the lists are full."""
    verdict = eds1.shortfalls(pool.members, pool.disciplines, pool.quotas, 1)
    _, panel, reserve = draw_all(pool, ranker)
    if all(ok for _, ok, _ in verdict.values()):
        for d in pool.disciplines:
            assert (len(panel[d]), len(reserve[d])) == (pool.quotas[d].k, pool.quotas[d].r)


@given(pools(), rankers(), st.data())
def test_k_plus_one_extends_k(pool: Pool, ranker: eds1.Ranker, data: st.DataObject) -> None:
    """One more seat in d: d's panel extends the old one, panels before d are unchanged;
    one more reserve in d: d's reserve extends the old one and no panel changes (being
    a reserve never costs a seat)."""
    d = data.draw(st.sampled_from(pool.disciplines))
    at = pool.disciplines.index(d)
    _, panel, reserve = draw_all(pool, ranker)
    q = pool.quotas[d]
    more_seats = Pool(pool.members, pool.disciplines, {**pool.quotas, d: Quota(q.k + 1, q.r)})
    _, panel_k, _ = draw_all(more_seats, ranker)
    assert panel_k[d][: len(panel[d])] == panel[d]
    assert len(panel_k[d]) in {len(panel[d]), len(panel[d]) + 1}
    for e in pool.disciplines[:at]:
        assert panel_k[e] == panel[e]
    more_reserves = Pool(pool.members, pool.disciplines, {**pool.quotas, d: Quota(q.k, q.r + 1)})
    _, panel_r, reserve_r = draw_all(more_reserves, ranker)
    assert panel_r == panel
    assert reserve_r[d][: len(reserve[d])] == reserve[d]
    for e in pool.disciplines[:at]:
        assert reserve_r[e] == reserve[e]


# -- seed -----------------------------------------------------------------------------------

DRAW_IDS = st.from_regex(rb"[a-z0-9-]{1,56}", fullmatch=True)
TWELVE = [
    Member(hashlib.sha256(bytes([i])).digest()[:16], (b"A01",), (), bytes(32)) for i in range(12)
]


def order_under(seed: bytes) -> list[bytes]:
    """The order of twelve fixed members under the real ranks of ``seed``."""
    return eds1.orders(TWELVE, [b"A01"], lambda p: eds1.rank(seed, p))[b"A01"]


@given(
    st.lists(DRAW_IDS, min_size=2, max_size=2, unique=True),
    st.lists(st.binary(min_size=32, max_size=32), min_size=6, max_size=6),
    st.integers(0, 2**64 - 1),
    st.booleans(),
)
def test_a_new_draw_id_changes_the_order(
    draw_ids: list[bytes], fields: list[bytes], r: int, beacon: bool
) -> None:
    """Two draw ids, same other inputs: different seeds and different orders of 12.

    Equal orders by chance would have probability 1/12! ≈ 2·10⁻⁹ per example.
    """
    pool_root, excluded_root, params_hash, s, rho, nonce = fields
    seeds = [
        eds1.seed(draw_id, pool_root=pool_root, excluded_root=excluded_root,
                  params_hash=params_hash, s=s, r=r, rho=rho if beacon else b"", nonce=nonce)
        for draw_id in draw_ids
    ]  # fmt: skip
    note(f"seeds {seeds[0].hex()} {seeds[1].hex()}")
    assert seeds[0] != seeds[1]
    assert order_under(seeds[0]) != order_under(seeds[1])


# -- mode A -------------------------------------------------------------------------------


@dataclass
class ModeA:
    """The §4 mode-A rule as a model: ``used`` grows, ``claimed`` is fixed after pass 2."""

    order: Lists
    reserve: Lists
    claimed: frozenset[bytes]
    seats: Lists
    used: set[bytes]
    max_repl: dict[bytes, int]
    made: dict[bytes, int]

    def decline(self, p: bytes) -> eds1.Replaced | None:
        """The expected outcome of one decline (``None`` for an unseated member)."""
        d = next((d for d, seats in self.seats.items() if p in seats), None)
        self.used.add(p)
        if d is None:
            return None
        taken = self.claimed - set(self.reserve[d])
        free = [x for x in self.order[d] if x not in self.used and x not in taken]
        incoming = free[0] if free and self.made[d] < self.max_repl[d] else None
        at = self.seats[d].index(p)
        if incoming is None:
            del self.seats[d][at]
        else:
            self.seats[d][at] = incoming
            self.used.add(incoming)
            self.made[d] += 1
        return eds1.Replaced(d, p, incoming)


@given(pools(), rankers(), st.data())
def test_mode_a_is_the_next_unused_entry(
    pool: Pool, ranker: eds1.Ranker, data: st.DataObject
) -> None:
    """Any sequence of declines: each replacement is the next unused, unclaimed-elsewhere
    entry of the seat's order; seats never hold anyone twice or anyone who left; a second
    decline of the same member is refused."""
    order, panel, reserve = draw_all(pool, ranker)
    max_repl = {d: data.draw(st.integers(0, 3)) for d in pool.disciplines}
    seating = Seating(order, panel, reserve, max_repl)
    claimed = frozenset(p for lists in (panel, reserve) for s in lists.values() for p in s)
    model = ModeA(order, reserve, claimed, {d: list(panel[d]) for d in pool.disciplines},
                  {p for s in panel.values() for p in s}, max_repl,
                  dict.fromkeys(pool.disciplines, 0))  # fmt: skip
    in_pool = sorted({p for o in order.values() for p in o})
    for p in sorted({m.pseudonym for m in pool.members} - set(in_pool)):
        with pytest.raises(ReplacementError):  # excluded, or holds no requested discipline
            seating.decline(p)
    if not in_pool:
        return
    front = sorted(
        {p for d in pool.disciplines for p in order[d][: pool.quotas[d].k + pool.quotas[d].r + 3]}
    )
    anyone = st.sampled_from(in_pool)
    left: set[bytes] = set()
    for p in data.draw(st.lists(st.one_of(st.sampled_from(front), anyone), max_size=12)):
        if p in left or seating.exhausted:
            with pytest.raises(ReplacementError):  # left already, or the draw is cancelled
                seating.decline(p)
            continue
        assert seating.decline(p) == model.decline(p)
        left.add(p)
        assert seating.seats == model.seats
        everyone = [x for s in seating.seats.values() for x in s]
        assert len(everyone) == len(set(everyone))
        assert not set(everyone) & left
