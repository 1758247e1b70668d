r"""C2SP tlog-checkpoint bodies (``origin\\nsize\\nbase64(root)\\n``), strictly parsed.

aud1 checkpoints carry no extension lines; the size is canonical decimal below 2^64; the
root is canonical base64 of exactly 32 bytes.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from audit_log import note
from audit_log.errors import KeyFormatError, NoteError

if TYPE_CHECKING:
    from collections.abc import Sequence

_SIZE = re.compile(r"0|[1-9][0-9]{0,19}")
MAX_SIZE = 2**64 - 1


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed statement that the log ``origin`` had ``size`` entries with ``root``."""

    origin: str
    size: int
    root: bytes

    def body(self) -> str:
        """Return the note text."""
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """Parse a checkpoint body strictly.

        Raises:
            NoteError: not exactly origin, size and root lines in canonical form.
        """
        lines = text.split("\n")
        if len(lines) != 4 or lines[3] != "":  # noqa: PLR2004 - three lines and the final newline
            msg = "checkpoint must be exactly three lines (no extension lines)"
            raise NoteError(msg)
        origin, size_text, root_text = lines[:3]
        try:
            note.check_key_name(origin)
        except KeyFormatError:
            msg = "checkpoint origin must be printable ASCII without space or '+'"
            raise NoteError(msg) from None
        if _SIZE.fullmatch(size_text) is None or int(size_text) > MAX_SIZE:
            msg = "checkpoint size is not canonical decimal below 2^64"
            raise NoteError(msg)
        root = note.b64decode_strict(root_text, "checkpoint root")
        if len(root) != 32:  # noqa: PLR2004
            msg = "checkpoint root is not 32 bytes"
            raise NoteError(msg)
        return cls(origin, int(size_text), root)


def sign(checkpoint: Checkpoint, signers: Sequence[note.Signer]) -> str:
    """Return the signed note of ``checkpoint``."""
    return note.sign(checkpoint.body(), signers)


def open_checkpoint(
    signed: str, origin: str, verifiers: Sequence[note.Verifier]
) -> tuple[Checkpoint, list[note.Verifier]]:
    """Verify a signed checkpoint of ``origin``; return it and the keys that signed it.

    Raises:
        NoteError: malformed, wrong origin, or not validly signed by a known key.
    """
    text, signed_by = note.open_note(signed, verifiers)
    checkpoint = Checkpoint.parse(text)
    if checkpoint.origin != origin:
        msg = f"checkpoint origin {checkpoint.origin!r} is not {origin!r}"
        raise NoteError(msg)
    return checkpoint, signed_by


def parse_unverified(signed: str) -> Checkpoint:
    """Parse a signed checkpoint's body without verifying signatures (syntax checked).

    Raises:
        NoteError: malformed.
    """
    text, _ = note.split(signed)
    return Checkpoint.parse(text)
