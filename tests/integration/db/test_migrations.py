"""Migrations run the same scripts on SQLite and PostgreSQL and match the models."""

from __future__ import annotations

import threading

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, inspect, select
from sqlmodel import SQLModel

from classification import read_edition
from expert_draw.adapters.db import migrate
from expert_draw.adapters.db.editions import SqlEditionRegistry
from expert_draw.adapters.db.engine import make_engine, write_transaction
from expert_draw.adapters.db.models import DisciplineRow, EditionLoadRow
from expert_draw.errors import ConfigurationError
from tests.support.tables import TABLE_2018


def test_upgrade_downgrade_and_no_drift(empty_db_url: str) -> None:
    engine = make_engine(empty_db_url)
    try:
        assert migrate.current_revision(engine) is None
        migrate.upgrade(engine)
        assert migrate.current_revision(engine) == migrate.head_revision()
        migrate.require_head(engine)
        with engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), SQLModel.metadata) == []
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


def test_concurrent_first_loads_record_one_row(db_url: str) -> None:
    result = read_edition(TABLE_2018, "2018")
    engine = make_engine(db_url)
    records = []
    clock = iter(range(1000, 2000))
    lock = threading.Lock()

    def now() -> int:
        with lock:
            return next(clock)

    def record() -> None:
        records.append(SqlEditionRegistry(engine, now).record_load("2018", "t", result))

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
    finally:
        engine.dispose()
