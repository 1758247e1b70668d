"""A clean ~1,000-entry audit log and the tools to tamper with copies of it (§10)."""

from __future__ import annotations

import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
import sqlalchemy as sa

from audit_log import checkpoint as cp
from audit_log import merkle, sqlstore
from audit_log.entry import Entry, Who
from audit_log.export import CHECKPOINTS, ENTRIES, checkpoint_line
from audit_log.sqlstore import PendingEntry
from expert_draw.adapters.db.engine import make_engine, write_transaction
from tests.support.databases import new_postgres_url

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.engine import Engine

    from audit_log.note import Signer
    from expert_draw.adapters.audit import AuditLog

UUID = "0b7f6c2e-8a1d-4c3b-9e2f-5a6b7c8d9e0f"
WHO = Who("admin", "dev:admin", "test-1")


@dataclass
class BaseLog:
    """The clean log: its database URL, transactions and a few receipts."""

    url: str
    transactions: list[tuple[int, int]]  # (first_seq, count)
    receipts: dict[int, str]
    size: int


def build(audit: AuditLog, url: str, target: int = 1000, prefix: str = "t") -> BaseLog:
    """Append single- and multi-entry transactions until the log has ``target`` entries."""
    transactions, receipts = [], {}
    number = 0
    with audit.engine.connect() as conn:
        size = audit.store.head(conn).size
    while size < target:
        count = 3 if number % 10 == 9 else 1
        pending = [
            PendingEntry("expert.delete", f"experts/{UUID}", {"reason": f"r{number}-{i}"})
            for i in range(count)
        ]
        with write_transaction(audit.engine) as conn:
            done = audit.append(
                conn,
                who=WHO,
                request_id=f"{prefix}{number}",
                payload={"n": number},
                pending=pending,
            )
        transactions.append((done.first_seq, count))
        for item in done.receipts:
            if item.index % 97 == 0:
                receipts[item.index] = item.format()
        size, number = done.size, number + 1
    return BaseLog(url, transactions, receipts, size)


def copy_database(base: BaseLog, folder: Path, name: str) -> str:
    """Return the URL of a copy of the base database."""
    if base.url.startswith("sqlite"):
        source = Path(base.url.removeprefix("sqlite:///"))
        with sqlite3.connect(source) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        target = folder / f"{name}.sqlite"
        shutil.copyfile(source, target)
        return f"sqlite:///{target}"
    server, database = base.url.rsplit("/", 1)
    with psycopg.connect(f"{server}/postgres".replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name} TEMPLATE {database}")
    return f"{server}/{name}"


def raw(engine: Engine, sql: str, **params: Any) -> None:
    """Run SQL as an attacker would: bypassing the app and (on PostgreSQL) the triggers."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        conn.execute(sa.text(sql), params)


def body(engine: Engine, seq: int) -> bytes:
    with engine.connect() as conn:
        return bytes(
            conn.execute(
                sa.text("SELECT body FROM audit_entry WHERE seq = :s"), {"s": seq}
            ).scalar_one()
        )


def set_body(engine: Engine, seq: int, data: bytes, *, rehash: bool = False) -> None:
    """Overwrite an entry's stored bytes (and, with ``rehash``, its stored leaf hash)."""
    if rehash:
        raw(
            engine,
            "UPDATE audit_entry SET body = :b, leaf_hash = :h WHERE seq = :s",
            b=data,
            h=merkle.leaf_hash(data),
            s=seq,
        )
    else:
        raw(engine, "UPDATE audit_entry SET body = :b WHERE seq = :s", b=data, s=seq)


def note(engine: Engine, size: int) -> str:
    """The stored checkpoint note at ``size``."""
    with engine.connect() as conn:
        return str(
            conn.execute(
                sa.text("SELECT note FROM audit_checkpoint WHERE size = :s"), {"s": size}
            ).scalar_one()
        )


def entries(engine: Engine) -> list[Entry]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT body FROM audit_entry ORDER BY seq")).scalars()
        return [Entry.decode(bytes(b)) for b in rows]


def checkpoint_sizes(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return [
            int(s)
            for s in conn.execute(
                sa.text("SELECT size FROM audit_checkpoint ORDER BY size")
            ).scalars()
        ]


def export(engine: Engine, folder: Path) -> Path:
    """Write the export layout straight from the (tampered) tables, as `log export` would."""
    folder.mkdir(parents=True, exist_ok=True)
    with engine.connect() as conn:
        with (folder / ENTRIES).open("wb") as out:
            for row in conn.execute(sa.text("SELECT body FROM audit_entry ORDER BY seq")):
                out.write(bytes(row.body) + b"\n")
        with (folder / CHECKPOINTS).open("wb") as out:
            for row in conn.execute(
                sa.text("SELECT size, note FROM audit_checkpoint ORDER BY size")
            ):
                out.write(checkpoint_line(int(row.size), str(row.note)))
    return folder


def rewrite(
    engine: Engine,
    new_entries: list[Entry],
    signers: list[Signer] | Callable[[int], list[Signer]],
    origin: str,
) -> None:
    """Replace the whole log with ``new_entries`` (re-chained, re-signed at the old sizes).

    ``signers`` is a list, or a function of the checkpoint size (key rotations).
    """
    signers_for = signers if callable(signers) else (lambda _size: signers)
    sizes = checkpoint_sizes(engine)
    bodies, prev = [], None
    compact = merkle.CompactRange()
    notes = {}
    for seq, entry in enumerate(new_entries):
        fixed = Entry(
            entry.log,
            seq,
            prev.hex() if prev else "0" * 64,
            entry.ts,
            entry.req,
            entry.kind,
            entry.subj,
            entry.who,
            entry.data,
        )
        data = fixed.encode()
        prev = merkle.leaf_hash(data)
        compact.append(prev)
        bodies.append(data)
        if seq + 1 in sizes:
            notes[seq + 1] = cp.sign(
                cp.Checkpoint(origin, seq + 1, compact.root()), signers_for(seq + 1)
            )
    raw(engine, "DELETE FROM audit_entry")
    raw(engine, "DELETE FROM audit_checkpoint")
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        conn.execute(sa.insert(sqlstore.entry_table), [
            {"log_id": 1, "seq": seq, "body": data, "leaf_hash": merkle.leaf_hash(data), "req": f"x{seq}", "kind": "k", "subj": "s"}
            for seq, data in enumerate(bodies)
        ])  # fmt: skip
        conn.execute(sa.insert(sqlstore.checkpoint_table), [
            {"log_id": 1, "size": size, "note": text, "created_at": 0} for size, text in notes.items()
        ])  # fmt: skip


def engine_for(url: str) -> Engine:
    return make_engine(url)


def postgres_base_url(server_url: str) -> str:
    return new_postgres_url(server_url)
