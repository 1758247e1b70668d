"""Personal data at rest: AES-256-GCM field encryption and the keyed 身份证号 hash.

Keys live outside the database, in one JSON key file (mode 0600, ``library.data_keys``):

    {"version": 1,
     "encryption": {"current": "<id>", "keys": {"<id>": "<base64 of 32 bytes>", ...}},
     "identity_hash": {"current": "<id>", "keys": {"<id>": "<base64 of 32 bytes>", ...}}}

A ciphertext is ``0x01 ‖ u8 len(key id) ‖ key id ‖ 12-byte nonce ‖ AES-GCM(value) ‖ tag``;
its associated data binds it to ``table ‖ column ‖ record id ‖ key id`` (each as u16
length ‖ UTF-8), so a ciphertext copied to another row, column or key id fails to
decrypt. Old keys stay in the file to decrypt until the records are re-encrypted.

The identity hash is ``<hash key id>:hex(HMAC-SHA256(key, "expert-draw/resident-id/v1"
‖ 0x00 ‖ number))``: uniqueness without storing the number in clear. Lookups compute it
under every configured hash key, so a re-hash to a new key can run while serving.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from expert_draw.adapters.keyfiles import read_private
from expert_draw.errors import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from pathlib import Path

FORMAT = 1
KEY_BYTES = 32
NONCE_BYTES = 12
_KEY_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,31}")
_AAD_LABEL = b"expert-draw/field/v1"
_ID_LABEL = b"expert-draw/resident-id/v1\x00"
_DIGEST_LABEL = b"expert-draw/request/v1\x00"
SETTING = "setting library.data_keys"


class DecryptionError(Exception):
    """A ciphertext does not open: unknown key id, wrong binding, or altered bytes."""


@dataclass(frozen=True, slots=True)
class KeySet:
    """Named 32-byte keys and the id of the one new data uses."""

    current: str
    keys: Mapping[str, bytes]


@dataclass(frozen=True, slots=True)
class DataKeys:
    """The library's data keys: field encryption and the identity hash."""

    encryption: KeySet
    identity_hash: KeySet

    @classmethod
    def generate(cls, random: Callable[[int], bytes] = os.urandom) -> DataKeys:
        """Fresh keys (``make serve`` writes them on first run)."""
        return cls(KeySet("k1", {"k1": random(KEY_BYTES)}), KeySet("h1", {"h1": random(KEY_BYTES)}))

    def to_json(self) -> str:
        """The key file's text."""

        def key_set(keys: KeySet) -> dict[str, Any]:
            encoded = {k: base64.b64encode(v).decode() for k, v in keys.keys.items()}
            return {"current": keys.current, "keys": encoded}

        value = {
            "version": 1,
            "encryption": key_set(self.encryption),
            "identity_hash": key_set(self.identity_hash),
        }
        return json.dumps(value, indent=2, sort_keys=True) + "\n"

    @classmethod
    def parse(cls, text: str) -> DataKeys:
        """Parse a key file's text.

        Raises:
            ValueError: naming what is wrong (never a key's value).
        """
        value = json.loads(text)
        if not isinstance(value, dict) or value.get("version") != 1:
            msg = "not a version 1 data key file"
            raise ValueError(msg)
        if set(value) != {"version", "encryption", "identity_hash"}:
            msg = "members must be version, encryption and identity_hash"
            raise ValueError(msg)
        return cls(
            _key_set(value["encryption"], "encryption"),
            _key_set(value["identity_hash"], "identity_hash"),
        )


def _key_set(value: object, where: str) -> KeySet:
    if not isinstance(value, dict) or set(value) != {"current", "keys"}:
        msg = f"{where}: members must be current and keys"
        raise ValueError(msg)
    keys, current = value["keys"], value["current"]
    if not isinstance(keys, dict) or not keys:
        msg = f"{where}.keys: at least one key"
        raise ValueError(msg)
    decoded = {}
    for key_id, text in keys.items():
        if _KEY_ID.fullmatch(key_id) is None:
            msg = f"{where}.keys: key id {key_id!r} is not [a-z0-9][a-z0-9._-]{{0,31}}"
            raise ValueError(msg)
        try:
            raw = base64.b64decode(text, validate=True) if isinstance(text, str) else b""
        except binascii.Error:
            raw = b""
        if len(raw) != KEY_BYTES:
            msg = f"{where}.keys.{key_id}: not the base64 of 32 bytes"
            raise ValueError(msg)
        decoded[key_id] = raw
    if current not in decoded:
        msg = f"{where}.current: {current!r} is not one of the keys"
        raise ValueError(msg)
    return KeySet(current, decoded)


def load_data_keys(path: Path) -> DataKeys:
    """Read the data key file (mode 0600).

    Raises:
        ConfigurationError: unreadable, readable by group or others, or malformed.
    """
    text = read_private(path, SETTING)
    try:
        return DataKeys.parse(text)
    except ValueError as exc:
        msg = f"{SETTING}: {path}: {exc}"
        raise ConfigurationError(msg) from None


def _aad(table: str, column: str, record_id: str, key_id: str) -> bytes:
    parts = [_AAD_LABEL]
    for part in (table, column, record_id, key_id):
        data = part.encode()
        parts += [struct.pack(">H", len(data)), data]
    return b"".join(parts)


class FieldCipher:
    """Encrypts and decrypts personal fields, and computes identity hashes."""

    def __init__(self, keys: DataKeys, random: Callable[[int], bytes] = os.urandom) -> None:
        """Use ``keys``; ``random`` gives nonces (os.urandom)."""
        self._keys = keys
        self._random = random
        self._aead = {k: AESGCM(v) for k, v in keys.encryption.keys.items()}

    @property
    def current_key_id(self) -> str:
        """The encryption key new ciphertexts use."""
        return self._keys.encryption.current

    @staticmethod
    def key_id_of(blob: bytes) -> str:
        """The key id a ciphertext names ("" for an unknown format)."""
        if len(blob) < 2 or blob[0] != FORMAT:  # noqa: PLR2004 - format and length bytes
            return ""
        return blob[2 : 2 + blob[1]].decode("ascii", "replace")

    def encrypt(self, value: str, *, table: str, column: str, record_id: str) -> bytes:
        """Encrypt ``value`` for one cell under the current key."""
        key_id = self._keys.encryption.current
        nonce = self._random(NONCE_BYTES)
        sealed = self._aead[key_id].encrypt(
            nonce, value.encode(), _aad(table, column, record_id, key_id)
        )
        return bytes([FORMAT, len(key_id)]) + key_id.encode() + nonce + sealed

    def decrypt(self, blob: bytes, *, table: str, column: str, record_id: str) -> str:
        """Decrypt one cell's ciphertext.

        Raises:
            DecryptionError: unknown format or key id, or a ciphertext that is not this
                cell's (moved, altered, or from another key).
        """
        if len(blob) < 2 or blob[0] != FORMAT:  # noqa: PLR2004 - format and length bytes
            msg = "unknown ciphertext format"
            raise DecryptionError(msg)
        end = 2 + blob[1]
        key_id = blob[2:end].decode("ascii", "replace")
        aead = self._aead.get(key_id)
        if aead is None:
            msg = f"ciphertext under key {key_id!r}, which is not configured"
            raise DecryptionError(msg)
        nonce, sealed = blob[end : end + NONCE_BYTES], blob[end + NONCE_BYTES :]
        try:
            plain = aead.decrypt(nonce, sealed, _aad(table, column, record_id, key_id))
        except (InvalidTag, ValueError):
            msg = f"ciphertext of {table}.{column} does not open for this record"
            raise DecryptionError(msg) from None
        return plain.decode()

    def identity_hash(self, number: str) -> str:
        """The keyed hash of a 身份证号 under the current hash key."""
        keys = self._keys.identity_hash
        return _identity_hash(keys.current, keys.keys[keys.current], number)

    def identity_key_ids(self) -> frozenset[str]:
        """The ids of the configured identity-hash keys."""
        return frozenset(self._keys.identity_hash.keys)

    def identity_hashes(self, number: str) -> list[str]:
        """The keyed hash under every configured hash key (lookups during a re-hash)."""
        keys = self._keys.identity_hash
        return [_identity_hash(k, v, number) for k, v in sorted(keys.keys.items())]

    def keyed_digest(self, data: bytes) -> str:
        """A keyed digest of request content that holds personal data.

        Request ids are checked against a digest of their request (AIP-155); a plain
        SHA-256 of a 身份证号 could be reversed by trying every number, a keyed one not.
        """
        keys = self._keys.identity_hash
        return hmac.new(keys.keys[keys.current], _DIGEST_LABEL + data, hashlib.sha256).hexdigest()


def _identity_hash(key_id: str, key: bytes, number: str) -> str:
    digest = hmac.new(key, _ID_LABEL + number.encode(), hashlib.sha256).hexdigest()
    return f"{key_id}:{digest}"
