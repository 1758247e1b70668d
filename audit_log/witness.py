"""The witness's decision (C2SP tlog-witness ``add-checkpoint`` semantics), pure.

Given what the witness last cosigned for an origin, the log keys it trusts for it and a
submission ``(old_size, consistency proof, signed checkpoint)``, :func:`check` returns
the checkpoint to cosign or raises a :class:`WitnessRefusalError` whose ``kind`` names the C2SP
case (the adapter maps it to a gRPC status, audit-log-v1 §8):

========================  ====  ======================================================
kind                      HTTP  when
========================  ====  ======================================================
``unknown_origin``        404   the checkpoint's origin is not configured
``no_log_signature``      403   no valid signature of a configured log key
``old_size_too_large``    400   ``old_size`` exceeds the checkpoint's size
``conflict``              409   ``old_size`` is not the size last cosigned, or equal
                                sizes with another root (``WitnessRefusalError.size`` is the
                                witness's size)
``bad_proof``             422   the consistency proof does not verify
========================  ====  ======================================================

Storing the new state and cosigning must be one atomic step in the adapter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from audit_log import merkle, note
from audit_log.checkpoint import Checkpoint
from audit_log.errors import AuditLogError, NoteError, ProofError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

MAX_SIZE = 2**63 - 1  # sizes a witness stores and the gRPC old_size (int64) can carry
MAX_PROOF = 63  # C2SP tlog-witness: a consistency proof has at most 63 hashes
RefusalKind = Literal[
    "unknown_origin", "no_log_signature", "old_size_too_large", "conflict", "bad_proof"
]


class WitnessRefusalError(AuditLogError):
    """The witness refuses a submission; ``kind`` is the C2SP case."""

    def __init__(self, kind: RefusalKind, message: str, size: int | None = None) -> None:
        """``size``: the witness's last cosigned size (for ``conflict``)."""
        super().__init__(message)
        self.kind: RefusalKind = kind
        self.size = size


@dataclass(frozen=True, slots=True)
class Seen:
    """The newest checkpoint a witness cosigned for an origin."""

    size: int
    root: bytes


def check(
    signed: str,
    old_size: int,
    proof: Sequence[bytes],
    log_keys: Mapping[str, Sequence[note.Verifier]],
    seen: Mapping[str, Seen],
) -> Checkpoint:
    """Decide a submission; return the checkpoint to cosign.

    ``log_keys``: per origin, the log keys whose signature makes a checkpoint the log's;
    ``seen``: per origin, the newest cosigned checkpoint (absent: nothing yet, size 0).

    Raises:
        WitnessRefusalError: the submission is refused (see the module's table).
    """
    try:
        text, _ = note.split(signed)
        checkpoint = Checkpoint.parse(text)
    except NoteError as exc:
        msg = f"not a signed checkpoint: {exc}"
        raise WitnessRefusalError("no_log_signature", msg) from None
    keys = log_keys.get(checkpoint.origin)
    if not keys:
        msg = f"this witness does not know the log {checkpoint.origin!r}"
        raise WitnessRefusalError("unknown_origin", msg)
    try:
        note.open_note(signed, keys)
    except NoteError as exc:
        msg = f"the checkpoint is not signed by a key of {checkpoint.origin!r}: {exc}"
        raise WitnessRefusalError("no_log_signature", msg) from None
    if old_size < 0 or old_size > checkpoint.size:
        msg = f"old_size {old_size} is outside 0..{checkpoint.size}"
        raise WitnessRefusalError("old_size_too_large", msg)
    if checkpoint.size > MAX_SIZE:
        msg = f"a checkpoint of size {checkpoint.size} exceeds what a witness holds (2^63 - 1)"
        raise WitnessRefusalError("old_size_too_large", msg)
    last = seen.get(checkpoint.origin, Seen(0, merkle.EMPTY_ROOT))
    if old_size != last.size:
        msg = f"old_size {old_size} is not the size this witness last cosigned ({last.size})"
        raise WitnessRefusalError("conflict", msg, last.size)
    if old_size == checkpoint.size and checkpoint.root != last.root:
        msg = f"size {old_size} was cosigned with another root"
        raise WitnessRefusalError("conflict", msg, last.size)
    _check_proof(old_size, checkpoint, proof, last)
    return checkpoint


def _check_proof(old_size: int, checkpoint: Checkpoint, proof: Sequence[bytes], last: Seen) -> None:
    """Equal sizes and size 0 take an empty proof; others an RFC 9162 consistency proof."""
    if len(proof) > MAX_PROOF:
        msg = f"a consistency proof has at most {MAX_PROOF} hashes, not {len(proof)}"
        raise WitnessRefusalError("bad_proof", msg)
    if old_size in {0, checkpoint.size}:
        if proof:
            msg = f"a consistency proof from size {old_size} to {checkpoint.size} must be empty"
            raise WitnessRefusalError("bad_proof", msg)
        return
    try:
        merkle.verify_consistency(old_size, checkpoint.size, proof, last.root, checkpoint.root)
    except ProofError as exc:
        msg = f"the consistency proof from {old_size} to {checkpoint.size} fails: {exc}"
        raise WitnessRefusalError("bad_proof", msg) from None
