"""The requester's checks before it sends its nonce (draw-protocol.md §3 Rules; pure).

A trading system must not send its nonce before it holds proof that the draw is
committed: the commit receipt verifies against the pinned log key, ``params_hash`` and
``commit_digest`` recompute from the ``draw.commit`` entry, and, with a beacon, there is
still at least ``margin_s`` before round R. Any failure means: do not send the nonce.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from audit_log import receipt as log_receipt
from audit_log.entry import Entry, SchemaError
from audit_log.errors import AuditLogError, CanonicalError
from expert_draw.core import eds1

if TYPE_CHECKING:
    from collections.abc import Sequence

    from audit_log.note import Verifier


class CommitCheckError(Exception):
    """The commit is not proven or not consistent: the nonce must not be sent."""


@dataclass(frozen=True, slots=True)
class CheckedCommit:
    """What the requester learned from a verified commit."""

    draw_id: str
    params: eds1.Params
    round: int
    seconds_left: int | None  # before time(R) - margin; None without a beacon


def check_commit(
    entry: bytes, receipt_text: str, origin: str, log_keys: Sequence[Verifier], now_s: int
) -> CheckedCommit:
    """Run the requester's checks on a ``draw.commit`` entry and its receipt.

    Raises:
        CommitCheckError: naming the check that failed.
    """
    try:
        log_receipt.verify(receipt_text, entry, origin, log_keys)
        commit = Entry.decode(entry)
    except (AuditLogError, CanonicalError, SchemaError) as exc:
        msg = f"the commit receipt does not verify against the pinned log key: {exc}"
        raise CommitCheckError(msg) from None
    if commit.kind != "draw.commit":
        msg = f"the entry is a {commit.kind}, not a draw.commit"
        raise CommitCheckError(msg)
    data = commit.data
    try:
        params = eds1.Params.decode(bytes.fromhex(data["params"]))
    except (ValueError, eds1.EncodingError) as exc:
        msg = f"the params do not parse: {exc}"
        raise CommitCheckError(msg) from None
    if params.hash().hex() != data["params_hash"]:
        msg = "params_hash does not recompute"
        raise CommitCheckError(msg)
    envelopes = [bytes.fromhex(e) for e in data["envelopes"]]
    digest = eds1.sha256(eds1.commitment(
        params.draw_id, pool_root=bytes.fromhex(data["pool_root"]), n_elig=data["n_elig"],
        excluded_root=bytes.fromhex(data["excluded_root"]), n_excl=data["n_excl"],
        params_hash=params.hash(), c_s=bytes.fromhex(data["c_s"]), r=data["r"],
        escrow=eds1.escrow_digest(envelopes),
    ))  # fmt: skip
    if (
        digest.hex() != data["commit_digest"]
        or eds1.escrow_digest(envelopes).hex() != data["escrow_digest"]
    ):
        msg = "commit_digest or escrow_digest does not recompute"
        raise CommitCheckError(msg)
    left = None
    if params.beacon:
        if data["r"] != eds1.round_at(commit.ts // 1000) + params.delta:
            msg = "R is not round_at(t_commit) + delta"
            raise CommitCheckError(msg)
        left = eds1.round_time(data["r"]) - params.margin_s - now_s
        if left <= 0:
            msg = "too late: the nonce would come after time(R) - margin"
            raise CommitCheckError(msg)
    return CheckedCommit(params.draw_id.decode(), params, data["r"], left)
