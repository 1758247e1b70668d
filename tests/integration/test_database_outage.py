"""A database that fails under the service (issue 7).

PostgreSQL restarted under load: the service answers UNAVAILABLE while the database is
away, never INTERNAL, and recovers by itself when it is back; nothing an answer
acknowledged is lost, a retried request is applied once, and the log verifies (the
module runs its own cluster, since it stops and starts it). A read-only or full SQLite
database: UNAVAILABLE or RESOURCE_EXHAUSTED, nothing half written.
"""

from __future__ import annotations

import os
import threading
import time
from typing import TYPE_CHECKING

import grpc
import pytest

from expert_draw.api.v1 import expert_service_pb2 as pb
from expert_draw.api.v1 import expert_service_pb2_grpc as pb_grpc
from tests.support import experts as sample
from tests.support.databases import new_postgres_url, prepare_template
from tests.support.postgres import PgCluster
from tests.support.service import client_channel, start

if TYPE_CHECKING:
    from collections.abc import Iterator

    from cli.server import RunningService
    from tests.support.pki import Pki

WRITERS = 4
EXPECTED = {grpc.StatusCode.OK, grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.ABORTED}


@pytest.fixture(scope="module")
def cluster() -> Iterator[PgCluster]:
    if os.environ.get("EXPERT_DRAW_TEST_PG") == "skip":
        pytest.skip("PostgreSQL tests skipped by EXPERT_DRAW_TEST_PG=skip")
    own = PgCluster()
    try:
        prepare_template(own.launch())
        yield own
    finally:
        own.destroy()


@pytest.fixture(scope="module")
def service(cluster: PgCluster, pki: Pki) -> Iterator[RunningService]:
    running = start(pki, new_postgres_url(cluster.url()),
                    grpc={"max_workers": 8, "max_calls_per_client": 8})  # fmt: skip
    yield running
    running.stop(grace=0)


@pytest.mark.postgres
def test_a_database_restart_under_load_is_unavailable_then_recovers(
    cluster: PgCluster, service: RunningService, pki: Pki
) -> None:
    outcomes: dict[int, list[grpc.StatusCode]] = {}
    stop = threading.Event()
    numbers = iter(range(6000, 7000))  # 1,000 distinct 身份证号 (tests.support.experts)
    lock = threading.Lock()

    def write() -> None:
        with client_channel(pki, service.port, "admin") as channel:
            stub = pb_grpc.ExpertServiceStub(channel)
            while not stop.is_set():
                with lock:
                    n = next(numbers, None)
                if n is None:
                    return  # every number used: the others carry on
                request = pb.CreateExpertRequest(expert=sample.expert(n), request_id=f"out-{n}")
                try:
                    stub.CreateExpert(request, timeout=10)
                    code = grpc.StatusCode.OK
                except grpc.RpcError as exc:
                    code = exc.code()
                with lock:
                    outcomes.setdefault(n, []).append(code)
                # A client backs off after a refusal, which comes back at once (without
                # it, one run used all 1,000 numbers during the outage).
                time.sleep(0.01 if code == grpc.StatusCode.OK else 0.05)

    writers = [threading.Thread(target=write) for _ in range(WRITERS)]
    for thread in writers:
        thread.start()
    time.sleep(1.0)
    cluster.stop("fast")  # in-flight transactions are terminated
    time.sleep(1.5)
    cluster.start()
    time.sleep(2.0)
    stop.set()
    for thread in writers:
        thread.join(30)
    seen = {code for codes in outcomes.values() for code in codes}
    assert seen <= EXPECTED, seen  # never INTERNAL or UNKNOWN
    assert grpc.StatusCode.UNAVAILABLE in seen  # the outage was reported
    last = max(outcomes)
    assert outcomes[last] == [grpc.StatusCode.OK]  # recovered without a service restart
    with client_channel(pki, service.port, "admin") as channel:
        stub = pb_grpc.ExpertServiceStub(channel)
        for n, codes in outcomes.items():  # a retry applies each request exactly once
            again = stub.CreateExpert(pb.CreateExpertRequest(
                expert=sample.expert(n), request_id=f"out-{n}"), timeout=10)  # fmt: skip
            if codes == [grpc.StatusCode.OK]:
                assert again.expert.name  # acknowledged, and still there
        listed = stub.ListExperts(pb.ListExpertsRequest(page_size=1000), timeout=30)
    assert listed.total_size == len(outcomes)
    assert service.audit.self_check(100_000) == []


@pytest.fixture
def sqlite_service(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    from tests.support.databases import new_sqlite_url

    running = start(pki, new_sqlite_url(tmp_path_factory.mktemp("db")))
    yield running
    running.stop(grace=0)


@pytest.mark.parametrize(
    ("pragma", "code", "reason"),
    [
        ("PRAGMA query_only = ON", grpc.StatusCode.UNAVAILABLE, "DATABASE_UNAVAILABLE"),
        ("PRAGMA max_page_count = 1", grpc.StatusCode.RESOURCE_EXHAUSTED, "DATABASE_FULL"),
    ],
    ids=["read-only", "full"],
)
def test_a_read_only_or_full_sqlite_database_is_a_clear_error(
    sqlite_service: RunningService, pki: Pki, pragma: str, code: grpc.StatusCode, reason: str
) -> None:
    """Writes fail with a status a client can act on, nothing is half written, and the
    same request succeeds once the database takes writes again."""
    from sqlalchemy import event

    from tests.integration.grpc.helpers import error_info

    engine = sqlite_service.engine
    with engine.connect() as conn:
        pages = int(conn.exec_driver_sql("PRAGMA page_count").scalar_one())

    def limit(dbapi_connection: object, _record: object) -> None:
        statement = pragma.replace("= 1", f"= {pages}")  # full: no page may be added
        dbapi_connection.execute(statement)  # type: ignore[attr-defined]

    event.listen(engine, "connect", limit)
    engine.dispose()  # pooled connections reopen with the limit
    request = pb.CreateExpertRequest(expert=sample.expert(7001), request_id="ro-7001")
    with client_channel(pki, sqlite_service.port, "admin") as channel:
        stub = pb_grpc.ExpertServiceStub(channel)
        try:
            with pytest.raises(grpc.RpcError) as caught:
                stub.CreateExpert(request, timeout=10)
            assert caught.value.code() is code
            assert error_info(caught.value).reason == reason
            assert "nothing was written" in (caught.value.details() or "")
        finally:
            event.remove(engine, "connect", limit)
            engine.dispose()
        assert stub.CreateExpert(request, timeout=10).expert.name
        listed = stub.ListExperts(pb.ListExpertsRequest(page_size=10), timeout=10)
    assert listed.total_size == 1
    assert sqlite_service.audit.self_check(1000) == []
