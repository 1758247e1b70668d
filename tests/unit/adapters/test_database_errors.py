"""Database errors become statuses a client can act on (expert_draw.adapters.db.engine)."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy.exc import OperationalError

from expert_draw.adapters.db.engine import retryable_error
from expert_draw.errors import ConcurrentChangeError, StorageFullError, UnavailableError


class PgError(Exception):
    def __init__(self, sqlstate: str | None) -> None:
        super().__init__("server message")
        self.sqlstate = sqlstate


def wrapped(orig: BaseException) -> OperationalError:
    return OperationalError("SELECT 1", {}, orig)


@pytest.mark.parametrize(
    ("orig", "kind", "reason"),
    [
        (PgError("40001"), ConcurrentChangeError, "TRANSACTION_CONFLICT"),
        (PgError("40P01"), ConcurrentChangeError, "TRANSACTION_CONFLICT"),
        (PgError("08006"), UnavailableError, "DATABASE_UNAVAILABLE"),  # class 08
        (PgError("57P01"), UnavailableError, "DATABASE_UNAVAILABLE"),
        (PgError("57P03"), UnavailableError, "DATABASE_UNAVAILABLE"),
        (PgError("25006"), UnavailableError, "DATABASE_UNAVAILABLE"),
        (PgError("53100"), StorageFullError, "DATABASE_FULL"),
        (sqlite3.OperationalError("database is locked"), UnavailableError, "DATABASE_UNAVAILABLE"),
        (sqlite3.OperationalError("attempt to write a readonly database"), UnavailableError,
         "DATABASE_UNAVAILABLE"),
        (sqlite3.OperationalError("database or disk is full"), StorageFullError, "DATABASE_FULL"),
    ],
)  # fmt: skip
def test_known_failures_map_to_their_status(
    orig: BaseException, kind: type[Exception], reason: str
) -> None:
    error = retryable_error(wrapped(orig))
    assert isinstance(error, kind)
    assert error.reason == reason
    assert "SELECT" not in error.message  # no statement in what the client reads


@pytest.mark.parametrize(
    "orig", [PgError("23505"), PgError(None), sqlite3.OperationalError("no such table: x")]
)
def test_other_database_errors_stay_internal(orig: BaseException) -> None:
    assert retryable_error(wrapped(orig)) is None
    assert retryable_error(ValueError("not a database error")) is None


def test_a_runtime_error_inside_the_pool_is_retryable_and_elsewhere_not() -> None:
    namespace: dict[str, object] = {}
    exec(  # noqa: S102 - a frame whose file is SQLAlchemy's pool
        compile("def connect():\n    raise RuntimeError('deque mutated during iteration')\n",
                "/venv/lib/sqlalchemy/pool/base.py", "exec"), namespace,
    )  # fmt: skip
    with pytest.raises(RuntimeError) as inside:
        namespace["connect"]()  # type: ignore[operator]
    assert isinstance(retryable_error(inside.value), UnavailableError)
    with pytest.raises(RuntimeError) as outside:
        raise RuntimeError("deque mutated during iteration")
    assert retryable_error(outside.value) is None
