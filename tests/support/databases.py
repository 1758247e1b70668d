"""Fresh, migrated databases for tests: SQLite files and PostgreSQL databases.

PostgreSQL databases are cloned from a template that is migrated once per session, so
each test gets an empty, migrated database in a few tens of milliseconds.
"""

from __future__ import annotations

import itertools
import threading
from typing import TYPE_CHECKING

import psycopg

from expert_draw.adapters.db import migrate
from expert_draw.adapters.db.engine import make_engine

if TYPE_CHECKING:
    from pathlib import Path

_counter = itertools.count()
_lock = threading.Lock()
TEMPLATE = "expert_draw_template"


def _admin(server_url: str) -> psycopg.Connection[tuple[object, ...]]:
    conninfo = server_url.replace("postgresql+psycopg://", "postgresql://")
    return psycopg.connect(conninfo, autocommit=True)


def prepare_template(server_url: str) -> None:
    """Create and migrate the template database once."""
    with _admin(server_url) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {TEMPLATE}")
        conn.execute(f"CREATE DATABASE {TEMPLATE}")
    base = server_url.rsplit("/", 1)[0]
    engine = make_engine(f"{base}/{TEMPLATE}")
    try:
        migrate.upgrade(engine)
    finally:
        engine.dispose()


def new_postgres_url(server_url: str, *, migrated: bool = True) -> str:
    """Return the URL of a new database (a copy of the migrated template, or empty)."""
    with _lock:
        name = f"t_{next(_counter)}"
    with _admin(server_url) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        template = f" TEMPLATE {TEMPLATE}" if migrated else ""
        conn.execute(f"CREATE DATABASE {name}{template}")
    return f"{server_url.rsplit('/', 1)[0]}/{name}"


def new_sqlite_url(folder: Path, *, migrated: bool = True) -> str:
    """Return the URL of a new SQLite file database."""
    url = f"sqlite:///{folder / f'db-{next(_counter)}.sqlite'}"
    if migrated:
        engine = make_engine(url)
        try:
            migrate.upgrade(engine)
        finally:
            engine.dispose()
    return url
