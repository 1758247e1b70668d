"""All 196 RFC 9162 conformance cases: accept exactly the wantErr=false ones."""

from __future__ import annotations

from typing import Any

import pytest

from audit_log import merkle
from audit_log.errors import ProofError
from tests.support.vectors import b64, merkle_cases

CASES = merkle_cases()


def test_all_cases_are_present() -> None:
    assert len(CASES) == 196
    assert sum(1 for _, case in CASES if not case["wantErr"]) == 12


@pytest.mark.parametrize(("name", "case"), CASES, ids=[name for name, _ in CASES])
def test_vector(name: str, case: dict[str, Any]) -> None:
    proof = [b64(p) for p in case["proof"] or []]

    def run() -> None:
        if "leafIdx" in case:
            merkle.verify_inclusion(
                case["leafIdx"], case["treeSize"], b64(case["leafHash"]), proof, b64(case["root"])
            )
        else:
            merkle.verify_consistency(
                case["size1"], case["size2"], proof, b64(case["root1"]), b64(case["root2"])
            )

    if case["wantErr"]:
        with pytest.raises(ProofError):
            run()
    else:
        run()
