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
    ("orig", "written"),
    [
        (PgError("57P03"), "nothing"), (PgError("53300"), "nothing"), (PgError("25006"), "nothing"),
        (sqlite3.OperationalError("database is locked"), "nothing"),
        (PgError("08006"), "maybe"), (PgError("08007"), "maybe"), (PgError("57P01"), "maybe"),
        (PgError("58030"), "maybe"), (sqlite3.OperationalError("disk I/O error"), "maybe"),
    ],
)  # fmt: skip
def test_a_lost_connection_may_have_committed_and_says_to_retry_with_the_same_id(
    orig: BaseException, written: str
) -> None:
    """A connection lost during COMMIT may have applied the request: the client must not
    be told that nothing was written, but to retry under the same request id."""
    error = retryable_error(wrapped(orig))
    assert isinstance(error, UnavailableError)
    if written == "nothing":
        assert "nothing was written" in error.message
    else:
        assert "may or may not have been applied" in error.message
        assert "same request id" in error.message
        assert "nothing was written" not in error.message


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


def psycopg_error(message: str) -> BaseException:
    """A psycopg OperationalError without a SQLSTATE (as it raises client-side)."""
    kind: type[Exception] = type("OperationalError", (Exception,),
                                 {"__module__": "psycopg", "sqlstate": None})  # fmt: skip
    return kind(message)


def test_psycopg_without_sqlstate_is_unavailable_only_for_connection_failures() -> None:
    lost = retryable_error(wrapped(psycopg_error("consuming input failed: server closed the "
                                                 "connection unexpectedly")))  # fmt: skip
    assert isinstance(lost, UnavailableError)
    assert "may or may not have been applied" in lost.message
    # A client-side limit is a server bug to fix, not an outage to wait out.
    assert retryable_error(wrapped(psycopg_error(
        "number of parameters must be between 0 and 65535"))) is None  # fmt: skip
