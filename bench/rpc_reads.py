"""Read-RPC throughput and latency against the empty-RPC ceiling, over mTLS on loopback.

Starts `expert-draw serve` as a separate process (SQLite, dev PKI in a temporary folder,
logs to a file), then for each RPC keeps CONCURRENCY calls in flight from client threads
for DURATION seconds and reports calls/s, p50 and p99. The ceiling is
`grpc.health.v1.Health/Check` through the same server and interceptor (authentication,
authorization, one log line), so the ratio isolates the cost of the handler itself.

    .venv/bin/python bench/rpc_reads.py [--duration 3] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from expert_draw.api.v1 import classification_service_pb2 as pb
from expert_draw.api.v1 import classification_service_pb2_grpc as pb_grpc

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(var: Path) -> tuple[subprocess.Popen[bytes], int]:
    data = ROOT.parent / "shared" / "data"
    subprocess.run(
        [BIN / "expert-draw", "dev", "init", "--var", var, "--data-dir", data],
        check=True,
        capture_output=True,
    )
    config = var / "expert-draw.toml"
    subprocess.run(
        [BIN / "expert-draw", "db", "upgrade", "--config", config], check=True, capture_output=True
    )
    port, health = free_port(), free_port()
    env = {**os.environ, "EXPERT_DRAW_LISTEN": f"127.0.0.1:{port}", "EXPERT_DRAW_HEALTH_LISTEN": f"127.0.0.1:{health}",
           "EXPERT_DRAW_LOG__FORMAT": "json", "GRPC_VERBOSITY": "ERROR"}  # fmt: skip
    log = (var / "server.log").open("wb")
    process = subprocess.Popen(
        [BIN / "expert-draw", "serve", "--config", config], env=env, stderr=log
    )
    with grpc.insecure_channel(f"127.0.0.1:{health}") as channel:
        grpc.channel_ready_future(channel).result(timeout=30)
        stub = health_pb2_grpc.HealthStub(channel)
        deadline = time.monotonic() + 30
        while (
            stub.Check(health_pb2.HealthCheckRequest(), timeout=5).status
            != health_pb2.HealthCheckResponse.SERVING
        ):
            if time.monotonic() > deadline:
                raise RuntimeError("server did not become ready")
            time.sleep(0.1)
    return process, port


def channel(var: Path, port: int) -> grpc.Channel:
    pki = var / "pki"
    credentials = grpc.ssl_channel_credentials(
        (pki / "ca.pem").read_bytes(),
        (pki / "clients" / "trading_system.key").read_bytes(),
        (pki / "clients" / "trading_system.pem").read_bytes(),
    )
    return grpc.secure_channel(f"127.0.0.1:{port}", credentials)


def measure(call: Any, duration: float, concurrency: int) -> tuple[float, float, float]:
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    stop = time.monotonic() + duration

    def worker(slot: list[float]) -> None:
        while time.monotonic() < stop:
            started = time.perf_counter()
            call()
            slot.append(time.perf_counter() - started)

    threads = [threading.Thread(target=worker, args=(slot,)) for slot in latencies]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    flat = sorted(x for slot in latencies for x in slot)
    p99 = flat[min(len(flat) - 1, int(len(flat) * 0.99))]
    return len(flat) / elapsed, statistics.median(flat) * 1000, p99 * 1000


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    var = Path(tempfile.mkdtemp(prefix="expert-draw-bench."))
    process, port = start_server(var)
    try:
        with channel(var, port) as ch:
            health = health_pb2_grpc.HealthStub(ch)
            stub = pb_grpc.ClassificationServiceStub(ch)
            cases = {
                "Health/Check (empty-RPC ceiling)": lambda: health.Check(health_pb2.HealthCheckRequest(), timeout=10),
                "ListEditions": lambda: stub.ListEditions(pb.ListEditionsRequest(), timeout=10),
                "GetDiscipline": lambda: stub.GetDiscipline(pb.GetDisciplineRequest(name="editions/2018/disciplines/A080105"), timeout=10),
                "ListDisciplines (50)": lambda: stub.ListDisciplines(pb.ListDisciplinesRequest(parent="editions/2018"), timeout=10),
                "SearchDisciplines 电气 (50)": lambda: stub.SearchDisciplines(pb.SearchDisciplinesRequest(parent="editions/2018", query="电气"), timeout=10),
            }  # fmt: skip
            for call in cases.values():
                measure(call, 0.5, args.concurrency)  # warm-up
            ceiling = None
            print(f"{'RPC':36} {'calls/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'of ceiling':>11}")
            for name, call in cases.items():
                rate, p50, p99 = measure(call, args.duration, args.concurrency)
                ceiling = ceiling or rate
                print(f"{name:36} {rate:9.0f} {p50:8.2f} {p99:8.2f} {rate / ceiling:10.0%}")
    finally:
        process.terminate()
        process.wait(30)
        shutil.rmtree(var, ignore_errors=True)


if __name__ == "__main__":
    main()
