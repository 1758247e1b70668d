"""EDS-1 escrow: the secret ``s`` sealed to every supervisor's X25519 key (pure).

Each envelope is an HPKE-like seal built from ``cryptography`` primitives: X25519 with a
fresh ephemeral key, HKDF-SHA256, ChaCha20-Poly1305 under a zero nonce (the key is used
once). Nothing here draws randomness: the service draws each ephemeral private key with
``os.urandom(32)`` and passes it to :func:`seal_from_parts`; supervisors open envelopes
offline with :func:`open_envelope`, and the verifier checks their structure with
:func:`check_envelopes`. docs/spec/draw-v1.md (Escrow) is the normative description.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from expert_draw.core.eds1 import (
    EncodingError,
    ReasonedError,
    check_draw_id,
    dec,
    enc,
    secret_commitment,
    sha256,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

LABEL = b"EDS1/escrow"
KEY_BYTES = 32  # raw X25519 public and private keys, the shared secret, s, C_s
KEY_ID_BYTES = 8
CT_BYTES = 48  # the 32-byte s and the 16-byte Poly1305 tag
NONCE = bytes(12)
ENVELOPE_FIELDS = (KEY_ID_BYTES, KEY_BYTES, CT_BYTES)


class EscrowError(ReasonedError):
    """An escrow value that cannot be sealed, parsed, opened or accepted.

    ``reason`` is stable (the vectors name it): ``LENGTH`` (a key, ``s`` or ``C_s`` of
    the wrong size), ``DRAW_ID``, ``COMMITMENT`` (``s`` does not match ``C_s``),
    ``ENVELOPE_FORMAT``, ``ZERO_SHARED_SECRET``, ``KEY_ID`` (the envelope is for another
    key), ``DECRYPT`` (the AEAD tag fails), ``NO_ENVELOPES``, ``KEY_ORDER``,
    ``DUPLICATE_KEY_ID``, ``DUPLICATE_KEY``, ``MISSING_ENVELOPE``, ``UNKNOWN_KEY``.
    """


@dataclass(frozen=True, slots=True)
class Envelope:
    """One parsed envelope: ``key_id`` (8 bytes), ephemeral ``E`` (32), ``ct`` (48)."""

    key_id: bytes
    ephemeral: bytes
    ct: bytes

    def encode(self) -> bytes:
        """``enc(key_id, E, ct)``."""
        return enc(self.key_id, self.ephemeral, self.ct)


class _Exchanger(Protocol):
    def exchange(self, peer_public_key: X25519PublicKey, /) -> bytes: ...


def _sized(value: bytes, size: int, what: str) -> bytes:
    if len(value) != size:
        msg = f"{what} must be {size} bytes, got {len(value)}"
        raise EscrowError(msg, reason="LENGTH")
    return value


def _draw_id(draw_id: bytes) -> bytes:
    try:
        return check_draw_id(draw_id)
    except EncodingError as e:
        raise EscrowError(str(e), reason="DRAW_ID") from e


def public_key(private_key_raw: bytes) -> bytes:
    """The raw X25519 public key of a raw private key.

    Raises:
        EscrowError: not 32 bytes (``LENGTH``).
    """
    private = X25519PrivateKey.from_private_bytes(
        _sized(private_key_raw, KEY_BYTES, "an X25519 private key")
    )
    return private.public_key().public_bytes_raw()


def key_id(pk: bytes) -> bytes:
    """``key_id(pk) = H(pk)[:8]`` of a raw 32-byte X25519 public key.

    Raises:
        EscrowError: ``pk`` is not 32 bytes (``LENGTH``).
    """
    return sha256(_sized(pk, KEY_BYTES, "an X25519 public key"))[:KEY_ID_BYTES]


def _shared_secret(private: _Exchanger, public: bytes) -> bytes:
    """``z``, refusing the all-zero result of a low-order public point."""
    message = "the X25519 shared secret is all zero (a low-order public key)"
    peer = X25519PublicKey.from_public_bytes(public)
    try:
        z = private.exchange(peer)
    except ValueError as e:  # OpenSSL refuses an all-zero result by itself
        raise EscrowError(message, reason="ZERO_SHARED_SECRET") from e
    if z == bytes(KEY_BYTES):  # the rule, whatever the backend does
        raise EscrowError(message, reason="ZERO_SHARED_SECRET")
    return z


def _cipher(z: bytes, ephemeral: bytes, pk: bytes, draw_id: bytes, c_s: bytes) -> ChaCha20Poly1305:
    """``ChaCha20Poly1305(HKDF-SHA256(z, salt = E ‖ pk, info = enc(label, draw_id, C_s)))``."""
    hkdf = HKDF(
        algorithm=hashes.SHA256(),
        length=KEY_BYTES,
        salt=ephemeral + pk,
        info=enc(LABEL, draw_id, c_s),
    )
    return ChaCha20Poly1305(hkdf.derive(z))


def _aad(draw_id: bytes, c_s: bytes, pk: bytes) -> bytes:
    return enc(LABEL, draw_id, c_s, pk)


def _seal(pk: bytes, ephemeral_private: bytes, draw_id: bytes, c_s: bytes, s: bytes) -> bytes:
    """The seal without the ``C_s`` check (the vectors build a mismatched envelope with it)."""
    ephemeral = X25519PrivateKey.from_private_bytes(ephemeral_private)
    e_pub = ephemeral.public_key().public_bytes_raw()
    z = _shared_secret(ephemeral, pk)
    ct = _cipher(z, e_pub, pk, draw_id, c_s).encrypt(NONCE, s, _aad(draw_id, c_s, pk))
    return Envelope(key_id(pk), e_pub, ct).encode()


def seal_from_parts(
    pk: bytes, ephemeral_private: bytes, draw_id: bytes, c_s: bytes, s: bytes
) -> bytes:
    """Seal ``s`` to the supervisor key ``pk``: the envelope ``enc(key_id, E, ct)``.

    ``ephemeral_private`` is the raw 32-byte X25519 private key ``e`` (fresh from
    ``os.urandom`` in the service; fixed in tests); ``E`` is its public half,
    ``z = X25519(e, pk)``, ``k = HKDF-SHA256(z, salt = E ‖ pk,
    info = enc("EDS1/escrow", draw_id, C_s), L = 32)`` and ``ct =
    ChaCha20Poly1305(k).encrypt(12 zero bytes, s, aad = enc("EDS1/escrow", draw_id,
    C_s, pk))``.

    Raises:
        EscrowError: a key, ``s`` or ``C_s`` of the wrong size (``LENGTH``), a bad
            ``draw_id`` (``DRAW_ID``), ``C_s ≠ H(enc("EDS1/commit", s))``
            (``COMMITMENT``), or a low-order ``pk`` (``ZERO_SHARED_SECRET``).
    """
    _sized(pk, KEY_BYTES, "an X25519 public key")
    _sized(ephemeral_private, KEY_BYTES, "an X25519 private key")
    _draw_id(draw_id)
    _sized(c_s, KEY_BYTES, "C_s")
    if secret_commitment(_sized(s, KEY_BYTES, "s")) != c_s:
        msg = 'C_s is not H(enc("EDS1/commit", s))'
        raise EscrowError(msg, reason="COMMITMENT")
    return _seal(pk, ephemeral_private, draw_id, c_s, s)


def seal_all_from_parts(
    keys: Sequence[bytes],
    ephemeral_privates: Sequence[bytes],
    draw_id: bytes,
    c_s: bytes,
    s: bytes,
) -> list[bytes]:
    """One envelope per supervisor key, in ascending key-id order.

    ``ephemeral_privates[i]`` seals to ``keys[i]``; the result is sorted by key id, as
    the commitment and the bundle list envelopes.

    Raises:
        EscrowError: no key (``NO_ENVELOPES``), a count mismatch (``LENGTH``), a key
            listed twice (``DUPLICATE_KEY``), or any error of :func:`seal_from_parts`.
    """
    if not keys:
        msg = "escrow needs at least one supervisor key"
        raise EscrowError(msg, reason="NO_ENVELOPES")
    if len(ephemeral_privates) != len(keys):
        msg = f"one ephemeral key per supervisor key: {len(ephemeral_privates)} for {len(keys)}"
        raise EscrowError(msg, reason="LENGTH")
    ids = [key_id(pk) for pk in keys]
    if len(set(ids)) != len(ids):
        msg = "a supervisor key is listed twice"
        raise EscrowError(msg, reason="DUPLICATE_KEY")
    sealed = sorted(
        (i, seal_from_parts(pk, e, draw_id, c_s, s))
        for i, pk, e in zip(ids, keys, ephemeral_privates, strict=True)
    )
    return [envelope for _, envelope in sealed]


def parse_envelope(envelope: bytes) -> Envelope:
    """Parse ``enc(key_id, E, ct)`` strictly.

    Exactly three fields of 8, 32 and 48 bytes, and bytes that re-encode identically
    (no trailing or missing byte).

    Raises:
        EscrowError: anything else (``ENVELOPE_FORMAT``).
    """
    try:
        fields = dec(envelope)
    except EncodingError as e:
        msg = f"an envelope is enc(key_id, E, ct): {e}"
        raise EscrowError(msg, reason="ENVELOPE_FORMAT") from e
    if len(fields) != len(ENVELOPE_FIELDS):
        msg = f"an envelope is enc(key_id, E, ct): 3 fields, got {len(fields)}"
        raise EscrowError(msg, reason="ENVELOPE_FORMAT")
    sizes = tuple(len(f) for f in fields)
    if sizes != ENVELOPE_FIELDS or enc(*fields) != envelope:
        msg = f"envelope fields must be 8, 32 and 48 bytes, got {sizes[0]}, {sizes[1]}, {sizes[2]}"
        raise EscrowError(msg, reason="ENVELOPE_FORMAT")
    return Envelope(*fields)


def open_envelope(private_key_raw: bytes, envelope: bytes, draw_id: bytes, c_s: bytes) -> bytes:
    """Open an envelope with a supervisor's raw 32-byte X25519 private key; return ``s``.

    The checks run in this order: sizes, envelope format, the envelope's key id is
    ``H(pk)[:8]`` of this key's public half, non-zero shared secret, AEAD tag (which
    binds ``E``, ``ct``, ``draw_id``, ``C_s`` and ``pk``), and finally
    ``H(enc("EDS1/commit", s)) = C_s``.

    Raises:
        EscrowError: ``LENGTH``, ``DRAW_ID``, ``ENVELOPE_FORMAT``, ``KEY_ID`` (sealed to
            another key), ``ZERO_SHARED_SECRET`` (a low-order ``E``), ``DECRYPT`` (a
            tampered ``E`` or ``ct``, or another ``draw_id`` or ``C_s``), or
            ``COMMITMENT`` (it decrypts to a secret that does not match ``C_s``).
    """
    _sized(private_key_raw, KEY_BYTES, "an X25519 private key")
    _draw_id(draw_id)
    _sized(c_s, KEY_BYTES, "C_s")
    parsed = parse_envelope(envelope)
    private = X25519PrivateKey.from_private_bytes(private_key_raw)
    pk = private.public_key().public_bytes_raw()
    if parsed.key_id != key_id(pk):
        msg = f"the envelope is for key id {parsed.key_id.hex()}, not {key_id(pk).hex()}"
        raise EscrowError(msg, reason="KEY_ID")
    z = _shared_secret(private, parsed.ephemeral)
    try:
        s = _cipher(z, parsed.ephemeral, pk, draw_id, c_s).decrypt(
            NONCE, parsed.ct, _aad(draw_id, c_s, pk)
        )
    except InvalidTag as e:
        msg = "the envelope does not decrypt: E or ct altered, or another draw_id or C_s"
        raise EscrowError(msg, reason="DECRYPT") from e
    if secret_commitment(s) != c_s:
        msg = 'the opened secret does not match C_s: H(enc("EDS1/commit", s)) differs'
        raise EscrowError(msg, reason="COMMITMENT")
    return s


def check_envelopes(
    envelopes: Sequence[bytes], escrow_keys: Sequence[bytes] | None
) -> tuple[Envelope, ...]:
    """The structural escrow rules of verifier check 6; return the parsed envelopes.

    At least one envelope, each strictly parsed, key ids strictly ascending; when
    ``escrow_keys`` (raw 32-byte X25519 public keys valid at the commit) are given,
    exactly one envelope per key and none for any other key.

    Raises:
        EscrowError: ``NO_ENVELOPES``, ``ENVELOPE_FORMAT`` (naming the envelope's
            index), ``DUPLICATE_KEY_ID``, ``KEY_ORDER``, ``LENGTH`` or ``DUPLICATE_KEY``
            (a bad key list), ``MISSING_ENVELOPE`` or ``UNKNOWN_KEY``.
    """
    if not envelopes:
        msg = "a commit needs at least one escrow envelope"
        raise EscrowError(msg, reason="NO_ENVELOPES")
    parsed = []
    for index, envelope in enumerate(envelopes):
        try:
            parsed.append(parse_envelope(envelope))
        except EscrowError as e:
            raise EscrowError(f"envelope {index}: {e}", reason=e.reason) from e
    for index, (a, b) in enumerate(pairwise(parsed), start=1):
        if a.key_id == b.key_id:
            msg = f"envelopes {index - 1} and {index} share key id {a.key_id.hex()}"
            raise EscrowError(msg, reason="DUPLICATE_KEY_ID")
        if a.key_id > b.key_id:
            msg = (
                f"key ids must ascend: envelope {index} ({b.key_id.hex()}) follows {a.key_id.hex()}"
            )
            raise EscrowError(msg, reason="KEY_ORDER")
    if escrow_keys is not None:
        _one_per_key(parsed, escrow_keys)
    return tuple(parsed)


def _one_per_key(parsed: Sequence[Envelope], escrow_keys: Sequence[bytes]) -> None:
    wanted = [key_id(pk) for pk in escrow_keys]
    if len(set(wanted)) != len(wanted):
        msg = "the escrow keys list a key (key id) twice"
        raise EscrowError(msg, reason="DUPLICATE_KEY")
    present = {e.key_id for e in parsed}
    if missing := sorted(set(wanted) - present):
        msg = f"no envelope for escrow key id {', '.join(k.hex() for k in missing)}"
        raise EscrowError(msg, reason="MISSING_ENVELOPE")
    if unknown := sorted(present - set(wanted)):
        msg = f"an envelope for key id {', '.join(k.hex() for k in unknown)}, not an escrow key"
        raise EscrowError(msg, reason="UNKNOWN_KEY")
