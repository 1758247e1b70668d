"""The audit store on SQL: Core tables and the append transaction.

The only module of ``audit_log`` that touches a database; the service's adapters import
it and run it on their own connection, inside the business transaction (audit-log.md
§4-§5). The tables are part of the service's Alembic metadata.

Append, once per business transaction: lock the head row (``SELECT … FOR UPDATE`` on
PostgreSQL; SQLite holds its write lock from ``BEGIN IMMEDIATE``), give each entry its
``seq``, ``prev`` and ``ts = max(now, last_ts)``, insert entries and new perfect nodes,
sign one checkpoint at the final size, compare-and-swap the head, and record the
request for idempotent retries. Receipts for the new entries need no reads.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    bindparam,
    insert,
    literal_column,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.exc import IntegrityError

from audit_log import canonical, merkle
from audit_log import checkpoint as cp
from audit_log.entry import ZERO_HASH, Entry, Who, make_req
from audit_log.errors import AuditLogError
from audit_log.receipt import Receipt

if TYPE_CHECKING:
    from sqlalchemy import CompoundSelect, Select, TextClause
    from sqlalchemy.engine import Connection, Row

    from audit_log.keys import KeyRing

metadata = MetaData()

log_table = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("origin", String(255), nullable=False, unique=True),
    Column("hash_alg", String(16), nullable=False),
    Column("format_v", Integer, nullable=False),
)
head_table = Table(
    "audit_head",
    metadata,
    Column("log_id", Integer, ForeignKey("audit_log.id"), primary_key=True, autoincrement=False),
    Column("size", BigInteger, nullable=False),
    Column("root", LargeBinary(32), nullable=False),
    Column("last_leaf", LargeBinary(32), nullable=False),
    Column("compact", LargeBinary, nullable=False),
    Column("last_ts", BigInteger, nullable=False),
    Column("checkpoint_size", BigInteger, nullable=False),
)
entry_table = Table(
    "audit_entry",
    metadata,
    Column("log_id", Integer, ForeignKey("audit_log.id"), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("leaf_hash", LargeBinary(32), nullable=False),
    Column("req", String(128), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("subj", String(128), nullable=False),
    PrimaryKeyConstraint("log_id", "seq"),
    UniqueConstraint("log_id", "req"),
    CheckConstraint("seq >= 0", name="ck_audit_entry_seq"),
    # Covering for an expert's entries by seq and kind (a draw's look-back).
    Index("ix_audit_entry_subj_seq_kind", "log_id", "subj", "seq", "kind"),
    Index("ix_audit_entry_kind", "log_id", "kind"),
)
node_table = Table(
    "audit_node",
    metadata,
    Column("log_id", Integer, ForeignKey("audit_log.id"), nullable=False),
    Column("level", Integer, nullable=False),
    Column("idx", BigInteger, nullable=False),
    Column("hash", LargeBinary(32), nullable=False),
    PrimaryKeyConstraint("log_id", "level", "idx"),
)
checkpoint_table = Table(
    "audit_checkpoint",
    metadata,
    Column("log_id", Integer, ForeignKey("audit_log.id"), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("note", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("log_id", "size"),
)
cosig_table = Table(
    "audit_cosig",
    metadata,
    Column("log_id", Integer, ForeignKey("audit_log.id"), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("signer", String(255), nullable=False),  # the witness's key name
    Column("line", Text, nullable=False),  # its cosignature/v1 signature line
    PrimaryKeyConstraint("log_id", "size", "signer"),
)
request_table = Table(
    "audit_request",
    metadata,
    Column("log_id", Integer, ForeignKey("audit_log.id"), nullable=False),
    Column("principal", String(40), nullable=False),
    Column("request_id", String(64), nullable=False),
    Column("payload_sha256", String(64), nullable=False),
    Column("first_seq", BigInteger, nullable=False),
    Column("count", Integer, nullable=False),
    Column("outcome", LargeBinary, nullable=False),
    PrimaryKeyConstraint("log_id", "principal", "request_id"),
)

LOG_ID = 1
_LOCK_HEAD = select(head_table).where(head_table.c.log_id == LOG_ID).with_for_update()
DB_NOW_MS = "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)"
"""PostgreSQL's clock in UTC milliseconds, as an SQL expression."""
# PostgreSQL: the same lock, and the database's clock read once the lock is held.
_LOCK_HEAD_CLOCK = (
    select(head_table, literal_column(DB_NOW_MS).label("db_now_ms"))
    .where(head_table.c.log_id == LOG_ID)
    .with_for_update(of=head_table)
)
_FIND_REQUEST = select(request_table).where(
    request_table.c.log_id == LOG_ID,
    request_table.c.principal == bindparam("principal"),
    request_table.c.request_id == bindparam("request_id"),
)
_INSERT_ENTRY = insert(entry_table)
_INSERT_NODE = insert(node_table)
_INSERT_CHECKPOINT = insert(checkpoint_table)
_INSERT_REQUEST = insert(request_table)
_CAS_HEAD = (
    update(head_table)
    .where(
        head_table.c.log_id == bindparam("b_log_id"),
        head_table.c.size == bindparam("b_old_size"),
        head_table.c.root == bindparam("b_old_root"),
    )
    .values(
        size=bindparam("b_size"),
        root=bindparam("b_root"),
        last_leaf=bindparam("b_last_leaf"),
        compact=bindparam("b_compact"),
        last_ts=bindparam("b_last_ts"),
        checkpoint_size=bindparam("b_size"),
    )
)
DataBuilder = Callable[[int], Mapping[str, Any]]


class StoreError(AuditLogError):
    """The store is inconsistent or a concurrent append broke the head's CAS."""


class RequestReusedError(AuditLogError):
    """A request id was used before: with another payload, or by an append (FAILED_PRECONDITION)."""


@dataclass(frozen=True, slots=True)
class PendingEntry:
    """An entry before the head lock: its kind, subject and data (or a ``ts`` builder)."""

    kind: str
    subj: str
    data: Mapping[str, Any] | DataBuilder


@dataclass(frozen=True, slots=True)
class StoredRequest:
    """What an earlier request appended, and the outcome it returned."""

    first_seq: int
    count: int
    outcome: bytes


# A statement run with others: a SELECT, a UNION of them, or SQL text (a write).
Query: TypeAlias = "Select[Any] | CompoundSelect[Any] | TextClause"
# Statements with their parameters, run in order.
Statements: TypeAlias = "Sequence[tuple[Query, Mapping[str, Any]]]"
# The caller's statements to run with an append (AuditStore.append's ``then``).
Then: TypeAlias = "Callable[[Appended], Statements]"
# Runs statements in order and returns each one's rows; the service's runs them in one
# round trip on PostgreSQL (expert_draw.adapters.db.engine.pipelined).
Pipeline: TypeAlias = "Callable[[Connection, Statements], list[list[Row[Any]]]]"


@dataclass(frozen=True, slots=True)
class Appended:
    """The result of one append: the entries' bytes, the checkpoint, the receipts.

    Receipts are computed when asked for, from the tree nodes the append knew: after
    the commit, outside the head lock, and not at all for callers that do not need
    them (a bulk import of 100,000 entries).
    """

    first_seq: int
    bodies: tuple[bytes, ...]
    checkpoint_note: str
    nodes: Mapping[tuple[int, int], bytes] = field(repr=False)

    @property
    def size(self) -> int:
        """The log size after the append."""
        return self.first_seq + len(self.bodies)

    @property
    def receipts(self) -> tuple[Receipt, ...]:
        """One C2SP tlog-proof receipt per appended entry, into the append's checkpoint."""
        size = self.size
        return tuple(
            Receipt(
                seq,
                tuple(merkle.inclusion_proof(seq, size, lambda lv, i: self.nodes[(lv, i)])),
                self.checkpoint_note,
            )
            for seq in range(self.first_seq, size)
        )


@dataclass(frozen=True, slots=True)
class Head:
    """The head row: size, root, last leaf, compact range, last ts, checkpoint size."""

    size: int
    root: bytes
    last_leaf: bytes
    compact: merkle.CompactRange
    last_ts: int
    checkpoint_size: int


def _pack(compact: merkle.CompactRange) -> bytes:
    return b"".join(compact.hashes)


def _unpack(size: int, blob: bytes) -> merkle.CompactRange:
    hashes = [blob[i : i + 32] for i in range(0, len(blob), 32)]
    return merkle.CompactRange(size, hashes)


_SIZE = select(head_table.c.size).where(head_table.c.log_id == LOG_ID)


def _head(row: Row[Any]) -> Head:
    compact = _unpack(row.size, bytes(row.compact))
    return Head(
        row.size, bytes(row.root), bytes(row.last_leaf), compact, row.last_ts, row.checkpoint_size
    )


def payload_digest(payload: object) -> str:
    """Return the hex SHA-256 of a request payload's aud1 bytes."""
    return hashlib.sha256(canonical.dumps(payload)).hexdigest()


class AuditStore:
    """One log on one database: append, read, prove, self-check."""

    def __init__(
        self, origin: str, keys: KeyRing, svc: str, *, pipeline: Pipeline | None = None
    ) -> None:
        """Serve the log ``origin``; sign with ``keys``; ``svc`` names this replica.

        ``pipeline`` runs an append's write with the caller's statements (``then``);
        without one they run one after the other.
        """
        self.origin = origin
        self.keys = keys
        self.svc = svc
        self.pipeline: Pipeline = pipeline or one_by_one

    # -- set-up -----------------------------------------------------------------------

    def exists(self, conn: Connection) -> bool:
        """Return True if the log row exists."""
        row = conn.execute(select(log_table.c.origin).where(log_table.c.id == LOG_ID)).first()
        if row is not None and row.origin != self.origin:
            msg = f"the database holds log {row.origin!r}, not {self.origin!r}"
            raise StoreError(msg)
        return row is not None

    def create(self, conn: Connection, init: Mapping[str, Any], now_ms: int) -> Appended:
        """Create the log and append ``log.init`` at seq 0 (in the caller's transaction)."""
        conn.execute(
            insert(log_table).values(id=LOG_ID, origin=self.origin, hash_alg="sha256", format_v=1)
        )
        conn.execute(
            insert(head_table).values(
                log_id=LOG_ID, size=0, root=merkle.EMPTY_ROOT, last_leaf=bytes(32),
                compact=b"", last_ts=0, checkpoint_size=0,
            )
        )  # fmt: skip
        who = Who("service", "service", self.svc)
        pending = [PendingEntry("log.init", "log", init)]
        return self.append(
            conn, who=who, request_id="log-init", payload_sha256=payload_digest(dict(init)),
            pending=pending, now_ms=now_ms,
        )  # fmt: skip

    # -- idempotency ------------------------------------------------------------------

    def find_request(
        self, conn: Connection, principal: str, request_id: str, payload_sha256: str
    ) -> StoredRequest | None:
        """Return the earlier outcome of this request id, if any.

        Raises:
            RequestReusedError: the id was used with a different payload.
        """
        row = conn.execute(*self.request_query(principal, request_id)).first()
        return self.stored_request(row, request_id, payload_sha256)

    @staticmethod
    def request_query(principal: str, request_id: str) -> tuple[Select[Any], dict[str, str]]:
        """The statement :meth:`find_request` runs and its parameters (to send with others)."""
        return _FIND_REQUEST, {"principal": principal, "request_id": request_id}

    @staticmethod
    def stored_request(
        row: Row[Any] | None, request_id: str, payload_sha256: str
    ) -> StoredRequest | None:
        """:meth:`find_request`'s answer from the row :meth:`request_query` found.

        Raises:
            RequestReusedError: the id was used with a different payload.
        """
        if row is None:
            return None
        if row.payload_sha256 != payload_sha256:
            msg = f"request id {request_id!r} was already used with a different request"
            raise RequestReusedError(msg)
        count = int(row._mapping["count"])  # noqa: SLF001 - Row._mapping is public API
        return StoredRequest(int(row.first_seq), count, bytes(row.outcome))

    # -- append -----------------------------------------------------------------------

    def lock_head(self, conn: Connection) -> Head:
        """Lock and read the head row (``FOR UPDATE``; SQLite already holds its lock)."""
        return _head(conn.execute(_LOCK_HEAD).one())

    @staticmethod
    def lock_query(dialect: str) -> Select[Any]:
        """The statement that locks the head row on ``dialect``, with PostgreSQL's clock.

        The clock (UTC ms, as of the lock) is PostgreSQL's; SQLite (one machine) has
        none. Sent with other statements (``pipelined``), read with :meth:`locked_head`.
        """
        return _LOCK_HEAD_CLOCK if dialect == "postgresql" else _LOCK_HEAD

    @staticmethod
    def locked_head(row: Row[Any]) -> tuple[Head, int | None]:
        """The head, and the database's clock (None on SQLite), from :meth:`lock_query`'s row."""
        clock = row._mapping.get("db_now_ms")  # noqa: SLF001 - Row._mapping is public API
        return _head(row), None if clock is None else int(clock)

    def append(  # noqa: PLR0913 - the parts of one audited request
        self,
        conn: Connection,
        *,
        who: Who,
        request_id: str,
        payload_sha256: str,
        pending: Sequence[PendingEntry],
        now_ms: int,
        outcome: bytes = b"",
        head: Head | None = None,
        then: Then | None = None,
    ) -> Appended:
        """Append ``pending`` as one transaction's entries, with one signed checkpoint.

        ``head`` is the head the caller locked in this transaction (:meth:`lock_head`),
        saving the lock's round trip; the compare-and-swap still guards the write.

        ``then(appended)`` is called once the entries are built, before anything is
        written, and gives statements of the caller's own (its business rows, which may
        depend on the entries) to run right after the write in the same transaction:
        with it in one round trip when the store has a ``pipeline`` (the service's, on
        PostgreSQL), else one after the other. ``then`` may also write itself (the
        transaction is the caller's). The compare-and-swap is checked after them; on its
        failure, or a reused request id, the caller's transaction aborts, theirs with it.

        Raises:
            audit_log.entry.SchemaError: an entry breaks its schema or is too large.
            StoreError: the head changed under us (the caller's transaction must abort).
            RequestReusedError: ``request_id`` was used before (its keys are taken; the
                caller's transaction must abort).
        """
        if not pending:
            msg = "an append needs at least one entry"
            raise ValueError(msg)
        if head is None:
            head = self.lock_head(conn)
        compact = head.compact.copy()
        nodes = head.compact.nodes()
        size, prev, ts = head.size, head.last_leaf, head.last_ts
        bodies: list[bytes] = []
        entry_rows: list[dict[str, Any]] = []
        node_rows: list[dict[str, Any]] = []
        for index, item in enumerate(pending):
            ts = max(now_ms, ts)
            data = item.data(ts) if callable(item.data) else item.data
            entry = Entry(
                log=self.origin, seq=size, prev=prev.hex() if size else ZERO_HASH, ts=ts,
                req=make_req(who.sub, request_id, index), kind=item.kind, subj=item.subj,
                who=who, data=dict(data),
            )  # fmt: skip
            body = entry.encode()
            leaf = merkle.leaf_hash(body)
            nodes[(0, size)] = leaf
            for level, node_index, value in compact.append(leaf):
                nodes[(level, node_index)] = value
                node_rows.append(
                    {"log_id": LOG_ID, "level": level, "idx": node_index, "hash": value}
                )
            entry_rows.append({
                "log_id": LOG_ID, "seq": size, "body": body, "leaf_hash": leaf,
                "req": entry.req, "kind": entry.kind, "subj": entry.subj,
            })  # fmt: skip
            bodies.append(body)
            prev, size = leaf, size + 1
        root = compact.root()
        note = cp.sign(cp.Checkpoint(self.origin, size, root), self.keys.signers_for(size))
        checkpoint_row = {"log_id": LOG_ID, "size": size, "note": note, "created_at": ts}
        request_row = {
            "log_id": LOG_ID, "principal": who.sub, "request_id": request_id,
            "payload_sha256": payload_sha256, "first_seq": head.size, "count": len(bodies),
            "outcome": outcome,
        }  # fmt: skip
        cas = {
            "b_log_id": LOG_ID, "b_old_size": head.size, "b_old_root": head.root,
            "b_size": size, "b_root": root, "b_last_leaf": prev,
            "b_compact": _pack(compact), "b_last_ts": ts,
        }  # fmt: skip
        rows = _Rows(entry_rows, node_rows, checkpoint_row, request_row, cas)
        appended = Appended(head.size, tuple(bodies), note, nodes)
        also = then(appended) if then is not None else ()
        try:
            if conn.dialect.name == "postgresql":
                swapped = _write_postgres(conn, rows, also, self.pipeline)
            else:
                swapped = _write_portable(conn, rows)
                one_by_one(conn, also)
        except IntegrityError as exc:
            # Under the head lock only the request's keys can collide: its row's, and its
            # entries' (log_id, req). The transaction is spoilt; the caller's rolls back.
            if not _request_key(exc):
                raise
            msg = f"request id {request_id!r} was already used"
            raise RequestReusedError(msg) from None
        if swapped != 1:
            msg = "the audit head changed during the append (compare-and-swap failed)"
            raise StoreError(msg)
        return appended

    # -- reads ------------------------------------------------------------------------

    def size(self, conn: Connection) -> int:
        """The log's size (one column of the head row, without locking it)."""
        return int(conn.execute(_SIZE).scalar_one())

    @staticmethod
    def size_query() -> tuple[Select[Any], dict[str, Any]]:
        """The statement :meth:`size` runs (its one row's one column), to send with others."""
        return _SIZE, {}

    def head(self, conn: Connection) -> Head:
        """Read the head row without locking it."""
        return _head(conn.execute(select(head_table).where(head_table.c.log_id == LOG_ID)).one())

    def checkpoint_note(self, conn: Connection, size: int) -> str | None:
        """Return the signed checkpoint at ``size``, if one was made."""
        row = conn.execute(
            select(checkpoint_table.c.note).where(
                checkpoint_table.c.log_id == LOG_ID, checkpoint_table.c.size == size
            )
        ).first()
        return None if row is None else str(row.note)

    def latest_checkpoint(self, conn: Connection) -> tuple[int, str]:
        """Return the newest checkpoint's size and note."""
        row = conn.execute(
            select(checkpoint_table.c.size, checkpoint_table.c.note)
            .where(checkpoint_table.c.log_id == LOG_ID)
            .order_by(checkpoint_table.c.size.desc())
            .limit(1)
        ).one()
        return int(row.size), str(row.note)

    def bodies(self, conn: Connection, start: int, stop: int) -> list[tuple[int, bytes, bytes]]:
        """Return ``(seq, body, leaf_hash)`` for ``start <= seq < stop`` in order."""
        rows = conn.execute(
            select(entry_table.c.seq, entry_table.c.body, entry_table.c.leaf_hash)
            .where(
                entry_table.c.log_id == LOG_ID, entry_table.c.seq >= start, entry_table.c.seq < stop
            )
            .order_by(entry_table.c.seq)
        )
        return [(int(r.seq), bytes(r.body), bytes(r.leaf_hash)) for r in rows]

    def read_nodes(
        self, conn: Connection, wanted: set[tuple[int, int]]
    ) -> dict[tuple[int, int], bytes]:
        """Fetch perfect nodes (level 0 from the entries) in two queries."""
        found: dict[tuple[int, int], bytes] = {}
        leaves = sorted(i for level, i in wanted if level == 0)
        if leaves:
            rows = conn.execute(
                select(entry_table.c.seq, entry_table.c.leaf_hash).where(
                    entry_table.c.log_id == LOG_ID, entry_table.c.seq.in_(leaves)
                )
            )
            found.update({(0, int(r.seq)): bytes(r.leaf_hash) for r in rows})
        inner = sorted((level, i) for level, i in wanted if level > 0)
        if inner:
            rows = conn.execute(
                select(node_table.c.level, node_table.c.idx, node_table.c.hash).where(
                    node_table.c.log_id == LOG_ID,
                    tuple_(node_table.c.level, node_table.c.idx).in_(inner),
                )
            )
            found.update({(int(r.level), int(r.idx)): bytes(r.hash) for r in rows})
        missing = wanted - set(found)
        if missing:
            msg = f"audit store lacks {len(missing)} tree nodes, e.g. {min(missing)}"
            raise StoreError(msg)
        return found

    def _prove(
        self, conn: Connection, make: Callable[[merkle.NodeReader], list[bytes]]
    ) -> list[bytes]:
        wanted: set[tuple[int, int]] = set()

        def record(level: int, index: int) -> bytes:
            wanted.add((level, index))
            return bytes(32)

        make(record)
        found = self.read_nodes(conn, wanted)
        return make(lambda level, index: found[(level, index)])

    def inclusion_proof(self, conn: Connection, index: int, size: int) -> list[bytes]:
        """Return the inclusion proof of ``index`` into the tree of ``size``."""
        return self._prove(conn, lambda read: merkle.inclusion_proof(index, size, read))

    def consistency_proof(self, conn: Connection, size1: int, size2: int) -> list[bytes]:
        """Return the consistency proof from ``size1`` to ``size2``."""
        return self._prove(conn, lambda read: merkle.consistency_proof(size1, size2, read))


@dataclass(frozen=True, slots=True)
class _Rows:
    entries: list[dict[str, Any]]
    nodes: list[dict[str, Any]]
    checkpoint: dict[str, Any]
    request: dict[str, Any]
    cas: dict[str, Any]


def _request_key(exc: IntegrityError) -> bool:
    """Whether ``exc`` is a duplicate of a request's keys (request row, entries' req)."""
    constraint = getattr(getattr(exc.orig, "diag", None), "constraint_name", None)
    if constraint is not None:  # PostgreSQL names it, whatever the server's language
        return constraint in {"audit_request_pkey", "audit_entry_log_id_req_key"}
    said = str(exc.orig)  # SQLite: "UNIQUE constraint failed: <table>.<column>, ..."
    return "audit_request.request_id" in said or "audit_entry.req" in said


def _write_portable(conn: Connection, rows: _Rows) -> int:
    """Write an append's rows with one statement per table; return the CAS row count."""
    conn.execute(_INSERT_ENTRY, rows.entries)
    if rows.nodes:
        conn.execute(_INSERT_NODE, rows.nodes)
    conn.execute(_INSERT_CHECKPOINT, rows.checkpoint)
    conn.execute(_INSERT_REQUEST, rows.request)
    return int(conn.execute(_CAS_HEAD, rows.cas).rowcount)


# One statement of constant text, whatever the number of entries and nodes: the rows
# travel as arrays (unnest), so SQLAlchemy and psycopg reuse their compiled and
# converted forms, PostgreSQL its prepared plan, and a bulk import of 10,000 entries
# binds 25 parameters, not 110,000 (the wire protocol's limit is 65,535).
_WRITE_POSTGRES = text(
    "WITH e AS (INSERT INTO audit_entry (log_id, seq, body, leaf_hash, req, kind, subj)"
    " SELECT CAST(:b_log_id AS INTEGER), * FROM unnest(CAST(:e_seq AS BIGINT[]),"
    " CAST(:e_body AS BYTEA[]), CAST(:e_leaf_hash AS BYTEA[]), CAST(:e_req AS TEXT[]),"
    " CAST(:e_kind AS TEXT[]), CAST(:e_subj AS TEXT[]))),"
    " n AS (INSERT INTO audit_node (log_id, level, idx, hash)"
    " SELECT CAST(:b_log_id AS INTEGER), * FROM unnest(CAST(:n_level AS INTEGER[]),"
    " CAST(:n_idx AS BIGINT[]), CAST(:n_hash AS BYTEA[]))),"
    " c AS (INSERT INTO audit_checkpoint (log_id, size, note, created_at)"
    " VALUES (:b_log_id, :b_size, :c_note, :c_created_at)),"
    " r AS (INSERT INTO audit_request (log_id, principal, request_id, payload_sha256,"
    " first_seq, count, outcome) VALUES (:b_log_id, :r_principal, :r_request_id,"
    " :r_payload_sha256, :r_first_seq, :r_count, :r_outcome))"
    " UPDATE audit_head SET size = :b_size, root = :b_root, last_leaf = :b_last_leaf,"
    " compact = :b_compact, last_ts = :b_last_ts, checkpoint_size = :b_size"
    " WHERE log_id = :b_log_id AND size = :b_old_size AND root = :b_old_root"
    " RETURNING size"  # a row when the compare-and-swap took (counted in a pipeline too)
)


def _write_postgres(conn: Connection, rows: _Rows, also: Statements, pipeline: Pipeline) -> int:
    """Write an append's rows in one round trip (data-modifying CTEs); return the CAS count.

    Under the head lock every round trip lengthens the time other writers wait, so all
    inserts and the head update travel as one statement, and ``also`` (the caller's
    statements, ``AuditStore.append``'s ``then``) with it through ``pipeline``.
    """
    params: dict[str, Any] = dict(rows.cas)
    for column in ("seq", "body", "leaf_hash", "req", "kind", "subj"):
        params[f"e_{column}"] = [row[column] for row in rows.entries]
    for column in ("level", "idx", "hash"):
        params[f"n_{column}"] = [row[column] for row in rows.nodes]
    params.update(c_note=rows.checkpoint["note"], c_created_at=rows.checkpoint["created_at"])
    for column in ("principal", "request_id", "payload_sha256", "first_seq", "count", "outcome"):
        params[f"r_{column}"] = rows.request[column]
    return len(pipeline(conn, [(_WRITE_POSTGRES, params), *also])[0])


def one_by_one(conn: Connection, statements: Statements) -> list[list[Row[Any]]]:
    """Run ``statements`` in order, one round trip each; each one's rows (none for a write)."""
    results = [conn.execute(statement, dict(params)) for statement, params in statements]
    return [list(result.all()) if result.returns_rows else [] for result in results]


def self_check(store: AuditStore, conn: Connection, tail: int = 64) -> list[str]:
    """Check the head, the latest checkpoint, the last entries and the compact nodes.

    Returns the problems found (empty when consistent); the service refuses writes on
    any (audit-log.md §5 start-up self-check). Never repairs anything.
    """
    head = store.head(conn)
    problems = []
    if head.compact.root() != head.root:
        problems.append("head compact range does not fold to the head root")
    problems.extend(_check_checkpoint(store, conn, head))
    problems.extend(_check_tail(store, conn, head, tail))
    problems.extend(_check_compact_nodes(store, conn, head))
    return problems


def _check_checkpoint(store: AuditStore, conn: Connection, head: Head) -> list[str]:
    note = store.checkpoint_note(conn, head.size)
    if note is None or head.checkpoint_size != head.size:
        return [f"no checkpoint at the head size {head.size}"]
    try:
        checkpoint, _ = cp.open_checkpoint(note, store.origin, store.keys.verifiers_for(head.size))
    except AuditLogError as exc:
        return [f"checkpoint at size {head.size} does not verify: {exc}"]
    if checkpoint.root != head.root or checkpoint.size != head.size:
        return [f"checkpoint at size {head.size} disagrees with the head"]
    return []


def _check_tail(store: AuditStore, conn: Connection, head: Head, tail: int) -> list[str]:
    start = max(0, head.size - tail)
    rows = store.bodies(conn, start, head.size)
    if [seq for seq, _, _ in rows] != list(range(start, head.size)):
        return [f"entries {start}..{head.size - 1} are not contiguous"]
    problems = []
    prev = None
    for seq, body, leaf in rows:
        if merkle.leaf_hash(body) != leaf:
            problems.append(f"entry {seq}: stored leaf hash does not match its body")
        try:
            decoded = Entry.decode(body)
        except AuditLogError as exc:
            problems.append(f"entry {seq}: {exc}")
            continue
        if decoded.seq != seq or decoded.log != store.origin:
            problems.append(f"entry {seq}: body names seq {decoded.seq} of {decoded.log!r}")
        if prev is not None and decoded.prev != prev.hex():
            problems.append(f"entry {seq}: prev does not chain to entry {seq - 1}")
        prev = leaf
    if rows and rows[-1][2] != head.last_leaf:
        problems.append("head last_leaf is not the last entry's leaf hash")
    return problems


def _check_compact_nodes(store: AuditStore, conn: Connection, head: Head) -> list[str]:
    expected = head.compact.nodes()
    try:
        stored = store.read_nodes(conn, set(expected))
    except StoreError as exc:
        return [str(exc)]
    return [
        f"tree node {key} disagrees with the head's compact range"
        for key, value in expected.items()
        if stored[key] != value
    ]
