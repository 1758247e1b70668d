"""Small in-memory audit logs for verifier tests: build, re-chain, re-sign, write."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from audit_log import checkpoint as cp
from audit_log import merkle, trust
from audit_log.entry import Entry, Who, make_req
from audit_log.export import CHECKPOINTS, ENTRIES, checkpoint_line
from tests.vectors.generate import ORIGIN, UUID, signer

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from audit_log.note import Signer

KEY = signer("property log key")
TRUST = trust.parse(f'version = 1\nlog_vkey = "{KEY.verifier}"\n')
ADMIN = Who("admin", "admin:ops-1", "replica-a")
SERVICE = Who("service", "service", "replica-a")


def entries(transactions: list[int]) -> tuple[list[Entry], list[int]]:
    """Entries of a log (log.init, then the transactions) and the checkpoint sizes."""
    init = {"origin": ORIGIN, "hash_alg": "sha256", "format_v": 1, "vkeys": [str(KEY.verifier)],
            "reanchor_keys": [], "reanchor_threshold": 0, "spec_version": "EDS-1",
            "code_digest": "0" * 64, "escrow_keys": [], "drand": None}  # fmt: skip
    result = [
        Entry(
            ORIGIN,
            0,
            "0" * 64,
            1_000,
            make_req("service", "init", 0),
            "log.init",
            "log",
            SERVICE,
            init,
        )
    ]
    sizes = [1]
    for number, count in enumerate(transactions):
        for index in range(count):
            req = make_req(ADMIN.sub, f"t{number}", index)
            data = {"reason": f"r{number}.{index}"}
            result.append(
                Entry(
                    ORIGIN,
                    len(result),
                    "",
                    1_000 + len(result),
                    req,
                    "expert.delete",
                    f"experts/{UUID}",
                    ADMIN,
                    data,
                )
            )
        sizes.append(len(result))
    return result, sizes


def seal(
    items: list[Entry],
    sizes: list[int],
    keys: list[Signer] | None = None,
    keys_at: Callable[[int], list[Signer]] | None = None,
) -> tuple[list[bytes], dict[int, str]]:
    """Chain ``items`` (seq and prev fixed up) and sign a checkpoint at each size.

    ``keys_at(size)`` picks the signers per size (a re-keyed log); else ``keys`` or KEY.
    """
    bodies: list[bytes] = []
    notes: dict[int, str] = {}
    compact = merkle.CompactRange()
    for seq, item in enumerate(items):
        prev = merkle.leaf_hash(bodies[-1]).hex() if bodies else "0" * 64
        body = replace(item, seq=seq, prev=prev).encode()
        bodies.append(body)
        compact.append(merkle.leaf_hash(body))
        if seq + 1 in sizes:
            signers = keys_at(seq + 1) if keys_at else keys or [KEY]
            notes[seq + 1] = cp.sign(cp.Checkpoint(ORIGIN, seq + 1, compact.root()), signers)
    return bodies, notes


def build(transactions: list[int]) -> tuple[list[bytes], dict[int, str]]:
    """A sealed log of log.init and the given transactions."""
    return seal(*entries(transactions))


def write(
    folder: Path,
    bodies: list[bytes],
    notes: dict[int, str],
    extra: list[tuple[int, str]] | None = None,
) -> Path:
    """Write an export folder."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ENTRIES).write_bytes(b"".join(b + b"\n" for b in bodies))
    lines = sorted([*notes.items(), *(extra or [])])
    (folder / CHECKPOINTS).write_bytes(b"".join(checkpoint_line(s, n) for s, n in lines))
    return folder
