"""The EDS-1 vectors reproduce from their generator, and each recomputes from its inputs."""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from audit_log.note import Verifier
from expert_draw.core import beacon, eds1, escrow
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


def test_escrow() -> None:
    v = load("escrow.json")
    draw_id, s, c_s = v["draw_id"].encode(), bytes.fromhex(v["s"]), bytes.fromhex(v["c_s"])
    assert eds1.secret_commitment(s) == c_s
    keys = []
    for sup in v["supervisors"]:
        sk = X25519PrivateKey.from_private_bytes(bytes.fromhex(sup["private_key"]))
        pk = sk.public_key().public_bytes_raw()
        assert (pk.hex(), hashlib.sha256(pk).hexdigest()[:16]) == (sup["public_key"], sup["key_id"])
        keys.append(pk)
    assert [sup["key_id"] for sup in v["supervisors"]] == sorted(
        seal["key_id"] for seal in v["seals"]
    )
    for seal in v["seals"]:  # every step from the spec text, with the primitives directly
        pk, e_raw = bytes.fromhex(seal["public_key"]), bytes.fromhex(seal["ephemeral_private"])
        e = X25519PrivateKey.from_private_bytes(e_raw)
        e_pub = e.public_key().public_bytes_raw()
        z = e.exchange(X25519PublicKey.from_public_bytes(pk))
        info = eds1.enc(b"EDS1/escrow", draw_id, c_s)
        aad = eds1.enc(b"EDS1/escrow", draw_id, c_s, pk)
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=e_pub + pk, info=info).derive(z)
        ct = ChaCha20Poly1305(key).encrypt(bytes(12), s, aad)
        envelope = eds1.enc(hashlib.sha256(pk).digest()[:8], e_pub, ct)
        assert [e_pub.hex(), z.hex(), (e_pub + pk).hex(), info.hex(), key.hex(), aad.hex(), ct.hex(), envelope.hex()] == [
            seal["ephemeral_public"], seal["shared_secret"], seal["hkdf_salt"], seal["hkdf_info"], seal["key"],
            seal["aad"], seal["ct"], seal["envelope"]]  # fmt: skip
        assert seal["nonce"] == "00" * 12
        assert escrow.seal_from_parts(pk, e_raw, draw_id, c_s, s) == envelope
    envelopes = [bytes.fromhex(e) for e in v["envelopes"]]
    assert v["envelopes"] == [seal["envelope"] for seal in v["seals"]]
    assert eds1.escrow_digest(envelopes).hex() == v["escrow_digest"]
    assert escrow.seal_all_from_parts(keys, [bytes.fromhex(x["ephemeral_private"]) for x in v["seals"]],
                                      draw_id, c_s, s) == envelopes  # fmt: skip
    for sup, envelope in zip(v["supervisors"], envelopes, strict=True):
        assert escrow.open_envelope(bytes.fromhex(sup["private_key"]), envelope, draw_id, c_s) == s


def expect(error: str | None, call: Any, *args: Any) -> None:
    if error is None:
        call(*args)
        return
    with pytest.raises(escrow.EscrowError) as caught:
        call(*args)
    assert caught.value.reason == error


def test_escrow_rejections() -> None:
    v = load("escrow.json")

    def b(case: dict[str, Any], key: str) -> bytes:
        return bytes.fromhex(case[key])

    for case in v["open_invalid"]:
        with pytest.raises(escrow.EscrowError) as caught:
            escrow.open_envelope(
                b(case, "private_key"),
                b(case, "envelope"),
                case["draw_id"].encode(),
                b(case, "c_s"),
            )
        assert caught.value.reason == case["error"], case["description"]
    for case in v["seal_invalid"]:
        with pytest.raises(escrow.EscrowError) as caught:
            escrow.seal_from_parts(b(case, "public_key"), b(case, "ephemeral_private"), case["draw_id"].encode(),
                                   b(case, "c_s"), b(case, "s"))  # fmt: skip
        assert caught.value.reason == case["error"], case["description"]
    for case in v["check"]:
        keys = (
            None if case["escrow_keys"] is None else [bytes.fromhex(k) for k in case["escrow_keys"]]
        )
        expect(
            case["error"],
            escrow.check_envelopes,
            [bytes.fromhex(e) for e in case["envelopes"]],
            keys,
        )


def test_beacon() -> None:
    v = load("beacon.json")
    assert v["chain"] == beacon.QUICKNET.to_json()
    assert beacon.Chain.from_json(v["chain"]) == beacon.QUICKNET
    assert v["dst"].encode() == beacon.DST
    for case in v["rounds"]:
        r, sig = case["round"], beacon.parse_signature_hex(case["sig"])
        assert (
            hashlib.sha256(r.to_bytes(8, "big")).hexdigest()
            == case["message"]
            == beacon.message(r).hex()
        )
        assert (
            eds1.round_time(r)
            == case["time"]
            == v["chain"]["genesis_time"] + v["chain"]["period"] * (r - 1)
        )
        assert beacon.verify_round(r, sig).hex() == case["rho"] == hashlib.sha256(sig).hexdigest()
    assert eds1.round_at(v["round_at"]["t"]) == v["round_at"]["round"]
    for case in v["invalid"]:
        with pytest.raises(beacon.BeaconError) as caught:
            beacon.verify_round(case["round"], bytes.fromhex(case["sig"]))
        assert caught.value.reason == case["error"], case["description"]
    for case in v["invalid_signature_hex"]:
        with pytest.raises(beacon.BeaconError) as caught:
            beacon.parse_signature_hex(case["text"])
        assert caught.value.reason == case["error"], case["description"]


def test_bundles() -> None:
    """Each bundle case reaches its verdict: exit 0/3 with the stated seats and findings,
    exit 1 at the named check of §11, or exit 4 for what v1 does not support."""
    from expert_draw.core.verify_draw import (
        DrawTrust,
        DrawVerificationError,
        UnsupportedBundleError,
        verify_bundle,
    )

    data = load("bundles.json")
    pins = data["trust"]
    trust = DrawTrust(pins["origin"], (Verifier.parse(pins["log_vkey"]),), pins["delta_min"],
                      pins["require_beacon"])  # fmt: skip
    key = bytes.fromhex(data["escrow_private_key"])
    names = [case["name"] for case in data["cases"]]
    assert len(names) == len(set(names)) >= 25
    for case in data["cases"]:
        body, expect = case["bundle"].encode(), case["expect"]
        if expect["exit"] == 4:
            with pytest.raises(UnsupportedBundleError):
                verify_bundle(body, trust)
        elif expect["exit"] == 1:
            with pytest.raises(DrawVerificationError) as caught:
                verify_bundle(body, trust, escrow_private=key)
            assert int(caught.value.check) == expect["check"], case["name"]
        else:
            report = verify_bundle(body, trust, escrow_private=key)
            assert report.exit_code == expect["exit"], case["name"]
            assert (report.state, report.seats, report.findings) == (
                expect["state"],
                expect["seats"],
                expect["findings"],
            )


def test_ties() -> None:
    """Equal ranks fall back to the pseudonym, bytewise, in orders and panels."""
    data = load("ties.json")
    members = [Member(bytes.fromhex(m["pseud"]), tuple(d.encode() for d in m["discs"]), (),
                      bytes(32)) for m in data["members"]]  # fmt: skip
    ranks = {bytes.fromhex(m["pseud"]): bytes.fromhex(m["rank"]) for m in data["members"]}
    codes = [b"A01", b"B02"]
    order = eds1.orders(members, codes, ranks.__getitem__)
    assert {d.decode(): [p.hex() for p in o] for d, o in order.items()} == data["order"]
    tied = [bytes.fromhex(p) for p in data["order"]["A01"]
            if ranks[bytes.fromhex(p)] == ranks[members[0].pseudonym]]  # fmt: skip
    assert tied == sorted(tied)
    quotas = {d.encode(): Quota(q["k"], q["r"]) for d, q in data["quotas"].items()}
    panel, reserve = eds1.panels(order, codes, quotas)
    assert {d.decode(): [p.hex() for p in x] for d, x in panel.items()} == data["panel"]
    assert {d.decode(): [p.hex() for p in x] for d, x in reserve.items()} == data["reserve"]
