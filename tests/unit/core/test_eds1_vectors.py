"""The EDS-1 vectors reproduce from their generator, and each recomputes from its inputs."""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

import pytest

from expert_draw.core import eds1
from expert_draw.core.eds1 import Member, Quota
from tests.vectors import generate_eds1

if TYPE_CHECKING:
    from pathlib import Path

VECTORS = generate_eds1.OUT


def load(name: str) -> Any:
    return json.loads((VECTORS / name).read_text(encoding="utf-8"))


def test_vectors_regenerate_byte_for_byte(tmp_path: Path) -> None:
    generate_eds1.generate(tmp_path)
    committed = sorted(p.name for p in VECTORS.iterdir())
    assert committed == sorted(p.name for p in tmp_path.iterdir())
    for name in committed:
        assert (VECTORS / name).read_bytes() == (tmp_path / name).read_bytes(), name


def test_encodings() -> None:
    vectors = load("encodings.json")
    for case in vectors["enc"]:
        fields = [bytes.fromhex(f) for f in case["fields_hex"]]
        assert eds1.enc(*fields).hex() == case["enc_hex"], case["description"]
    assert all(eds1.round_at(c["t"]) == c["round_at"] for c in vectors["round_at"])
    assert all(eds1.round_time(c["r"]) == c["time"] for c in vectors["time"])


def members_of(rows: list[dict[str, Any]]) -> list[Member]:
    return [Member(bytes.fromhex(m["pseudonym"]), tuple(d.encode() for d in m["discs"]),
                   tuple(r.encode() for r in m["reasons"]), bytes.fromhex(m["idc"])) for m in rows]  # fmt: skip


def replay(vector: dict[str, Any], members: list[Member]) -> None:
    """Recompute a draw vector from its inputs alone and compare every output."""
    quotas = {q["d"].encode(): Quota(q["k"], q["r"]) for q in vector["quotas"]}
    disciplines = sorted(quotas)
    pool_root, excluded_root = eds1.pool_roots(members)
    assert (pool_root.hex(), excluded_root.hex()) == (vector["pool_root"], vector["excluded_root"])
    inputs = vector["seed_inputs"]
    seed = eds1.seed(inputs["draw_id"].encode(), pool_root=pool_root, excluded_root=excluded_root,
                     params_hash=bytes.fromhex(inputs["params_hash"]), s=bytes.fromhex(inputs["s"]),
                     r=inputs["r"], rho=bytes.fromhex(inputs["rho"]), nonce=bytes.fromhex(inputs["nonce"]))  # fmt: skip
    assert seed.hex() == vector["seed"]
    order = eds1.orders(members, disciplines, lambda p: eds1.rank(seed, p))
    assert eds1.order_digest(order, disciplines).hex() == vector["order_digest"]
    seated, reserve = eds1.panels(order, disciplines, quotas)
    assert [{"d": d.decode(), "panel": [p.hex() for p in seated[d]], "reserve": [p.hex() for p in reserve[d]]}
            for d in disciplines] == vector["panels"]  # fmt: skip


def test_small_draw() -> None:
    vector = load("small.json")
    members = members_of(vector["members"])
    for row in vector["members"]:
        assert (
            eds1.identity_commitment(
                bytes.fromhex(row["salt"]), bytes.fromhex(row["uuid_bytes"])
            ).hex()
            == row["idc"]
        )
    for leaf in vector["leaves"]:
        [m] = [m for m in members if m.pseudonym.hex() == leaf["pseudonym"]]
        assert m.leaf_input().hex() == leaf["leaf_input"]
    seed = bytes.fromhex(vector["seed"])
    assert vector["ranks"] == {
        m.pseudonym.hex(): eds1.rank(seed, m.pseudonym).hex() for m in members if m.eligible
    }
    for entry in vector["orders"]:  # ascending by (rank, pseudonym)
        keys = [(vector["ranks"][p], p) for p in entry["order"]]
        assert keys == sorted(keys)
    replay(vector, members)


def test_large_draw_from_its_written_rule() -> None:
    vector = load("large.json")
    assert "SHA-256('large pseudonym '" in vector["member_rule"]

    def h(label: str) -> bytes:
        return hashlib.sha256(label.encode("ascii")).digest()

    members = [
        Member(h(f"large pseudonym {i}")[:16], [(b"A0101",), (b"A0101", b"C0808"), (b"C0808",)][i % 3],
               (b"E6",) if i % 97 == 0 else (), h(f"large idc {i}"))
        for i in range(10_000)
    ]  # fmt: skip
    replay(vector, members)


def test_feasibility() -> None:
    for case in load("feasibility.json"):
        members = members_of(case["members"])
        quotas = {q["d"].encode(): Quota(q["k"], q["r"]) for q in case["quotas"]}
        waived = frozenset(d.encode() for d in case["waived"])
        verdict = eds1.shortfalls(members, sorted(quotas), quotas, case["min_pool_factor"], waived)
        assert [{"d": d.decode(), "n": n, "seats_ok": a, "minimum_ok": b} for d, (n, a, b) in sorted(verdict.items())] \
            == case["verdict"]  # fmt: skip


def test_params_and_commitment() -> None:
    vectors = load("params.json")
    t = vectors["tender_ref"]
    assert (
        eds1.tender_ref(bytes.fromhex(t["k_tender"]), t["tender_id"], t["lot_id"]).hex()
        == t["tender_ref"]
    )
    for case in vectors["valid"]:
        params = eds1.Params.decode(bytes.fromhex(case["params_hex"]))
        assert params.hash().hex() == case["params_hash"]
        f = case["fields"]
        assert (
            params.draw_id.decode(),
            params.supersedes.decode(),
            params.delta,
            params.override_seq,
        ) == (f["draw_id"], f["supersedes"], f["delta"], f["override_seq"])
        assert [(d.code.decode(), d.k, d.r, d.max_repl) for d in params.disciplines] == [
            (d["d"], d["k"], d["r"], d["max_repl"]) for d in f["disciplines"]
        ]
    for case in vectors["invalid"]:
        with pytest.raises(eds1.EncodingError):
            eds1.Params.decode(bytes.fromhex(case["params_hex"]))
    c = vectors["commitment"]
    assert eds1.secret_commitment(bytes.fromhex(c["s"])).hex() == c["c_s"]
    assert (
        eds1.escrow_digest([bytes.fromhex(e) for e in c["envelopes"]]).hex() == c["escrow_digest"]
    )
    record = eds1.commitment(
        c["draw_id"].encode(), pool_root=bytes.fromhex(c["pool_root"]), n_elig=c["n_elig"],
        excluded_root=bytes.fromhex(c["excluded_root"]), n_excl=c["n_excl"],
        params_hash=bytes.fromhex(c["params_hash"]), c_s=bytes.fromhex(c["c_s"]), r=c["r"],
        escrow=bytes.fromhex(c["escrow_digest"]),
    )  # fmt: skip
    assert record.hex() == c["commitment_hex"]
    assert eds1.sha256(record).hex() == c["commit_digest"]
