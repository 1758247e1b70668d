"""Generate the EDS-1 vectors (``python -m tests.vectors.generate_eds1 [OUT]``).

Deterministic: every "random" value is a SHA-256 of a fixed label, so the files never
change unless the algorithm does. ``tests/unit/core/test_eds1_vectors.py`` regenerates
them into a temporary folder and requires byte equality, then recomputes each vector
from its inputs alone.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from expert_draw.core import beacon, eds1, escrow
from expert_draw.core.eds1 import Member, Quota
from tests.vectors import archive_cases, bundle_cases, replay_cases
from tests.vectors.generate import write_json

HERE = Path(__file__).resolve().parent
OUT = HERE / "eds1"


def fixed(label: str, size: int = 32) -> bytes:
    """A fixed "random" value: the first ``size`` bytes of SHA-256(label)."""
    return hashlib.sha256(label.encode()).digest()[:size]


def encodings() -> dict[str, Any]:
    cases = [
        ("no fields", []),
        ("one empty field", [b""]),
        ("an empty list as a field", [eds1.enc()]),
        ("label and two fields", [b"EDS1/rank", bytes(range(16)), b"A0101"]),
        ("a list inside", [b"EDS1/leaf", b"\x01" * 16, eds1.enc(b"A01", b"B0203"), b"\x02" * 32]),
        ("u32(258) and u64(2^40 + 7) as two fields", [eds1.u32(258), eds1.u64(2**40 + 7)]),
        ("a UTF-8 field", ["标段1".encode()]),
    ]
    encoded = [{"description": d, "fields_hex": [f.hex() for f in fields], "enc_hex": eds1.enc(*fields).hex()}
               for d, fields in cases]  # fmt: skip
    rounds = [
        {"t": t, "round_at": eds1.round_at(t)}
        for t in (1692803367, 1692803369, 1692803370, 1790000000)
    ]
    times = [{"r": r, "time": eds1.round_time(r)} for r in (1, 2, 32398878)]
    return {"enc": encoded, "round_at": rounds, "time": times}


def _member_json(m: Member) -> dict[str, Any]:
    return {"pseudonym": m.pseudonym.hex(), "discs": [d.decode() for d in m.discs],
            "reasons": [r.decode() for r in m.reasons], "idc": m.idc.hex()}  # fmt: skip


def draw_vector(
    name: str,
    members: list[Member],
    quotas: dict[bytes, Quota],
    *,
    beacon: bool,
    with_members: bool = True,
    with_ranks: bool = True,
) -> dict[str, Any]:
    disciplines = sorted(quotas)
    pool_root, excluded_root = eds1.pool_roots(members)
    draw_id, params_hash, s = f"vec-{name}".encode(), fixed(f"{name} params"), fixed(f"{name} s")
    nonce = fixed(f"{name} nonce")
    r = 12_345_678 if beacon else 0
    rho = (
        hashlib.sha256(fixed(f"{name} sig") + fixed(f"{name} sig2", 16)).digest() if beacon else b""
    )
    seed = eds1.seed(draw_id, pool_root=pool_root, excluded_root=excluded_root,
                     params_hash=params_hash, s=s, r=r, rho=rho, nonce=nonce)  # fmt: skip
    order = eds1.orders(members, disciplines, lambda p: eds1.rank(seed, p))
    seated, reserve = eds1.panels(order, disciplines, quotas)
    vector: dict[str, Any] = {
        "quotas": [{"d": d.decode(), "k": quotas[d].k, "r": quotas[d].r} for d in disciplines],
        "pool_root": pool_root.hex(),
        "excluded_root": excluded_root.hex(),
        "seed_inputs": {
            "draw_id": draw_id.decode(),
            "params_hash": params_hash.hex(),
            "s": s.hex(),
            "r": r,
            "rho": rho.hex(),
            "nonce": nonce.hex(),
        },
        "seed": seed.hex(),
        "order_digest": eds1.order_digest(order, disciplines).hex(),
        "panels": [
            {
                "d": d.decode(),
                "panel": [p.hex() for p in seated[d]],
                "reserve": [p.hex() for p in reserve[d]],
            }
            for d in disciplines
        ],
    }
    if with_members:
        vector["members"] = [_member_json(m) for m in members]
        vector["leaves"] = [{"pseudonym": m.pseudonym.hex(), "leaf_input": m.leaf_input().hex()}
                            for m in sorted(members, key=lambda m: m.pseudonym)]  # fmt: skip
    if with_ranks:
        vector["ranks"] = {
            m.pseudonym.hex(): eds1.rank(seed, m.pseudonym).hex() for m in members if m.eligible
        }
        vector["orders"] = [
            {"d": d.decode(), "order": [p.hex() for p in order[d]]} for d in disciplines
        ]
    return vector


def small_salt_uuid(i: int) -> tuple[bytes, bytes]:
    """The salt and UUID bytes of small member ``i``."""
    return fixed(f"small salt {i}"), fixed(f"small uuid {i}", 16)


def small_members() -> list[Member]:
    specs = [
        (b"A010101",), (b"A010101",), (b"A010101", b"B0203"), (b"A010101",), (b"B0203",),
        (b"B0203", b"A010101"), (b"B0203",), (b"A010101",), (b"A010101",),
    ]  # fmt: skip
    members = []
    for i, discs in enumerate(specs):
        salt, uuid = small_salt_uuid(i)
        reasons = (b"A1", b"E6") if i == 3 else ()
        members.append(Member(fixed(f"small pseudonym {i}", 16), tuple(sorted(set(discs))), reasons,
                              eds1.identity_commitment(salt, uuid)))  # fmt: skip
    return members


LARGE_RULE = (
    "member i (0 <= i < 10000): pseudonym = SHA-256('large pseudonym ' + decimal i)[:16]; "
    "idc = SHA-256('large idc ' + decimal i); discs = ['A0101'] if i % 3 == 0, "
    "['A0101', 'C0808'] if i % 3 == 1, ['C0808'] if i % 3 == 2; reasons = ['E6'] if i % 97 == 0 "
    "else []. Labels are ASCII; decimal i has no leading zeros."
)


def large_members() -> list[Member]:
    members = []
    for i in range(10_000):
        discs = [(b"A0101",), (b"A0101", b"C0808"), (b"C0808",)][i % 3]
        reasons = (b"E6",) if i % 97 == 0 else ()
        members.append(
            Member(fixed(f"large pseudonym {i}", 16), discs, reasons, fixed(f"large idc {i}"))
        )
    return members


def ties() -> dict[str, Any]:
    """Orders when ranks tie (through the rank seam: HMAC ranks never tie in practice).

    Members are ordered by (rank, pseudonym), both bytewise; the test recomputes the
    orders and panels from the given ranks.
    """
    members = [
        Member(bytes([i]) * 16, (b"A01",) if i % 3 else (b"A01", b"B02"), (), fixed(f"idc {i}"))
        for i in (9, 3, 7, 1, 5, 2)
    ]
    shared = fixed("tied rank")
    ranks = {m.pseudonym: shared if m.pseudonym[0] % 2 else fixed(f"rank {m.pseudonym[0]}")
             for m in members}  # fmt: skip
    codes = [b"A01", b"B02"]
    order = eds1.orders(members, codes, ranks.__getitem__)
    quotas = {b"A01": Quota(2, 1), b"B02": Quota(1, 0)}
    panel, reserve = eds1.panels(order, codes, quotas)
    return {
        "members": [{"pseud": m.pseudonym.hex(), "discs": [d.decode() for d in m.discs],
                     "rank": ranks[m.pseudonym].hex()} for m in members],
        "quotas": {d.decode(): {"k": q.k, "r": q.r} for d, q in quotas.items()},
        "order": {d.decode(): [p.hex() for p in order[d]] for d in codes},
        "panel": {d.decode(): [p.hex() for p in panel[d]] for d in codes},
        "reserve": {d.decode(): [p.hex() for p in reserve[d]] for d in codes},
    }  # fmt: skip


def feasibility() -> list[dict[str, Any]]:
    pool = [Member(fixed(f"feasible {i}", 16), discs, (), fixed(f"feasible idc {i}"))
            for i, discs in enumerate([(b"A01",), (b"A01", b"B02"), (b"A01", b"B02"), (b"B02",), (b"A01",)])]  # fmt: skip
    pool.append(
        Member(fixed("feasible 5", 16), (b"A01", b"B02"), (b"E6",), fixed("feasible idc 5"))
    )
    cases = []
    cases_in: list[tuple[int, int, int, int, int, tuple[bytes, ...]]] = [
        (1, 1, 1, 0, 1, ()),
        (2, 1, 2, 0, 1, ()),
        (2, 0, 1, 0, 3, ()),
        (2, 0, 1, 0, 3, (b"A01",)),
        (3, 0, 1, 0, 1, ()),
    ]
    three = [Member(fixed(f"three {i}", 16), discs, (), fixed(f"three idc {i}"))
             for i, discs in enumerate([(b"A01", b"B02"), (b"A01", b"C03"), (b"B02", b"C03"),
                                        (b"A01", b"B02", b"C03"), (b"C03",), (b"A01",)])]  # fmt: skip
    for quotas3 in ({b"A01": Quota(1, 1), b"B02": Quota(1, 0), b"C03": Quota(1, 0)},
                    {b"A01": Quota(2, 0), b"B02": Quota(1, 1), b"C03": Quota(2, 0)}):  # fmt: skip
        verdict = eds1.shortfalls(three, sorted(quotas3), quotas3, 1)
        cases.append({
            "members": [_member_json(m) for m in three],
            "quotas": [{"d": d.decode(), "k": q.k, "r": q.r} for d, q in sorted(quotas3.items())],
            "min_pool_factor": 1, "waived": [],
            "verdict": [{"d": d.decode(), "n": n, "seats_ok": seats, "minimum_ok": minimum}
                        for d, (n, seats, minimum) in sorted(verdict.items())],
        })  # fmt: skip
    for ka, ra, kb, rb, factor, waived in cases_in:
        quotas = {b"A01": Quota(ka, ra), b"B02": Quota(kb, rb)}
        verdict = eds1.shortfalls(pool, sorted(quotas), quotas, factor, frozenset(waived))
        cases.append({
            "members": [_member_json(m) for m in pool],
            "quotas": [{"d": d.decode(), "k": q.k, "r": q.r} for d, q in sorted(quotas.items())],
            "min_pool_factor": factor,
            "waived": [d.decode() for d in waived],
            "verdict": [{"d": d.decode(), "n": n, "seats_ok": seats, "minimum_ok": minimum}
                        for d, (n, seats, minimum) in sorted(verdict.items())],
        })  # fmt: skip
    return cases


def _params_json(p: eds1.Params) -> dict[str, Any]:
    return {
        "draw_id": p.draw_id.decode(), "tender_ref": p.tender_ref.hex(), "supersedes": p.supersedes.decode(),
        "edition": p.edition.decode(), "edition_digest": p.edition_digest.hex(), "match_mode": p.match_mode.decode(),
        "disciplines": [{"d": d.code.decode(), "k": d.k, "r": d.r, "max_repl": d.max_repl} for d in p.disciplines],
        "repl_mode": p.repl_mode.decode(), "delta": p.delta, "margin_s": p.margin_s, "delta_b": p.delta_b,
        "min_pool_factor": p.min_pool_factor, "override_seq": p.override_seq,
        "drand_chain_hash": p.drand_chain_hash.hex(), "rules_digest": p.rules_digest.hex(),
        "code_digest": p.code_digest.hex(),
    }  # fmt: skip


def params_vectors() -> dict[str, Any]:
    tender = eds1.tender_ref(fixed("k_tender"), "ZB-2026-0017", "标段1")
    beacon = eds1.Params(
        draw_id=b"zb-2026-0017-1-a", tender_ref=tender, supersedes=b"", edition=b"2018",
        edition_digest=fixed("edition 2018"), match_mode=b"prefix",
        disciplines=(eds1.DisciplineParams(b"A0101", 3, 1, 2), eds1.DisciplineParams(b"C0808", 2, 1, 1)),
        repl_mode=b"A", delta=100, margin_s=30, delta_b=0, min_pool_factor=3, override_seq=0,
        drand_chain_hash=bytes.fromhex("52db9ba70e0cc0f6eaf7803dd07447a1f5477735fd3f661792ba94600c84e971"),
        rules_digest=fixed("policy"), code_digest=fixed("release"),
    )  # fmt: skip
    plain = eds1.Params(
        draw_id=b"zb-2026-0017-1-b", tender_ref=tender, supersedes=b"zb-2026-0017-1-a", edition=b"2018",
        edition_digest=fixed("edition 2018"), match_mode=b"exact",
        disciplines=(eds1.DisciplineParams(b"B02", 5, 0, 0),), repl_mode=b"A", delta=0, margin_s=0,
        delta_b=0, min_pool_factor=1, override_seq=42, drand_chain_hash=b"",
        rules_digest=fixed("policy"), code_digest=fixed("release"),
    )  # fmt: skip
    s = fixed("commit s")
    envelopes = [fixed("envelope 1", 80), fixed("envelope 2", 80)]
    record = eds1.commitment(
        beacon.draw_id, pool_root=fixed("pool"), n_elig=120, excluded_root=fixed("excluded"), n_excl=7,
        params_hash=beacon.hash(), c_s=eds1.secret_commitment(s), r=eds1.round_at(1_790_000_000) + 100,
        escrow=eds1.escrow_digest(envelopes),
    )  # fmt: skip
    good = beacon.encode()
    fields = eds1.dec(good)
    negatives = [
        ("wrong label", eds1.enc(b"EDS1/param", *fields[1:])),
        ("wrong spec version", eds1.enc(fields[0], b"EDS-2", *fields[2:])),
        ("a nineteenth field", eds1.enc(*fields, b"")),
        ("trailing byte", good + b"\x00"),
        ("a 5-byte u32 (delta)", eds1.enc(*fields[:10], b"\x00" * 5, *fields[11:])),
        ("disciplines not ascending", eds1.enc(*fields[:8], eds1.enc(*reversed(eds1.dec(fields[8]))), *fields[9:])),
        ("beacon-less params with a delta", eds1.enc(*fields[:15], b"", *fields[16:])),
        ("replacement mode C", eds1.enc(*fields[:9], b"C", *fields[10:])),
    ]  # fmt: skip
    return {
        "tender_ref": {
            "k_tender": fixed("k_tender").hex(),
            "tender_id": "ZB-2026-0017",
            "lot_id": "标段1",
            "tender_ref": tender.hex(),
        },
        "valid": [
            {
                "fields": _params_json(p),
                "params_hex": p.encode().hex(),
                "params_hash": p.hash().hex(),
            }
            for p in (beacon, plain)
        ],
        "commitment": {
            "s": s.hex(),
            "c_s": eds1.secret_commitment(s).hex(),
            "envelopes": [e.hex() for e in envelopes],
            "escrow_digest": eds1.escrow_digest(envelopes).hex(),
            "draw_id": beacon.draw_id.decode(),
            "pool_root": fixed("pool").hex(),
            "n_elig": 120,
            "excluded_root": fixed("excluded").hex(),
            "n_excl": 7,
            "params_hash": beacon.hash().hex(),
            "r": eds1.round_at(1_790_000_000) + 100,
            "commitment_hex": record.hex(),
            "commit_digest": eds1.sha256(record).hex(),
        },
        "invalid": [{"description": d, "params_hex": data.hex()} for d, data in negatives],
    }


# -- escrow ----------------------------------------------------------------------------

ESCROW_DRAW_ID = b"vec-escrow-1"
LOW_ORDER_POINT = bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800")


def x25519_public(private_raw: bytes) -> bytes:
    return X25519PrivateKey.from_private_bytes(private_raw).public_key().public_bytes_raw()


def _flip(data: bytes, at: int, mask: int = 1) -> bytes:
    out = bytearray(data)
    out[at] ^= mask
    return bytes(out)


def _seal_steps(pk: bytes, e_raw: bytes, draw_id: bytes, c_s: bytes, s: bytes) -> dict[str, str]:
    """Every intermediate value of one seal, computed with the primitives directly."""
    e_pub = x25519_public(e_raw)
    z = X25519PrivateKey.from_private_bytes(e_raw).exchange(X25519PublicKey.from_public_bytes(pk))
    info = eds1.enc(b"EDS1/escrow", draw_id, c_s)
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=e_pub + pk, info=info).derive(z)
    envelope = escrow.seal_from_parts(pk, e_raw, draw_id, c_s, s)
    _, _, ct = eds1.dec(envelope)
    return {"key_id": escrow.key_id(pk).hex(), "public_key": pk.hex(), "ephemeral_private": e_raw.hex(),
            "ephemeral_public": e_pub.hex(), "shared_secret": z.hex(), "hkdf_salt": (e_pub + pk).hex(),
            "hkdf_info": info.hex(), "key": key.hex(), "nonce": bytes(12).hex(),
            "aad": eds1.enc(b"EDS1/escrow", draw_id, c_s, pk).hex(), "ct": ct.hex(),
            "envelope": envelope.hex()}  # fmt: skip


def escrow_vectors() -> dict[str, Any]:
    s = fixed("escrow s")
    c_s = eds1.secret_commitment(s)
    draw_id = ESCROW_DRAW_ID
    supervisors = sorted(
        ((fixed(f"escrow supervisor {n} private key"), fixed(f"escrow ephemeral {n}")) for n in (1, 2)),
        key=lambda pair: escrow.key_id(x25519_public(pair[0])),
    )  # fmt: skip
    (sk1, e1), (sk2, _) = supervisors
    pk1, pk2 = (x25519_public(sk) for sk, _ in supervisors)
    seals = [_seal_steps(x25519_public(sk), e, draw_id, c_s, s) for sk, e in supervisors]
    envelopes = [bytes.fromhex(row["envelope"]) for row in seals]
    env1, env2 = envelopes
    key1, big_e, ct = eds1.dec(env1)
    other_s = fixed("escrow other s")

    def opening(description: str, sk: bytes, envelope: bytes, error: str, *,
                draw: bytes = draw_id, commit: bytes = c_s) -> dict[str, str]:  # fmt: skip
        return {"description": description, "private_key": sk.hex(), "envelope": envelope.hex(),
                "draw_id": draw.decode(), "c_s": commit.hex(), "error": error}  # fmt: skip

    open_invalid = [
        opening("another supervisor's key", sk2, env1, "KEY_ID"),
        opening("another supervisor's key, key id rewritten to it", sk2,
                eds1.enc(escrow.key_id(pk2), big_e, ct), "DECRYPT"),
        opening("key id: last bit flipped", sk1, eds1.enc(_flip(key1, 7), big_e, ct), "KEY_ID"),
        opening("E: first bit flipped", sk1, eds1.enc(key1, _flip(big_e, 0), ct), "DECRYPT"),
        opening("E: top bit flipped (same X25519 result, other HKDF salt)", sk1,
                eds1.enc(key1, _flip(big_e, 31, 0x80), ct), "DECRYPT"),
        opening("ct: first bit flipped", sk1, eds1.enc(key1, big_e, _flip(ct, 0)), "DECRYPT"),
        opening("ct: last bit of the tag flipped", sk1, eds1.enc(key1, big_e, _flip(ct, 47)), "DECRYPT"),
        opening("another draw_id", sk1, env1, "DECRYPT", draw=b"vec-escrow-2"),
        opening("another C_s", sk1, env1, "DECRYPT", commit=eds1.secret_commitment(other_s)),
        opening("E is a low-order point (all-zero shared secret)", sk1,
                eds1.enc(key1, LOW_ORDER_POINT, ct), "ZERO_SHARED_SECRET"),
        opening("E is zero (all-zero shared secret)", sk1, eds1.enc(key1, bytes(32), ct),
                "ZERO_SHARED_SECRET"),
        opening("sealed to the right C_s around another s: decrypts, then fails the commitment",
                sk1, escrow._seal(pk1, e1, draw_id, c_s, other_s), "COMMITMENT"),
        opening("one byte short", sk1, env1[:-1], "ENVELOPE_FORMAT"),
        opening("a trailing byte", sk1, env1 + b"\x00", "ENVELOPE_FORMAT"),
        opening("a 47-byte ct", sk1, eds1.enc(key1, big_e, ct[:47]), "ENVELOPE_FORMAT"),
        opening("a fourth field", sk1, env1 + eds1.enc(b""), "ENVELOPE_FORMAT"),
    ]  # fmt: skip

    def sealing(description: str, pk: bytes, error: str, *, secret: bytes = s) -> dict[str, str]:
        return {"description": description, "public_key": pk.hex(), "ephemeral_private": e1.hex(),
                "draw_id": draw_id.decode(), "c_s": c_s.hex(), "s": secret.hex(), "error": error}  # fmt: skip

    seal_invalid = [
        sealing("a low-order supervisor key (all-zero shared secret)", LOW_ORDER_POINT, "ZERO_SHARED_SECRET"),
        sealing("a 31-byte supervisor key", pk1[:31], "LENGTH"),
        sealing("s does not match C_s", pk1, "COMMITMENT", secret=other_s),
    ]  # fmt: skip

    def checking(
        description: str, items: list[bytes], keys: list[bytes] | None, error: str | None
    ) -> dict[str, Any]:
        return {"description": description, "envelopes": [e.hex() for e in items],
                "escrow_keys": None if keys is None else [k.hex() for k in keys], "error": error}  # fmt: skip

    checks = [
        checking("both envelopes, no key list", [env1, env2], None, None),
        checking("both envelopes, both keys (any order)", [env1, env2], [pk2, pk1], None),
        checking("one envelope, no key list", [env2], None, None),
        checking("no envelope", [], None, "NO_ENVELOPES"),
        checking("key ids descending", [env2, env1], None, "KEY_ORDER"),
        checking("one envelope twice", [env1, env1], None, "DUPLICATE_KEY_ID"),
        checking("no envelope for the second key", [env1], [pk1, pk2], "MISSING_ENVELOPE"),
        checking("an envelope for a key that is not listed", [env1, env2], [pk1], "UNKNOWN_KEY"),
        checking("a 47-byte ct", [eds1.enc(key1, big_e, ct[:47]), env2], None, "ENVELOPE_FORMAT"),
    ]  # fmt: skip
    return {
        "description": "s sealed to two supervisors' X25519 keys; supervisors and seals in key-id order",
        "draw_id": draw_id.decode(), "s": s.hex(), "c_s": c_s.hex(),
        "supervisors": [{"private_key": sk.hex(), "public_key": x25519_public(sk).hex(),
                         "key_id": escrow.key_id(x25519_public(sk)).hex()} for sk, _ in supervisors],
        "seals": seals, "envelopes": [e.hex() for e in envelopes],
        "escrow_digest": eds1.escrow_digest(envelopes).hex(),
        "open_invalid": open_invalid, "seal_invalid": seal_invalid, "check": checks,
    }  # fmt: skip


# -- beacon ----------------------------------------------------------------------------

RECORDED_ROUNDS = {  # draw-protocol.md §4 Beacon: quicknet rounds as the relays serve them
    123: "b75c69d0b72a5d906e854e808ba7e2accb1542ac355ae486d591aa9d43765482e26cd02df835d3546d23c4b13e0dfc92",
    657_413: "b713718a38ae728dfd477991af2822e08d2f305e47718cef9f7848ce4050e7be41076862b98fad56e91a6b85b89cd97b",
}  # fmt: skip


def beacon_vectors() -> dict[str, Any]:
    rounds = [
        {"round": r, "time": eds1.round_time(r), "message": hashlib.sha256(eds1.u64(r)).hexdigest(),
         "sig": sig, "rho": hashlib.sha256(bytes.fromhex(sig)).hexdigest()}
        for r, sig in sorted(RECORDED_ROUNDS.items())
    ]  # fmt: skip
    sig123, sig657 = (bytes.fromhex(RECORDED_ROUNDS[r]) for r in (123, 657_413))
    invalid = [
        ("round 124 with round 123's signature", 124, sig123, "SIGNATURE"),
        ("round 657,412 with round 657,413's signature", 657_412, sig657, "SIGNATURE"),
        ("round 123 with round 657,413's signature", 123, sig657, "SIGNATURE"),
        ("round 123, last bit of the signature flipped", 123, _flip(sig123, 47), "SIGNATURE"),
        ("round 657,413, first bit of the signature flipped", 657_413, _flip(sig657, 0, 0x80), "SIGNATURE"),
        ("round 657,413, the sign flag (0x20 of byte 0) flipped: the negated point", 657_413,
         _flip(sig657, 0, 0x20), "SIGNATURE"),
        ("round 123, a 47-byte signature", 123, sig123[:47], "SIGNATURE_LENGTH"),
        ("round 123, a 49-byte signature", 123, sig123 + b"\x00", "SIGNATURE_LENGTH"),
        ("round 0", 0, sig123, "ROUND"),
    ]  # fmt: skip
    text = RECORDED_ROUNDS[123]
    bad_text = [
        ("uppercase hex", text.upper()),
        ("95 digits", text[:-1]),
        ("94 digits (47 bytes)", text[:-2]),
        ("a trailing newline", text + "\n"),
        ("a 0x prefix", "0x" + text[2:]),
        ("a non-hex letter", text[:-1] + "g"),
    ]
    return {
        "chain": beacon.QUICKNET.to_json(),
        "dst": beacon.DST.decode(),
        "message_rule": "SHA-256(u64be(round))",
        "rounds": rounds,
        "round_at": {"utc": "2026-04-20T00:00:00Z", "t": 1_776_643_200, "round": eds1.round_at(1_776_643_200)},
        "invalid": [{"description": d, "round": r, "sig": sig.hex(), "error": error}
                    for d, r, sig, error in invalid],
        "invalid_signature_hex": [{"description": d, "text": t, "error": "SIGNATURE_FORMAT"}
                                  for d, t in bad_text],
    }  # fmt: skip


def generate(out: Path) -> None:
    """Write every EDS-1 vector file into ``out``."""
    write_json(out / "encodings.json", encodings())
    small = draw_vector(
        "small", small_members(), {b"A010101": Quota(2, 1), b"B0203": Quota(1, 1)}, beacon=True
    )
    small["description"] = (
        "9 members, member 3 excluded (A1, E6), members 2 and 5 in both disciplines; beacon"
    )
    for i, row in enumerate(small["members"]):  # members are listed in generation order
        salt, uuid = small_salt_uuid(i)
        row["salt"], row["uuid_bytes"] = salt.hex(), uuid.hex()
    write_json(out / "small.json", small)
    large = draw_vector("large", large_members(), {b"A0101": Quota(5, 2), b"C0808": Quota(3, 2)},
                        beacon=False, with_members=False, with_ranks=False)  # fmt: skip
    large["member_rule"] = LARGE_RULE
    large["description"] = "10,000 members generated by member_rule; no beacon (R = 0, rho empty)"
    write_json(out / "large.json", large)
    write_json(out / "feasibility.json", feasibility())
    write_json(out / "ties.json", ties())
    write_json(out / "params.json", params_vectors())
    write_json(out / "escrow.json", escrow_vectors())
    write_json(out / "beacon.json", beacon_vectors())
    write_json(out / "bundles.json", bundle_cases.vectors())


def main(argv: list[str]) -> int:
    """Generate into ``argv[0]`` (default: tests/vectors/eds1)."""
    generate(Path(argv[0]) if argv else OUT)
    if not argv:  # the §14 archive and §15 replay vectors live beside eds1/
        archive_cases.main([])
        replay_cases.main([])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
