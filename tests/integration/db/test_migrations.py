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
