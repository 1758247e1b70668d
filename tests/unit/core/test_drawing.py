"""The draw's pure steps (expert_draw.core.drawing): freeze, resolve, evidence, void."""

from __future__ import annotations

import hashlib
import itertools
import uuid

from expert_draw.core import drawing, eds1


def counter_random() -> drawing.Random:
    """A deterministic stand-in for os.urandom: SHA-256 of a counter, cut to size."""
    counter = itertools.count()

    def random(size: int) -> bytes:
        return hashlib.sha256(next(counter).to_bytes(8, "big")).digest()[:size]

    return random


def candidates() -> list[drawing.Assessed]:
    """Six matching experts (one excluded, one in two disciplines) and one without codes."""
    rows = [
        ((b"A01",), ()), ((b"A01",), ()), ((b"A01", b"B02"), ()), ((b"B02",), ()),
        ((b"B02",), (b"E6",)), ((b"A01",), (b"A7", b"E6")), ((), ()),
    ]  # fmt: skip
    return [
        drawing.Assessed(i, uuid.UUID(int=i + 1).bytes, discs, reasons)
        for i, (discs, reasons) in enumerate(rows)
    ]


def test_freeze_commits_every_matching_candidate() -> None:
    """Leaves by pseudonym, salts and experts kept, roots as eds1 computes them."""
    frozen = drawing.freeze(candidates(), counter_random())
    assert len(frozen.members) == 6  # the candidate without codes gets no leaf
    pseuds = [m.pseudonym for m in frozen.members]
    assert pseuds == sorted(pseuds)
    assert (frozen.pool_root, frozen.excluded_root) == eds1.pool_roots(frozen.members)
    assert (frozen.n_elig, frozen.n_excl) == (4, 2)
    by_expert = {frozen.expert_of[m.pseudonym]: m for m in frozen.members}
    for c in candidates()[:6]:
        m = by_expert[c.expert_id]
        assert m.idc == eds1.identity_commitment(frozen.salts[m.pseudonym], c.uuid_bytes)
        assert (m.discs, m.reasons) == (c.discs, c.reasons)
    assert frozen.counts([b"A01", b"B02"]) == [(b"A01", 3), (b"B02", 2)]
    assert frozen.excluded_counts() == [(b"A7", 1), (b"E6", 2)]


def test_freeze_uses_fresh_randomness() -> None:
    """Two freezes of the same candidates share no pseudonym and no root."""
    random = counter_random()
    one, two = drawing.freeze(candidates(), random), drawing.freeze(candidates(), random)
    assert not {m.pseudonym for m in one.members} & {m.pseudonym for m in two.members}
    assert one.pool_root != two.pool_root


def test_resolve_matches_eds1() -> None:
    """resolve() is the seed, orders, panels and digest of the spec, composed."""
    frozen = drawing.freeze(candidates(), counter_random())
    params = eds1.Params(
        draw_id=b"d-1", tender_ref=bytes(32), supersedes=b"", edition=b"2018",
        edition_digest=bytes(32), match_mode=b"prefix",
        disciplines=(eds1.DisciplineParams(b"A01", 1, 1, 2),
                     eds1.DisciplineParams(b"B02", 1, 0, 1)),
        repl_mode=b"A", delta=0, margin_s=0, delta_b=0, min_pool_factor=1, override_seq=0,
        drand_chain_hash=b"", rules_digest=bytes(32), code_digest=bytes(32),
    )  # fmt: skip
    s, nonce = bytes(range(32)), bytes(32)
    out = drawing.resolve(
        params, frozen.members, pool_root=frozen.pool_root,
        excluded_root=frozen.excluded_root, s=s, r=0, rho=b"", nonce=nonce,
    )  # fmt: skip
    seed = eds1.seed(b"d-1", pool_root=frozen.pool_root, excluded_root=frozen.excluded_root,
                     params_hash=params.hash(), s=s, r=0, rho=b"", nonce=nonce)  # fmt: skip
    assert out.seed == seed
    order = eds1.orders(frozen.members, [b"A01", b"B02"], lambda p: eds1.rank(seed, p))
    assert out.order == order
    assert out.order_digest == eds1.order_digest(order, [b"A01", b"B02"])
    seated = [p for d in (b"A01", b"B02") for p in out.panel[d] + out.reserve[d]]
    assert len(seated) == len(set(seated)) == 3
    excluded = {m.pseudonym for m in frozen.members if not m.eligible}
    assert not excluded & set(seated)


def test_evidence_hash_and_void() -> None:
    """The evidence label, and void exactly for 48③ strikes and late declared conflicts."""
    assert (
        drawing.evidence_hash(b"x")
        == hashlib.sha256(b"\0\0\0\x0dEDS1/evidence\0\0\0\x01x").digest()
    )
    assert drawing.void(b"STRUCK_48_3", opened=True)
    assert drawing.void(b"CONFLICT_DECLARED", opened=True)
    assert not drawing.void(b"CONFLICT_DECLARED", opened=False)
    for reason in eds1.DECLINE_REASONS - {b"STRUCK_48_3", b"CONFLICT_DECLARED"}:
        assert not drawing.void(reason, opened=True)
