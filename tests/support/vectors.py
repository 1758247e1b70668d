"""The RFC 9162 Merkle conformance vectors in ../shared (read in place, never copied)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

MERKLE = Path(__file__).resolve().parents[3] / "shared" / "vectors" / "rfc9162-merkle" / "testdata"


def merkle_cases() -> list[tuple[str, dict[str, Any]]]:
    return [
        (str(p.relative_to(MERKLE)), json.loads(p.read_text()))
        for p in sorted(MERKLE.rglob("*.json"))
    ]


def b64(value: str) -> bytes:
    return base64.b64decode(value)
