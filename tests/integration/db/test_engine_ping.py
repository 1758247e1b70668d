"""PostgreSQL connections are checked before use only after they idled (engine.py)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from expert_draw.adapters.db.engine import ping_when_idle
from tests.support.databases import new_postgres_url

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

IDLE = 0.2


def _pid_then_kill(url: str, idle: float) -> tuple[Engine, int]:
    """An engine of one pooled connection, whose backend was terminated while idle."""
    engine = create_engine(url, pool_size=1, max_overflow=0)
    ping_when_idle(engine, idle)
    with engine.connect() as conn:
        pid = int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
    killer = create_engine(url, poolclass=NullPool)
    with killer.connect() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:p, 5000)"), {"p": pid}).scalar_one()
    killer.dispose()
    return engine, pid


@pytest.mark.postgres
def test_an_idle_connection_closed_under_the_pool_is_replaced_before_use(
    pg_server_url: str,
) -> None:
    engine, pid = _pid_then_kill(new_postgres_url(pg_server_url), IDLE)
    time.sleep(IDLE * 2)
    with engine.connect() as conn:
        assert int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one()) != pid
    engine.dispose()


@pytest.mark.postgres
def test_a_busy_connection_is_not_pinged_and_a_lost_one_fails_once(pg_server_url: str) -> None:
    """Reused at once, the dead connection's statement fails as a disconnection (the
    service answers UNAVAILABLE); the pool then connects afresh."""
    engine, pid = _pid_then_kill(new_postgres_url(pg_server_url), 600.0)  # never idle enough
    with pytest.raises(OperationalError) as caught, engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    assert caught.value.connection_invalidated
    with engine.connect() as conn:
        assert int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one()) != pid
    engine.dispose()
