"""Migrations run the same scripts on SQLite and PostgreSQL and match the models."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData, func, inspect, select
from sqlmodel import SQLModel

from audit_log import sqlstore
from classification import read_edition
from expert_draw.adapters.db import migrate
from expert_draw.adapters.db.editions import SqlEditionRegistry
from expert_draw.adapters.db.engine import make_engine, write_transaction
from expert_draw.adapters.db.models import DisciplineRow, EditionLoadRow
from expert_draw.errors import ConfigurationError
from tests.support.service import make_audit_log
from tests.support.tables import TABLE_2018

if TYPE_CHECKING:
    from tests.support.pki import Pki


def test_upgrade_downgrade_and_no_drift(empty_db_url: str) -> None:
    engine = make_engine(empty_db_url)
    try:
        assert migrate.current_revision(engine) is None
        migrate.upgrade(engine)
        assert migrate.current_revision(engine) == migrate.head_revision()
        migrate.require_head(engine)
        combined = MetaData()
        for table in [*SQLModel.metadata.tables.values(), *sqlstore.metadata.tables.values()]:
            table.to_metadata(combined)
        with engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), combined) == []
        migrate.downgrade(engine, "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        migrate.upgrade(engine)
        migrate.upgrade(engine)  # idempotent
    finally:
        engine.dispose()


def test_sqlite_is_durable_wal(tmp_path: pytest.TempPathFactory) -> None:
    engine = make_engine("sqlite:///db.sqlite", base_dir=tmp_path)  # type: ignore[arg-type]
    try:
        with write_transaction(engine) as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()


@pytest.mark.parametrize("url", ["mysql://x/y", "not a url", "oracle+cx://a/b"])
def test_unsupported_database_urls(url: str) -> None:
    with pytest.raises(ConfigurationError, match="database_url"):
        make_engine(url)


def test_concurrent_first_loads_record_one_row(db_url: str, pki: Pki) -> None:
    result = read_edition(TABLE_2018, "2018")
    engine = make_engine(db_url)
    audit = make_audit_log(engine, pki)
    records = []
    clock = iter(range(1000, 2000))
    lock = threading.Lock()

    def now() -> int:
        with lock:
            return next(clock)

    def record() -> None:
        records.append(SqlEditionRegistry(engine, now, audit).record_load("2018", "t", result))

    try:
        threads = [threading.Thread(target=record) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(records) == 4
        assert len({r.load_time_ms for r in records}) == 1
        with engine.connect() as connection:
            assert (
                connection.execute(select(func.count()).select_from(EditionLoadRow)).scalar_one()
                == 1
            )
            assert (
                connection.execute(select(func.count()).select_from(DisciplineRow)).scalar_one()
                == 2140
            )
            kinds = connection.execute(
                select(sqlstore.entry_table.c.kind).order_by(sqlstore.entry_table.c.seq)
            ).scalars()
            assert list(kinds) == ["log.init", "classification.load"]
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_discipline_codes_match_by_bytes_under_a_locale_collation(pg_server_url: str) -> None:
    """On a database created with an ICU collation, the code-range match still holds.

    A requested code matches as [code, code + 1 in its last character); under a locale
    collation ':' or '[' sort elsewhere, so migration 0005 gives the column COLLATE "C".
    """
    import psycopg

    conninfo = pg_server_url.replace("postgresql+psycopg://", "postgresql://")
    name = "t_icu_collation"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name} TEMPLATE template0 LOCALE_PROVIDER icu "
                     "ICU_LOCALE 'zh' LOCALE 'C.UTF-8'")  # fmt: skip
    engine = make_engine(f"{pg_server_url.rsplit('/', 1)[0]}/{name}")
    try:
        migrate.upgrade(engine)
        with engine.connect() as conn:
            default = conn.exec_driver_sql("SELECT 'A010901'::varchar(16) < 'A010:'").scalar_one()
            collation = conn.exec_driver_sql(
                "SELECT collation_name FROM information_schema.columns "
                "WHERE table_name = 'expert_discipline' AND column_name = 'code'"
            ).scalar_one()
            in_range = conn.exec_driver_sql(
                """SELECT 'A010901'::varchar(16) COLLATE "C" < 'A010:'"""
            ).scalar_one()
        assert default is False  # the database's own collation breaks the range
        assert collation == "C"
        assert in_range is True
    finally:
        engine.dispose()
