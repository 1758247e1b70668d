"""The service's audit log: keys from files, initialisation, self-check, appends.

Every mutation appends its entries through :meth:`AuditLog.append` on the connection of
its own business transaction, so both commit together or not at all. When the start-up
self-check finds an inconsistency the service keeps serving reads but refuses every
write, naming the problem (audit-log.md §5).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import event, select, text

from audit_log import sqlstore
from audit_log.entry import Entry, Who
from audit_log.errors import AuditLogError, KeyFormatError
from audit_log.keys import KeyRing
from audit_log.note import MAX_SIGNATURES, Signer, Verifier
from audit_log.receipt import Receipt
from audit_log.sqlstore import Appended, AuditStore, PendingEntry, RequestReusedError
from expert_draw import __version__
from expert_draw.adapters.db.engine import pipelined, write_transaction
from expert_draw.adapters.keyfiles import read_private
from expert_draw.adapters.release import code_digest
from expert_draw.errors import (
    ConfigurationError,
    InvalidRequestError,
    NotFoundError,
    PreconditionError,
    UnavailableError,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from pathlib import Path

    from sqlalchemy.engine import Connection, Engine, Row

    from audit_log.sqlstore import Query
    from expert_draw.config import Settings

_log = structlog.get_logger("expert_draw.audit")
SERVICE_PRINCIPAL = "service"
LOG_ROLES = {"admin": "admin", "trading_system": "requester", "supervisor": "supervisor"}
_DB_NOW_MS = text(f"SELECT {sqlstore.DB_NOW_MS}")
"""Certificate roles (config.Role values) → the ``who.role`` of audit-log.md §2."""


def load_signer(path: Path, origin: str) -> Signer:
    """Read the log's signing key file (``PRIVATE+KEY+<origin>+…``, mode 0600).

    Raises:
        ConfigurationError: unreadable, readable by group or others, malformed, or
            named after another origin.
    """
    setting = "setting audit.signing_key"
    text = read_private(path, setting, "ascii").strip()
    try:
        signer = Signer.parse(text)
    except KeyFormatError as exc:
        msg = f"{setting}: {path}: {exc}"
        raise ConfigurationError(msg) from None
    if signer.name != origin:
        msg = f"{setting}: the key is named {signer.name!r}, but audit.origin is {origin!r}"
        raise ConfigurationError(msg)
    return signer


@dataclass(slots=True)
class Locked:
    """The head a transaction locked with :meth:`AuditLog.lock`, for its one append.

    Passing it to :meth:`AuditLog.append` saves the append its own lock and clock
    check (both were done by ``lock``); a second append in the transaction locks again.
    """

    head: sqlstore.Head
    spent: bool = False


class AuditLog:
    """The service's handle on its log: one store, one engine, one clock."""

    def __init__(self, engine: Engine, store: AuditStore, clock_ms: Callable[[], int]) -> None:
        """Use ``store`` on ``engine``; ``clock_ms`` gives UTC milliseconds."""
        self.engine = engine
        self.store = store
        self.clock_ms = clock_ms
        self.writes_refused: str | None = None
        self.held: list[Signer] = list(store.keys.signers.values())
        self.max_clock_skew_ms = 5000  # [audit] max_clock_skew_ms
        self._observers: list[Callable[[tuple[str, ...]], None]] = []
        # Kinds appended in a connection's open transaction wait in its info under this key.
        self._appended_key = f"expert_draw.audit.appended.{id(self)}"

    @classmethod
    def from_settings(
        cls, settings: Settings, engine: Engine, clock_ms: Callable[[], int]
    ) -> AuditLog:
        """Build the log from the ``audit`` settings (reads the key file)."""
        audit = settings.audit
        signer = load_signer(settings.path(audit.signing_key), audit.origin)
        previous = [
            load_signer(settings.path(p), audit.origin) for p in audit.previous_signing_keys
        ]
        store = AuditStore(
            audit.origin, KeyRing.single(signer), audit.replica_id, pipeline=pipelined
        )
        log = cls(engine, store, clock_ms)
        log.held = [signer, *previous]
        log.max_clock_skew_ms = audit.max_clock_skew_ms
        return log

    @property
    def vkey(self) -> str:
        """The log's newest verifier key."""
        return str(self.store.keys.periods[-1].verifier)

    def initialize(self) -> None:
        """Create the log with its ``log.init`` entry if the database has none.

        For an existing log, rebuild the key periods from ``log.init`` and the
        ``key.rotate`` entries; writes are refused when a key the next checkpoint needs
        is not loaded.
        """
        with write_transaction(self.engine) as conn:
            if self.store.exists(conn):
                self._load_keys(conn)
                return
            init = {
                "origin": self.store.origin, "hash_alg": "sha256", "format_v": 1,
                "vkeys": [self.vkey], "reanchor_keys": [], "reanchor_threshold": 0,
                "spec_version": "EDS-1", "code_digest": code_digest(), "escrow_keys": [],
                "drand": None,
            }  # fmt: skip
            self.store.create(conn, init, self.clock_ms())
        _log.info("audit.created", origin=self.store.origin, release=__version__)

    def _load_keys(self, conn: Connection) -> None:
        table = sqlstore.entry_table
        rows = conn.execute(
            select(table.c.seq, table.c.body)
            .where(table.c.log_id == sqlstore.LOG_ID, table.c.kind.in_(["log.init", "key.rotate"]))
            .order_by(table.c.seq)
        ).all()
        init = Entry.decode(bytes(rows[0].body))
        genesis = Verifier.parse(init.data["vkeys"][0])
        rotations = [(int(r.seq), Entry.decode(bytes(r.body)).data) for r in rows[1:]]
        self.store.keys = KeyRing.from_log(genesis, rotations, self.held)
        size = self.store.size(conn)
        try:
            self.store.keys.signers_for(size + 1)
        except LookupError as exc:
            self.writes_refused = f"{exc}: configure it as audit.signing_key"

    def rotate_key(self, new: Signer, reason: str, overlap: int) -> Appended:
        """Rotate the log key (audit-log.md §7): a ``key.rotate`` entry of its own.

        The checkpoint right after it is signed by both keys; the old key stays valid for
        ``overlap`` more sizes, then only the new key signs.

        Raises:
            PreconditionError: writes are refused, or ``new`` is not a new key of this log.
        """
        if self.writes_refused is not None:
            msg = f"audit log writes are refused: {self.writes_refused}"
            raise PreconditionError(msg, reason="AUDIT_SELF_CHECK_FAILED")
        if new.name != self.store.origin or str(new.verifier) in {
            str(p.verifier) for p in self.store.keys.periods
        }:
            msg = "the new key must be named after the origin and never used before"
            raise PreconditionError(msg, reason="BAD_KEY_ROTATION")
        keys = self.store.keys
        saved = (list(keys.periods), dict(keys.signers))
        with write_transaction(self.engine) as conn:
            q = self.store.lock_head(conn).size
            old = self.vkey
            data = {
                "old_vkey": old,
                "new_vkey": str(new.verifier),
                "reason": reason,
                "from_size": q + 1 + max(overlap, 1),
            }
            keys.signers[str(new.verifier)] = new
            keys.apply_rotation(q, old, new.verifier, q + 1 + max(overlap, 1))
            try:
                return self.append(
                    conn, who=self.service_who(), request_id=f"key-rotate-{q}", payload=data,
                    pending=[PendingEntry("key.rotate", "log", data)],
                )  # fmt: skip
            except BaseException:
                keys.periods, keys.signers = saved
                raise

    def observe(self, observer: Callable[[tuple[str, ...]], None]) -> None:
        """Call ``observer(kinds)`` for each append whose transaction commits.

        ``kinds`` are the appended entries' kinds, in order. Appends in a transaction that
        rolls back are never reported. The call happens on the committing thread, from
        SQLAlchemy's commit event, just before the database's COMMIT; it must be quick.
        An observer that raises is logged and never fails the commit.
        """
        if not self._observers:
            event.listen(self.engine, "begin", self._forget)
            event.listen(self.engine, "rollback", self._forget)
            event.listen(self.engine, "commit", self._committed)
        self._observers.append(observer)

    def _forget(self, conn: Connection) -> None:
        conn.info.pop(self._appended_key, None)

    def _committed(self, conn: Connection) -> None:
        appended: list[tuple[str, ...]] = conn.info.pop(self._appended_key, None) or []
        for kinds in appended:
            for observer in self._observers:
                try:
                    observer(kinds)
                except Exception:  # noqa: BLE001 - counting must never fail a commit
                    _log.exception("audit.observer_failed")

    def self_check(self, tail: int) -> list[str]:
        """Run the start-up self-check; on any problem, refuse writes from now on."""
        with self.engine.connect() as conn:
            try:
                problems = sqlstore.self_check(self.store, conn, tail)
            except AuditLogError as exc:
                problems = [str(exc)]
        if problems:
            self.writes_refused = "; ".join(problems)
            _log.error("audit.self_check_failed", problems=problems)
        return problems

    def append(  # noqa: PLR0913 - the parts of one audited request
        self,
        conn: Connection,
        *,
        who: Who,
        request_id: str,
        payload: object,
        pending: Sequence[PendingEntry],
        outcome: bytes = b"",
        now_ms: int | None = None,
        locked: Locked | None = None,
        then: sqlstore.Then | None = None,
    ) -> Appended:
        """Append entries in the caller's transaction.

        ``locked``: the head this transaction locked with :meth:`lock` (checked then).

        ``then``: the caller's statements to run with the write, in its round trip on
        PostgreSQL (``AuditStore.append``).

        ``now_ms`` fixes the entries' time when the caller decided on it under the head
        lock (a nonce's deadline is judged by its entry's own ts); else the clock's.

        Idempotency: a request id that was already used is refused here (with the same
        payload too: the caller should have looked it up with :meth:`find_request`
        before its business writes and returned the stored outcome). The request's keys
        refuse it: its row's and its entries' ``req``, both unique, written under the
        head lock. A look-up here was a round trip under that lock on every write,
        though the caller had looked the id up already (or a concurrent first use
        commits between the two, and the key refuses it all the same).

        Raises:
            PreconditionError: writes are refused after a failed self-check, or the
                request id was used before (``REQUEST_ID_REUSED``).
        """
        if self.writes_refused is not None:
            msg = f"audit log self-check failed, writes are refused: {self.writes_refused}"
            raise PreconditionError(msg, reason="AUDIT_SELF_CHECK_FAILED")
        head = None
        if locked is not None and not locked.spent:
            locked.spent, head = True, locked.head
        else:
            self._check_clock(conn)
        try:
            appended = self.store.append(
                conn, who=who, request_id=request_id,
                payload_sha256=sqlstore.payload_digest(payload), pending=pending,
                now_ms=self.clock_ms() if now_ms is None else now_ms, outcome=outcome,
                head=head, then=then,
            )  # fmt: skip
        except RequestReusedError as exc:
            raise PreconditionError(str(exc), reason="REQUEST_ID_REUSED") from None
        if self._observers:  # reported by _committed once the transaction commits
            waiting = conn.info.setdefault(self._appended_key, [])
            waiting.append(tuple(item.kind for item in pending))
        return appended

    def _check_clock(self, conn: Connection) -> None:
        """Refuse the write when this replica's clock is too far from the database's.

        Entry times are ``max(now, last ts)``: one replica whose clock ran ahead would
        push every later entry's time forward, and windows and deadlines with it. On
        PostgreSQL (several replicas) the database's ``clock_timestamp()`` is the
        reference; SQLite is one machine's file, read with the same clock.

        Raises:
            UnavailableError: ``CLOCK_SKEW``; another replica can take the request.
        """
        if conn.dialect.name != "postgresql":
            return
        self._check_skew(int(conn.execute(_DB_NOW_MS).scalar_one()))

    def lock(self, conn: Connection) -> Locked:
        """Take the head lock for one append, and check the clock as :meth:`append` does.

        One round trip on PostgreSQL (the lock and the database's clock together): the
        head lock serializes every write of every replica, so each round trip held
        under it counts.

        Raises:
            UnavailableError: ``CLOCK_SKEW``.
        """
        return self.lock_then_read(conn, ())[0]

    def lock_then_read(
        self, conn: Connection, reads: Sequence[tuple[Query, Mapping[str, Any]]]
    ) -> tuple[Locked, list[list[Row[Any]]]]:
        """:meth:`lock`, and the rows of ``reads``, read once the lock is held.

        One round trip on PostgreSQL (``engine.pipelined``), as :meth:`lock_and_read`.

        Raises:
            UnavailableError: ``CLOCK_SKEW``.
        """
        rows = pipelined(conn, [(self.store.lock_query(conn.dialect.name), {}), *reads])
        head, db_ms = self.store.locked_head(rows[0][0])
        if db_ms is not None:
            self._check_skew(db_ms)
        return Locked(head), rows[1:]

    def _check_skew(self, db_ms: int) -> None:
        skew = self.clock_ms() - db_ms
        if abs(skew) > self.max_clock_skew_ms:
            _log.error("clock.skew", skew_ms=skew, bound_ms=self.max_clock_skew_ms)
            msg = (
                f"this replica's clock is {skew} ms from the database's (bound "
                f"{self.max_clock_skew_ms} ms): writes are refused until it is corrected"
            )
            raise UnavailableError(msg, reason="CLOCK_SKEW")

    def lock_and_find(
        self, conn: Connection, who: Who, request_id: str, payload: object
    ) -> tuple[Locked, sqlstore.StoredRequest | None]:
        """The head lock for one append, then :meth:`find_request` under it.

        For writes that no row lock serializes: a twin of this call (the client's
        retry, sent before the first call returned) that took the lock first has
        committed once the lock is held, so it is found and its outcome served. Looked
        up before the lock (PostgreSQL reads what committed before each statement), it
        was missed, and the twin's own effects (its entry under the request id, its
        draw of the tender-lot) refused this call.

        Raises:
            UnavailableError: ``CLOCK_SKEW``.
            PreconditionError: the id was used with a different payload.
        """
        locked, stored, _ = self.lock_and_read(conn, who, request_id, payload, ())
        return locked, stored

    def lock_and_read(
        self,
        conn: Connection,
        who: Who,
        request_id: str,
        payload: object,
        reads: Sequence[tuple[Query, Mapping[str, Any]]],
    ) -> tuple[Locked, sqlstore.StoredRequest | None, list[list[Row[Any]]]]:
        """:meth:`lock_and_find`, and the rows of ``reads``, all read once the lock is held.

        One round trip on PostgreSQL (``engine.pipelined``): the lock, the look-up and
        the caller's reads travel together, and each runs once the one before it has
        answered, with a snapshot of its own, so each sees every write the lock's
        earlier holders committed.

        Raises:
            UnavailableError: ``CLOCK_SKEW``.
            PreconditionError: the id was used with a different payload.
        """
        locked, (found, *rows) = self.lock_then_read(
            conn, [self.store.request_query(who.sub, request_id), *reads]
        )
        return locked, self.stored_request(found, request_id, payload), rows

    def request_query(self, who: Who, request_id: str) -> tuple[Query, Mapping[str, Any]]:
        """:meth:`find_request`'s statement, to send with others (``pipelined``)."""
        return self.store.request_query(who.sub, request_id)

    def stored_request(
        self, rows: Sequence[Row[Any]], request_id: str, payload: object
    ) -> sqlstore.StoredRequest | None:
        """:meth:`find_request`'s answer from the rows :meth:`request_query` read.

        Raises:
            PreconditionError: the id was used with a different payload (FAILED_PRECONDITION).
        """
        try:
            return self.store.stored_request(
                rows[0] if rows else None, request_id, sqlstore.payload_digest(payload)
            )
        except RequestReusedError as exc:
            raise PreconditionError(str(exc), reason="REQUEST_ID_REUSED") from None

    def find_request(
        self, conn: Connection, who: Who, request_id: str, payload: object
    ) -> sqlstore.StoredRequest | None:
        """The stored outcome of an earlier use of ``request_id`` (None if it is new).

        Raises:
            PreconditionError: the id was used with a different payload (FAILED_PRECONDITION).
        """
        statement, params = self.request_query(who, request_id)
        return self.stored_request(conn.execute(statement, params).all(), request_id, payload)

    def log_export(  # noqa: PLR0913 - the parts of one logged disclosure
        self,
        who: Who,
        request_id: str,
        payload: object,
        *,
        what: str,
        data_sha256: str,
        outcome: Mapping[str, Any],
        name_from: bytes,
        retry: bool,
        differs: str,
    ) -> tuple[str, int] | None:
        """Log data this service computed and discloses to ``who`` (an ``export`` entry).

        Returns the export's name and entry seq: this call's, or those of a copy of the
        call (the client's retry, sent before it returned) that logged the same data
        first. None: a copy logged other data first (computed at its own log size or
        time), and the caller computes again as that copy's outcome says. ``outcome``
        (with the digest and name added) is what a retry finds; the name is derived
        from the request id and ``name_from``.

        Raises:
            PreconditionError: REQUEST_ID_REUSED, ``retry`` (the caller found the id
                used before it computed) and the data differ from the logged ones
                (``differs`` says what was logged, and why it changed).
        """
        with write_transaction(self.engine) as conn:
            locked, stored = self.lock_and_find(conn, who, request_id, payload)
            if stored is None:
                digest = hashlib.sha256(request_id.encode() + name_from).hexdigest()
                name = f"exports/{digest[:32]}"
                data = {"what": what, "recipient": who.sub, "data_sha256": data_sha256}
                done = {**outcome, "data_sha256": data_sha256, "export": name}
                seq = self.append(
                    conn, who=who, request_id=request_id, payload=payload,
                    pending=[PendingEntry("export", name, data)],
                    outcome=json.dumps(done).encode(), locked=locked,
                ).first_seq  # fmt: skip
                return name, seq
        logged = json.loads(stored.outcome)
        if logged["data_sha256"] == data_sha256:
            return str(logged["export"]), stored.first_seq
        if retry:
            msg = f"request id {request_id!r} was used for {differs}; send a new request_id"
            raise PreconditionError(msg, reason="REQUEST_ID_REUSED")
        return None

    def service_who(self) -> Who:
        """The actor of the service's own entries."""
        return Who("service", SERVICE_PRINCIPAL, self.store.svc)

    def who(self, principal: str, role: str) -> Who:
        """The actor of a caller's entries.

        Its configured principal id (never a certificate subject) and its role in the
        log's terms.
        """
        return Who(LOG_ROLES[role], principal, self.store.svc)


def pending(kind: str, subj: str, data: Mapping[str, Any]) -> PendingEntry:
    """Shorthand for a pending entry with fixed data."""
    return PendingEntry(kind, subj, data)


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """One stored entry as the read RPCs return it."""

    seq: int
    body: bytes
    kind: str
    subj: str


def with_cosignatures(note: str, lines: Sequence[str]) -> str:
    """``note`` with witness cosignature lines appended (at most 16 signature lines)."""
    room = MAX_SIGNATURES - len(note[note.rfind("\n\n") + 2 :].splitlines())
    return note + "".join(line for line in lines[: max(room, 0)] if line not in note)


class AuditReader:
    """Read-only queries on the log (no locks, no appends)."""

    def __init__(self, audit: AuditLog) -> None:
        """Read ``audit``'s store."""
        self._audit = audit
        self._store = audit.store

    def size(self) -> int:
        """The number of entries."""
        with self._audit.engine.connect() as conn:
            return self._store.size(conn)

    def checkpoint(self, size: int | None) -> tuple[int, str]:
        """The checkpoint at ``size`` (None: the newest).

        Raises:
            NotFoundError: no checkpoint at that size.
        """
        with self._audit.engine.connect() as conn:
            if size is None:
                return self._store.latest_checkpoint(conn)
            note = self._store.checkpoint_note(conn, size)
        if note is None:
            raise NotFoundError("Checkpoint", f"checkpoints/{size}", reason="CHECKPOINT_NOT_FOUND")
        return size, note

    def checkpoints(self, min_size: int, limit: int) -> list[tuple[int, str]]:
        """Up to ``limit`` checkpoints with size ≥ ``min_size``, ascending.

        Each note carries, after the log's signature lines, the witness cosignature lines
        collected for its size (audit-log-v1, witness cosignatures), ordered by witness
        name, up to the signed-note limit of 16 lines.
        """
        table, cosig = sqlstore.checkpoint_table, sqlstore.cosig_table
        with self._audit.engine.connect() as conn:
            rows = [(int(r.size), str(r.note)) for r in conn.execute(
                select(table.c.size, table.c.note)
                .where(table.c.log_id == sqlstore.LOG_ID, table.c.size >= min_size)
                .order_by(table.c.size)
                .limit(limit)
            )]  # fmt: skip
            if not rows:
                return rows
            found: dict[int, list[tuple[bytes, str]]] = {}
            for r in conn.execute(
                select(cosig.c.size, cosig.c.signer, cosig.c.line)
                .where(cosig.c.log_id == sqlstore.LOG_ID,
                       cosig.c.size.between(rows[0][0], rows[-1][0]))
            ):  # fmt: skip
                found.setdefault(int(r.size), []).append((str(r.signer).encode(), str(r.line)))
        # By witness name, bytewise (a database collation may order otherwise).
        lines = {size: [line for _, line in sorted(items)] for size, items in found.items()}
        return [(size, with_cosignatures(note, lines.get(size, []))) for size, note in rows]

    def entries(
        self, start: int, end: int | None, subject: str, kind: str, limit: int
    ) -> list[StoredEntry]:
        """Up to ``limit`` entries with ``start <= seq < end``, filtered, ascending."""
        table = sqlstore.entry_table
        query = select(table.c.seq, table.c.body, table.c.kind, table.c.subj).where(
            table.c.log_id == sqlstore.LOG_ID, table.c.seq >= start
        )
        if end is not None:
            query = query.where(table.c.seq < end)
        if subject:
            query = query.where(table.c.subj == subject)
        if kind:
            query = query.where(table.c.kind == kind)
        with self._audit.engine.connect() as conn:
            rows = conn.execute(query.order_by(table.c.seq).limit(limit))
            return [StoredEntry(int(r.seq), bytes(r.body), str(r.kind), str(r.subj)) for r in rows]

    def entry_with_receipt(self, seq: int) -> tuple[StoredEntry, Receipt]:
        """One entry and its receipt into the newest checkpoint.

        Raises:
            NotFoundError: no entry at ``seq``.
        """
        with self._audit.engine.connect() as conn:
            size, note = self._store.latest_checkpoint(conn)
            found = self.entries(seq, seq + 1, "", "", 1) if 0 <= seq < size else []
            if not found:
                raise NotFoundError("AuditEntry", f"entries/{seq}", reason="ENTRY_NOT_FOUND")
            proof = self._store.inclusion_proof(conn, seq, size)
        return found[0], Receipt(seq, tuple(proof), note)

    def inclusion_proof(self, seq: int, size: int | None) -> tuple[list[bytes], int, str]:
        """The inclusion proof of ``seq`` at a checkpointed ``size`` (None: newest).

        Raises:
            InvalidRequestError: ``seq`` is not below the size.
            NotFoundError: no checkpoint at ``size``.
        """
        size, note = self.checkpoint(size)
        if not 0 <= seq < size:
            raise InvalidRequestError.field("seq", f"must be below the tree size {size}")
        with self._audit.engine.connect() as conn:
            return self._store.inclusion_proof(conn, seq, size), size, note

    def consistency_proof(
        self, first: int, second: int | None
    ) -> tuple[list[bytes], tuple[int, str], tuple[int, str]]:
        """The consistency proof between two checkpointed sizes.

        Raises:
            InvalidRequestError: unless ``0 < first <= second``.
            NotFoundError: a size has no checkpoint.
        """
        later = self.checkpoint(second)
        if not 0 < first <= later[0]:
            raise InvalidRequestError.field("first_size", f"must be in 1..{later[0]}")
        earlier = self.checkpoint(first)
        with self._audit.engine.connect() as conn:
            proof = self._store.consistency_proof(conn, first, later[0]) if first < later[0] else []
        return proof, earlier, later
