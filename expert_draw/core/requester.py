"""The requester's checks before it sends its nonce (draw-v1.md §13; pure).

A trading system must not send its nonce before it holds proof that the draw is
committed as it asked: the commit receipt verifies against the pinned log key,
``params_hash`` and ``commit_digest`` recompute from the ``draw.commit`` entry, the
params say what the request asked, and, with a beacon, there is still time before
``time(R) - margin_s``. Any failure means: do not send the nonce.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from audit_log import receipt as log_receipt
from audit_log.entry import Entry, SchemaError
from audit_log.errors import AuditLogError, CanonicalError
from expert_draw.core import eds1

QUICKNET_CHAIN_HASH = bytes.fromhex(
    "52db9ba70e0cc0f6eaf7803dd07447a1f5477735fd3f661792ba94600c84e971"
)  # §13 check 7 (beacon.CHAIN_HASH; the requester imports no BLS code)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from audit_log.note import Verifier


class CommitCheckError(Exception):
    """The commit is not proven or not consistent: the nonce must not be sent."""


@dataclass(frozen=True, slots=True)
class Asked:
    """What the request asked, as §13 check 6 compares it with the params.

    ``disciplines`` are ``(code, seats, reserves, max_replacements or None)``, the last
    None where the request left the cap to the policy; ``draw_id`` is None where the
    request let the service choose.
    """

    disciplines: tuple[tuple[str, int, int, int | None], ...]
    beacon: bool
    supersedes: str = ""
    override_seq: int = 0
    draw_id: str | None = None


@dataclass(frozen=True, slots=True)
class CheckedCommit:
    """What the requester learned from a verified commit."""

    draw_id: str
    params: eds1.Params
    round: int
    seconds_left: int | None  # before time(R) - margin; None without a beacon


def check_commit(  # noqa: PLR0913 - the commit, the pins, the clock and the request
    entry: bytes,
    receipt_text: str,
    origin: str,
    log_keys: Sequence[Verifier],
    now_s: int,
    *,
    asked: Asked | None = None,
    delta_min: int = 100,
    allowance_s: int = 0,
) -> CheckedCommit:
    """Run the requester's checks (§13) on a ``draw.commit`` entry and its receipt.

    ``asked`` (check 6) is skipped when None: a requester that kept its request passes
    it. ``allowance_s`` is the requester's clock error plus its time to send the nonce.

    Raises:
        CommitCheckError: naming the check that failed.
    """
    try:
        return _check_commit(entry, receipt_text, origin, log_keys, now_s, asked=asked,
                             delta_min=delta_min, allowance_s=allowance_s)  # fmt: skip
    except (KeyError, TypeError, ValueError) as exc:  # a signed entry, but not as §9 says
        msg = f"the draw.commit entry has a missing or malformed member ({exc!r})"
        raise CommitCheckError(msg) from None


def _check_commit(  # noqa: PLR0913 - as check_commit
    entry: bytes,
    receipt_text: str,
    origin: str,
    log_keys: Sequence[Verifier],
    now_s: int,
    *,
    asked: Asked | None,
    delta_min: int,
    allowance_s: int,
) -> CheckedCommit:
    try:
        log_receipt.verify(receipt_text, entry, origin, log_keys)
    except (AuditLogError, CanonicalError, SchemaError) as exc:
        msg = f"the commit receipt does not verify against the pinned log key: {exc}"
        raise CommitCheckError(msg) from None
    try:
        commit = Entry.decode(entry)
    except (AuditLogError, CanonicalError, SchemaError) as exc:
        msg = f"the logged entry is not a valid audit-log entry (malformed member): {exc}"
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
    if commit.subj != f"draws/{params.draw_id.decode()}":
        msg = f"the entry's subject {commit.subj} is not the params' draw"
        raise CommitCheckError(msg)
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
    if asked is not None:
        _check_asked(params, asked)
    left = _check_round(params, data["r"], commit.ts, now_s, delta_min, allowance_s)
    return CheckedCommit(params.draw_id.decode(), params, data["r"], left)


def _check_round(  # noqa: PLR0913, PLR0917 - the params, the round and the three clocks
    params: eds1.Params, r: int, ts_ms: int, now_s: int, delta_min: int, allowance_s: int
) -> int | None:
    """§13 check 7; the seconds left before ``time(R) - margin_s`` (None: no beacon)."""
    if not params.beacon:
        if r != 0:
            msg = "a draw without a beacon has R = 0"
            raise CommitCheckError(msg)
        return None
    if params.drand_chain_hash != QUICKNET_CHAIN_HASH:
        msg = "the beacon is not drand quicknet's chain"
        raise CommitCheckError(msg)
    if params.delta < delta_min:
        msg = f"delta {params.delta} is below the pinned delta_min {delta_min}"
        raise CommitCheckError(msg)
    if r != eds1.round_at(ts_ms // 1000) + params.delta:
        msg = "R is not round_at(t_commit) + delta"
        raise CommitCheckError(msg)
    left = eds1.round_time(r) - params.margin_s - now_s
    if left <= allowance_s:
        msg = "too late: the nonce would come after time(R) - margin"
        raise CommitCheckError(msg)
    return left


def _check_asked(params: eds1.Params, asked: Asked) -> None:
    """§13 check 6: the params say what the request asked."""
    got = [(d.code.decode(), d.k, d.r, d.max_repl) for d in params.disciplines]
    wanted = sorted(asked.disciplines)
    if [g[:3] for g in got] != [w[:3] for w in wanted] or any(
        w[3] is not None and w[3] != g[3] for g, w in zip(got, wanted, strict=True)
    ):
        msg = f"the committed disciplines {got} are not the requested {wanted}"
        raise CommitCheckError(msg)
    if params.beacon != asked.beacon:
        msg = "the commit's beacon is not the one requested"
        raise CommitCheckError(msg)
    if params.supersedes.decode() != asked.supersedes:
        msg = f"the commit supersedes {params.supersedes.decode()!r}, not {asked.supersedes!r}"
        raise CommitCheckError(msg)
    if params.override_seq != asked.override_seq:
        msg = f"the commit names override {params.override_seq}, not {asked.override_seq}"
        raise CommitCheckError(msg)
    if asked.draw_id is not None and params.draw_id.decode() != asked.draw_id:
        msg = f"the commit is for {params.draw_id.decode()}, not {asked.draw_id}"
        raise CommitCheckError(msg)
