"""The committed vectors reproduce from the generator, and our code agrees with them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from audit_log import canonical, merkle, receipt, trust
from audit_log import checkpoint as cp
from audit_log.entry import Entry, commitment
from audit_log.errors import CanonicalError
from audit_log.note import Signer, Verifier
from audit_log.verify import verify_log
from tests.vectors import generate

VECTORS = Path(generate.__file__).parent / "audit_log"


def load(name: str) -> Any:
    return json.loads((VECTORS / name).read_text(encoding="utf-8"))


def test_vectors_regenerate_byte_for_byte(tmp_path: Path) -> None:
    generate.generate(tmp_path / "out")
    committed = sorted(p.relative_to(VECTORS) for p in VECTORS.rglob("*") if p.is_file())
    fresh = sorted(
        p.relative_to(tmp_path / "out") for p in (tmp_path / "out").rglob("*") if p.is_file()
    )
    assert committed == fresh
    for path in committed:
        assert (VECTORS / path).read_bytes() == (tmp_path / "out" / path).read_bytes(), path


def test_keys() -> None:
    keys = load("keys.json")
    signer = Signer.parse(keys["log_signer"])
    assert str(signer.verifier) == keys["log_vkey"]
    assert Verifier.parse(keys["log_vkey"]).key_id.hex() == keys["key_id_hex"]


def test_canonical_cases() -> None:
    cases = load("canonical.json")
    for case in cases["valid"]:
        assert canonical.dumps(case["value"]).decode() == case["canonical"], case["description"]
    for case in cases["invalid"]:
        with pytest.raises(CanonicalError):
            canonical.loads(case["text"].encode())


def test_commitments() -> None:
    for case in load("commitments.json"):
        assert commitment(bytes.fromhex(case["salt"]), case["value"]) == case["commitment"]


def test_entries_checkpoints_receipts() -> None:
    keys = load("keys.json")
    vkey = Verifier.parse(keys["log_vkey"])
    entries = load("entries.json")
    for case in entries:
        body = case["entry"].encode()
        assert Entry.decode(body).seq == case["seq"]
        assert merkle.leaf_hash(body).hex() == case["leaf_hash"]
    leaves = [bytes.fromhex(c["leaf_hash"]) for c in entries]
    for case in load("checkpoints.json"):
        checkpoint, _ = cp.open_checkpoint(case["note"], keys["origin"], [vkey])
        assert (
            checkpoint.root.hex()
            == case["root"]
            == merkle.reference_root(leaves[: case["size"]]).hex()
        )
        assert checkpoint.body() == case["body"]
    for case in load("receipts.json"):
        receipt.verify(case["receipt"], case["entry"].encode(), keys["origin"], [vkey])


@pytest.mark.parametrize("folder", sorted(load("logs/expected.json")))
def test_logs(folder: str) -> None:
    expected = load("logs/expected.json")[folder]
    report = verify_log(VECTORS / folder, trust.load(VECTORS / "trust.toml"))
    found = [str(report.findings[0].category), report.findings[0].seq] if report.findings else None
    assert (report.exit_code, found) == (expected["exit_code"], expected["first"]), expected[
        "description"
    ]
