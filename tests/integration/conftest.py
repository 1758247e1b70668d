"""Fixtures for tests against the real service: servers on 127.0.0.1:0, channels."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.support.databases import new_postgres_url, new_sqlite_url
from tests.support.service import client_channel, start

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    import grpc

    from cli.server import RunningService
    from tests.support.pki import Pki


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def service(
    request: pytest.FixtureRequest, pki: Pki, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningService]:
    """A running service shared by a module's tests, on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        url = new_sqlite_url(tmp_path_factory.mktemp("db"))
    else:
        url = new_postgres_url(request.getfixturevalue("pg_server_url"))
    running = start(pki, url)
    yield running
    running.stop(grace=0)


@pytest.fixture
def connect(pki: Pki) -> Iterator[Callable[[int, str | None], grpc.Channel]]:
    """Open channels presenting a named test certificate; all closed afterwards."""
    opened: list[grpc.Channel] = []

    def _connect(port: int, client: str | None) -> grpc.Channel:
        channel = client_channel(pki, port, client)
        opened.append(channel)
        return channel

    yield _connect
    for channel in opened:
        channel.close()
