"""Durable audit appends per second: SQLite (one process) and PostgreSQL (processes x writers).

Each append is one transaction of one entry: head lock, entry, perfect nodes, one
signed checkpoint, head CAS, request row, commit (SQLite WAL synchronous=FULL;
PostgreSQL fsync=on, synchronous_commit=on). PostgreSQL runs in a throwaway cluster.

    .venv/bin/python bench/audit_append.py [--seconds 10] [--sqlite-writers 4] [--pg-processes 2] [--pg-writers 8]
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import tempfile
import threading
import time
from pathlib import Path

from audit_log.entry import Who
from audit_log.keys import KeyRing
from audit_log.note import Signer
from audit_log.sqlstore import AuditStore, PendingEntry
from expert_draw.adapters.audit import AuditLog
from expert_draw.adapters.db import migrate
from expert_draw.adapters.db.engine import make_engine, write_transaction
from tests.support.databases import new_postgres_url, prepare_template
from tests.support.postgres import PgCluster

ORIGIN = "bench.expert-draw.example/log"
UUID = "0b7f6c2e-8a1d-4c3b-9e2f-5a6b7c8d9e0f"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def open_log(url: str, key: str) -> AuditLog:
    engine = make_engine(url)
    store = AuditStore(ORIGIN, KeyRing.single(Signer.parse(key)), "bench")
    return AuditLog(engine, store, now_ms)


def writer(url: str, key: str, name: str, seconds: float, out: list[float]) -> None:
    audit = open_log(url, key)
    who = Who("admin", "bench:writer", "bench")
    deadline = time.monotonic() + seconds
    n = 0
    while time.monotonic() < deadline:
        started = time.perf_counter()
        with write_transaction(audit.engine) as conn:
            audit.append(conn, who=who, request_id=f"{name}-{n}", payload={"n": n},
                         pending=[PendingEntry("expert.delete", f"experts/{UUID}", {"reason": "bench"})])  # fmt: skip
        out.append(time.perf_counter() - started)
        n += 1
    audit.engine.dispose()


def run_threads(url: str, key: str, prefix: str, writers: int, seconds: float) -> list[float]:
    results: list[list[float]] = [[] for _ in range(writers)]
    threads = [
        threading.Thread(target=writer, args=(url, key, f"{prefix}{i}", seconds, results[i]))
        for i in range(writers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [x for r in results for x in r]


def process_main(
    url: str,
    key: str,
    prefix: str,
    writers: int,
    seconds: float,
    queue: multiprocessing.Queue[list[float]],
) -> None:
    queue.put(run_threads(url, key, prefix, writers, seconds))


def report(label: str, latencies: list[float], seconds: float) -> None:
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99)]
    print(
        f"{label:44} {len(latencies) / seconds:8.0f} appends/s   p50 {statistics.median(latencies) * 1000:6.2f} ms   p99 {p99 * 1000:6.2f} ms   ({len(latencies)} appends)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--sqlite-writers", type=int, default=4)
    parser.add_argument("--pg-processes", type=int, default=2)
    parser.add_argument("--pg-writers", type=int, default=8)
    args = parser.parse_args()
    key = Signer.generate(ORIGIN).private_string()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.sqlite'}"
        engine = make_engine(url)
        migrate.upgrade(engine)
        engine.dispose()
        log = open_log(url, key)
        log.initialize()
        log.engine.dispose()
        for run_number, writers in enumerate(sorted({1, args.sqlite_writers})):
            latencies = run_threads(url, key, f"s{run_number}-", writers, args.seconds)
            report(f"SQLite, 1 process x {writers} writers", latencies, args.seconds)
    cluster = PgCluster()
    try:
        server = cluster.launch()
        prepare_template(server)
        url = new_postgres_url(server)
        log = open_log(url, key)
        log.initialize()
        log.engine.dispose()
        queue: multiprocessing.Queue[list[float]] = multiprocessing.Queue()
        processes = [multiprocessing.Process(target=process_main, args=(url, key, f"p{p}-", args.pg_writers, args.seconds, queue))
                     for p in range(args.pg_processes)]  # fmt: skip
        for process in processes:
            process.start()
        latencies = [x for _ in processes for x in queue.get()]
        for process in processes:
            process.join()
        report(
            f"PostgreSQL, {args.pg_processes} processes x {args.pg_writers} writers",
            latencies,
            args.seconds,
        )
        check = open_log(url, key)
        from audit_log import sqlstore

        with check.engine.connect() as conn:
            problems = sqlstore.self_check(check.store, conn, tail=5000)
        print(f"PostgreSQL log after the run: self-check {problems or 'clean'}")
        check.engine.dispose()
    finally:
        cluster.destroy()


if __name__ == "__main__":
    main()
