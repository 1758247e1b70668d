"""The audit store on SQLite and PostgreSQL: appends, receipts, proofs, idempotency,
atomicity under injected faults (T-22), concurrency (T-23), self-check (T-13/T-14)."""

from __future__ import annotations

import dataclasses
import itertools
import threading
from functools import partial
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event, func, select

from audit_log import checkpoint as cp
from audit_log import merkle, receipt, sqlstore
from audit_log.entry import Entry, Who
from audit_log.sqlstore import PendingEntry
from expert_draw.adapters.db.engine import make_engine, pipelined, write_transaction
from expert_draw.errors import PreconditionError
from tests.support.databases import new_postgres_url
from tests.support.service import make_audit_log

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy.engine import Engine

    from expert_draw.adapters.audit import AuditLog
    from tests.support.pki import Pki

WHO = Who("admin", "dev:admin", "test-1")
UUID = "0b7f6c2e-8a1d-4c3b-9e2f-5a6b7c8d9e0f"


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def audit(engine: Engine, pki: Pki) -> AuditLog:
    return make_audit_log(engine, pki)


def status(n: int) -> PendingEntry:
    data = {"status": "suspended", "reason": f"r{n}", "valid_from": n, "valid_to": None}
    return PendingEntry("expert.status", f"experts/{UUID}", data)


def append(audit: AuditLog, request_id: str, count: int, payload: Any = None) -> sqlstore.Appended:
    with write_transaction(audit.engine) as conn:
        return audit.append(conn, who=WHO, request_id=request_id, payload=payload or {"r": request_id},
                            pending=[status(i) for i in range(count)])  # fmt: skip


def all_bodies(audit: AuditLog) -> list[bytes]:
    with audit.engine.connect() as conn:
        return [body for _, body, _ in audit.store.bodies(conn, 0, 10**9)]


def test_appends_receipts_checkpoints_and_proofs(audit: AuditLog) -> None:
    verifiers = audit.store.keys.verifiers_for(0)
    results = [append(audit, f"req-{i}", 1 + i % 4) for i in range(25)]
    bodies = all_bodies(audit)
    assert len(bodies) == 1 + sum(1 + i % 4 for i in range(25))
    leaves = [merkle.leaf_hash(b) for b in bodies]
    for result in results:
        checkpoint, _ = cp.open_checkpoint(result.checkpoint_note, audit.store.origin, verifiers)
        assert checkpoint.size == result.size
        assert checkpoint.root == merkle.reference_root(leaves[: result.size])
        for seq, (body, rec) in enumerate(
            zip(result.bodies, result.receipts, strict=True), start=result.first_seq
        ):
            assert rec.index == seq
            receipt.verify(rec.format(), body, audit.store.origin, verifiers)
    decoded = [Entry.decode(b) for b in bodies]
    assert [e.seq for e in decoded] == list(range(len(bodies)))
    assert all(later.ts >= earlier.ts for earlier, later in itertools.pairwise(decoded))
    assert decoded[1].prev == leaves[0].hex()
    assert [e.req for e in decoded[1:4]] == [
        "dev:admin/req-0#0",
        "dev:admin/req-1#0",
        "dev:admin/req-1#1",
    ]
    with audit.engine.connect() as conn:
        size = len(bodies)
        for index in (0, 7, size - 1):
            proof = audit.store.inclusion_proof(conn, index, size)
            merkle.verify_inclusion(
                index, size, leaves[index], proof, merkle.reference_root(leaves)
            )
        for size1 in (1, 5, 16, size):
            proof = audit.store.consistency_proof(conn, size1, size)
            merkle.verify_consistency(
                size1,
                size,
                proof,
                merkle.reference_root(leaves[:size1]),
                merkle.reference_root(leaves),
            )
        assert sqlstore.self_check(audit.store, conn) == []


def test_retry_is_idempotent_and_reuse_is_refused(audit: AuditLog) -> None:
    append(audit, "same", 2, {"a": 1})
    with audit.engine.connect() as conn:
        found = audit.store.find_request(conn, WHO.sub, "same", sqlstore.payload_digest({"a": 1}))
        assert found is not None
        assert (found.first_seq, found.count) == (1, 2)
        with pytest.raises(sqlstore.RequestReusedError):
            audit.store.find_request(conn, WHO.sub, "same", sqlstore.payload_digest({"a": 2}))
        assert (
            audit.store.find_request(conn, "other", "same", sqlstore.payload_digest({"a": 1}))
            is None
        )
    for payload in ({"a": 1}, {"a": 2}):  # a second append under one id is refused
        with pytest.raises(PreconditionError) as caught:
            append(audit, "same", 1, payload)
        assert caught.value.reason == "REQUEST_ID_REUSED"
    with audit.engine.connect() as conn:
        found = audit.find_request(conn, WHO, "same", {"a": 1})
        assert found is not None
        assert found.count == 2
        with pytest.raises(PreconditionError):
            audit.find_request(conn, WHO, "same", {"a": 2})
    assert len(all_bodies(audit)) == 3


def count_statements(engine: Engine, run: Any, reading: str = "") -> int:
    """How many statements ``run`` sends (only SELECTs from table ``reading``, if given)."""
    seen = 0

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        nonlocal seen
        words = statement.split()
        seen += not reading or (words[0] == "SELECT" and reading in words)

    event.listen(engine, "before_cursor_execute", count)
    try:
        run()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return seen


def test_an_append_does_not_look_the_request_up_and_its_keys_refuse_a_reuse(
    audit: AuditLog,
) -> None:
    """The caller looks the id up (lock_and_find under the lock, or earlier under a row
    lock); the append's own look-up was a round trip under the lock on every write. A
    reuse is refused by the request's keys: another id than the one looked up, a second
    append in the transaction, or a plain append."""
    append(audit, "used", 1)

    def locked_append(looked_up: str, appended: str, appends: int = 1) -> None:
        with write_transaction(audit.engine) as conn:
            locked, stored = audit.lock_and_find(conn, WHO, looked_up, {"r": looked_up})
            assert stored is None
            for n in range(appends):
                audit.append(conn, who=WHO, request_id=appended if n == 0 else "used",
                             payload={"r": appended}, pending=[status(n)], locked=locked)  # fmt: skip

    lookups = partial(count_statements, audit.engine, reading="audit_request")
    assert lookups(lambda: locked_append("fresh", "fresh")) == 1
    assert lookups(lambda: append(audit, "plain", 1)) == 0
    for looked_up, appended, appends in (("new", "used", 1), ("newer", "newer", 2)):
        with pytest.raises(PreconditionError) as caught:
            locked_append(looked_up, appended, appends)
        assert caught.value.reason == "REQUEST_ID_REUSED"
    with pytest.raises(PreconditionError) as caught:
        append(audit, "used", 2, {"other": "payload"})
    assert caught.value.reason == "REQUEST_ID_REUSED"
    assert len(all_bodies(audit)) == 4  # genesis, used, fresh, plain
    with audit.engine.connect() as conn:
        assert sqlstore.self_check(audit.store, conn) == []


def test_an_appends_then_writes_with_it_or_not_at_all(audit: AuditLog) -> None:
    """The caller's statements (``then``) see the append's entries, travel with its write
    (one round trip on PostgreSQL) and commit with it; a stale head (compare-and-swap
    failed) or a reused request id leaves neither."""
    rows = sa.Table("then_row", sa.MetaData(), sa.Column("seq", sa.BigInteger, primary_key=True))
    rows.metadata.create_all(audit.engine)
    written = sa.text("INSERT INTO then_row (seq) VALUES (:seq)")

    def then(appended: sqlstore.Appended) -> list[tuple[Any, dict[str, Any]]]:
        return [(written, {"seq": appended.first_seq})]

    def seqs() -> list[int]:
        with audit.engine.connect() as conn:
            return list(conn.execute(select(rows.c.seq).order_by(rows.c.seq)).scalars())

    append(audit, "before", 1)
    with write_transaction(audit.engine) as conn:
        locked = audit.lock(conn)
        first = locked.head.size
        statements = count_statements(audit.engine, lambda: audit.append(
            conn, who=WHO, request_id="with-then", payload={}, pending=[status(1)],
            locked=locked, then=then,
        ))  # fmt: skip
    assert seqs() == [first]
    if audit.engine.dialect.name == "postgresql":  # the write and the insert, one pipeline
        assert statements == 2
        assert audit.store.pipeline is pipelined
    # A head of the right size but another root: every key is free, and only the
    # compare-and-swap, checked after the caller's statements ran, refuses it.
    with audit.engine.connect() as conn:
        wrong = dataclasses.replace(audit.store.head(conn), root=bytes(32))
    with pytest.raises(sqlstore.StoreError), write_transaction(audit.engine) as conn:
        audit.store.append(
            conn, who=WHO, request_id="stale", payload_sha256="x", pending=[status(2)],
            now_ms=audit.clock_ms(), head=wrong, then=then,
        )  # fmt: skip
    with pytest.raises(PreconditionError) as caught, write_transaction(audit.engine) as conn:
        audit.append(conn, who=WHO, request_id="with-then", payload={},
                     pending=[status(3)], then=then)  # fmt: skip
    assert caught.value.reason == "REQUEST_ID_REUSED"
    assert seqs() == [first]
    assert len(all_bodies(audit)) == first + 1
    with audit.engine.connect() as conn:
        assert sqlstore.self_check(audit.store, conn) == []


def test_a_fault_after_any_statement_leaves_nothing(audit: AuditLog) -> None:
    append(audit, "before", 2)
    total = count_statements(audit.engine, lambda: append(audit, "measure", 3))
    assert total >= 2  # PostgreSQL sends the writes as one statement
    before = all_bodies(audit)
    for fail_at in range(1, total + 1):
        statements = 0

        def inject(*_args: object) -> None:
            nonlocal statements
            statements += 1
            if statements == fail_at:  # noqa: B023 - read at call time, within this iteration
                raise RuntimeError("injected fault")

        event.listen(audit.engine, "before_cursor_execute", inject)
        try:
            with pytest.raises(RuntimeError, match="injected"):
                append(audit, f"faulty-{fail_at}", 3)
        finally:
            event.remove(audit.engine, "before_cursor_execute", inject)
        assert all_bodies(audit) == before, fail_at
        with audit.engine.connect() as conn:
            assert sqlstore.self_check(audit.store, conn) == [], fail_at
    append(audit, "after", 1)
    assert len(all_bodies(audit)) == len(before) + 1


def test_concurrent_writers_keep_one_linear_log(audit: AuditLog) -> None:
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(10):
                append(audit, f"w{n}-{i}", 1 + (i % 3))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    bodies = all_bodies(audit)
    assert len(bodies) == 1 + 6 * sum(1 + (i % 3) for i in range(10))
    assert [Entry.decode(b).seq for b in bodies] == list(range(len(bodies)))
    with audit.engine.connect() as conn:
        assert sqlstore.self_check(audit.store, conn) == []
        sizes = conn.execute(select(sqlstore.checkpoint_table.c.size)).scalars().all()
        assert len(sizes) == len(set(sizes)) == 61


def raw(engine: Engine, sql: str, **params: object) -> None:
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        conn.execute(sa.text(sql), params)


def test_self_check_catches_node_and_head_edits(audit: AuditLog) -> None:
    for i in range(10):
        append(audit, f"r{i}", 2)
    assert audit.self_check(64) == []
    raw(audit.engine, "UPDATE audit_node SET hash = :h WHERE level = 4", h=bytes(32))  # T-13
    problems = audit.self_check(64)
    assert any("tree node" in p for p in problems)
    with pytest.raises(PreconditionError, match="writes are refused") as caught:
        append(audit, "refused", 1)
    assert caught.value.reason == "AUDIT_SELF_CHECK_FAILED"


def test_self_check_catches_head_and_tail_edits(audit: AuditLog) -> None:
    for i in range(4):
        append(audit, f"r{i}", 2)
    raw(audit.engine, "UPDATE audit_head SET size = size + 1")  # T-14
    assert audit.self_check(64)
    raw(audit.engine, "UPDATE audit_head SET size = size - 1")
    audit.writes_refused = None
    assert audit.self_check(64) == []
    raw(
        audit.engine, "UPDATE audit_entry SET body = :b WHERE seq = 5", b=b'{"x":1}'
    )  # T-1 in the tail
    assert any("entry 5" in p for p in audit.self_check(64))


@pytest.mark.postgres
def test_postgres_triggers_make_tables_append_only(pg_server_url: str, pki: Pki) -> None:
    """PostgreSQL only: SQLite relies on file permissions (audit-log.md §4)."""
    engine = make_engine(new_postgres_url(pg_server_url))
    audit = make_audit_log(engine, pki)
    append(audit, "some", 3)
    for statement in (
        "UPDATE audit_entry SET kind = 'x'",
        "DELETE FROM audit_node",
        "DELETE FROM audit_checkpoint",
        "TRUNCATE audit_request",
    ):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), audit.engine.begin() as conn:
            conn.execute(sa.text(statement))
    with audit.engine.connect() as conn:
        assert (
            conn.execute(select(func.count()).select_from(sqlstore.entry_table)).scalar_one() == 4
        )
    engine.dispose()


def test_an_append_of_a_bulk_import_is_one_write_statement(audit: AuditLog) -> None:
    """10,000 entries (a bulk import) bound as rows would take about 110,000 parameters;
    PostgreSQL takes at most 65,535. Bound as arrays, the write is one statement of 25
    parameters whatever the count (SQLite writes table by table). The log still
    verifies: the root over every entry, and the self-check."""
    count = 10_000
    one = count_statements(audit.engine, lambda: append(audit, "one", 1))
    appended: list[sqlstore.Appended] = []
    many = count_statements(audit.engine, lambda: appended.append(append(audit, "bulk", count)))
    if audit.engine.dialect.name == "postgresql":
        assert many == one == 3  # the clock check, the lock, the write
    bodies = all_bodies(audit)
    assert len(bodies) == 2 + count
    checkpoint, _ = cp.open_checkpoint(appended[0].checkpoint_note, audit.store.origin,
                                       audit.store.keys.verifiers_for(0))  # fmt: skip
    assert checkpoint.root == merkle.reference_root([merkle.leaf_hash(b) for b in bodies])
    assert audit.self_check(100) == []
