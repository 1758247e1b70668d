"""Experts' private receipts (docs/spec/draw-v1.md §12): build and verify, pure.

A receipt lets one expert check, offline, that they were in a draw's committed pool
(or excluded, with which reasons) and, after the award, where they stood in the order:
their pseudonym and salt open their identity commitment, the leaf's inclusion proof
leads to the root logged in ``draw.commit``, and that entry's log receipt leads to a
checkpoint signed by the log key.
"""

from __future__ import annotations

import uuid as uuidlib
from typing import TYPE_CHECKING, Any

from audit_log import canonical, merkle
from audit_log import receipt as log_receipt
from audit_log.entry import Entry, SchemaError
from audit_log.errors import AuditLogError, CanonicalError
from expert_draw.core import eds1

if TYPE_CHECKING:
    from collections.abc import Sequence

    from audit_log.note import Verifier

MEMBERS = frozenset({"spec_version", "draw_id", "expert", "pseud", "salt", "leaf", "index",
                     "tree_size", "proof", "commit", "positions"})  # fmt: skip


class ReceiptError(Exception):
    """The receipt does not verify; the message says which step failed."""


def leaf_proof(leaf_inputs: Sequence[bytes], index: int) -> list[bytes]:
    """The RFC 9162 inclusion proof of leaf ``index`` among ``leaf_inputs``."""
    nodes: dict[tuple[int, int], bytes] = {}
    compact = merkle.CompactRange()
    for i, leaf_input in enumerate(leaf_inputs):
        leaf = merkle.leaf_hash(leaf_input)
        nodes[(0, i)] = leaf
        for level, at, value in compact.append(leaf):
            nodes[(level, at)] = value
    return merkle.inclusion_proof(index, len(leaf_inputs), lambda lv, i: nodes[(lv, i)])


def build(  # noqa: PLR0913 - the receipt's parts
    *,
    draw_id: str,
    expert_uuid: str,
    member: eds1.Member,
    salt: bytes,
    index: int,
    tree_size: int,
    proof: Sequence[bytes],
    commit_body: bytes,
    commit_receipt: str,
    positions: Sequence[dict[str, Any]],
) -> dict[str, Any]:
    """The receipt object (aud1: ``canonical.dumps``)."""
    return {
        "spec_version": "EDS-1", "draw_id": draw_id, "expert": f"experts/{expert_uuid}",
        "pseud": member.pseudonym.hex(), "salt": salt.hex(),
        "leaf": {"kind": "leaf" if member.eligible else "xleaf",
                 "discs": [d.decode() for d in member.discs],
                 "reasons": [x.decode() for x in member.reasons]},
        "index": index, "tree_size": tree_size, "proof": [h.hex() for h in proof],
        "commit": {"body": commit_body.decode(), "receipt": commit_receipt},
        "positions": list(positions),
    }  # fmt: skip


def verify_receipt(  # noqa: C901 - one step per branch
    data: bytes,
    origin: str,
    log_keys: Sequence[Verifier],
    *,
    bundle_order: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """Check a receipt; return what it proves (draw, expert, leaf kind, positions).

    ``bundle_order`` (from a verified public bundle of the same draw: ``order`` per
    discipline) lets the positions be checked too; without it they are reported as
    unchecked.

    Raises:
        ReceiptError: the first step that fails.
    """
    try:
        r = canonical.loads(data)
    except (CanonicalError, UnicodeDecodeError, ValueError) as exc:
        raise ReceiptError(f"not aud1 canonical JSON: {exc}") from None
    if not isinstance(r, dict) or set(r) != MEMBERS or r["spec_version"] != "EDS-1":
        raise ReceiptError("not an EDS-1 receipt (members of §12)")
    try:
        commit = r["commit"]
        body = commit["body"].encode()
        log_receipt.verify(commit["receipt"], body, origin, log_keys)
        entry = Entry.decode(body)
    except (AuditLogError, CanonicalError, SchemaError, KeyError, TypeError) as exc:
        raise ReceiptError(f"the draw.commit entry is not proven in the log: {exc}") from None
    if entry.kind != "draw.commit" or entry.subj != f"draws/{r['draw_id']}":
        raise ReceiptError("the entry is not this draw's draw.commit")
    try:
        uuid_bytes = uuidlib.UUID(str(r["expert"]).removeprefix("experts/")).bytes
        salt, pseud = bytes.fromhex(r["salt"]), bytes.fromhex(r["pseud"])
        leaf = r["leaf"]
        member = eds1.Member(
            pseud, tuple(d.encode() for d in leaf["discs"]),
            tuple(x.encode() for x in leaf["reasons"]), eds1.identity_commitment(salt, uuid_bytes),
        )  # fmt: skip
        eligible = leaf["kind"] == "leaf"
        if eligible != member.eligible:
            raise ReceiptError("the leaf kind does not match its reasons")
        root = bytes.fromhex(entry.data["pool_root" if eligible else "excluded_root"])
        size = entry.data["n_elig" if eligible else "n_excl"]
        if r["tree_size"] != size:
            raise ReceiptError("tree_size is not the committed count")
        merkle.verify_inclusion(r["index"], size, merkle.leaf_hash(member.leaf_input()),
                                [bytes.fromhex(h) for h in r["proof"]], root)  # fmt: skip
    except (ValueError, KeyError, TypeError, AuditLogError, eds1.EncodingError) as exc:
        raise ReceiptError(f"the leaf is not in the committed root: {exc}") from None
    checked = None
    if bundle_order is not None:
        for item in r["positions"]:
            order = bundle_order.get(item["d"], [])
            if pseud.hex() not in order or order.index(pseud.hex()) != item["position"]:
                raise ReceiptError(f"position in {item['d']} is not the bundle's")
        checked = True
    return {
        "draw_id": r["draw_id"], "expert": r["expert"], "kind": leaf["kind"],
        "discs": leaf["discs"], "reasons": leaf["reasons"], "positions": r["positions"],
        "positions_checked": checked,
    }  # fmt: skip
