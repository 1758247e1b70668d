"""Alembic environment: the target metadata is SQLModel's plus the audit store's."""

from __future__ import annotations

from typing import TYPE_CHECKING

from alembic import context
from sqlalchemy import engine_from_config, pool
from sqlmodel import SQLModel

from audit_log import sqlstore
from expert_draw.adapters.db import models  # noqa: F401 - registers the tables

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

target_metadata = [SQLModel.metadata, sqlstore.metadata]


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run on the caller's connection if it passed one, else on the configured URL."""
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = engine_from_config(
        context.config.get_section(context.config.config_ini_section) or {},
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    with engine.connect() as conn:
        _run(conn)


if context.is_offline_mode():
    msg = "offline (SQL script) migrations are not supported"
    raise SystemExit(msg)
run_migrations_online()
