r"""Witness cosignatures: C2SP tlog-cosignature ``cosignature/v1`` with Ed25519 (type 0x04).

A cosignature is a signed-note signature line ``— <witness name> base64(key ID ‖
u64be(timestamp) ‖ signature)`` added to a checkpoint. The key ID is
``SHA-256(name ‖ 0x0A ‖ 0x04 ‖ public key)[:4]``; the signature is Ed25519 over
``"cosignature/v1\n" ‖ "time " ‖ decimal(timestamp) ‖ "\n" ‖ checkpoint body``. It
states that, at ``timestamp`` (POSIX seconds), the checkpoint is the largest consistent
tree head the witness has seen for the origin. Witness vkeys and skeys have the signed-
note forms of :mod:`audit_log.note` with type byte 0x04. Everything here is pure.
"""

from __future__ import annotations

import base64
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from audit_log.errors import KeyFormatError, NoteError
from audit_log.note import (
    PRIVATE_PREFIX,
    SignatureLine,
    check_key_name,
    key_id,
    split_key,
)

COSIGNATURE_V1 = 0x04
MAX_TIMESTAMP = 2**63 - 1
_BLOB = 4 + 8 + 64  # key ID, timestamp, Ed25519 signature
_COSIG_KEY = "a cosignature/v1 Ed25519 key (type 0x04, 32 bytes)"


def signed_message(body: str, timestamp: int) -> bytes:
    """The bytes a ``cosignature/v1`` signs: header, time line, checkpoint body.

    Raises:
        NoteError: the timestamp is outside 0 to 2^63 - 1.
    """
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        msg = f"cosignature timestamp {timestamp} is outside 0..2^63-1"
        raise NoteError(msg)
    return f"cosignature/v1\ntime {timestamp}\n".encode() + body.encode()


@dataclass(frozen=True, slots=True)
class WitnessKey:
    """A witness's verifier key (``<name>+<key ID>+base64(0x04 ‖ key)``)."""

    name: str
    key_id: bytes
    public_key: bytes

    @classmethod
    def parse(cls, vkey: str) -> WitnessKey:
        """Parse a witness vkey.

        Raises:
            KeyFormatError: malformed, not type 0x04, or a key ID that does not match.
        """
        name, hex_id, public = split_key(vkey, "", "witness key", COSIGNATURE_V1, _COSIG_KEY)
        if key_id(name, COSIGNATURE_V1, public).hex() != hex_id:
            msg = "witness key ID does not match its key"
            raise KeyFormatError(msg)
        return cls(name, bytes.fromhex(hex_id), public)

    def __str__(self) -> str:
        """Return the vkey string."""
        data = base64.b64encode(bytes([COSIGNATURE_V1]) + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{data}"

    def matches(self, line: SignatureLine) -> bool:
        """Whether ``line`` claims to be this witness's (same name and key ID)."""
        return line.name == self.name and line.key_id == self.key_id

    def verify(self, body: str, line: SignatureLine) -> int:
        """Check this witness's cosignature ``line`` of the checkpoint ``body``.

        Returns:
            The cosignature's timestamp.

        Raises:
            NoteError: not this witness's line, malformed, or the signature fails.
        """
        if not self.matches(line):
            msg = f"not a cosignature of witness {self.name}"
            raise NoteError(msg)
        if len(line.signature) != _BLOB - 4:
            msg = f"cosignature of {self.name} has {len(line.signature) + 4} bytes, not {_BLOB}"
            raise NoteError(msg)
        (timestamp,) = struct.unpack(">Q", line.signature[:8])
        message = signed_message(body, timestamp)
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(line.signature[8:], message)
        except InvalidSignature:
            msg = f"cosignature of witness {self.name} does not verify"
            raise NoteError(msg) from None
        return int(timestamp)


class WitnessSigner:
    """A witness's Ed25519 key under its name; makes ``cosignature/v1`` lines."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        """Wrap ``private_key`` under the witness name ``name``.

        Raises:
            KeyFormatError: the name is invalid.
        """
        self.name = check_key_name(name)
        self._key = private_key
        public = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.key = WitnessKey(name, key_id(name, COSIGNATURE_V1, public), public)

    @classmethod
    def generate(cls, name: str) -> WitnessSigner:
        """Create a new random key (an adapter's job; the core never calls this)."""
        return cls(name, Ed25519PrivateKey.generate())

    @classmethod
    def parse(cls, skey: str) -> WitnessSigner:
        """Parse ``PRIVATE+KEY+<name>+<key ID>+base64(0x04 ‖ seed)``.

        Raises:
            KeyFormatError: malformed or inconsistent.
        """
        if not skey.startswith(PRIVATE_PREFIX):
            msg = "witness signer key must start with PRIVATE+KEY+"
            raise KeyFormatError(msg)
        name, hex_id, seed = split_key(
            skey, PRIVATE_PREFIX, "witness signer key", COSIGNATURE_V1, _COSIG_KEY
        )
        signer = cls(name, Ed25519PrivateKey.from_private_bytes(seed))
        if signer.key.key_id.hex() != hex_id:
            msg = "witness signer key ID does not match its key"
            raise KeyFormatError(msg)
        return signer

    def private_string(self) -> str:
        """Return the ``PRIVATE+KEY+…`` form (keep it secret)."""
        seed = self._key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        data = base64.b64encode(bytes([COSIGNATURE_V1]) + seed).decode()
        return f"{PRIVATE_PREFIX}{self.name}+{self.key.key_id.hex()}+{data}"

    def cosign(self, body: str, timestamp: int) -> str:
        r"""Return the line ``— <name> base64(key ID ‖ u64be(timestamp) ‖ sig)\n``."""
        signature = self._key.sign(signed_message(body, timestamp))
        blob = self.key.key_id + struct.pack(">Q", timestamp) + signature
        return f"— {self.name} {base64.b64encode(blob).decode()}\n"
