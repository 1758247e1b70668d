"""engine.binary_arrays and engine.among: list parameters as arrays, read back the same."""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast

import pytest
from psycopg import pq
from psycopg.adapt import PyFormat, Transformer
from sqlalchemy import Column, Integer, LargeBinary, MetaData, String, Table, event, select, text

from expert_draw.adapters.db.engine import among, make_engine, pipelined, write_transaction
from tests.support.databases import new_postgres_url

if TYPE_CHECKING:
    from collections.abc import Iterator

    import psycopg
    from sqlalchemy.engine import Engine

meta = MetaData()
things = Table(
    "among_thing", meta, Column("id", Integer, primary_key=True), Column("name", String(20)),
    Column("blob", LargeBinary),
)  # fmt: skip
LONGEST = "L" * 20  # as long as the name column allows
THINGS = [
    {"id": n, "name": LONGEST if n == 300 else f"n{n % 7}", "blob": bytes([n % 5]) * 3}
    for n in range(1, 301)
]

BLOBS: list[list[bytes | None]] = [
    [],
    [None],
    [b""],
    [b'\\"{},NULL', None, b"\x00\xff" * 20],  # what the text form quotes and escapes
    [bytes(range(256))] * 150,
]
ROUND_TRIP = text("SELECT CAST(:blobs AS BYTEA[]) AS blobs, CAST(:names AS TEXT[]) AS names")


@pytest.fixture
def db(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(things.insert(), THINGS)
    yield engine
    engine.dispose()


@pytest.mark.parametrize(
    ("column", "values"),
    [
        ("id", []), ("id", [7]), ("id", list(range(2, 400, 3))), ("name", ["n1", "n3", "x"]),
        ("blob", [b"\x00\x00\x00", b"\x04\x04\x04"]), ("name", [None]),
        ("name", [LONGEST + "X"]),  # not cut down to the column's length (no match)
        ("name", [LONGEST, LONGEST[:-1]]),
    ],
)  # fmt: skip
def test_among_keeps_the_rows_whose_column_is_one_of_the_values(
    db: Engine, column: str, values: list[Any]
) -> None:
    with db.connect() as conn:
        found = conn.execute(
            select(things.c.id).where(among(conn, things.c[column], values)).order_by(things.c.id)
        ).scalars()
        assert list(found) == [t["id"] for t in THINGS if t[column] in values]


@pytest.mark.postgres
def test_among_is_one_statement_text_whatever_the_number_of_values(pg_server_url: str) -> None:
    engine = make_engine(new_postgres_url(pg_server_url))
    meta.create_all(engine)
    sent: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: sent.append(a[2]))
    try:
        with engine.connect() as conn:
            for values in ([1], list(range(150)), []):
                conn.execute(select(things.c.id).where(among(conn, things.c.id, values))).all()
    finally:
        engine.dispose()
    assert len(set(sent)) == 1, sent
    assert "ANY" in sent[0]


@pytest.fixture
def engine(pg_server_url: str) -> Iterator[Engine]:
    engine = make_engine(new_postgres_url(pg_server_url))
    yield engine
    engine.dispose()


@contextmanager
def _raw(engine: Engine) -> Iterator[psycopg.Connection[Any]]:
    """A pooled connection's psycopg connection, checked out while in use."""
    pooled = engine.raw_connection()
    try:
        yield cast("psycopg.Connection[Any]", pooled.dbapi_connection)
    finally:
        pooled.close()


@pytest.mark.postgres
@pytest.mark.parametrize("blobs", BLOBS, ids=lambda b: f"{len(b)} elements")
def test_lists_of_bytes_read_back_as_sent(engine: Engine, blobs: list[bytes | None]) -> None:
    names = ["a", 'b"\\', "", None]
    with write_transaction(engine) as conn:
        alone = conn.execute(ROUND_TRIP, {"blobs": blobs, "names": names}).one()
        (piped,), _ = pipelined(conn, [(ROUND_TRIP, {"blobs": blobs, "names": names}),
                                       (text("SELECT 1"), {})])  # fmt: skip
    for row in (alone, piped):
        assert [None if b is None else bytes(b) for b in row.blobs] == blobs
        assert row.names == names


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("value", "array"), [([b"x", None], "bytea"), (["x"], "text"), ([1, 2**40], "int8")]
)
def test_a_list_is_dumped_in_binary_as_its_elements_array(
    engine: Engine, value: list[Any], array: str
) -> None:
    with _raw(engine) as raw:
        dumper = Transformer.from_context(raw).get_dumper(value, PyFormat.AUTO)
        assert dumper.format == pq.Format.BINARY
        assert dumper.oid == raw.adapters.types[array].array_oid


@pytest.mark.postgres
def test_empty_lists_and_text_format_keep_the_text_array_literal(engine: Engine) -> None:
    with _raw(engine) as raw:
        tx = Transformer.from_context(raw)
        for value in ([None], []):
            assert tx.get_dumper(value, PyFormat.AUTO).format == pq.Format.TEXT, value
        # Asked for text (%t, literals, COPY in text), a list is still an array literal.
        assert tx.get_dumper([1], PyFormat.TEXT).dump([1, 2]) == b"{1,2}"
    uuid = "0b6e7d2c-5a4f-4c83-9a57-1f1f8d1c2b3a"
    with engine.connect() as conn:
        cases: list[list[str | None]] = [[], [None], [uuid]]
        for listed in cases:
            # A list of str is text[]: another type is reached through a CAST.
            found = conn.execute(text("SELECT CAST(:us AS UUID[])"), {"us": listed}).scalar_one()
            assert [None if u is None else str(u) for u in found] == listed
