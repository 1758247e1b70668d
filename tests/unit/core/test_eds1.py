"""EDS-1 core: encodings, pool roots, seed, ranks, panels; exhaustive small models."""

from __future__ import annotations

import hashlib
import itertools
import math
from collections import Counter

import pytest

from audit_log import merkle
from expert_draw.core import eds1
from expert_draw.core.eds1 import EncodingError, Member, Quota

IDC = bytes(32)


def member(i: int, *discs: bytes, reasons: tuple[bytes, ...] = ()) -> Member:
    return Member(bytes([i]) * 16, tuple(sorted(discs)), reasons, IDC)


def test_enc_and_integers() -> None:
    assert eds1.enc() == b""
    assert eds1.enc(b"a", b"") == b"\x00\x00\x00\x01a\x00\x00\x00\x00"
    assert eds1.enc(eds1.enc()) == b"\x00\x00\x00\x00"  # an empty list is one empty field
    assert eds1.u32(258) == b"\x00\x00\x01\x02"
    assert eds1.u64(2**40) == b"\x00\x00\x01\x00\x00\x00\x00\x00"
    for encode, value in ((eds1.u32, -1), (eds1.u32, 2**32), (eds1.u64, 2**64)):
        with pytest.raises(EncodingError):
            encode(value)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Member(bytes(15), (b"A01",), (), IDC), "pseudonym"),
        (lambda: Member(bytes(16), (), (), IDC), "non-empty"),
        (lambda: Member(bytes(16), (b"B", b"A"), (), IDC), "ascending"),
        (lambda: Member(bytes(16), (b"a01",), (), IDC), "discipline code"),
        (lambda: Member(bytes(16), (b"A",), (b"E6", b"A1"), IDC), "reasons"),
        (lambda: Member(bytes(16), (b"A",), (b"E-6",), IDC), "reason"),
        (lambda: Member(bytes(16), (b"A",), (), bytes(31)), "idc"),
    ],
)
def test_members_are_checked(make: object, message: str) -> None:
    with pytest.raises(EncodingError, match=message):
        make()  # type: ignore[operator]


def test_leaves_and_roots() -> None:
    eligible = member(2, b"A01")
    excluded = member(1, b"A01", b"B02", reasons=(b"A1", b"E6"))
    assert eligible.leaf_input() == eds1.enc(b"EDS1/leaf", bytes([2]) * 16, eds1.enc(b"A01"), IDC)
    assert excluded.leaf_input() == eds1.enc(
        b"EDS1/xleaf", bytes([1]) * 16, eds1.enc(b"A01", b"B02"), eds1.enc(b"A1", b"E6"), IDC
    )
    others = [member(i, b"A01") for i in (9, 5, 7)]
    pool, excl = eds1.pool_roots([*others, eligible, excluded])
    leaves = [
        merkle.leaf_hash(m.leaf_input())
        for m in sorted([*others, eligible], key=lambda m: m.pseudonym)
    ]
    assert pool == merkle.reference_root(leaves)
    assert excl == merkle.reference_root([merkle.leaf_hash(excluded.leaf_input())])
    assert eds1.pool_roots([]) == (hashlib.sha256(b"").digest(),) * 2
    with pytest.raises(EncodingError, match="unique"):
        eds1.pool_roots([eligible, member(2, b"B02")])


def test_identity_commitment() -> None:
    salt, uuid = bytes(range(32)), bytes(range(16))
    assert (
        eds1.identity_commitment(salt, uuid)
        == hashlib.sha256(eds1.enc(b"EDS1/idc", salt, uuid)).digest()
    )
    with pytest.raises(EncodingError):
        eds1.identity_commitment(salt[:31], uuid)


def test_seed_binds_every_input() -> None:
    base = {"pool_root": b"\x01" * 32, "excluded_root": b"\x02" * 32, "params_hash": b"\x03" * 32,
            "s": b"\x04" * 32, "r": 7, "rho": b"", "nonce": b"\x05" * 32}  # fmt: skip
    first = eds1.seed(b"draw-1", **base)  # type: ignore[arg-type]
    assert first == eds1.hmac_sha256(b"EDS1/seed", eds1.enc(
        b"draw-1", b"\x01" * 32, b"\x02" * 32, b"\x03" * 32, b"\x04" * 32, eds1.u64(7), b"", b"\x05" * 32))  # fmt: skip
    for key, other in (("pool_root", b"\x09" * 32), ("s", b"\x09" * 32), ("r", 8), ("rho", b"\x09" * 32),
                       ("nonce", b"\x09" * 32)):  # fmt: skip
        assert eds1.seed(b"draw-1", **{**base, key: other}) != first  # type: ignore[arg-type]
    assert eds1.seed(b"draw-2", **base) != first  # type: ignore[arg-type]
    for key, bad in (("s", b"\x04" * 31), ("rho", b"\x01")):
        with pytest.raises(EncodingError):
            eds1.seed(b"draw-1", **{**base, key: bad})  # type: ignore[arg-type]
    with pytest.raises(EncodingError):
        eds1.seed(b"Draw_1", **base)  # type: ignore[arg-type]


def test_drand_rounds() -> None:
    assert eds1.round_at(eds1.DRAND_GENESIS) == 1
    for r in (1, 2, 1000, 10**7):
        assert eds1.round_at(eds1.round_time(r)) == r
        assert eds1.round_at(eds1.round_time(r) + 2) == r


def test_orders_use_rank_then_pseudonym() -> None:
    members = [member(i, b"A01") for i in range(1, 5)] + [member(9, b"A01", reasons=(b"E6",))]
    ties = {bytes([i]) * 16: b"\x00" for i in range(1, 5)}  # equal ranks: the pseudonym decides
    order = eds1.orders(members, [b"A01"], ties.__getitem__)
    assert order[b"A01"] == [
        bytes([i]) * 16 for i in range(1, 5)
    ]  # the excluded member has no rank
    real = eds1.orders(members, [b"A01"], lambda p: eds1.rank(b"k" * 32, p))
    assert sorted(real[b"A01"]) == order[b"A01"]
    assert eds1.order_digest(real, [b"A01"]) == hashlib.sha256(
        eds1.enc(b"EDS1/order", eds1.enc(b"A01", eds1.enc(*real[b"A01"])))).digest()  # fmt: skip


def _every_order(
    members: list[Member], discs: list[bytes], quotas: dict[bytes, Quota]
) -> Counter[tuple[tuple[bytes, ...], ...]]:
    """Run the draw under every rank order of the members (the rank seam)."""
    outcomes: Counter[tuple[tuple[bytes, ...], ...]] = Counter()
    pseudonyms = [m.pseudonym for m in members if m.eligible]
    for permutation in itertools.permutations(pseudonyms):
        position = {p: i.to_bytes(1, "big") for i, p in enumerate(permutation)}
        order = eds1.orders(members, discs, position.__getitem__)
        seated, reserve = eds1.panels(order, discs, quotas)
        assert sum(len(v) for v in (*seated.values(), *reserve.values())) == len(
            {p for v in (*seated.values(), *reserve.values()) for p in v}
        )  # nobody twice
        outcomes[
            tuple(tuple(seated[d]) for d in discs) + tuple(tuple(reserve[d]) for d in discs)
        ] += 1
    return outcomes


@pytest.mark.parametrize(("n", "k", "r"), [(5, 2, 1), (6, 3, 2), (7, 2, 0), (4, 1, 3)])
def test_single_discipline_is_exactly_uniform(n: int, k: int, r: int) -> None:
    members = [member(i, b"A01") for i in range(1, n + 1)]
    outcomes = _every_order(members, [b"A01"], {b"A01": Quota(k, r)})
    # Every ordered (k + r)-tuple of distinct members appears exactly (n - k - r)! times.
    assert len(outcomes) == math.perm(n, k + r)
    assert set(outcomes.values()) == {math.factorial(n - k - r)}
    # So every k-subset is seated equally often.
    seated = Counter(frozenset(outcome[0]) for outcome in outcomes.elements())
    assert len(seated) == math.comb(n, k)
    assert len(set(seated.values())) == 1


def test_overlapping_disciplines_match_a_brute_force_reference() -> None:
    members = [member(1, b"A01"), member(2, b"A01"), member(3, b"A01", b"B02"), member(4, b"B02"),
               member(5, b"A01", b"B02"), member(6, b"B02"), member(7, b"A01", reasons=(b"A1",))]  # fmt: skip
    discs, quotas = [b"A01", b"B02"], {b"A01": Quota(2, 1), b"B02": Quota(1, 1)}
    eligible = [m for m in members if m.eligible]
    for permutation in itertools.permutations([m.pseudonym for m in eligible]):
        position = {p: i for i, p in enumerate(permutation)}
        order = eds1.orders(members, discs, lambda p, pos=position: pos[p].to_bytes(1, "big"))  # type: ignore[misc]
        seated, reserve = eds1.panels(order, discs, quotas)
        # Reference: walk the global rank order once per pass and discipline.
        by_rank = sorted(eligible, key=lambda m: position[m.pseudonym])
        taken: set[bytes] = set()
        expected: list[list[bytes]] = []
        for size in ("k", "r"):
            for d in discs:
                chosen = [m.pseudonym for m in by_rank if d in m.discs and m.pseudonym not in taken]
                chosen = chosen[: getattr(quotas[d], size)]
                taken.update(chosen)
                expected.append(chosen)
        assert [seated[d] for d in discs] + [reserve[d] for d in discs] == expected


def test_feasibility_guarantees_full_panels_for_every_order() -> None:
    members = [member(1, b"A01"), member(2, b"A01", b"B02"), member(3, b"A01", b"B02"), member(4, b"B02"),
               member(5, b"A01"), member(6, b"B02", b"C03"), member(7, b"C03")]  # fmt: skip
    discs = [b"A01", b"B02", b"C03"]
    verdicts = []
    for ka, kb, kc in itertools.product((1, 2, 3), (1, 2), (1,)):
        quotas = {b"A01": Quota(ka, 1), b"B02": Quota(kb, 0), b"C03": Quota(kc, 0)}
        verdict = eds1.shortfalls(members, discs, quotas, min_pool_factor=1)
        feasible = all(ok for _, ok, _ in verdict.values())
        full_every_time = all(
            len(outcome[i]) == quotas[d].k and len(outcome[3 + i]) == quotas[d].r
            for outcome in _every_order(members, discs, quotas)
            for i, d in enumerate(discs)
        )
        if feasible:  # the condition is sufficient: both passes succeed for every seed
            assert full_every_time, (ka, kb, kc)
        verdicts.append(feasible)
    assert True in verdicts
    assert False in verdicts


def test_shortfalls_report_counts_and_minimum() -> None:
    members = [member(i, b"A01") for i in range(1, 6)] + [member(9, b"A01", reasons=(b"E6",))]
    verdict = eds1.shortfalls(members, [b"A01"], {b"A01": Quota(2, 1)}, min_pool_factor=3)
    assert verdict == {b"A01": (5, True, False)}  # 5 eligible < 3 × 2
    waived = eds1.shortfalls(members, [b"A01"], {b"A01": Quota(2, 1)}, 3, frozenset({b"A01"}))
    assert waived == {b"A01": (5, True, True)}
    short = eds1.shortfalls(members, [b"A01"], {b"A01": Quota(5, 1)}, min_pool_factor=1)
    assert short == {b"A01": (5, False, True)}


def params(**changes: object) -> eds1.Params:
    values: dict[str, object] = {
        "draw_id": b"tl-2026-0001", "tender_ref": b"\x01" * 32, "supersedes": b"", "edition": b"2018",
        "edition_digest": b"\x02" * 32, "match_mode": b"prefix",
        "disciplines": (eds1.DisciplineParams(b"A0101", 3, 1, 2), eds1.DisciplineParams(b"C0808", 2, 0, 1)),
        "repl_mode": b"A", "delta": 100, "margin_s": 30, "delta_b": 0, "min_pool_factor": 3,
        "override_seq": 0, "drand_chain_hash": b"\x03" * 32, "rules_digest": b"\x04" * 32,
        "code_digest": b"\x05" * 32,
    }  # fmt: skip
    values.update(changes)
    return eds1.Params(**values)  # type: ignore[arg-type]


def test_params_round_trip_and_hash() -> None:
    for p in (
        params(),
        params(drand_chain_hash=b"", delta=0, margin_s=0),
        params(supersedes=b"tl-2026-0000"),
    ):
        data = p.encode()
        assert eds1.Params.decode(data) == p
        assert p.hash() == hashlib.sha256(data).digest()
        assert eds1.dec(data)[0] == b"EDS1/params"
    assert params().beacon
    assert not params(drand_chain_hash=b"", delta=0, margin_s=0).beacon


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"draw_id": b"TL"}, "draw_id"),
        ({"supersedes": b"x y"}, "supersedes"),
        ({"tender_ref": b"\x01" * 31}, "tender_ref"),
        ({"edition": b""}, "edition"),
        ({"match_mode": b"fuzzy"}, "match_mode"),
        ({"disciplines": ()}, "non-empty"),
        ({"disciplines": (eds1.DisciplineParams(b"C08", 1, 0, 0), eds1.DisciplineParams(b"A01", 1, 0, 0))}, "ascending"),
        ({"disciplines": (eds1.DisciplineParams(b"A01", 1, 0, 0), eds1.DisciplineParams(b"A0101", 1, 0, 0))}, "prefix"),
        ({"disciplines": (eds1.DisciplineParams(b"A01", 0, 0, 0),)}, "k >= 1"),
        ({"min_pool_factor": 0}, "min_pool_factor"),
        ({"drand_chain_hash": b"\x03"}, "drand_chain_hash"),
        ({"drand_chain_hash": b""}, "without a beacon"),
        ({"delta_b": 5}, "delta_b"),
    ],
)  # fmt: skip
def test_params_rules(changes: dict[str, object], message: str) -> None:
    with pytest.raises(EncodingError, match=message):
        params(**changes)


def test_params_decoding_is_strict() -> None:
    data = params().encode()
    fields = eds1.dec(data)
    for bad in (
        eds1.enc(b"EDS1/param", *fields[1:]),  # label
        eds1.enc(*fields, b""),  # a 19th field
        eds1.enc(*fields[:10], b"\x00\x00\x00\x00\x00", *fields[11:]),  # a 5-byte u32
        data + b"\x00",  # trailing bytes
        data[:-1],  # truncated
        eds1.enc(
            *fields[:8], eds1.enc(eds1.enc(b"A0101", b"\x00\x00\x00\x01")), *fields[9:]
        ),  # short discipline
    ):
        with pytest.raises(EncodingError):
            eds1.Params.decode(bad)


def test_commitment_and_tender_ref() -> None:
    c_s = eds1.secret_commitment(b"\x07" * 32)
    assert c_s == hashlib.sha256(eds1.enc(b"EDS1/commit", b"\x07" * 32)).digest()
    record = eds1.commitment(b"tl-1", pool_root=b"\x01" * 32, n_elig=10, excluded_root=b"\x02" * 32, n_excl=3,
                             params_hash=b"\x03" * 32, c_s=c_s, r=99, escrow=eds1.escrow_digest([b"e1", b"e2"]))  # fmt: skip
    assert eds1.dec(record)[0] == b"EDS1/commitment"
    assert eds1.dec(record)[3] == eds1.u32(10)
    ref = eds1.tender_ref(b"\x09" * 32, "ZB-2026-17", "标段1")
    assert ref == eds1.hmac_sha256(
        b"\x09" * 32, eds1.enc(b"EDS1/tender", b"ZB-2026-17", "标段1".encode())
    )
