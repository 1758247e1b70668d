"""engine.pipelined: several reads in one round trip on PostgreSQL, as executed one by one."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    create_engine,
    event,
    func,
    insert,
    literal_column,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.exc import DataError, OperationalError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from expert_draw.adapters.db.engine import make_engine, pipelined, write_transaction
from tests.support.databases import new_postgres_url

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy.engine import Engine

meta = MetaData()
lock = Table("pipe_lock", meta, Column("id", Integer, primary_key=True), Column("n", Integer))
item = Table("pipe_item", meta, Column("id", Integer, primary_key=True), Column("name", String(20)))
LOCK = select(lock.c.n).where(lock.c.id == 1).with_for_update()
ITEMS = select(item.c.id, item.c.name).where(item.c.id >= bindparam("from_id")).order_by(item.c.id)
NAMED = select(item.c.name).where(item.c.name.in_(("a", "c")), item.c.id < bindparam("below"))
BOTH = union_all(select(item.c.id).where(item.c.id == bindparam("one")), select(lock.c.id))


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(lock), [{"id": 1, "n": 0}])
        conn.execute(insert(item), [{"id": n, "name": "abc"[n % 3]} for n in range(1, 7)])
    yield engine
    engine.dispose()


def test_each_statement_answers_as_when_executed_alone(engine: Engine) -> None:
    statements: list[tuple[Any, dict[str, Any]]] = [
        (LOCK, {}), (ITEMS, {"from_id": 4}), (NAMED, {"below": 6}), (BOTH, {"one": 2}),
        (ITEMS, {"from_id": 99}),
    ]  # fmt: skip
    seen: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
    with write_transaction(engine) as conn:
        together = pipelined(conn, statements)
    with write_transaction(engine) as conn:
        alone = [list(conn.execute(s, p).all()) for s, p in statements]
    assert together == alone
    assert [tuple(r) for r in together[1]] == [(4, "b"), (5, "c"), (6, "a")]
    assert [r.name for r in together[2]] == ["c", "a", "c"]
    assert together[4] == []
    # The engine's cursor events saw every statement of the pipeline.
    assert sum("pipe_item" in s or "pipe_lock" in s for s in seen) == 2 * len(statements)


def test_parameters_the_statement_lacks_or_does_not_know_are_refused(engine: Engine) -> None:
    with write_transaction(engine) as conn, pytest.raises(SQLAlchemyError, match="from_id"):
        pipelined(conn, [(LOCK, {}), (ITEMS, {})])
    with write_transaction(engine) as conn, pytest.raises(ValueError, match="idd"):
        pipelined(conn, [(LOCK, {}), (ITEMS, {"from_id": 1, "idd": 2})])


@pytest.mark.postgres
def test_a_read_sent_with_a_lock_sees_what_its_holder_committed(pg_server_url: str) -> None:
    """The reads run after the lock is granted, each with a snapshot of its own: what the
    lock's holder wrote and committed while the pipeline waited is seen."""
    engine = make_engine(new_postgres_url(pg_server_url))
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(lock), [{"id": 1, "n": 0}])
    answer: list[list[Any]] = []
    with write_transaction(engine) as holder:
        holder.execute(LOCK)
        waiter = threading.Thread(target=lambda: answer.extend(_locked_read(engine)))
        waiter.start()
        _until_waiting(engine)
        holder.execute(insert(item).values(id=7, name="late"))
        holder.execute(update(lock).values(n=1))
    waiter.join(10)
    assert answer == [[(1,)], [(7, "late")]]
    engine.dispose()


def _locked_read(engine: Engine) -> list[list[Any]]:
    with write_transaction(engine) as conn:
        rows = pipelined(conn, [(LOCK, {}), (ITEMS, {"from_id": 0})])
    return [[tuple(r) for r in found] for found in rows]


def _until_waiting(engine: Engine) -> None:
    """Until another backend waits for a lock (the pipeline is sent and blocked)."""
    waits = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE wait_event_type = 'Lock' AND datname = current_database()"
    )
    for _ in range(500):
        with engine.connect() as conn:
            if conn.execute(waits).scalar_one():
                return
        threading.Event().wait(0.01)
    pytest.fail("the pipelined lock never waited")


@pytest.mark.postgres
def test_a_failing_statement_raises_as_sqlalchemy_does_and_a_lost_connection_is_dropped(
    pg_server_url: str,
) -> None:
    engine = make_engine(new_postgres_url(pg_server_url))
    meta.create_all(engine)
    broken = select((literal_column("1") / func.abs(bindparam("zero", type_=Integer))).label("q"))
    with pytest.raises(DataError), write_transaction(engine) as conn:
        pipelined(conn, [(ITEMS, {"from_id": 0}), (broken, {"zero": 0})])
    with write_transaction(engine) as conn:  # the connection is usable again
        assert pipelined(conn, [(ITEMS, {"from_id": 0}), (broken, {"zero": 2})])[1][0].q == 0.5
    killer = create_engine(pg_server_url, poolclass=NullPool)
    backend = text("SELECT pg_backend_pid()")
    with engine.connect() as first, engine.connect() as second:  # two pooled connections
        older = {first.execute(backend).scalar_one(), second.execute(backend).scalar_one()}
    # The backend is killed inside the transaction, between two statements.
    invalidated: list[bool] = []
    with pytest.raises(OperationalError) as caught, write_transaction(engine) as conn:  # noqa: PT012
        pid = conn.execute(backend).scalar_one()
        with killer.connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:p, 5000)"), {"p": pid})
        try:
            pipelined(conn, [(ITEMS, {"from_id": 0}), (ITEMS, {"from_id": 1})])
        finally:
            invalidated.append(conn.invalidated)  # before the transaction's rollback
    assert caught.value.connection_invalidated
    assert invalidated == [True]
    # As after any statement's disconnection, every older pooled connection is stale:
    # the next two are new (PostgreSQL restarted drops them all).
    with engine.connect() as first, engine.connect() as second:
        assert (
            not {first.execute(backend).scalar_one(), second.execute(backend).scalar_one()} & older
        )
    with write_transaction(engine) as conn:
        assert len(pipelined(conn, [(ITEMS, {"from_id": 0}), (NAMED, {"below": 9})])) == 2
    killer.dispose()
    engine.dispose()
