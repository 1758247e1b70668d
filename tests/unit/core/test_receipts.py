"""Experts' receipts (spec §12) on the synthetic draw: build, verify, refuse lies."""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

import pytest

from audit_log import canonical
from audit_log.receipt import Receipt
from expert_draw.core import receipts
from tests.support import draw_log, small_logs
from tests.vectors.generate import signer

KEYS = [small_logs.KEY.verifier]


def receipt_for(
    index: int, *, positions: bool = True
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The receipt of candidate ``index`` (11 is the excluded one) and the bundle's orders."""
    log = draw_log.build()
    frozen = log.frozen
    assert frozen is not None
    pseud = next(p for p, e in frozen.expert_of.items() if e == index)
    member = next(m for m in frozen.members if m.pseudonym == pseud)
    tree = [m for m in frozen.members if m.eligible == member.eligible]
    at = tree.index(member)
    bodies, notes = draw_log.seal(log)
    seq = next(i for i, e in enumerate(log.entries) if e.kind == "draw.commit")
    size = max(notes)
    commit_receipt = Receipt(seq, tuple(receipts.leaf_proof(bodies[:size], seq)), notes[size])
    bundle = json.loads(draw_log.bundle_bytes(log))
    order = {row["d"]: row["order"] for row in bundle["draw"]}
    places = [{"d": d.decode(), "position": order[d.decode()].index(pseud.hex())}
              for d in member.discs] if positions and member.eligible else []  # fmt: skip
    built = receipts.build(
        draw_id=draw_log.DRAW_ID, expert_uuid=str(uuid.UUID(int=0x1000 + index)),
        member=member, salt=frozen.salts[pseud], index=at, tree_size=len(tree),
        proof=receipts.leaf_proof([m.leaf_input() for m in tree], at),
        commit_body=bodies[seq], commit_receipt=commit_receipt.format(), positions=places,
    )  # fmt: skip
    return built, order


def check(value: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return receipts.verify_receipt(canonical.dumps(value), draw_log.ORIGIN, KEYS, **kw)


def test_an_eligible_experts_receipt_with_positions() -> None:
    value, order = receipt_for(3)
    result = check(value, bundle_order=order)
    assert (result["kind"], result["positions_checked"]) == ("leaf", True)
    assert check(value)["positions_checked"] is None


def test_an_excluded_experts_receipt_names_the_reason() -> None:
    value, _ = receipt_for(11)
    assert (check(value)["kind"], check(value)["reasons"]) == ("xleaf", ["E6"])


@pytest.mark.parametrize(("path", "bad", "words"), [
    (("expert",), "experts/" + str(uuid.UUID(int=0x9999)), "root"),
    (("salt",), "00" * 32, "root"),
    (("index",), 0, "root"),
    (("tree_size",), 3, "committed count"),
    (("leaf", "kind"), "xleaf", "kind"),
    (("proof",), [], "root"),
    (("commit", "receipt"), "x", "log"),
    (("draw_id",), "d-other", "this draw"),
    (("spec_version",), "EDS-2", "EDS-1"),
])  # fmt: skip
def test_lies_are_refused(path: tuple[str, ...], bad: Any, words: str) -> None:
    value, _ = receipt_for(3)
    lie = copy.deepcopy(value)
    target = lie
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = bad
    with pytest.raises(receipts.ReceiptError, match=words):
        check(lie)


def test_positions_must_match_the_bundle() -> None:
    value, order = receipt_for(3)
    value["positions"][0]["position"] += 1
    with pytest.raises(receipts.ReceiptError, match="position"):
        check(value, bundle_order=order)


def test_not_json_and_another_key() -> None:
    with pytest.raises(receipts.ReceiptError, match="aud1"):
        receipts.verify_receipt(b"{", draw_log.ORIGIN, KEYS)
    value, _ = receipt_for(3)
    with pytest.raises(receipts.ReceiptError, match="log"):
        receipts.verify_receipt(canonical.dumps(value), draw_log.ORIGIN,
                                [signer("another").verifier])  # fmt: skip
