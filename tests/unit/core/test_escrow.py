"""EDS-1 escrow: seal, parse, open, and the structural rules of verifier check 6."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from expert_draw.core import eds1, escrow
from expert_draw.core.escrow import Envelope, EscrowError

DRAW_ID = b"zb-2026-0017-1-a"
S = hashlib.sha256(b"test s").digest()
C_S = eds1.secret_commitment(S)

# Low-order X25519 u-coordinates (RFC 7748 §6.1 and the usual blocklist): each makes the
# shared secret all zero whatever the private key.
LOW_ORDER = [
    bytes(32),
    (1).to_bytes(32, "little"),
    bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
    bytes.fromhex("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"),
    bytes.fromhex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
    bytes.fromhex("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
]


def private(label: str) -> bytes:
    return hashlib.sha256(f"escrow test {label}".encode()).digest()


def public(private_raw: bytes) -> bytes:
    return X25519PrivateKey.from_private_bytes(private_raw).public_key().public_bytes_raw()


SK1, SK2 = private("supervisor 1"), private("supervisor 2")
PK1, PK2 = public(SK1), public(SK2)
E1, E2 = private("ephemeral 1"), private("ephemeral 2")


def reference_seal(
    pk: bytes, e_raw: bytes, draw_id: bytes, c_s: bytes, s: bytes, *, nonce: bytes = bytes(12)
) -> bytes:
    """The seal written out from the spec text alone, with the primitives used directly."""

    def field(x: bytes) -> bytes:
        return len(x).to_bytes(4, "big") + x

    e = X25519PrivateKey.from_private_bytes(e_raw)
    e_pub = e.public_key().public_bytes_raw()
    z = e.exchange(X25519PublicKey.from_public_bytes(pk))
    info = field(b"EDS1/escrow") + field(draw_id) + field(c_s)
    k = HKDF(algorithm=hashes.SHA256(), length=32, salt=e_pub + pk, info=info).derive(z)
    aad = info + field(pk)
    ct = ChaCha20Poly1305(k).encrypt(nonce, s, aad)
    return field(hashlib.sha256(pk).digest()[:8]) + field(e_pub) + field(ct)


def sealed(pk: bytes = PK1, e: bytes = E1) -> bytes:
    return escrow.seal_from_parts(pk, e, DRAW_ID, C_S, S)


def rejects(reason: str, call: object, *args: object) -> EscrowError:
    with pytest.raises(EscrowError) as caught:
        call(*args)  # type: ignore[operator]
    assert caught.value.reason == reason, caught.value
    assert str(caught.value)
    return caught.value


def flip(data: bytes, at: int, mask: int = 1) -> bytes:
    out = bytearray(data)
    out[at] ^= mask
    return bytes(out)


# -- seal and open ------------------------------------------------------------------


def test_key_id_is_the_first_eight_bytes_of_the_key_hash() -> None:
    assert escrow.key_id(PK1) == hashlib.sha256(PK1).digest()[:8]
    rejects("LENGTH", escrow.key_id, PK1[:31])


def test_seal_matches_the_spec_written_out() -> None:
    envelope = sealed()
    assert envelope == reference_seal(PK1, E1, DRAW_ID, C_S, S)
    assert len(envelope) == 4 + 8 + 4 + 32 + 4 + 48
    parsed = escrow.parse_envelope(envelope)
    assert parsed == Envelope(escrow.key_id(PK1), public(E1), parsed.ct)
    assert parsed.encode() == envelope
    assert sealed() == envelope  # deterministic given the ephemeral key
    assert sealed(e=E2) != envelope


def test_round_trip_for_each_supervisor() -> None:
    for sk, pk, e in ((SK1, PK1, E1), (SK2, PK2, E2)):
        assert escrow.open_envelope(sk, sealed(pk, e), DRAW_ID, C_S) == S


def test_seal_all_orders_by_key_id() -> None:
    envelopes = escrow.seal_all_from_parts([PK1, PK2], [E1, E2], DRAW_ID, C_S, S)
    expected = sorted([sealed(PK1, E1), sealed(PK2, E2)], key=lambda env: env[4:12])
    assert envelopes == expected
    assert escrow.seal_all_from_parts([PK2, PK1], [E2, E1], DRAW_ID, C_S, S) == expected
    parsed = escrow.check_envelopes(envelopes, [PK2, PK1])
    assert [p.key_id for p in parsed] == sorted([escrow.key_id(PK1), escrow.key_id(PK2)])
    assert escrow.check_envelopes(envelopes, None) == parsed
    for sk in (SK1, SK2):
        [mine] = [env for env in envelopes if env[4:12] == escrow.key_id(public(sk))]
        assert escrow.open_envelope(sk, mine, DRAW_ID, C_S) == S


def test_seal_all_rejections() -> None:
    rejects("NO_ENVELOPES", escrow.seal_all_from_parts, [], [], DRAW_ID, C_S, S)
    rejects("LENGTH", escrow.seal_all_from_parts, [PK1, PK2], [E1], DRAW_ID, C_S, S)
    rejects("DUPLICATE_KEY", escrow.seal_all_from_parts, [PK1, PK1], [E1, E2], DRAW_ID, C_S, S)
    rejects("LENGTH", escrow.seal_all_from_parts, [PK1[:31]], [E1], DRAW_ID, C_S, S)


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        ((PK1[:31], E1, DRAW_ID, C_S, S), "LENGTH"),
        ((PK1 + b"\x00", E1, DRAW_ID, C_S, S), "LENGTH"),
        ((PK1, E1[:31], DRAW_ID, C_S, S), "LENGTH"),
        ((PK1, E1, b"", C_S, S), "DRAW_ID"),
        ((PK1, E1, b"A" * 5, C_S, S), "DRAW_ID"),
        ((PK1, E1, b"a" * 57, C_S, S), "DRAW_ID"),
        ((PK1, E1, DRAW_ID, C_S[:31], S), "LENGTH"),
        ((PK1, E1, DRAW_ID, C_S, S[:31]), "LENGTH"),
        ((PK1, E1, DRAW_ID, C_S, flip(S, 0)), "COMMITMENT"),
    ],
)
def test_seal_rejects_bad_inputs(args: tuple[bytes, ...], reason: str) -> None:
    rejects(reason, escrow.seal_from_parts, *args)


@pytest.mark.parametrize("point", LOW_ORDER)
def test_seal_to_a_low_order_key_is_refused(point: bytes) -> None:
    rejects("ZERO_SHARED_SECRET", escrow.seal_from_parts, point, E1, DRAW_ID, C_S, S)


class ZeroExchange:
    """A backend that, unlike OpenSSL, returns the all-zero secret instead of failing."""

    def exchange(self, peer_public_key: X25519PublicKey, /) -> bytes:
        return bytes(32)


def test_all_zero_secret_is_refused_even_when_the_backend_returns_it() -> None:
    rejects("ZERO_SHARED_SECRET", escrow._shared_secret, ZeroExchange(), PK1)


# -- parse ----------------------------------------------------------------------------


def test_parse_is_strict() -> None:
    good = sealed()
    key, e, ct = eds1.dec(good)
    for bad in (
        b"",
        good[:-1],
        good + b"\x00",
        good + eds1.enc(b""),
        eds1.enc(key, e),
        eds1.enc(key, e, ct, b""),
        eds1.enc(key[:7], e, ct),
        eds1.enc(key + b"\x00", e, ct),
        eds1.enc(key, e[:31], ct),
        eds1.enc(key, e, ct[:47]),
        eds1.enc(key, e, ct + b"\x00"),
        eds1.enc(key, e + ct[:1], ct[1:]),
        good[:3],
    ):
        rejects("ENVELOPE_FORMAT", escrow.parse_envelope, bad)


# -- open: every rejection -----------------------------------------------------------


def test_open_rejects_bad_inputs() -> None:
    env = sealed()
    rejects("LENGTH", escrow.open_envelope, SK1[:31], env, DRAW_ID, C_S)
    rejects("DRAW_ID", escrow.open_envelope, SK1, env, b"Zb", C_S)
    rejects("LENGTH", escrow.open_envelope, SK1, env, DRAW_ID, C_S + b"\x00")
    rejects("ENVELOPE_FORMAT", escrow.open_envelope, SK1, env[:-1], DRAW_ID, C_S)


def test_open_with_the_wrong_key() -> None:
    env = sealed()
    error = rejects("KEY_ID", escrow.open_envelope, SK2, env, DRAW_ID, C_S)
    assert escrow.key_id(PK1).hex() in str(error)
    # Even with the key id rewritten to the wrong key's, the AEAD refuses it.
    _, e, ct = eds1.dec(env)
    forged = eds1.enc(escrow.key_id(PK2), e, ct)
    rejects("DECRYPT", escrow.open_envelope, SK2, forged, DRAW_ID, C_S)


def test_open_with_a_tampered_key_id() -> None:
    key, e, ct = eds1.dec(sealed())
    for at in range(8):
        rejects("KEY_ID", escrow.open_envelope, SK1, eds1.enc(flip(key, at), e, ct), DRAW_ID, C_S)


def test_open_with_a_tampered_ciphertext() -> None:
    key, e, ct = eds1.dec(sealed())
    for at in range(48):  # the encrypted s and the tag
        for mask in (0x01, 0x80):
            tampered = eds1.enc(key, e, flip(ct, at, mask))
            rejects("DECRYPT", escrow.open_envelope, SK1, tampered, DRAW_ID, C_S)


def test_open_with_a_tampered_ephemeral_key() -> None:
    key, e, ct = eds1.dec(sealed())
    for at in range(32):
        rejects("DECRYPT", escrow.open_envelope, SK1, eds1.enc(key, flip(e, at), ct), DRAW_ID, C_S)
    # X25519 ignores the top bit of E, so z is unchanged; E's bytes are in the HKDF salt.
    top = flip(e, 31, 0x80)
    z = X25519PrivateKey.from_private_bytes(SK1).exchange(X25519PublicKey.from_public_bytes(top))
    assert z == X25519PrivateKey.from_private_bytes(E1).exchange(
        X25519PublicKey.from_public_bytes(PK1)
    )
    rejects("DECRYPT", escrow.open_envelope, SK1, eds1.enc(key, top, ct), DRAW_ID, C_S)
    # Another key pair's public key in place of E is refused too.
    other = public(private("substitute"))
    rejects("DECRYPT", escrow.open_envelope, SK1, eds1.enc(key, other, ct), DRAW_ID, C_S)


@pytest.mark.parametrize("point", LOW_ORDER)
def test_open_with_a_low_order_ephemeral_key(point: bytes) -> None:
    key, _, ct = eds1.dec(sealed())
    envelope = eds1.enc(key, point, ct)
    rejects("ZERO_SHARED_SECRET", escrow.open_envelope, SK1, envelope, DRAW_ID, C_S)


def test_open_for_another_draw_or_commitment() -> None:
    env = sealed()
    rejects("DECRYPT", escrow.open_envelope, SK1, env, b"zb-2026-0017-1-b", C_S)
    rejects("DECRYPT", escrow.open_envelope, SK1, env, DRAW_ID, flip(C_S, 31))
    other_s = hashlib.sha256(b"other s").digest()
    rejects("DECRYPT", escrow.open_envelope, SK1, env, DRAW_ID, eds1.secret_commitment(other_s))


def test_open_checks_the_secret_against_c_s() -> None:
    """An envelope sealed to the right C_s around another secret decrypts, then fails."""
    other_s = hashlib.sha256(b"other s").digest()
    lying = reference_seal(PK1, E1, DRAW_ID, C_S, other_s)
    error = rejects("COMMITMENT", escrow.open_envelope, SK1, lying, DRAW_ID, C_S)
    assert "C_s" in str(error)
    assert escrow._seal(PK1, E1, DRAW_ID, C_S, other_s) == lying


# -- check 6: structure --------------------------------------------------------------


def two() -> list[bytes]:
    return escrow.seal_all_from_parts([PK1, PK2], [E1, E2], DRAW_ID, C_S, S)


def test_check_accepts_one_envelope_without_keys() -> None:
    env = sealed()
    assert escrow.check_envelopes([env], None) == (escrow.parse_envelope(env),)
    assert escrow.check_envelopes([env], [PK1]) == (escrow.parse_envelope(env),)


def test_check_structure() -> None:
    a, b = two()
    rejects("NO_ENVELOPES", escrow.check_envelopes, [], None)
    rejects("NO_ENVELOPES", escrow.check_envelopes, [], [PK1])
    rejects("KEY_ORDER", escrow.check_envelopes, [b, a], None)
    rejects("DUPLICATE_KEY_ID", escrow.check_envelopes, [a, a], None)
    rejects("DUPLICATE_KEY_ID", escrow.check_envelopes, [a, a, b], None)
    # Two envelopes for one key, each valid on its own, still share a key id.
    first_key, first_e = (PK1, E1) if eds1.dec(a)[0] == escrow.key_id(PK1) else (PK2, E2)
    again = escrow.seal_from_parts(first_key, E2 if first_e == E1 else E1, DRAW_ID, C_S, S)
    assert again != a
    rejects("DUPLICATE_KEY_ID", escrow.check_envelopes, sorted([a, again]), None)
    error = rejects("ENVELOPE_FORMAT", escrow.check_envelopes, [a, b[:-1]], None)
    assert str(error).startswith("envelope 1: ")


def test_check_against_the_escrow_keys() -> None:
    a, b = two()
    first_key = PK1 if eds1.dec(a)[0] == escrow.key_id(PK1) else PK2
    second_key = PK2 if first_key == PK1 else PK1
    error = rejects("MISSING_ENVELOPE", escrow.check_envelopes, [a], [PK1, PK2])
    assert escrow.key_id(second_key).hex() in str(error)
    rejects("MISSING_ENVELOPE", escrow.check_envelopes, [b], [PK1, PK2])
    error = rejects("UNKNOWN_KEY", escrow.check_envelopes, [a, b], [first_key])
    assert escrow.key_id(second_key).hex() in str(error)
    rejects("UNKNOWN_KEY", escrow.check_envelopes, [a], [])
    third = public(private("supervisor 3"))
    rejects("MISSING_ENVELOPE", escrow.check_envelopes, [a, b], [PK1, PK2, third])
    rejects("DUPLICATE_KEY", escrow.check_envelopes, [a, b], [PK1, PK2, PK1])
    rejects("LENGTH", escrow.check_envelopes, [a, b], [PK1, PK2[:31]])
    assert len(escrow.check_envelopes([a, b], [PK2, PK1])) == 2
