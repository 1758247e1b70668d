"""Engine creation for SQLite (embedded) and PostgreSQL (production, replicas).

SQLite runs in WAL mode with ``synchronous=FULL`` (a commit survives power loss) and
foreign keys on; write transactions start with ``BEGIN IMMEDIATE`` so that a
read-then-write transaction never fails to upgrade its lock ("database is locked").
"""

from __future__ import annotations

import copy
import functools
import logging
import os
import threading
import time
import weakref
from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import ARRAY, LargeBinary, String, any_, bindparam, create_engine, event, make_url
from sqlalchemy.exc import ArgumentError, DisconnectionError

from audit_log.sqlstore import one_by_one
from expert_draw.errors import (
    ConcurrentChangeError,
    ConfigurationError,
    Error,
    StorageFullError,
    UnavailableError,
)

_log = logging.getLogger("expert_draw.db")

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence
    from pathlib import Path

    from sqlalchemy.engine import Connection, Dialect, Engine, Row
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.sql.compiler import SQLCompiler
    from sqlalchemy.sql.elements import ColumnElement
    from sqlalchemy.types import TypeEngine

    from audit_log.sqlstore import Query

SQLITE_BUSY_TIMEOUT_MS = 10_000
PING_IDLE_SECONDS = 1.0
_IDLE_SINCE = "expert_draw_idle_since"
_IMMEDIATE = "expert_draw_immediate"


def make_engine(url: str, *, base_dir: Path | None = None, connections: int = 5) -> Engine:
    """Create the engine for ``url`` (``sqlite:///path`` or ``postgresql+psycopg://…``).

    A relative SQLite path is resolved against ``base_dir`` and its folder created.

    Raises:
        ConfigurationError: the URL is malformed or names an unsupported database.
    """
    try:
        backend = make_url(url).get_backend_name()
    except ArgumentError:
        msg = "setting database_url: not a database URL (sqlite:///… or postgresql+psycopg://…)"
        raise ConfigurationError(msg) from None
    if backend not in {"sqlite", "postgresql"}:
        msg = f"setting database_url: unsupported database {backend!r} (SQLite or PostgreSQL)"
        raise ConfigurationError(msg)
    if backend == "sqlite" and not url.startswith("sqlite:////") and base_dir is not None:
        target = base_dir / url.removeprefix("sqlite:///")
        target.parent.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{target}"
    try:
        engine = create_engine(url, pool_size=connections, max_overflow=10)
    except (ArgumentError, ImportError) as exc:
        msg = f"setting database_url: {exc}"
        raise ConfigurationError(msg) from None
    if backend == "sqlite":
        _configure_sqlite(engine)
    else:
        ping_when_idle(engine, PING_IDLE_SECONDS)
        event.listen(engine, "connect", lambda dbapi, _record: binary_arrays(dbapi))
    return engine


def binary_arrays(dbapi_connection: Any) -> None:  # noqa: ANN401 - DB-API
    """Send this psycopg connection's list parameters as arrays in binary format.

    psycopg dumps a list as an array literal in text by default: every element in its
    text form, then searched and escaped with regular expressions (about 270 us for
    150 pseudonyms, 190 us for 150 codes, against 19 us in binary). A commit's draw
    member rows (five arrays of about 150) and the audit entries' bodies and hashes
    pay it under the head lock, where every writer of every replica waits (measured:
    CreateDraw held the lock 4.8-4.9 ms instead of 5.7-5.9, ``bench/lock_hold.py``).

    psycopg's own binary list dumper becomes the one for parameters of either format
    (``%s``); text-format uses (``%t``, literals, COPY in text) keep the text one. The
    array's type is the one psycopg gives the elements (``bytea[]``, ``text[]``, the
    smallest integer array that holds them). Unlike the text form, a list of ``str``
    is then ``text[]``, not of unknown type for PostgreSQL to infer: compare it with
    another type through a ``CAST``, as every list this service sends is. An empty
    list, or one of only NULLs, is still sent in text, of unknown type (psycopg's
    fallback).
    """
    from psycopg.types.array import ListBinaryDumper  # the driver, loaded with its dialect

    dbapi_connection.adapters.register_dumper(list, ListBinaryDumper)


def ping_when_idle(engine: Engine, seconds: float) -> None:
    """Check a pooled connection before use if it sat idle ``seconds`` or more.

    A connection that idled may have been closed under it (a database restart, an idle
    timeout, a firewall); one in constant use has just proved itself, and pinging it
    too (``pool_pre_ping``) cost a round trip per request, as much as a read's query
    (measured: 41 % of GetExpert on PostgreSQL). Should the database go away within
    ``seconds`` of a connection's last use, that connection's next statement fails as a
    disconnection: the request is answered UNAVAILABLE, the pool drops every
    connection opened before, and the next requests connect afresh.
    """

    @event.listens_for(engine, "checkin")
    def _checkin(_dbapi: Any, record: Any) -> None:  # noqa: ANN401 - DB-API
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi: Any, record: Any, _proxy: Any) -> None:  # noqa: ANN401 - DB-API
        since = record.info.get(_IDLE_SINCE)
        if since is None or time.monotonic() - since < seconds:
            return
        try:
            alive = engine.dialect.do_ping(dbapi)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError(str(exc)) from exc  # the pool connects again
        if not alive:  # pragma: no cover - psycopg raises rather than answering False
            raise DisconnectionError("the ping failed")


def checkpoint_in_background(engine: Engine, stop: threading.Event, seconds: float) -> None:
    """Move SQLite's WAL checkpoints off the request path (the service's engine only).

    By default the connection that commits past 1,000 WAL pages copies them into the
    database inside its request (a 50 ms stall, measured on draws); here requests never
    checkpoint, and a daemon thread runs a PASSIVE checkpoint, which never blocks
    writers, every ``seconds``. No-op on PostgreSQL.
    """
    if engine.dialect.name != "sqlite":
        return
    event.listen(
        engine, "connect", lambda dbapi, _record: dbapi.execute("PRAGMA wal_autocheckpoint=0")
    )
    engine.dispose()  # pooled connections reconnect with the setting

    def run() -> None:
        while not stop.wait(seconds):
            try:
                with engine.connect() as conn:
                    conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
            except Exception:  # noqa: BLE001 - retried on the next tick
                _log.exception("sqlite.checkpoint_failed")

    threading.Thread(target=run, name="wal-checkpoint", daemon=True).start()


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:  # noqa: ANN401 - DB-API
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get(_IMMEDIATE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


# One writer at a time per SQLite engine, queued in the process: SQLite's own busy
# handler makes a waiting writer sleep in growing steps (up to 100 ms) and poll, which
# gave draws a 5 s p99 under mixed load; waiters on this lock wake as soon as it is free.
# Other processes on the same file (the CLI's `db` commands) still meet busy_timeout.
_sqlite_writers: weakref.WeakKeyDictionary[Engine, threading.RLock] = weakref.WeakKeyDictionary()
_sqlite_writers_guard = threading.Lock()


def _writer_lock(engine: Engine) -> threading.RLock | None:
    if engine.dialect.name != "sqlite":
        return None
    with _sqlite_writers_guard:
        lock = _sqlite_writers.get(engine)
        if lock is None:
            lock = _sqlite_writers[engine] = threading.RLock()
        return lock


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """Open a connection in a write transaction; commit on success, else roll back.

    On SQLite the transaction takes the write lock at once (``BEGIN IMMEDIATE``), after
    queueing behind this process's other writers.
    """
    lock = _writer_lock(engine)
    with (
        lock if lock is not None else nullcontext(),
        engine.connect().execution_options(**{_IMMEDIATE: True}) as connection,
        connection.begin(),
    ):
        yield connection


def among(
    conn: Connection, column: ColumnElement[Any], values: Sequence[Any]
) -> ColumnElement[bool]:
    """What ``column IN values`` matches, for values of the column's type, cheaply.

    PostgreSQL: ``column = ANY(:array)``, one array parameter (sent in binary, see
    :func:`binary_arrays`) and one statement text whatever the number of values, so
    psycopg can prepare it (after ``prepare_threshold`` runs, once per array type). An
    expanded ``IN`` binds one parameter per value, and its text, hence its plan,
    changes with their number: for 150 ids it cost 695-878 us of the client's CPU
    against 173 (measured in process, the query alone). The array's element type is
    the column's without a length: a cast to ``VARCHAR(n)[]`` would cut a longer value
    down to ``n`` characters, and it could then match. SQLite: the expanded ``IN`` (it
    has no arrays). Either way an empty ``values`` matches nothing.
    """
    if conn.dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=_array_of(column)))
    return column.in_(values)


@functools.cache
def _array_of(column: ColumnElement[Any]) -> ARRAY[Any]:
    """The array type :func:`among` binds for a table column (built once per column)."""
    element: TypeEngine[Any] = column.type
    if isinstance(column.type, String | LargeBinary) and column.type.length is not None:
        unsized = copy.copy(column.type)  # VARCHAR(n) -> VARCHAR, the rest kept
        unsized.length = None
        element = unsized
    return ARRAY(element)


@contextmanager
def read_snapshot(engine: Engine) -> Iterator[Connection]:
    """Open a connection in a read-only transaction whose statements see one snapshot.

    PostgreSQL: REPEATABLE READ, read only (under READ COMMITTED each statement sees a
    newer state). SQLite: the deferred BEGIN already reads one snapshot (WAL).
    """
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            connection = connection.execution_options(  # noqa: PLW2901 - the same, configured
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
        with connection.begin():
            yield connection


@contextmanager
def read_statements(engine: Engine) -> Iterator[Connection]:
    """Open a connection for reads whose statements each see their own committed state.

    PostgreSQL: autocommit, which is what a READ COMMITTED transaction gives reads,
    without its BEGIN and ROLLBACK round trips (autocommit is a setting of the client,
    reset when the connection goes back to the pool). SQLite: the deferred BEGIN, which
    costs no round trip and reads one snapshot.
    """
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            connection.execution_options(isolation_level="AUTOCOMMIT")
        yield connection


# SQLSTATEs of transactions PostgreSQL aborted to break a conflict; the client retries.
_RETRYABLE = {"40001": "serialization failure", "40P01": "deadlock"}
# SQLSTATEs (or two-character classes) where the database refused before anything was
# written: it was starting, full of connections, or read-only.
_REFUSED = {
    "57P03": "the database is starting up", "53300": "the database has too many connections",
    "25006": "the database is read-only",
}  # fmt: skip
# SQLSTATEs where the connection went away mid-request, perhaps during COMMIT: the
# request may have been applied.
_LOST = {
    "08": "the connection to the database was lost",
    "57P01": "the database shut down", "57P02": "the database shut down",
    "58030": "the database had an I/O error",
}  # fmt: skip
_FULL = {"53100"}  # disk_full
# SQLite says it in words (sqlite3.OperationalError's message).
_SQLITE_REFUSED = {
    "database is locked": "the database stayed locked by another writer",
    "attempt to write a readonly database": "the database is read-only",
    "unable to open database file": "the database file cannot be opened",
}
_SQLITE_LOST = {"disk i/o error": "the database had an I/O error"}
_SQLITE_FULL = ("database or disk is full",)
# psycopg raises OperationalError without a SQLSTATE for connection failures, but also
# for client-side limits (too many parameters): only the former mean "unavailable".
_CONNECTION_WORDS = ("connect", "server closed", "terminat", "timeout", "consuming input",
                     "broken pipe", "reset by peer")  # fmt: skip
NOTHING_WRITTEN = "; nothing was written, retry later"
MAYBE_APPLIED = (
    " while the request ran: it may or may not have been applied. Retry with the same"
    " request id (if it was applied, the retry returns its original result); do not send"
    " it under a new request id"
)


def retryable_error(exc: BaseException) -> Error | None:
    """A database error as the service error a client can act on; None for others.

    Deadlocks and serialization failures are ABORTED (retry now). A database that
    refused the work (starting, too many connections, read-only, locked) is
    UNAVAILABLE with nothing written. A connection lost mid-request (shut down, reset,
    an I/O error) is UNAVAILABLE too, but the COMMIT may have gone through: the client
    must retry with the same request id, which returns the original outcome if it was
    applied. A full disk is RESOURCE_EXHAUSTED. The message names no statement or value.
    """
    from sqlalchemy.exc import DBAPIError

    if isinstance(exc, RuntimeError) and _raised_in_pool(exc):
        # Seen once under kill -9 load with 3 replicas on PostgreSQL (SQLAlchemy 2.1.9):
        # "deque mutated during iteration" while the pool set up a new connection, before
        # any statement ran. Not reproduced alone; the request can safely be retried.
        return UnavailableError("the database connection could not be set up" + NOTHING_WRITTEN,
                                reason="DATABASE_UNAVAILABLE")  # fmt: skip
    if not isinstance(exc, DBAPIError):
        return None
    state = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    said = str(exc.orig).lower()
    if state in _RETRYABLE:
        msg = f"the transaction met a concurrent one ({_RETRYABLE[state]}); retry the request"
        return ConcurrentChangeError(msg, reason="TRANSACTION_CONFLICT")
    if state in _FULL or any(t in said for t in _SQLITE_FULL):
        return StorageFullError("the database has no space left" + NOTHING_WRITTEN)
    why = _unavailable(exc, state, said)
    return None if why is None else UnavailableError(why, reason="DATABASE_UNAVAILABLE")


def _unavailable(exc: DBAPIError, state: str | None, said: str) -> str | None:
    """Why the database could not serve: refused (nothing written) or lost (maybe)."""
    refused = _REFUSED.get(state or "") or next(
        (v for k, v in _SQLITE_REFUSED.items() if k in said), None
    )
    if refused is not None:
        return refused + NOTHING_WRITTEN
    lost = (_LOST.get(state or "") or _LOST.get((state or "")[:2])
            or next((v for k, v in _SQLITE_LOST.items() if k in said), None))  # fmt: skip
    orig = type(exc.orig)
    if lost is None and (exc.connection_invalidated or (
        state is None and orig.__module__.startswith("psycopg")
        and orig.__name__ == "OperationalError" and any(w in said for w in _CONNECTION_WORDS)
    )):  # fmt: skip
        lost = "the connection to the database was lost"  # refused, reset: no SQLSTATE
    return None if lost is None else lost + MAYBE_APPLIED


_POOL_CHECKOUT = frozenset({"connect", "checkout", "_do_get", "_create_connection", "__connect",
                            "_ConnectionRecord__connect"})  # fmt: skip


def _raised_in_pool(exc: BaseException) -> bool:
    """Whether ``exc`` was raised while SQLAlchemy's pool set up a connection (checkout)."""
    pool = os.path.join("sqlalchemy", "pool", "")  # noqa: PTH118 - a path fragment to match
    trace = exc.__traceback__
    while trace is not None:
        code = trace.tb_frame.f_code
        if pool in code.co_filename and code.co_name in _POOL_CHECKOUT:
            return True
        trace = trace.tb_next
    return False


@functools.lru_cache(maxsize=64)
def _compiled(statement: Query, dialect: Dialect) -> SQLCompiler:
    """``statement`` compiled for ``dialect``, once (its parameters bound per call)."""
    return statement.compile(dialect=dialect)


@functools.cache
def _pipeline_mode() -> bool:
    """Whether this psycopg's libpq has pipeline mode (libpq 14 or later)."""
    import psycopg  # the PostgreSQL driver, loaded with its dialect

    return bool(psycopg.Pipeline.is_supported())


def pipelined(
    conn: Connection, statements: Sequence[tuple[Query, Mapping[str, Any]]]
) -> list[list[Row[Any]]]:
    """Run ``(statement, parameters)`` in order and return each one's rows.

    One round trip on PostgreSQL: the statements travel at once (libpq's pipeline
    mode) and run one after the other, each with its own snapshot as any statement of
    a READ COMMITTED transaction, so a statement sent after a lock (``FOR UPDATE``)
    sees what committed before the lock was granted. For reads under the audit head
    lock, where each round trip lengthens every other writer's wait. Statements are
    compiled once each (constants with bind parameters; the last 64 are kept); the
    engine's cursor events see each one. A statement that returns no rows (a write
    without RETURNING) answers an empty list. SQLite, in process, and a libpq without
    pipeline mode (before 14) run them one by one.

    Raises:
        sqlalchemy.exc.DBAPIError: as ``Connection.execute`` raises it (a lost
            connection is invalidated, and older pooled ones are marked stale).
        ValueError: a parameter the statement does not have.
    """
    compiled_all = [_compiled(statement, conn.dialect) for statement, _ in statements]
    for compiled, (_, params) in zip(compiled_all, statements, strict=True):
        unknown = params.keys() - compiled.binds.keys()
        if unknown:
            msg = f"parameters {sorted(unknown)} are not the statement's"
            raise ValueError(msg)
    if conn.dialect.name != "postgresql" or len(statements) <= 1 or not _pipeline_mode():
        return one_by_one(conn, statements)
    import psycopg  # the PostgreSQL driver, loaded with its dialect
    from sqlalchemy.engine.result import IteratorResult, SimpleResultMetaData

    queries = []
    for compiled, (_, params) in zip(compiled_all, statements, strict=True):
        # IN lists become one parameter each (libpq takes no expanding parameters).
        expanded = compiled.construct_expanded_state(dict(params))
        queries.append((expanded.statement, expanded.parameters))
    raw = cast("psycopg.Connection[Any]", conn.connection.dbapi_connection)
    try:
        cursors = []
        with raw.pipeline():
            for sql, bound in queries:
                cursor = raw.cursor()
                # The engine's cursor events see these statements as any other's.
                conn.dispatch.before_cursor_execute(
                    conn, cursor, sql, bound, None, executemany=False
                )
                cursor.execute(sql, bound)
                cursors.append((cursor, sql, bound))
        results: list[list[Row[Any]]] = []
        for cursor, sql, bound in cursors:
            names = [column.name for column in cursor.description or ()]
            rows = cursor.fetchall() if names else []
            cursor.close()
            conn.dispatch.after_cursor_execute(conn, cursor, sql, bound, None, executemany=False)
            result: IteratorResult[Any] = IteratorResult(SimpleResultMetaData(names), iter(rows))
            results.append(list(result.all()))
    except psycopg.Error as exc:
        # SQLAlchemy's own handling, as for any statement: the error wrapped by its class,
        # handle_error listeners, and on a disconnection this connection invalidated and
        # every older one of the pool marked stale. Which statement failed is not known.
        conn._handle_dbapi_exception(  # noqa: SLF001 - the one path that does all of this
            exc, "; ".join(sql for sql, _ in queries), None, None, None
        )
    return results
