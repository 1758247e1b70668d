"""C2SP tlog-cosignature ``cosignature/v1`` lines (audit_log.cosig), checked from outside.

The key ID, the signed message and the line bytes are recomputed here with hashlib,
struct and ``cryptography`` directly, never through the module under test.
"""

from __future__ import annotations

import base64
import hashlib
import struct

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from audit_log import note
from audit_log.checkpoint import Checkpoint
from audit_log.cosig import (
    MAX_TIMESTAMP,
    WitnessKey,
    WitnessSigner,
    signed_message,
)
from audit_log.errors import KeyFormatError, NoteError

NAME = "witness.example/bureau"
SEED = hashlib.sha256(b"test_cosig witness seed").digest()
BODY = Checkpoint("audit.example/log", 7, bytes(range(32))).body()
TS = 1_776_643_260


def private() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(SEED)


def public() -> bytes:
    return private().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def b64(type_byte: int, raw: bytes) -> str:
    return base64.b64encode(bytes([type_byte]) + raw).decode()


def signer() -> WitnessSigner:
    return WitnessSigner(NAME, private())


def parse_line(line: str) -> note.SignatureLine:
    """The one signature line of ``line`` (through the signed-note parser)."""
    return note.split(BODY + "\n" + line)[1][0]


def rebuild(line: str, blob: bytes, name: str = NAME) -> str:
    """``line`` with another name or blob (everything else as it was)."""
    assert line.startswith("— ")
    return f"— {name} {base64.b64encode(blob).decode()}\n"


def blob_of(line: str) -> bytes:
    return base64.b64decode(line.removesuffix("\n").split(" ")[2])


def test_key_id_is_sha256_of_name_newline_type_04_and_key() -> None:
    expected = hashlib.sha256(NAME.encode() + b"\x0a" + b"\x04" + public()).digest()[:4]
    key = signer().key
    assert key.key_id == expected
    assert key.public_key == public()
    vkey = f"{NAME}+{expected.hex()}+{b64(4, public())}"
    assert str(key) == vkey
    assert WitnessKey.parse(vkey) == key


def test_skey_round_trip() -> None:
    text = signer().private_string()
    assert text == (f"PRIVATE+KEY+{NAME}+{signer().key.key_id.hex()}+{b64(4, SEED)}")
    again = WitnessSigner.parse(text)
    assert again.key == signer().key
    assert again.cosign(BODY, TS) == signer().cosign(BODY, TS)


def test_signed_message_bytes() -> None:
    assert signed_message(BODY, TS) == b"cosignature/v1\ntime 1776643260\n" + BODY.encode()
    assert signed_message(BODY, 0).startswith(b"cosignature/v1\ntime 0\n")


def test_line_against_an_independent_signature() -> None:
    message = b"cosignature/v1\ntime " + str(TS).encode() + b"\n" + BODY.encode()
    signature = private().sign(message)  # Ed25519 is deterministic
    key_id = hashlib.sha256(NAME.encode() + b"\n\x04" + public()).digest()[:4]
    blob = key_id + struct.pack(">Q", TS) + signature
    expected = f"— {NAME} {base64.b64encode(blob).decode()}\n"
    assert signer().cosign(BODY, TS) == expected
    assert len(blob) == 76


def test_round_trip_returns_the_timestamp() -> None:
    line = signer().cosign(BODY, TS)
    key = signer().key
    parsed = parse_line(line)
    assert key.matches(parsed)
    assert key.verify(BODY, parsed) == TS


@pytest.mark.parametrize("timestamp", [0, 1, MAX_TIMESTAMP])
def test_timestamp_bounds_accepted(timestamp: int) -> None:
    line = signer().cosign(BODY, timestamp)
    assert signer().key.verify(BODY, parse_line(line)) == timestamp


@pytest.mark.parametrize("timestamp", [-1, MAX_TIMESTAMP + 1, 2**64 - 1])
def test_timestamp_out_of_bounds_refused_when_signing(timestamp: int) -> None:
    with pytest.raises(NoteError, match="outside"):
        signed_message(BODY, timestamp)
    with pytest.raises(NoteError):
        signer().cosign(BODY, timestamp)


def test_a_validly_signed_timestamp_of_2_63_is_rejected() -> None:
    # Sign the out-of-range message by hand: the signature is good, the time is not.
    timestamp = MAX_TIMESTAMP + 1
    message = b"cosignature/v1\ntime " + str(timestamp).encode() + b"\n" + BODY.encode()
    blob = signer().key.key_id + struct.pack(">Q", timestamp) + private().sign(message)
    with pytest.raises(NoteError, match="outside"):
        signer().key.verify(BODY, parse_line(rebuild("— ", blob)))


def test_changed_body_timestamp_or_key_fail() -> None:
    line = signer().cosign(BODY, TS)
    key = signer().key
    other_body = Checkpoint("audit.example/log", 8, bytes(range(32))).body()
    with pytest.raises(NoteError, match="does not verify"):
        key.verify(other_body, parse_line(line))
    blob = blob_of(line)
    later = blob[:4] + struct.pack(">Q", TS + 1) + blob[12:]
    with pytest.raises(NoteError, match="does not verify"):
        key.verify(BODY, parse_line(rebuild(line, later)))
    flipped = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(NoteError, match="does not verify"):
        key.verify(BODY, parse_line(rebuild(line, flipped)))
    stranger = WitnessSigner.generate(NAME)  # same name, another key: another key ID
    assert not stranger.key.matches(parse_line(line))
    with pytest.raises(NoteError, match="not a cosignature"):
        stranger.key.verify(BODY, parse_line(line))
    # Same key ID forced onto another key: the signature, not the ID, decides.
    impostor = WitnessKey(NAME, key.key_id, stranger.key.public_key)
    with pytest.raises(NoteError, match="does not verify"):
        impostor.verify(BODY, parse_line(line))


def test_wrong_key_id_or_name_is_not_this_witness() -> None:
    line = signer().cosign(BODY, TS)
    blob = blob_of(line)
    key = signer().key
    wrong_id = bytes([blob[0] ^ 0xFF]) + blob[1:]
    assert not key.matches(parse_line(rebuild(line, wrong_id)))
    with pytest.raises(NoteError, match="not a cosignature"):
        key.verify(BODY, parse_line(rebuild(line, wrong_id)))
    renamed = parse_line(rebuild(line, blob, name="witness.example/other"))
    assert not key.matches(renamed)


@pytest.mark.parametrize("delta", [-1, 1, -8, 64])
def test_bad_length_rejected(delta: int) -> None:
    line = signer().cosign(BODY, TS)
    blob = blob_of(line)
    changed = blob[:delta] if delta < 0 else blob + bytes(delta)
    with pytest.raises(NoteError, match="bytes, not 76"):
        signer().key.verify(BODY, parse_line(rebuild(line, changed)))


def test_a_signed_note_line_of_type_01_is_not_a_cosignature() -> None:
    # The same seed as an ordinary signed-note key: another key ID, and a shorter blob.
    plain = note.Signer(NAME, private())
    assert plain.verifier.key_id != signer().key.key_id
    line = plain.signature_line(BODY.encode())
    assert not signer().key.matches(parse_line(line))
    forced = signer().key.key_id + blob_of(line)[4:]
    with pytest.raises(NoteError, match="bytes, not 76"):
        signer().key.verify(BODY, parse_line(rebuild(line, forced)))


def test_vkey_and_skey_errors() -> None:
    good = str(signer().key)
    name, hex_id, data = good.split("+", 2)
    type_01 = b64(1, public())
    id_01 = hashlib.sha256(NAME.encode() + b"\n\x01" + public()).digest()[:4].hex()
    bad_vkeys = [
        f"{name}+{id_01}+{type_01}",  # an Ed25519 signed-note key (type 0x01)
        f"{name}+{hex_id}+{type_01}",
        f"{name}+00000000+{data}",  # key ID of another key
        f"{name}+{hex_id.upper()}+{data}",
        f"{name}+{hex_id}+{data}=",  # not base64
        f"{name}+{hex_id}+{b64(4, public()[:31])}",
        f"bad name+{hex_id}+{data}",
        f"{name}{hex_id}{data}",
        "",
    ]
    for vkey in bad_vkeys:
        with pytest.raises(KeyFormatError):
            WitnessKey.parse(vkey)
    skey = signer().private_string()
    for bad in [
        skey.removeprefix("PRIVATE+KEY+"),
        skey.replace(hex_id, "00000000"),
        skey.replace(b64(4, SEED), b64(1, SEED)),
        note.Signer(NAME, private()).private_string(),
    ]:
        with pytest.raises(KeyFormatError):
            WitnessSigner.parse(bad)
    with pytest.raises(KeyFormatError):
        WitnessSigner("no spaces allowed", private())


def test_generated_keys_differ_and_verify() -> None:
    first, second = WitnessSigner.generate(NAME), WitnessSigner.generate(NAME)
    assert first.key != second.key
    line = first.cosign(BODY, TS)
    assert WitnessKey.parse(str(first.key)).verify(BODY, parse_line(line)) == TS
