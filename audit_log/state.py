"""Pinned verifier state: the last verified checkpoint per origin (audit-log.md §8).

``DIR/<first 16 hex of SHA-256(origin)>.json`` holds the aud1 object
``{checkpoint, compact, keys, last_leaf, offset, origin, root, size}``; it is replaced
atomically (write, fsync, rename) after a run that exits 0 or 3. ``compact`` (the
tree's compact range at ``size``), ``last_leaf`` and ``offset`` (bytes of
``entries.aud1`` up to ``size``) let an incremental run start where this one ended.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from audit_log import canonical
from audit_log.errors import AuditLogError

if TYPE_CHECKING:
    from pathlib import Path


class StateError(AuditLogError):
    """The state file is unreadable or malformed (exit 4)."""


@dataclass(frozen=True, slots=True)
class PinnedState:
    """The last verified checkpoint of a log and the key periods known then."""

    origin: str
    size: int
    root: bytes
    checkpoint: str
    keys: tuple[tuple[str, int, int | None], ...]
    compact: tuple[bytes, ...] = ()
    last_leaf: bytes = b""
    offset: int = 0

    def to_json(self) -> dict[str, Any]:
        """Return the aud1 object."""
        return {
            "checkpoint": self.checkpoint,
            "compact": [h.hex() for h in self.compact],
            "keys": [{"from_size": f, "until_size": u, "vkey": v} for v, f, u in self.keys],
            "last_leaf": self.last_leaf.hex(),
            "offset": self.offset,
            "origin": self.origin,
            "root": self.root.hex(),
            "size": self.size,
        }


def state_path(directory: Path, origin: str) -> Path:
    """The state file of ``origin`` in ``directory``."""
    return directory / f"{hashlib.sha256(origin.encode()).hexdigest()[:16]}.json"


def load(directory: Path, origin: str) -> PinnedState | None:
    """Read the pinned state of ``origin`` (None on a first run).

    Raises:
        StateError: the file exists but is unreadable or malformed.
    """
    path = state_path(directory, origin)
    try:
        data = canonical.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, AuditLogError) as exc:
        msg = f"pinned state {path} is unreadable: {exc}"
        raise StateError(msg) from None
    try:
        keys = tuple((k["vkey"], k["from_size"], k["until_size"]) for k in data["keys"])
        state = PinnedState(
            data["origin"], data["size"], bytes.fromhex(data["root"]), data["checkpoint"], keys,
            tuple(bytes.fromhex(h) for h in data.get("compact", [])),
            bytes.fromhex(data.get("last_leaf", "")), int(data.get("offset", 0)),
        )  # fmt: skip
    except (KeyError, TypeError, ValueError) as exc:
        msg = f"pinned state {path} is malformed: {exc}"
        raise StateError(msg) from None
    if state.origin != origin:
        msg = f"pinned state {path} is for {state.origin!r}, not {origin!r}"
        raise StateError(msg)
    return state


def save(directory: Path, state: PinnedState) -> Path:
    """Replace the state file atomically; return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = state_path(directory, state.origin)
    temporary = path.with_suffix(".tmp")
    with temporary.open("wb") as handle:
        handle.write(canonical.dumps(state.to_json()))
        handle.flush()
        os.fsync(handle.fileno())
    temporary.replace(path)
    return path
