"""The code digest of the installed release (audit-log.md Appendix A, ``code_digest``).

SHA-256 of the aud1 bytes of the sorted array of ``[path, sha256]`` pairs, one per
regular file under the four package directories (``expert_draw``, ``classification``,
``audit_log``, ``cli``) except ``__pycache__/`` and ``*.pyc``; ``path`` is the POSIX path
relative to the directory that holds the packages.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from audit_log import canonical

PACKAGES = ("expert_draw", "classification", "audit_log", "cli")


def code_manifest(root: Path | None = None) -> list[list[str]]:
    """Return the ``[path, sha256]`` pairs of the installed package files, sorted."""
    base = root or Path(__file__).resolve().parents[2]
    pairs = []
    for package in PACKAGES:
        for path in (base / package).rglob("*"):
            if not path.is_file() or "__pycache__" in path.parts or path.suffix == ".pyc":
                continue
            relative = path.relative_to(base).as_posix()
            pairs.append([relative, hashlib.sha256(path.read_bytes()).hexdigest()])
    return sorted(pairs, key=lambda pair: pair[0].encode())


def code_digest(root: Path | None = None) -> str:
    """Return the lowercase hex code digest of the installed release."""
    return hashlib.sha256(canonical.dumps(code_manifest(root))).hexdigest()
