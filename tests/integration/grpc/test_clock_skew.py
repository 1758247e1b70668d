"""A replica whose clock is too far from the database's refuses writes (issue 7).

On PostgreSQL, where several replicas share the log, every audited write first compares
the replica's clock with the database's ``clock_timestamp()``: beyond ``[audit]
max_clock_skew_ms`` the write is refused with UNAVAILABLE (CLOCK_SKEW), nothing is
written, and the same request succeeds once the clock is right. SQLite is one machine's
file: there is no other clock to compare with.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

import grpc
import pytest

from audit_log.sqlstore import entry_table
from expert_draw.api.v1 import expert_service_pb2 as pb
from expert_draw.api.v1 import expert_service_pb2_grpc as pb_grpc
from tests.integration.grpc.helpers import error_info
from tests.support import experts as sample

if TYPE_CHECKING:
    from collections.abc import Callable

    from cli.server import RunningService

MINUTE_MS = 60_000


def log_size(service: RunningService) -> int:
    from sqlalchemy import func, select

    with service.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(entry_table)).scalar_one())


@pytest.mark.parametrize(
    ("skew_ms", "number"), [(10 * MINUTE_MS, 4001), (-10 * MINUTE_MS, 4002), (6_000, 4003)]
)
def test_a_skewed_replica_refuses_writes_until_its_clock_is_right(
    service: RunningService,
    connect: Callable[[int, str | None], grpc.Channel],
    skew_ms: int,
    number: int,
) -> None:
    admin = pb_grpc.ExpertServiceStub(connect(service.port, "admin"))
    request = pb.CreateExpertRequest(expert=sample.expert(number),
                                     request_id=f"skew-{skew_ms}-{os.getpid()}")  # fmt: skip
    right = service.audit.clock_ms
    service.audit.clock_ms = lambda: int(time.time() * 1000) + skew_ms
    before = log_size(service)
    try:
        if service.engine.dialect.name != "postgresql":
            created = admin.CreateExpert(request, timeout=10)  # one machine, one clock
            assert created.expert.name
            return
        with pytest.raises(grpc.RpcError) as caught:
            admin.CreateExpert(request, timeout=10)
        assert caught.value.code() is grpc.StatusCode.UNAVAILABLE
        assert error_info(caught.value).reason == "CLOCK_SKEW"
        assert log_size(service) == before
    finally:
        service.audit.clock_ms = right
    created = admin.CreateExpert(request, timeout=10)  # the same request, clock corrected
    assert created.expert.name
    assert log_size(service) > before


def test_a_small_skew_is_tolerated(
    service: RunningService, connect: Callable[[int, str | None], grpc.Channel]
) -> None:
    admin = pb_grpc.ExpertServiceStub(connect(service.port, "admin"))
    right = service.audit.clock_ms
    service.audit.clock_ms = lambda: int(time.time() * 1000) + 1_500
    try:
        created = admin.CreateExpert(pb.CreateExpertRequest(
            expert=sample.expert(4200), request_id=f"skew-small-{os.getpid()}"), timeout=10)  # fmt: skip
    finally:
        service.audit.clock_ms = right
    assert created.expert.name
