"""``cosignatures.json``: our code, and an independent recomputation, agree with it.

(The file regenerating byte for byte is ``test_vectors_regenerate_byte_for_byte``.)
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from audit_log import note, trust
from audit_log.cosig import WitnessKey, WitnessSigner, signed_message
from audit_log.errors import KeyFormatError, NoteError
from audit_log.verify import verify_log
from tests.vectors import generate

VECTORS = Path(generate.__file__).parent / "audit_log"
CASES: dict[str, Any] = json.loads((VECTORS / "cosignatures.json").read_text(encoding="utf-8"))


def test_witness_keys() -> None:
    for w in CASES["witnesses"]:
        seed = bytes.fromhex(w["seed_hex"])
        public = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()
        key_input = w["name"].encode() + b"\n\x04" + public
        assert key_input.hex() == w["key_id_input_hex"]
        key_id = hashlib.sha256(key_input).digest()[:4]
        assert key_id.hex() == w["key_id_hex"]
        data = base64.b64encode(b"\x04" + public).decode()
        assert w["vkey"] == f"{w['name']}+{key_id.hex()}+{data}"
        seed_data = base64.b64encode(b"\x04" + seed).decode()
        assert w["skey"] == f"PRIVATE+KEY+{w['name']}+{key_id.hex()}+{seed_data}"
        assert str(WitnessSigner.parse(w["skey"]).key) == w["vkey"]
        assert WitnessKey.parse(w["vkey"]).key_id == key_id


@pytest.mark.parametrize("case", CASES["valid"], ids=lambda c: c["description"])
def test_valid_cosignatures(case: dict[str, Any]) -> None:
    body, timestamp = case["body"], case["timestamp"]
    message = b"cosignature/v1\ntime " + str(timestamp).encode() + b"\n" + body.encode()
    assert message.hex() == case["signed_message_hex"] == signed_message(body, timestamp).hex()
    blob = bytes.fromhex(case["blob_hex"])
    key = WitnessKey.parse(case["vkey"])
    assert blob[:4] == key.key_id
    assert struct.unpack(">Q", blob[4:12])[0] == timestamp
    Ed25519PublicKey.from_public_bytes(key.public_key).verify(blob[12:], message)
    assert case["line"] == f"— {case['witness']} {base64.b64encode(blob).decode()}\n"
    line = note.split(body + "\n" + case["line"])[1][0]
    assert key.verify(body, line) == timestamp
    skey = next(w["skey"] for w in CASES["witnesses"] if w["vkey"] == case["vkey"])
    assert WitnessSigner.parse(skey).cosign(body, timestamp) == case["line"]


@pytest.mark.parametrize("case", CASES["invalid"], ids=lambda c: c["description"])
def test_invalid_cosignatures(case: dict[str, Any]) -> None:
    if case["reject"] == "vkey":
        with pytest.raises(KeyFormatError):
            WitnessKey.parse(case["vkey"])
        return
    key = WitnessKey.parse(case["vkey"])
    line = note.split(case["body"] + "\n" + case["line"])[1][0]
    with pytest.raises(NoteError):
        key.verify(case["body"], line)


def test_invalid_lines_also_fail_an_independent_check() -> None:
    """Every rejected line breaks one of: name, key ID, 76 bytes, time < 2^63, signature."""
    for case in CASES["invalid"]:
        if case["reject"] != "line":
            continue
        key = WitnessKey.parse(case["vkey"])
        name, data = case["line"].removeprefix("— ").removesuffix("\n").split(" ")
        blob = base64.b64decode(data)
        if name != key.name or blob[:4] != key.key_id or len(blob) != 76:
            continue
        timestamp = struct.unpack(">Q", blob[4:12])[0]
        if timestamp >= 2**63:
            continue
        message = b"cosignature/v1\ntime %d\n" % timestamp + case["body"].encode()
        with pytest.raises(InvalidSignature):
            Ed25519PublicKey.from_public_bytes(key.public_key).verify(blob[12:], message)


WITNESS_LOGS: dict[str, Any] = json.loads(
    (VECTORS / "witness" / "expected.json").read_text(encoding="utf-8")
)


@pytest.mark.parametrize("folder", sorted(WITNESS_LOGS))
def test_witness_logs(folder: str) -> None:
    expected = WITNESS_LOGS[folder]
    report = verify_log(VECTORS / folder, trust.load(VECTORS / "witness" / "trust.toml"))
    found = [str(report.findings[0].category), report.findings[0].seq] if report.findings else None
    assert (report.exit_code, found) == (expected["exit_code"], expected["first"]), expected[
        "description"
    ]
