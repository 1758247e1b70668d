r"""The export folder the verifier reads (audit-log.md §4).

``entries.aud1``: each entry's exact bytes followed by ``\\n``, in seq order.
``checkpoints.aud1``: one aud1 line ``{"note": <signed note>, "size": n}`` per
checkpoint, ascending by size; notes from other copies may be merged in at their size
(a line repeated verbatim counts once).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from audit_log import canonical

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

ENTRIES = "entries.aud1"
CHECKPOINTS = "checkpoints.aud1"


def checkpoint_line(size: int, note: str) -> bytes:
    """Return one ``checkpoints.aud1`` line (with its newline)."""
    return canonical.dumps({"note": note, "size": size}) + b"\n"


def iter_entry_lines(path: Path, start: int = 0) -> Iterator[bytes]:
    """Yield raw lines of ``entries.aud1`` (with their newline), skipping ``start``."""
    with path.open("rb") as handle:
        for number, line in enumerate(handle):
            if number >= start:
                yield line


def count_lines(path: Path) -> int:
    """Count lines (entries) in an export file; 0 if it does not exist."""
    if not path.exists():
        return 0
    with path.open("rb") as handle:
        return sum(1 for _ in handle)
