"""C2SP signed notes with Ed25519 keys (type 0x01), strictly parsed.

A note is ``text`` (UTF-8, ending in a newline) + a blank line + 1 to 16 signature
lines ``— <key name> <base64(key ID ‖ signature)>``. The key ID is
``SHA-256(name ‖ 0x0A ‖ type ‖ public key)[:4]``. A verifier key ("vkey") is
``<name>+<8 hex key ID>+<base64(type ‖ public key)>``; a signer key is the same with a
``PRIVATE+KEY+`` prefix and the 32-byte seed in place of the public key (the Go
``sumdb/note`` formats).

Verification raises :class:`NoteError`: a signature line of a known key (same name and
key ID) that fails rejects the note; unknown keys are ignored; without a valid known-key
signature the note is rejected.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from audit_log.errors import KeyFormatError, NoteError

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

ED25519 = 0x01
MAX_SIGNATURES = 16
_NAME = re.compile(r"[\x21-\x2a\x2c-\x7e]+")  # printable ASCII without space or '+'
_HEX_ID = re.compile(r"[0-9a-f]{8}")
_FORBIDDEN = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")  # C0 but newline, DEL, C1
_SIG_LINE = re.compile(r"— (\S+) (\S+)")
PRIVATE_PREFIX = "PRIVATE+KEY+"


def b64decode_strict(text: str, what: str) -> bytes:
    """Decode standard base64 and require the canonical encoding.

    Raises:
        NoteError: not canonical standard base64.
    """
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        msg = f"{what} is not base64"
        raise NoteError(msg) from None
    if base64.b64encode(raw).decode() != text:
        msg = f"{what} is not canonical base64"
        raise NoteError(msg)
    return raw


def check_key_name(name: str) -> str:
    """Return ``name`` if it is a valid key name (printable ASCII, no space, no '+').

    Raises:
        KeyFormatError: the name is empty or has other characters.
    """
    if _NAME.fullmatch(name) is None:
        msg = f"key name {name!r} must be printable ASCII without space or '+'"
        raise KeyFormatError(msg)
    return name


def key_id(name: str, key_type: int, public_key: bytes) -> bytes:
    """Return the 4-byte key ID ``SHA-256(name ‖ 0x0A ‖ type ‖ key)[:4]``."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([key_type]) + public_key).digest()[:4]


def split_key(
    text: str, prefix: str, what: str, key_type: int, described: str
) -> tuple[str, str, bytes]:
    """Split ``<prefix><name>+<8 hex>+base64(type ‖ 32 bytes)`` into name, hex ID, key.

    The name is checked, the type byte must be ``key_type``; the caller checks the ID.

    Raises:
        KeyFormatError: malformed, or another type or length (``what`` names the key,
            ``described`` the one expected).
    """
    name, sep1, rest = text.removeprefix(prefix).partition("+")
    hex_id, sep2, data = rest.partition("+")
    if not sep1 or not sep2 or _HEX_ID.fullmatch(hex_id) is None:
        msg = f"{what} must be {prefix}<name>+<8 hex>+<base64>"
        raise KeyFormatError(msg)
    check_key_name(name)
    try:
        raw = b64decode_strict(data, what)
    except NoteError as exc:
        raise KeyFormatError(str(exc)) from None
    if len(raw) != 33 or raw[0] != key_type:  # noqa: PLR2004 - type byte + 32 bytes
        msg = f"{what} must be {described}"
        raise KeyFormatError(msg)
    return name, hex_id, raw[1:]


@dataclass(frozen=True, slots=True)
class Verifier:
    """A verifier key: name, key ID, type and public key."""

    name: str
    key_id: bytes
    key_type: int
    public_key: bytes

    @classmethod
    def parse(cls, vkey: str) -> Verifier:
        """Parse ``<name>+<hex id>+<base64(type ‖ key)>`` (split at the first two '+').

        Raises:
            KeyFormatError: malformed, an unsupported type, or a key ID that does not
                match the key.
        """
        name, hex_id, public = split_key(
            vkey, "", "verifier key", ED25519, "an Ed25519 key (type 0x01, 32 bytes)"
        )
        if key_id(name, ED25519, public).hex() != hex_id:
            msg = "verifier key ID does not match its key"
            raise KeyFormatError(msg)
        return cls(name, bytes.fromhex(hex_id), ED25519, public)

    def __str__(self) -> str:
        """Return the vkey string."""
        data = base64.b64encode(bytes([self.key_type]) + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{data}"

    def verify(self, text: bytes, signature: bytes) -> bool:
        """Return True if ``signature`` is this key's Ed25519 signature of ``text``."""
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, text)
        except InvalidSignature:
            return False
        return True


class Signer:
    """An Ed25519 signing key with its name."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        """Wrap ``private_key`` under the key name ``name``.

        Raises:
            KeyFormatError: the name is invalid.
        """
        self.name = check_key_name(name)
        self._key = private_key
        public = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.verifier = Verifier(name, key_id(name, ED25519, public), ED25519, public)

    @classmethod
    def generate(cls, name: str) -> Signer:
        """Create a new random key (an adapter's job; the core never calls this)."""
        return cls(name, Ed25519PrivateKey.generate())

    @classmethod
    def parse(cls, skey: str) -> Signer:
        """Parse ``PRIVATE+KEY+<name>+<hex id>+<base64(0x01 ‖ seed)>``.

        Raises:
            KeyFormatError: malformed or inconsistent.
        """
        if not skey.startswith(PRIVATE_PREFIX):
            msg = "signer key must start with PRIVATE+KEY+"
            raise KeyFormatError(msg)
        name, hex_id, seed = split_key(
            skey, PRIVATE_PREFIX, "signer key", ED25519, "an Ed25519 seed (type 0x01, 32 bytes)"
        )
        signer = cls(name, Ed25519PrivateKey.from_private_bytes(seed))
        if signer.verifier.key_id.hex() != hex_id:
            msg = "signer key ID does not match its key"
            raise KeyFormatError(msg)
        return signer

    def private_string(self) -> str:
        """Return the ``PRIVATE+KEY+…`` form (keep it secret)."""
        from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

        seed = self._key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        data = base64.b64encode(bytes([ED25519]) + seed).decode()
        return f"{PRIVATE_PREFIX}{self.name}+{self.verifier.key_id.hex()}+{data}"

    def signature_line(self, text: bytes) -> str:
        r"""Return ``— <name> <base64(key ID ‖ signature)>\\n`` for ``text``."""
        blob = self.verifier.key_id + self._key.sign(text)
        return f"— {self.name} {base64.b64encode(blob).decode()}\n"


def sign(text: str, signers: Iterable[Signer], extra_lines: Sequence[str] = ()) -> str:
    """Sign ``text`` with each signer; ``extra_lines`` (e.g. cosignatures) follow.

    Raises:
        NoteError: the text is not a valid note text.
    """
    check_text(text)
    lines = [signer.signature_line(text.encode()) for signer in signers]
    return text + "\n" + "".join(lines) + "".join(extra_lines)


def check_text(text: str) -> None:
    """Check a note text: non-empty, ends in a newline, no forbidden control characters.

    Raises:
        NoteError: the text breaks a rule.
    """
    if not text.endswith("\n"):
        msg = "note text must end with a newline"
        raise NoteError(msg)
    if _FORBIDDEN.search(text):
        msg = "note contains a control character"
        raise NoteError(msg)


@dataclass(frozen=True, slots=True)
class SignatureLine:
    """One signature line: the key name and the decoded key ID and signature."""

    line: str
    name: str
    key_id: bytes
    signature: bytes


def split(note: str) -> tuple[str, list[SignatureLine]]:
    """Split a note into its text and signature lines (syntax only, no verification).

    Raises:
        NoteError: the note breaks a syntax rule.
    """
    check_text(note)
    cut = note.rfind("\n\n")
    if cut < 0:
        msg = "note has no blank line before its signatures"
        raise NoteError(msg)
    text, block = note[: cut + 1], note[cut + 2 :]
    lines = block.splitlines(keepends=True)
    if not 1 <= len(lines) <= MAX_SIGNATURES:
        msg = f"note has {len(lines)} signature lines (1 to {MAX_SIGNATURES} allowed)"
        raise NoteError(msg)
    if len(set(lines)) != len(lines):
        msg = "note repeats a signature line"
        raise NoteError(msg)
    return text, [_parse_signature_line(line) for line in lines]


def _parse_signature_line(line: str) -> SignatureLine:
    match = _SIG_LINE.fullmatch(line.removesuffix("\n"))
    if match is None or not line.endswith("\n"):
        msg = "malformed signature line"
        raise NoteError(msg)
    name, data = match.groups()
    try:
        check_key_name(name)
    except KeyFormatError as exc:
        raise NoteError(str(exc)) from None
    blob = b64decode_strict(data, "signature")
    if len(blob) < 5:  # noqa: PLR2004 - key ID and at least one byte
        msg = "signature too short"
        raise NoteError(msg)
    return SignatureLine(line, name, blob[:4], blob[4:])


def open_note(note: str, verifiers: Sequence[Verifier]) -> tuple[str, list[Verifier]]:
    """Verify ``note`` against the known keys; return its text and the keys that signed.

    Raises:
        NoteError: malformed, a known key's signature fails, or no known key signed.
    """
    text, lines = split(note)
    known = {(v.name, v.key_id): v for v in verifiers}
    signed: list[Verifier] = []
    for line in lines:
        verifier = known.get((line.name, line.key_id))
        if verifier is None:
            continue
        if not verifier.verify(text.encode(), line.signature):
            msg = f"signature of known key {line.name} does not verify"
            raise NoteError(msg)
        if verifier not in signed:
            signed.append(verifier)
    if not signed:
        msg = "no signature of a known key"
        raise NoteError(msg)
    return text, signed
