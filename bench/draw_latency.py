"""Draw latency: CreateDraw + ExecuteDraw over mTLS against a naive unverifiable draw.

For each library size, a synthetic library (bench/generate_library.py, seed 1) is
imported into a SQLite service started as `make serve` does (dev PKI, `expert-draw
serve` in its own process). Then, for a 三级 discipline (the one whose size is nearest
0.06 % of the library, at least 200: about 600 at 1M) and a 二级 one (nearest 0.5 %, at
least 1,500: about 5,000 at 1M), it
times DRAWS complete draws (CreateDraw, then ExecuteDraw without a beacon: eligibility,
freeze, commit, escrow, seed, panel, disclosure, every log entry) one after the other,
and as many naive draws: one RPC to a bench-only server on the same database running
the same discipline filter with `ORDER BY RANDOM() LIMIT k` and one audit append,
unverifiable by design. A third column is the naive draw in two steps (Draw, then a
Reveal RPC with one more append): the floor of any protocol that commits before it
draws, which EDS-1 does (two RPCs, two durable transactions). The three alternate, draw
by draw, so that they meet the same disk. All over mTLS with the dev trading-system
certificate.

    .venv/bin/python bench/draw_latency.py [--sizes 10000,100000,1000000] [--draws 30]

Libraries are kept in /tmp/expert-draw-bench/ (the 1M import takes minutes); delete
the folder to rebuild them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from rpc_reads import BIN, start_server
from sqlalchemy import text

from expert_draw.api.v1 import draw_service_pb2 as pb
from expert_draw.api.v1 import draw_service_pb2_grpc as pb_grpc
from expert_draw.core.identifiers import uscc_check

HERE = Path(__file__).resolve().parent
CACHE = Path(tempfile.gettempdir()) / "expert-draw-bench"
DAY_MS = 86_400_000
NAIVE = "/bench.Naive/Draw"
REVEAL = "/bench.Naive/Reveal"  # the naive draw in two steps: Draw, then Reveal
SEATS, RESERVES = 5, 2
TENDERER = "91120000MA0000001" + uscc_check("91120000MA0000001")


def library(size: int) -> Path:
    """The var folder of a service holding ``size`` experts (built once, then reused)."""
    var = CACHE / f"draws-{size}" / "var"
    if (var / "ready").exists():
        return var
    var.parent.mkdir(parents=True, exist_ok=True)
    csv = var.parent / "experts.csv"
    subprocess.run([sys.executable, HERE / "generate_library.py", "--count", str(size),
                    "--seed", "1", "--out", csv], check=True, capture_output=True)  # fmt: skip
    process, port = start_server(var)
    try:
        started = time.perf_counter()
        for part in split(csv, 200_000):  # an import holds at most 200,000 rows
            result = subprocess.run(
                [BIN / "expert-draw", "experts", "import", part, "--client-config",
                 var / "client.toml", "--target", f"127.0.0.1:{port}", "-p", "admin",
                 "--timeout", "3600"],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            if result.returncode != 0:
                sys.exit(f"import failed:\n{result.stdout}\n{result.stderr[-2000:]}")
        print(f"imported {size:,} experts in {time.perf_counter() - started:.0f} s", flush=True)
    finally:
        process.terminate()
        process.wait(30)
    (var / "ready").write_text("ok")
    return var


def split(csv: Path, rows: int) -> list[Path]:
    """The CSV in parts of at most ``rows`` rows, each with the header."""
    lines = csv.read_bytes().split(b"\r\n")
    header, body = lines[0], [line for line in lines[1:] if line]
    parts = []
    for number, start in enumerate(range(0, len(body), rows)):
        part = csv.with_name(f"{csv.stem}-{number}.csv")
        part.write_bytes(b"\r\n".join([header, *body[start : start + rows]]) + b"\r\n")
        parts.append(part)
    return parts


def pick_codes(var: Path, size: int) -> dict[str, tuple[str, int]]:
    """The 三级 and 二级 codes whose holder counts are nearest 0.06 % and 0.5 % of size."""
    from expert_draw.adapters.db.engine import make_engine

    engine = make_engine(f"sqlite:///{var / 'expert-draw.db'}")
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT code, COUNT(*) AS n FROM expert_discipline WHERE edition_id = '2018' "
            "GROUP BY code")).all()  # fmt: skip
    engine.dispose()
    level3 = [(str(r.code), int(r.n)) for r in rows if len(r.code) == 7]
    level2 = {}
    for code, n in level3:
        level2[code[:5]] = level2.get(code[:5], 0) + n
    # Small libraries have too few holders of a typical 三级 code for a draw of 5 (the pool
    # minimum is 15 eligible, and the synthetic library fails E1 or E4 often): the
    # targets have floors.
    return {
        "三级": min(level3, key=lambda c: abs(c[1] - max(size * 0.0006, 200))),
        "二级": min(level2.items(), key=lambda c: abs(c[1] - max(size * 0.005, 1500))),
    }


def serve_naive(var: Path) -> tuple[grpc.Server, int]:
    """A bench-only gRPC server on the same database: filter, ORDER BY RANDOM(), log."""
    from audit_log.sqlstore import PendingEntry
    from expert_draw.adapters.audit import AuditLog
    from expert_draw.adapters.db.engine import make_engine, write_transaction
    from expert_draw.adapters.grpc.server import server_credentials
    from expert_draw.config import load_settings

    settings = load_settings(var / "expert-draw.toml")
    engine = make_engine(settings.database_url, base_dir=settings.config_dir)
    audit = AuditLog.from_settings(settings, engine, lambda: int(time.time() * 1000))
    audit.initialize()
    counter = iter(range(10**9))
    sql = text(
        "SELECT e.id FROM expert e JOIN expert_discipline d ON d.expert_id = e.id "
        "WHERE d.edition_id = '2018' AND d.code >= :low AND d.code < :high "
        "AND e.state = 'active' "
        "GROUP BY e.id ORDER BY RANDOM() LIMIT :k"
    )

    def draw(request: bytes, context: grpc.ServicerContext) -> bytes:
        del context
        asked = json.loads(request)
        number = next(counter)
        with write_transaction(engine) as conn:
            code = asked["code"]  # the prefix as a code range, as the service queries it
            high = code[:-1] + chr(ord(code[-1]) + 1)
            ids = [int(r.id) for r in conn.execute(sql, {"low": code, "high": high,
                                                         "k": asked["k"]})]  # fmt: skip
            data = {"what": "naive-draw", "recipient": "dev:trading-01",
                    "data_sha256": "00" * 32}  # fmt: skip
            audit.append(conn, who=audit.who("dev:trading-01", "trading_system"),
                         request_id=f"naive-{number}-{os.getpid()}", payload=asked,
                         pending=[PendingEntry("export", f"exports/naive-{number}", data)])  # fmt: skip
        return json.dumps(ids).encode()

    def reveal(request: bytes, context: grpc.ServicerContext) -> bytes:
        """The second half of the two-step naive draw: one more durable append."""
        del context
        number = next(counter)
        with write_transaction(engine) as conn:
            data = {"what": "naive-reveal", "recipient": "dev:trading-01",
                    "data_sha256": "00" * 32}  # fmt: skip
            audit.append(conn, who=audit.who("dev:trading-01", "trading_system"),
                         request_id=f"naive-{number}-{os.getpid()}", payload=request.hex(),
                         pending=[PendingEntry("export", f"exports/naive-{number}", data)])  # fmt: skip
        return request

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    handler = grpc.method_handlers_generic_handler("bench.Naive", {
        "Draw": grpc.unary_unary_rpc_method_handler(draw),
        "Reveal": grpc.unary_unary_rpc_method_handler(reveal)})  # fmt: skip
    server.add_generic_rpc_handlers((handler,))
    port = server.add_secure_port("127.0.0.1:0", server_credentials(settings))
    server.start()
    return server, port


def client(var: Path, port: int) -> grpc.Channel:
    pki = var / "pki"
    credentials = grpc.ssl_channel_credentials(
        (pki / "ca.pem").read_bytes(), (pki / "clients" / "trading_system.key").read_bytes(),
        (pki / "clients" / "trading_system.pem").read_bytes(),
    )  # fmt: skip
    return grpc.secure_channel(f"127.0.0.1:{port}", credentials,
                               options=[("grpc.ssl_target_name_override", "localhost")])  # fmt: skip


def stamp(ms: int) -> Timestamp:
    value = Timestamp()
    value.FromMilliseconds(ms)
    return value


def one_draw(stub: pb_grpc.DrawServiceStub, code: str, number: int, tag: str) -> float:
    """A complete draw; returns its latency in ms."""
    start = int(time.time() * 1000) + (30 + number) * DAY_MS  # one day each: no overlap
    tender = f"BENCH-{tag}-{number}-{os.getpid()}"
    began = time.perf_counter()
    created = stub.CreateDraw(pb.CreateDrawRequest(
        tender_id=tender, lot_id="1", project_code=tender,
        disciplines=[pb.DisciplineQuota(discipline=f"editions/2018/disciplines/{code}",
                                        seats=SEATS, reserves=RESERVES)],
        conflicts=pb.ConflictInputs(tenderer=TENDERER),
        evaluation_start_time=stamp(start), evaluation_end_time=stamp(start + DAY_MS // 2),
        venue_region="120101", request_id=f"c-{tender}",
    ), timeout=120)  # fmt: skip
    done = stub.ExecuteDraw(
        pb.ExecuteDrawRequest(
            name=created.draw.name, nonce=os.urandom(32), request_id=f"x-{tender}"
        ),
        timeout=120,
    )
    elapsed = (time.perf_counter() - began) * 1000
    if len(done.panel) != SEATS:
        sys.exit(f"draw {created.draw.name} seated {len(done.panel)}")
    return elapsed


def p99(values: list[float]) -> float:
    """The 99th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def summary(values: list[float]) -> str:
    return f"p50 {statistics.median(values):7.1f} ms  p99 {p99(values):7.1f} ms"


def national_policy(var: Path) -> None:
    """A policy for a national library: no REMOTE rule (experts live everywhere)."""
    (var / "policy.toml").write_text("version = 1\n[region]\nvenue_prefix_digits = 0\n")
    config = var / "expert-draw.toml"
    lines = config.read_text(encoding="utf-8").splitlines()
    if not any(line.startswith("policy =") for line in lines):
        at = next(i for i, line in enumerate(lines) if line.startswith("escrow_keys ="))
        lines.insert(at + 1, 'policy = "policy.toml"')
        config.write_text("\n".join(lines) + "\n", encoding="utf-8")


def run(size: int, draws: int) -> list[dict[str, Any]]:
    var = library(size)
    national_policy(var)
    codes = pick_codes(var, size)
    process, port = start_server(var)
    naive, naive_port = serve_naive(var)
    rows = []
    try:
        with client(var, port) as real_channel, client(var, naive_port) as naive_channel:
            stub = pb_grpc.DrawServiceStub(real_channel)
            naive_call = naive_channel.unary_unary(NAIVE)
            reveal_call = naive_channel.unary_unary(REVEAL)
            for level, (code, holders) in codes.items():
                tag = "L3" if level == "三级" else "L2"
                one_draw(stub, code, draws, f"warm-{tag}")  # warm the caches
                asked = json.dumps({"code": code, "k": SEATS}).encode()
                real: list[float] = []
                plain: list[float] = []
                two_step: list[float] = []
                for i in range(draws):  # interleaved, so that all three meet the same disk
                    real.append(one_draw(stub, code, i, f"{size}-{code}"))
                    began = time.perf_counter()
                    naive_call(asked, timeout=60)
                    plain.append((time.perf_counter() - began) * 1000)
                    began = time.perf_counter()
                    reveal_call(naive_call(asked, timeout=60), timeout=60)
                    two_step.append((time.perf_counter() - began) * 1000)
                ratio = p99(real) / max(p99(plain), 1e-9)
                print(f"{size:>9,} experts  {level} {code} ({holders:,} holders)  EDS-1 draw "
                      f"{summary(real)}  naive {summary(plain)}  p99 ratio {ratio:.1f}x  "
                      f"naive in two steps {summary(two_step)}", flush=True)  # fmt: skip
                rows.append({"size": size, "level": level, "code": code, "holders": holders,
                             "real": real, "naive": plain, "two_step": two_step})  # fmt: skip
    finally:
        naive.stop(0)
        process.terminate()
        process.wait(30)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--draws", type=int, default=30)
    args = parser.parse_args()
    threading.current_thread().name = "bench"
    for size in (int(s) for s in args.sizes.split(",")):
        run(size, args.draws)


if __name__ == "__main__":
    main()
