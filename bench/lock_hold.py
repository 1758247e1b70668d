r"""How long one CreateDraw holds the audit head lock, the one lock every draw queues on.

Starts the service in-process on PostgreSQL (a throwaway cluster) or SQLite, creates
HOLDERS experts of one code, then runs DRAWS CreateDraws one at a time, each cancelled
after, and records for each the time from taking the head lock (from sending it, with
the reads that go with it) to the end of the commit (its transaction's last statement).
The lock caps how many draws per second all replicas together can create, however many
cores they have: 1000 / (ms held).

    PYTHONPATH=. .venv/bin/python bench/lock_hold.py [--backend postgres] [--holders 150]
        [--draws 40]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from expert_draw.api.v1 import draw_service_pb2 as pb
from expert_draw.api.v1 import draw_service_pb2_grpc as pb_grpc
from expert_draw.api.v1 import expert_service_pb2 as expert_pb
from expert_draw.api.v1 import expert_service_pb2_grpc as expert_grpc
from tests.support import experts as sample
from tests.support.databases import new_postgres_url, new_sqlite_url, prepare_template
from tests.support.pki import build_pki
from tests.support.postgres import PgCluster
from tests.support.service import client_channel, start

DAY_MS = 86_400_000
CODE = "A010101"


def _stamp(ms: int) -> Any:
    from google.protobuf.timestamp_pb2 import Timestamp

    value = Timestamp()
    value.FromMilliseconds(ms)
    return value


def run(url: str, folder: Path, holders: int, draws: int) -> list[float]:
    """Milliseconds the head lock was held by each CreateDraw."""
    pki = build_pki(folder / "pki")
    service = start(pki, url)
    held: list[float] = []
    try:
        assert service.draws is not None
        store = service.draws._audit.store  # noqa: SLF001 - the lock under measurement
        taken: list[float] = []
        original_lock, original_query = store.lock_head, store.lock_query

        def lock_head(conn: Any) -> Any:  # an append that takes the lock itself
            found = original_lock(conn)
            taken.append(time.perf_counter())
            return found

        def lock_query(dialect: str) -> Any:
            # AuditLog sends the lock with the reads under it in one round trip: timed
            # from when it is sent (draws run one at a time here, so nothing waits).
            taken.append(time.perf_counter())
            return original_query(dialect)

        store.lock_head = lock_head  # type: ignore[method-assign]
        store.lock_query = lock_query  # type: ignore[method-assign]
        with client_channel(pki, service.port, "admin") as channel:
            admin = expert_grpc.ExpertServiceStub(channel)
            for n in range(holders):
                admin.CreateExpert(expert_pb.CreateExpertRequest(
                    expert=sample.expert(n, disciplines=[f"editions/2018/disciplines/{CODE}"]),
                    request_id=f"lock-{n}"), timeout=30)  # fmt: skip
        with client_channel(pki, service.port, "trading_system") as channel:
            requester = pb_grpc.DrawServiceStub(channel)
            start_ms = int(time.time() * 1000) + 30 * DAY_MS
            for i in range(draws + 1):
                taken.clear()
                created = requester.CreateDraw(pb.CreateDrawRequest(
                    tender_id=f"LOCK-{i}", lot_id="1", project_code=f"LOCK-{i}",
                    disciplines=[pb.DisciplineQuota(discipline=f"editions/2018/disciplines/{CODE}",
                                                    seats=5)],
                    conflicts=pb.ConflictInputs(tenderer=sample.uscc(9000)),
                    evaluation_start_time=_stamp(start_ms + i * DAY_MS),
                    evaluation_end_time=_stamp(start_ms + i * DAY_MS + DAY_MS // 3),
                    venue_region="120101", request_id=f"lock-c-{i}"), timeout=30)  # fmt: skip
                done = time.perf_counter()  # the reply follows the commit
                if i:  # the first draw warms the caches
                    held.append(1000 * (done - taken[-1]))
                requester.CancelDraw(pb.CancelDrawRequest(
                    name=created.draw.name, reason="TENDER_CANCELLED",
                    request_id=f"lock-x-{i}"), timeout=30)  # fmt: skip
        print(f"re-assessed under the lock: {getattr(service.draws, 'refreezes', 'n/a')}")
    finally:
        service.stop(grace=0)
    return held


def main() -> None:
    """Measure and print p50 / p90 / max of the time held."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="postgres")
    parser.add_argument("--holders", type=int, default=150)
    parser.add_argument("--draws", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        cluster = None
        if args.backend == "postgres":
            cluster = PgCluster()
            server = cluster.launch()
            prepare_template(server)
            url = new_postgres_url(server)
        else:
            url = new_sqlite_url(folder)
        try:
            held = sorted(run(url, folder, args.holders, args.draws))
        finally:
            if cluster is not None:
                cluster.destroy()
    p90 = held[int(0.9 * (len(held) - 1))]
    print(f"{args.backend}, {args.holders} holders, {len(held)} CreateDraws: head lock held "
          f"p50 {statistics.median(held):.1f} ms, p90 {p90:.1f} ms, max {held[-1]:.1f} ms "
          f"(pid {os.getpid()})")  # fmt: skip


if __name__ == "__main__":
    main()
