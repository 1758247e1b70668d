"""Field encryption and the keyed identity hash."""

from __future__ import annotations

import base64
import json
import os
from typing import TYPE_CHECKING

import pytest

from expert_draw.adapters.devpki import write_private
from expert_draw.adapters.protection import (
    DataKeys,
    DecryptionError,
    FieldCipher,
    KeySet,
    load_data_keys,
)
from expert_draw.errors import ConfigurationError

if TYPE_CHECKING:
    from pathlib import Path

CELL = {
    "table": "expert",
    "column": "phone_enc",
    "record_id": "0b7f6c2e-8a1d-4c3b-9e2f-5a6b7c8d9e0f",
}


def test_round_trip_and_fresh_nonces() -> None:
    cipher = FieldCipher(DataKeys.generate())
    one = cipher.encrypt("13912345678", **CELL)
    two = cipher.encrypt("13912345678", **CELL)
    assert one != two  # a new nonce each time
    assert b"13912345678" not in one
    assert one[:4] == b"\x01\x02k1"  # format, key-id length, key id
    assert cipher.decrypt(one, **CELL) == cipher.decrypt(two, **CELL) == "13912345678"
    assert cipher.decrypt(cipher.encrypt("张三", **CELL), **CELL) == "张三"


@pytest.mark.parametrize(
    "moved", [{"table": "draw"}, {"column": "full_name_enc"}, {"record_id": "another"}]
)
def test_a_ciphertext_cannot_move(moved: dict[str, str]) -> None:
    cipher = FieldCipher(DataKeys.generate())
    blob = cipher.encrypt("13912345678", **CELL)
    with pytest.raises(DecryptionError, match="does not open"):
        cipher.decrypt(blob, **{**CELL, **moved})


def test_altered_or_foreign_ciphertexts_fail() -> None:
    keys = DataKeys.generate()
    cipher = FieldCipher(keys)
    blob = bytearray(cipher.encrypt("x", **CELL))
    blob[-1] ^= 1
    with pytest.raises(DecryptionError):
        cipher.decrypt(bytes(blob), **CELL)
    with pytest.raises(DecryptionError, match="format"):
        cipher.decrypt(b"\x02\x02k1", **CELL)
    with pytest.raises(DecryptionError, match="not configured"):
        cipher.decrypt(b"\x01\x02k9" + bytes(40), **CELL)
    other = FieldCipher(DataKeys.generate())
    with pytest.raises(DecryptionError):
        other.decrypt(cipher.encrypt("x", **CELL), **CELL)


def test_rotation_keeps_old_ciphertexts_readable() -> None:
    old = DataKeys.generate()
    blob = FieldCipher(old).encrypt("13912345678", **CELL)
    rotated = DataKeys(
        KeySet("k2", {**old.encryption.keys, "k2": os.urandom(32)}),
        KeySet("h2", {**old.identity_hash.keys, "h2": os.urandom(32)}),
    )
    cipher = FieldCipher(rotated)
    assert cipher.decrypt(blob, **CELL) == "13912345678"
    assert cipher.encrypt("y", **CELL)[2:4] == b"k2"
    number = "110105197503121011"
    old_hash = FieldCipher(old).identity_hash(number)
    assert old_hash in cipher.identity_hashes(number)  # found during a re-hash
    assert cipher.identity_hash(number).startswith("h2:")
    assert cipher.identity_hash(number) != old_hash


def test_identity_hash_is_keyed_and_stable() -> None:
    keys = DataKeys.generate()
    number = "110105197503121011"
    first = FieldCipher(keys).identity_hash(number)
    assert first == FieldCipher(keys).identity_hash(number)
    assert first != FieldCipher(DataKeys.generate()).identity_hash(number)
    assert number not in first
    assert len(first) == 3 + 64


def test_key_file_round_trip_and_permissions(tmp_path: Path) -> None:
    keys = DataKeys.generate()
    path = tmp_path / "data-keys.json"
    write_private(path, keys.to_json().encode())
    assert load_data_keys(path) == keys
    path.chmod(0o644)
    with pytest.raises(ConfigurationError, match="chmod 600"):
        load_data_keys(path)
    with pytest.raises(ConfigurationError, match="cannot read"):
        load_data_keys(tmp_path / "missing.json")


def _file(**changes: object) -> str:
    value: dict[str, object] = json.loads(DataKeys.generate().to_json())
    value.update(changes)
    return json.dumps(value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_file(version=2), "version 1"),
        (_file(extra=1), "members"),
        (_file(encryption={"current": "k1"}), "current and keys"),
        (_file(encryption={"current": "k1", "keys": {}}), "at least one key"),
        (
            _file(
                encryption={"current": "K1", "keys": {"K1": base64.b64encode(bytes(32)).decode()}}
            ),
            "key id",
        ),
        (_file(encryption={"current": "k1", "keys": {"k1": "c2hvcnQ="}}), "32 bytes"),
        (_file(encryption={"current": "k1", "keys": {"k1": "!!"}}), "32 bytes"),
        (
            _file(
                encryption={"current": "k2", "keys": {"k1": base64.b64encode(bytes(32)).decode()}}
            ),
            "not one of",
        ),
    ],
)
def test_malformed_key_files_are_named(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "data-keys.json"
    write_private(path, text.encode())
    with pytest.raises(ConfigurationError, match=message) as caught:
        load_data_keys(path)
    assert "library.data_keys" in str(caught.value)
