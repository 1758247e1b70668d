"""Committed draws' params and members, kept for ExecuteDraw and declines (draws._Pools)."""

from __future__ import annotations

from typing import Any

from expert_draw.adapters.draws import _members_of, _Pools


def _pool(members: int) -> Any:  # the params stand in as None
    rows = [{"pseud": n.to_bytes(16, "big"), "discs": "A0101", "reasons": "",
             "idc": bytes(32), "expert_id": n} for n in range(members)]  # fmt: skip
    return (None, *_members_of(rows))


def test_pools_hold_a_bounded_number_of_members_and_skip_a_pool_past_the_bound() -> None:
    pools = _Pools(limit=300)
    pools.put(("a", b"1"), _pool(150))
    pools.put(("b", b"2"), _pool(150))
    assert pools.get(("a", b"1")) is not None
    assert pools.get(("b", b"2")) is not None
    pools.put(("c", b"3"), _pool(150))  # 450 members: it starts again
    assert (pools.get(("a", b"1")), pools.get(("b", b"2"))) == (None, None)
    assert pools.get(("c", b"3")) is not None
    pools.put(("d", b"4"), _pool(301))  # larger than the bound alone: not kept
    assert pools.get(("d", b"4")) is None
    assert pools.get(("c", b"3")) is not None


def test_members_are_ordered_by_pseudonym_with_their_experts() -> None:
    members, expert_of = _members_of([
        {"pseud": b"\x02" * 16, "discs": "A0101 A0102", "reasons": "E6", "idc": b"i" * 32,
         "expert_id": 7},
        {"pseud": b"\x01" * 16, "discs": "A0101", "reasons": "", "idc": b"j" * 32,
         "expert_id": 9},
    ])  # fmt: skip
    assert [m.pseudonym for m in members] == [b"\x01" * 16, b"\x02" * 16]
    assert members[1].discs == (b"A0101", b"A0102")
    assert members[1].reasons == (b"E6",)
    assert expert_of == {b"\x01" * 16: 9, b"\x02" * 16: 7}
