"""Receipts: C2SP tlog-proof (``c2sp.org/tlog-proof@v1``) without an ``extra`` line.

The lines are: ``c2sp.org/tlog-proof@v1``; ``index <N>``; one standard-base64 inclusion
hash per line, leaf side first; an empty line; the signed checkpoint note.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from audit_log import checkpoint as cp
from audit_log import merkle, note
from audit_log.errors import NoteError

if TYPE_CHECKING:
    from collections.abc import Sequence

HEADER = "c2sp.org/tlog-proof@v1"
_INDEX = re.compile(r"index (0|[1-9][0-9]{0,19})")


@dataclass(frozen=True, slots=True)
class Receipt:
    """An inclusion proof of one entry into one signed checkpoint."""

    index: int
    proof: tuple[bytes, ...]
    checkpoint_note: str

    def format(self) -> str:
        """Return the receipt text."""
        hashes = "".join(base64.b64encode(h).decode() + "\n" for h in self.proof)
        return f"{HEADER}\nindex {self.index}\n{hashes}\n{self.checkpoint_note}"

    @classmethod
    def parse(cls, text: str) -> Receipt:
        """Parse a receipt strictly (an ``extra`` line is rejected).

        Raises:
            NoteError: malformed.
        """
        head, sep, signed = text.partition("\n\n")
        lines = head.split("\n")
        if not sep or len(lines) < 2 or lines[0] != HEADER:  # noqa: PLR2004
            msg = f"receipt must start with {HEADER} and an index line"
            raise NoteError(msg)
        match = _INDEX.fullmatch(lines[1])
        if match is None or int(match.group(1)) > cp.MAX_SIZE:
            msg = "receipt index line is not 'index <canonical decimal>'"
            raise NoteError(msg)
        proof = []
        for line in lines[2:]:
            value = note.b64decode_strict(line, "receipt proof hash")
            if len(value) != merkle.HASH_SIZE:
                msg = "receipt proof hash is not 32 bytes"
                raise NoteError(msg)
            proof.append(value)
        note.split(signed)
        return cls(int(match.group(1)), tuple(proof), signed)


def verify(
    text: str, entry: bytes, origin: str, verifiers: Sequence[note.Verifier]
) -> tuple[Receipt, cp.Checkpoint]:
    """Verify that ``entry`` (exact bytes) is in the log per the receipt ``text``.

    Raises:
        NoteError: the receipt or its checkpoint is malformed or not validly signed.
        audit_log.errors.ProofError: the inclusion proof does not verify.
    """
    receipt = Receipt.parse(text)
    checkpoint, _ = cp.open_checkpoint(receipt.checkpoint_note, origin, verifiers)
    merkle.verify_inclusion(
        receipt.index, checkpoint.size, merkle.leaf_hash(entry), receipt.proof, checkpoint.root
    )
    return receipt, checkpoint
