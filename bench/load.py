"""Load: mixed traffic against 1 SQLite process or N PostgreSQL replicas, over mTLS on loopback.

    .venv/bin/python bench/load.py --backend sqlite --seconds 10 --json /tmp/load-sqlite.json
    .venv/bin/python bench/load.py --backend postgres --replicas 1 --seconds 10 --json /tmp/load-pg1.json
    .venv/bin/python bench/load.py --backend postgres --replicas 3 --seconds 10 --json /tmp/load-pg3.json
        [--experts 10000] [--clients 16] [--client-processes 2] [--max-requests N]
        [--mix 10:2:4] [--abusers 32] [--append-seconds 5] [--phases ceiling,draws,reads,mixed,abusive]
        [--shared-certs] [--hot-experts 20] [--decline-every 3] [--pool-holders 200]

Set-up (not timed): a fresh dev configuration (`expert-draw dev init`: PKI, keys, settings)
in a temporary folder, a policy without the REMOTE rule (the synthetic library is
national), the database (SQLite file, or a throwaway PostgreSQL 15 cluster under /tmp run
as the unprivileged user of tests/support/postgres.py), `--replicas` processes of
`expert-draw serve`, each on its own loopback port and with its own `audit.replica_id`,
sharing the database, keys and PKI, and a synthetic library of `--experts` experts
(bench/generate_library.py, seed 1; the CSV is kept in /tmp/expert-draw-bench/) imported
with `expert-draw experts import` (in imports of at most 200,000 rows, an import's
limit). Draws use the four discipline codes (二级 or 三级, prefix
match) whose holder counts are nearest `--pool-holders`.

Then, in the same run:

1. Calibration, nothing else running: three complete draws and one decline, one after
   the other; the log's growth (GetServiceInfo.log_size) gives entries per draw and per
   decline.
2. Serialized appends/s of the audit log on the same backend, as bench/audit_append.py
   measures them (SQLite: 1 process x 1 writer on a file in the same folder; PostgreSQL:
   2 processes x 8 writers on a new database of the same cluster), while the service idles.
3. Phases of `--seconds` each (and at most `--max-requests` calls each), after a warm-up
   phase of reads, with `--clients` client threads spread over `--client-processes`
   processes, each thread bound to one replica round-robin, one channel per (process,
   certificate, replica). Each client thread has certificates of its own (issued by the
   dev CA with the dev admin's and trading system's subject CN, so they act as those
   principals), since the service counts its per-client limits by certificate;
   `--shared-certs` makes all threads one client per role. A client that gets
   RESOURCE_EXHAUSTED waits 50 ms before its next call. Client processes rather than
   threads of one process: measured
   on the ceiling (2 cores, busy), one client process with 16 threads used 20-35 % of a
   core while the server process used a whole one, so the server's GIL, not the client's,
   is the limit; 2 processes gave 1,412 calls/s against 1,244 with 1 and 1,233 with 4.
   - the ceiling: grpc.health.v1.Health/Check through the service's interceptor, as
     bench/rpc_reads.py measures it;
   - draws only: every client makes complete draws (CreateDraw then ExecuteDraw without a
     beacon, 5 seats and 2 reserves; after one in `--decline-every`, RecordDecline as
     below); each draw has its own one-hour evaluation window, none overlapping another
     (so no BUSY strike and no pool exhaustion), the first about 72 days ahead, one hour
     apart;
   - each read RPC alone, after the draws (so that draw reads meet a few hundred draws):
     GetExpert, ListExperts (page of 50), GetDraw, ListDraws (page of 100), GetDiscipline,
     SearchDisciplines (page of 50); the ratio to the ceiling is the goal's figure. Reads
     that disclose identities (GetPanel, RevealExpert) append an entry and are not read
     RPCs here;
   - mixed: readers (a random read RPC each call), admin writers (GetExpert for the etag,
     then UpdateExpert toggling accepts_remote or RecordLeave of one hour starting an
     hour ahead, on `--hot-experts` experts so that edits meet: ABORTED and
     FAILED_PRECONDITION are expected outcomes, counted apart) and drawers (complete draws
     as above; after one in `--decline-every`, RecordDecline of a seated member with
     SIGNED_DECLINE), in the proportions of `--mix` (readers:writers:drawers);
   - abusive: the same mix, plus one more client process (the supervisor's certificate,
     a principal of its own) keeping `--abusers` ListExperts calls of page size 1000 in
     flight; the other clients' p99 is compared with the mixed phase's.

Per RPC: calls, ok/s, p50 and p99 of the successful calls (nearest rank), each error code.
"draw" is CreateDraw + ExecuteDraw as the client sees it. The goals (issue 7) are computed
at the end; `--json FILE` holds every figure, raw latencies excepted. Everything runs on
loopback and is bounded; servers, client processes and the cluster are stopped and the
folder removed on exit, Ctrl-C and errors included.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import itertools
import json
import multiprocessing
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import grpc
from draw_latency import CACHE, DAY_MS, HERE, RESERVES, SEATS, TENDERER, national_policy, split
from google.protobuf import field_mask_pb2
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from rpc_reads import BIN, ROOT, free_port

from expert_draw.api.v1 import audit_service_pb2 as audit_pb
from expert_draw.api.v1 import audit_service_pb2_grpc as audit_grpc
from expert_draw.api.v1 import classification_service_pb2 as cls_pb
from expert_draw.api.v1 import classification_service_pb2_grpc as cls_grpc
from expert_draw.api.v1 import draw_service_pb2 as draw_pb
from expert_draw.api.v1 import draw_service_pb2_grpc as draw_grpc
from expert_draw.api.v1 import expert_service_pb2 as exp_pb
from expert_draw.api.v1 import expert_service_pb2_grpc as exp_grpc

if str(ROOT) not in sys.path:  # tests.support (the PostgreSQL cluster) and the packages
    sys.path.insert(0, str(ROOT))

HOUR_MS = 3_600_000
BACKOFF = 0.05  # seconds a client waits after RESOURCE_EXHAUSTED
TIMEOUT = 60.0
READS = ("GetExpert", "ListExperts", "GetDraw", "ListDraws", "GetDiscipline", "SearchDisciplines")
WRITES = ("UpdateExpert", "RecordLeave")
EXPECTED = ("ABORTED", "FAILED_PRECONDITION")  # concurrent edits of one expert: expected
PHASES = ("ceiling", "draws", "reads", "mixed", "abusive")
CEILING = "Health/Check"
DRAW = "draw (Create+Execute)"


# --------------------------------------------------------------------------- clients


class Stubs:
    """One channel per (certificate, replica); a channel connects at its first call."""

    def __init__(self, var: Path, ports: list[int], certs: dict[str, str] | None = None) -> None:
        """Channels to every replica with each role's certificate (``certs``: file stems)."""
        self.certs = certs or {
            who: f"clients/{who}" for who in ("admin", "trading_system", "supervisor")
        }
        pki = var / "pki"
        ca = (pki / "ca.pem").read_bytes()
        self.channels: list[grpc.Channel] = []
        self.health, self.classification, self.audit = [], [], []
        self.experts, self.reader, self.draws = [], [], []
        for port in ports:
            admin, trading, supervisor = (self._open(pki, ca, port, who)
                                          for who in ("admin", "trading_system", "supervisor"))  # fmt: skip
            self.health.append(health_pb2_grpc.HealthStub(admin))
            self.classification.append(cls_grpc.ClassificationServiceStub(admin))
            self.audit.append(audit_grpc.AuditServiceStub(admin))
            self.experts.append(exp_grpc.ExpertServiceStub(admin))
            self.reader.append(exp_grpc.ExpertServiceStub(supervisor))  # the abusive client
            self.draws.append(draw_grpc.DrawServiceStub(trading))

    def _open(self, pki: Path, ca: bytes, port: int, who: str) -> grpc.Channel:
        credentials = grpc.ssl_channel_credentials(
            ca, (pki / f"{self.certs[who]}.key").read_bytes(),
            (pki / f"{self.certs[who]}.pem").read_bytes(),
        )  # fmt: skip
        channel = grpc.secure_channel(
            f"127.0.0.1:{port}", credentials,
            options=[("grpc.ssl_target_name_override", "localhost"),
                     ("grpc.max_receive_message_length", 64 * 1024 * 1024)],
        )  # fmt: skip
        self.channels.append(channel)
        return channel

    def close(self) -> None:
        """Close every channel."""
        for channel in self.channels:
            channel.close()


def stamp(ms: int) -> Timestamp:
    value = Timestamp()
    value.FromMilliseconds(ms)
    return value


def error_code(error: grpc.RpcError) -> str:
    """The status code, with the ErrorInfo reason when the service sent one.

    A stream the server refused (HTTP/2 REFUSED_STREAM: more calls open on the
    connection than `max_streams_per_connection`) is UNAVAILABLE/REFUSED_STREAM.
    """
    code: str = error.code().name
    if "error code 7" in (error.details() or ""):  # RST_STREAM's REFUSED_STREAM
        return f"{code}/REFUSED_STREAM"
    with contextlib.suppress(Exception):
        status = rpc_status.from_call(error)
        for detail in status.details if status else ():
            info = error_details_pb2.ErrorInfo()
            if detail.Unpack(info):
                return f"{code}/{info.reason}"
    return code


class Recorder:
    """Per-RPC latencies of successful calls (ms) and outcome counts, for one phase."""

    def __init__(self) -> None:
        """Empty."""
        self.lock = threading.Lock()
        self.latencies: dict[str, list[float]] = {}
        self.codes: dict[str, Counter[str]] = {}

    def call(self, op: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Run ``fn``; record its latency or its error code; return its result or None."""
        began = time.perf_counter()
        try:
            result = fn(*args, timeout=TIMEOUT, **kwargs)
        except grpc.RpcError as error:
            code = error_code(error)
            self.count(op, code)
            if code.startswith("RESOURCE_EXHAUSTED"):
                time.sleep(BACKOFF)  # the service asked this client to back off
            return None
        self.add(op, (time.perf_counter() - began) * 1000)
        return result

    def add(self, op: str, ms: float) -> None:
        """Record a success of ``op`` that took ``ms``."""
        with self.lock:
            self.latencies.setdefault(op, []).append(ms)
            self.codes.setdefault(op, Counter())["OK"] += 1

    def count(self, op: str, code: str) -> None:
        """Record an outcome of ``op`` without a latency."""
        with self.lock:
            self.codes.setdefault(op, Counter())[code] += 1


class Client:
    """The state of one client process: stubs, library names, draw windows, draws seen."""

    def __init__(self, conf: dict[str, Any], stubs: Stubs | None = None) -> None:
        """Open the channels (unless given) from the run's configuration."""
        self.conf = conf
        self.shared = stubs or Stubs(Path(conf["var"]), conf["ports"])
        self.own: dict[int, Stubs] = {}  # a client thread's own certificates, by thread
        self.local = threading.local()
        self.replicas = len(conf["ports"])
        self.names: list[str] = conf["names"]
        self.hot: list[str] = conf["names"][: conf["hot_experts"]]
        self.draw_names: list[str] = list(conf["draw_names"])
        self.lock = threading.Lock()
        self.slots = itertools.count()  # this process's evaluation windows
        self.serial = itertools.count()
        self.base_ms: int = conf["base_ms"]

    @property
    def stubs(self) -> Stubs:
        """The calling thread's channels: its own certificates, else the process's."""
        own: Stubs | None = getattr(self.local, "stubs", None)
        return own or self.shared

    def use(self, g: int, role: str) -> None:
        """Bind the calling thread to client thread ``g``'s certificates (built once)."""
        certs = self.conf["certs"]
        if role == "abuser" or certs is None:  # one client: the abusive one, or all shared
            self.local.stubs = None
            return
        with self.lock:
            if g not in self.own:
                stems = {"supervisor": "clients/supervisor", **certs[str(g)]}
                self.own[g] = Stubs(Path(self.conf["var"]), self.conf["ports"], stems)
            self.local.stubs = self.own[g]

    def close(self) -> None:
        """Close every channel."""
        self.shared.close()
        for stubs in self.own.values():
            stubs.close()

    def window(self) -> int:
        """The start of a one-hour window no other draw of the run uses."""
        with self.lock:
            slot: int = next(self.slots) * self.conf["processes"] + self.conf["index"]
        return self.base_ms + slot * HOUR_MS

    def tag(self) -> str:
        """A string no other request of the run uses (request ids, tender ids)."""
        with self.lock:
            return f"L{self.conf['run']}-{self.conf.get('label', self.conf['index'])}-{next(self.serial)}"

    # One operation each; ``r`` is the replica, ``rec`` the phase's recorder.

    def op_ceiling(self, r: int, rec: Recorder) -> None:
        """The empty RPC: health check through the service's interceptor."""
        rec.call(CEILING, self.stubs.health[r].Check, health_pb2.HealthCheckRequest())

    def op_read(self, name: str, r: int, rec: Recorder, rnd: random.Random) -> None:
        """One read RPC, by name."""
        s = self.stubs
        if name == "GetExpert":
            rec.call(
                name, s.experts[r].GetExpert, exp_pb.GetExpertRequest(name=rnd.choice(self.names))
            )
        elif name == "ListExperts":
            rec.call(name, s.experts[r].ListExperts, exp_pb.ListExpertsRequest(page_size=50))
        elif name == "GetDraw":
            rec.call(
                name, s.draws[r].GetDraw, draw_pb.GetDrawRequest(name=rnd.choice(self.draw_names))
            )
        elif name == "ListDraws":
            rec.call(name, s.draws[r].ListDraws, draw_pb.ListDrawsRequest(page_size=100))
        elif name == "GetDiscipline":
            code = rnd.choice(self.conf["codes"])
            rec.call(name, s.classification[r].GetDiscipline,
                     cls_pb.GetDisciplineRequest(name=f"editions/2018/disciplines/{code}"))  # fmt: skip
        elif name == "SearchDisciplines":
            rec.call(name, s.classification[r].SearchDisciplines,
                     cls_pb.SearchDisciplinesRequest(parent="editions/2018", query="电气"))  # fmt: skip
        else:  # pragma: no cover - a typo in a phase
            raise ValueError(name)

    def op_write(self, r: int, rec: Recorder, rnd: random.Random) -> None:
        """Read-modify-write by an admin: GetExpert for the etag, then one change."""
        s = self.stubs.experts[r]
        name = rnd.choice(self.hot)
        got = rec.call("GetExpert", s.GetExpert, exp_pb.GetExpertRequest(name=name))
        if got is None:
            return
        tag = self.tag()
        if rnd.random() < 0.5:
            expert = exp_pb.Expert(name=name, etag=got.expert.etag,
                                   accepts_remote=not got.expert.accepts_remote)  # fmt: skip
            rec.call("UpdateExpert", s.UpdateExpert, exp_pb.UpdateExpertRequest(
                expert=expert, update_mask=field_mask_pb2.FieldMask(paths=["accepts_remote"]),
                request_id=f"u-{tag}"))  # fmt: skip
        else:
            start = int(time.time() * 1000) + HOUR_MS
            rec.call("RecordLeave", s.RecordLeave, exp_pb.RecordLeaveRequest(
                name=name, etag=got.expert.etag, reason="bench leave", start_time=stamp(start),
                end_time=stamp(start + HOUR_MS), request_id=f"l-{tag}"))  # fmt: skip

    def op_draw(self, r: int, rec: Recorder, rnd: random.Random, decline: bool) -> None:
        """A complete draw, and maybe a decline of its first seated member."""
        s = self.stubs.draws[r]
        tag = self.tag()
        start = self.window()
        code = rnd.choice(self.conf["codes"])
        began = time.perf_counter()
        created = rec.call("CreateDraw", s.CreateDraw, draw_pb.CreateDrawRequest(
            tender_id=f"T-{tag}", lot_id="1", project_code=f"P-{tag}",
            disciplines=[draw_pb.DisciplineQuota(discipline=f"editions/2018/disciplines/{code}",
                                                 seats=SEATS, reserves=RESERVES)],
            conflicts=draw_pb.ConflictInputs(tenderer=TENDERER),
            evaluation_start_time=stamp(start), evaluation_end_time=stamp(start + 50 * 60_000),
            venue_region="120101", request_id=f"c-{tag}"))  # fmt: skip
        if created is None:
            rec.count(DRAW, "FAILED")
            return
        done = rec.call("ExecuteDraw", s.ExecuteDraw, draw_pb.ExecuteDrawRequest(
            name=created.draw.name, nonce=os.urandom(32), request_id=f"x-{tag}"))  # fmt: skip
        if done is None or len(done.panel) != SEATS:
            rec.count(DRAW, "FAILED" if done is None else "SHORT_PANEL")
            return
        rec.add(DRAW, (time.perf_counter() - began) * 1000)
        with self.lock:
            self.draw_names.append(created.draw.name)
        if decline:
            rec.call("RecordDecline", s.RecordDecline, draw_pb.RecordDeclineRequest(
                name=created.draw.name, pseudonym=done.panel[0].pseudonym,
                reason="SIGNED_DECLINE", evidence=b"bench: signed decline " + tag.encode(),
                request_id=f"d-{tag}"))  # fmt: skip

    def op_abuse(self, r: int, rec: Recorder) -> None:
        """The abusive client's call: the largest page of experts."""
        rec.call("ListExperts (1000, abuser)", self.stubs.reader[r].ListExperts,
                 exp_pb.ListExpertsRequest(page_size=1000))  # fmt: skip

    def one(self, role: str, n: int, r: int, rec: Recorder, rnd: random.Random) -> None:
        """The ``n``-th operation of a client thread of this role, on replica ``r``."""
        if role == "ceiling":
            self.op_ceiling(r, rec)
        elif role == "reader":
            self.op_read(rnd.choice(READS), r, rec, rnd)
        elif role.startswith("read:"):
            self.op_read(role.removeprefix("read:"), r, rec, rnd)
        elif role == "writer":
            self.op_write(r, rec, rnd)
        elif role == "drawer":
            self.op_draw(r, rec, rnd, decline=n % self.conf["decline_every"] == 0)
        elif role == "abuser":
            self.op_abuse(r, rec)

    def run_phase(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """Run this process's threads of one phase; return counts and latencies."""
        rec = Recorder()
        budget = itertools.count()
        limit = cmd["max_requests"]
        start_at, seconds = cmd["start_at"], cmd["seconds"]
        ends: list[float] = []

        def thread(role: str, g: int) -> None:
            rnd = random.Random(g * 7919 + cmd["seed"])
            self.use(g, role)
            time.sleep(max(0.0, start_at - time.time()))
            for n in itertools.count(1):
                if time.time() >= start_at + seconds or (
                    limit is not None and next(budget) >= limit
                ):
                    break
                self.one(role, n, g % self.replicas, rec, rnd)
            with rec.lock:
                ends.append(time.time())

        threads = [threading.Thread(target=thread, args=(role, g), daemon=True)
                   for g, role in cmd["threads"]]  # fmt: skip
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return {
            "latencies": rec.latencies,
            "codes": {op: dict(c) for op, c in rec.codes.items()},
            "end": max(ends, default=start_at),
        }


def client_main(conf: dict[str, Any], commands: Any, results: Any) -> None:
    """A client process: wait for phase commands, run them, send back the results."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us
    os.environ["GRPC_VERBOSITY"] = "ERROR"
    client = Client(conf)
    results.put(("ready", conf["index"], None))
    try:
        while True:
            cmd = commands.get()
            if cmd is None:
                return
            results.put(("done", conf["index"], client.run_phase(cmd)))
    finally:
        client.close()


# --------------------------------------------------------------------------- set-up


def library_csv(size: int) -> Path:
    """The synthetic library's CSV (seed 1), in parts of at most 200,000 rows; cached."""
    folder = CACHE / f"load-{size}"
    csv = folder / "experts.csv"
    if not (folder / "ready").exists():
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, HERE / "generate_library.py", "--count", str(size),
                        "--seed", "1", "--out", csv], check=True, capture_output=True)  # fmt: skip
        (folder / "ready").write_text("ok")
    return csv


def run_cli(*argv: str | Path, env: dict[str, str]) -> None:
    result = subprocess.run([BIN / "expert-draw", *argv], capture_output=True, text=True,
                            env=env, check=False, timeout=3600)  # fmt: skip
    if result.returncode != 0:
        msg = f"expert-draw {argv[0]} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
        raise RuntimeError(msg)


def wait_serving(health_port: int, process: subprocess.Popen[bytes]) -> None:
    """Wait for SERVING on the plaintext health port (as bench/rpc_reads.py does)."""
    deadline = time.monotonic() + 60
    with grpc.insecure_channel(f"127.0.0.1:{health_port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited with {process.returncode}")
            with contextlib.suppress(grpc.RpcError):
                reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=2)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError("server did not become ready")
            time.sleep(0.1)


class Service:
    """The database, the replicas, and their clean-up."""

    def __init__(self, work: Path, backend: str, replicas: int) -> None:
        """Nothing started yet."""
        self.work, self.backend, self.replicas = work, backend, replicas
        self.var = work / "var"
        self.processes: list[subprocess.Popen[bytes]] = []
        self.ports: list[int] = []
        self.cluster: Any = None
        self.server_url = ""
        self.env = {**os.environ, "GRPC_VERBOSITY": "ERROR", "EXPERT_DRAW_LOG__FORMAT": "json"}

    def start(self) -> None:
        """The database, the configuration, the schema, then every replica until SERVING."""
        if self.backend == "postgres":
            from tests.support.postgres import PgCluster

            self.cluster = PgCluster()
            self.server_url = self.cluster.launch()
            import psycopg

            conninfo = self.server_url.replace("postgresql+psycopg://", "postgresql://")
            with psycopg.connect(conninfo, autocommit=True) as conn:
                conn.execute("CREATE DATABASE expert_draw")
            self.env["EXPERT_DRAW_DATABASE_URL"] = self.database_url
        data = ROOT.parent / "shared" / "data"
        run_cli("dev", "init", "--var", self.var, "--data-dir", data, env=self.env)
        national_policy(self.var)
        run_cli("db", "upgrade", "--config", self.var / "expert-draw.toml", env=self.env)
        for index in range(self.replicas):
            port, health = free_port(), free_port()
            env = {**self.env, "EXPERT_DRAW_LISTEN": f"127.0.0.1:{port}",
                   "EXPERT_DRAW_HEALTH_LISTEN": f"127.0.0.1:{health}",
                   "EXPERT_DRAW_AUDIT__REPLICA_ID": f"bench-{index + 1}"}  # fmt: skip
            with (self.work / f"server-{index + 1}.log").open("wb") as log:
                process = subprocess.Popen(
                    [BIN / "expert-draw", "serve", "--config", self.var / "expert-draw.toml"],
                    env=env, stderr=log, stdout=subprocess.DEVNULL,
                )  # fmt: skip
            self.processes.append(process)
            self.ports.append(port)
            wait_serving(health, process)

    @property
    def database_url(self) -> str:
        """The URL every replica uses."""
        if self.backend == "postgres":
            return f"{self.server_url.rsplit('/', 1)[0]}/expert_draw"
        return f"sqlite:///{self.var / 'expert-draw.db'}"

    def import_library(self, csv: Path) -> float:
        """Import the CSV through the CLI into replica 1; return the seconds it took."""
        began = time.perf_counter()
        for part in split(csv, 200_000):  # an import's limit (MAX_IMPORT_ROWS)
            run_cli("experts", "import", part, "--client-config", self.var / "client.toml",
                    "--target", f"127.0.0.1:{self.ports[0]}", "-p", "admin", "--timeout", "3600",
                    env=self.env)  # fmt: skip
        return time.perf_counter() - began

    def stop(self) -> None:
        """Stop the replicas (SIGTERM, then SIGKILL) and destroy the cluster."""
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        self.processes.clear()
        if self.cluster is not None:
            self.cluster.destroy()
            self.cluster = None


def client_certs(var: Path, clients: int) -> dict[str, dict[str, str]]:
    """A certificate of its own per client thread and role, with the role's dev CN.

    The service maps a certificate to a principal by CA and subject CN, so these act as
    the dev admin and trading system (the same draws are theirs); its per-client limits
    count calls by certificate, so each thread is a client of its own, as instances of
    a trading system with their own keys would be.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from expert_draw.adapters.devpki import Issued, issue

    pki = var / "pki"
    key = serialization.load_pem_private_key((pki / "ca.key").read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    ca = Issued(x509.load_pem_x509_certificate((pki / "ca.pem").read_bytes()), key)
    now = dt.datetime.now(dt.UTC)
    out: dict[str, dict[str, str]] = {}
    for g in range(clients):
        out[str(g)] = {}
        for who in ("admin", "trading_system"):
            cn = x509.load_pem_x509_certificate((pki / "clients" / f"{who}.pem").read_bytes())
            name = cn.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
            stem = f"bench/{who}-{g}"
            issue(ca, str(name), now).write(pki / f"{stem}.pem", pki / f"{stem}.key")
            out[str(g)][who] = stem
    return out


def pick_codes(url: str, target: int) -> list[tuple[str, int]]:
    """The four codes (二级 or 三级, prefix match) whose holders are nearest ``target``."""
    from sqlalchemy import text

    from expert_draw.adapters.db.engine import make_engine

    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT code, COUNT(*) AS n FROM expert_discipline WHERE edition_id = '2018' "
            "GROUP BY code")).all()  # fmt: skip
    engine.dispose()
    holders: Counter[str] = Counter()
    for row in rows:
        code, n = str(row.code), int(row.n)
        for length in (5, 7):  # 二级 (5 characters) and 三级 (7): drawable levels
            if len(code) >= length:
                holders[code[:length]] += n
    big = [(c, n) for c, n in holders.items() if n >= 100] or holders.most_common(4)
    return sorted(big, key=lambda c: (abs(c[1] - target), c[0]))[:4]


def measure_appends(service: Service, seconds: float) -> dict[str, Any]:
    """Serialized audit appends/s on the service's backend (bench/audit_append.py's way)."""
    import audit_append

    from audit_log.note import Signer
    from expert_draw.adapters.db import migrate
    from expert_draw.adapters.db.engine import make_engine

    key = Signer.generate(audit_append.ORIGIN).private_string()
    if service.backend == "sqlite":
        url = f"sqlite:///{service.work / 'appends.sqlite'}"
        engine = make_engine(url)
        migrate.upgrade(engine)
        engine.dispose()
        log = audit_append.open_log(url, key)
        log.initialize()
        log.engine.dispose()
        latencies = audit_append.run_threads(url, key, "s-", 1, seconds)
        setting = "SQLite, 1 process x 1 writer"
    else:
        import psycopg

        conninfo = service.server_url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute("CREATE DATABASE appends")
        url = f"{service.server_url.rsplit('/', 1)[0]}/appends"
        engine = make_engine(url)
        migrate.upgrade(engine)
        engine.dispose()
        log = audit_append.open_log(url, key)
        log.initialize()
        log.engine.dispose()
        ctx = multiprocessing.get_context("spawn")
        out: Any = ctx.Queue()
        procs = [ctx.Process(target=audit_append.process_main,
                             args=(url, key, f"p{p}-", 8, seconds, out)) for p in range(2)]  # fmt: skip
        for p in procs:
            p.start()
        latencies = [x for _ in procs for x in out.get(timeout=seconds + 120)]
        for p in procs:
            p.join(30)
        setting = "PostgreSQL, 2 processes x 8 writers"
    latencies.sort()
    return {
        "setting": setting,
        "appends": len(latencies),
        "per_second": len(latencies) / seconds,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
    }


# --------------------------------------------------------------------------- phases


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (as bench/draw_latency.py's p99)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class Driver:
    """The client processes, and the phases sent to them."""

    def __init__(self, conf: dict[str, Any], processes: int) -> None:
        """Start ``processes`` client processes and the abusive one; wait until ready."""
        ctx = multiprocessing.get_context("spawn")
        self.processes = processes  # the last one is the abusive client
        self.results: Any = ctx.Queue()
        self.commands: list[Any] = []
        self.workers: list[Any] = []
        for index in range(processes + 1):
            commands = ctx.Queue()
            worker = ctx.Process(target=client_main, daemon=True, args=(
                {**conf, "index": index, "processes": processes + 1}, commands, self.results))  # fmt: skip
            worker.start()
            self.commands.append(commands)
            self.workers.append(worker)
        for _ in self.workers:
            kind, _index, _ = self.results.get(timeout=120)
            assert kind == "ready"

    def phase(self, name: str, roles: list[str], args: argparse.Namespace,
              abusers: int = 0) -> dict[str, Any]:  # fmt: skip
        """Run one phase: ``roles[g]`` is client thread g's role; returns the merged figures."""
        per_process: list[list[tuple[int, str]]] = [[] for _ in self.workers]
        for g, role in enumerate(roles):
            per_process[g % self.processes].append((g, role))
        per_process[-1] = [(len(roles) + i, "abuser") for i in range(abusers)]
        start_at = time.time() + 0.5
        busy = [i for i, threads in enumerate(per_process) if threads]
        limit = None if args.max_requests is None else -(-args.max_requests // len(busy))
        for i in busy:
            self.commands[i].put({"threads": per_process[i], "start_at": start_at,
                                  "seconds": args.seconds, "max_requests": limit,
                                  "seed": sum(name.encode())})  # fmt: skip
        latencies: dict[str, list[float]] = {}
        codes: dict[str, Counter[str]] = {}
        end = start_at
        for _ in busy:
            kind, _index, result = self.results.get(timeout=args.seconds + 600)
            assert kind == "done"
            for op, values in result["latencies"].items():
                latencies.setdefault(op, []).extend(values)
            for op, counts in result["codes"].items():
                codes.setdefault(op, Counter()).update(counts)
            end = max(end, result["end"])
        elapsed = max(end - start_at, 1e-9)
        rows = {}
        for op in sorted(codes, key=lambda o: (o not in latencies, o)):
            values = latencies.get(op, [])
            counts = codes[op]
            rows[op] = {
                "calls": sum(counts.values()), "ok": counts.get("OK", 0),
                "ok_per_s": counts.get("OK", 0) / elapsed,
                "p50_ms": percentile(values, 0.5) if values else None,
                "p99_ms": percentile(values, 0.99) if values else None,
                "errors": {c: n for c, n in counts.items() if c != "OK" and not expected(op, c)},
                "expected": {c: n for c, n in counts.items() if expected(op, c)},
            }  # fmt: skip
        normal = [x for op, v in latencies.items() if "abuser" not in op and op != DRAW for x in v]
        reads = [x for op, v in latencies.items() if op in READS for x in v]
        return {"phase": name, "seconds": elapsed, "clients": len(roles), "abusers": abusers,
                "rpcs": rows, "normal_p99_ms": percentile(normal, 0.99) if normal else None,
                "reads_p99_ms": percentile(reads, 0.99) if reads else None}  # fmt: skip

    def stop(self) -> None:
        """Tell every client process to finish; terminate those that do not."""
        for commands in self.commands:
            with contextlib.suppress(Exception):
                commands.put(None)
        for worker in self.workers:
            worker.join(10)
            if worker.is_alive():
                worker.terminate()
                worker.join(5)


def expected(op: str, code: str) -> bool:
    """An admin write refused because another admin changed the expert first."""
    return op in WRITES and code.split("/", maxsplit=1)[0] in EXPECTED


def mix_roles(clients: int, mix: str) -> list[str]:
    """Client roles in the proportions readers:writers:drawers, interleaved."""
    weights = [int(x) for x in mix.split(":")]
    total = sum(weights)
    counts = [clients * w // total for w in weights]
    counts[0] += clients - sum(counts)
    roles = ["reader"] * counts[0] + ["writer"] * counts[1] + ["drawer"] * counts[2]
    return roles[0::2] + roles[1::2]  # spread each role over the client processes


def print_phase(
    result: dict[str, Any], ceiling: float | None = None, baseline: dict[str, Any] | None = None
) -> None:
    """The phase's table; with ``baseline``, each p99 as a multiple of the baseline's."""
    print(f"\n## {result['phase']}  ({result['clients']} clients"
          + (f" + {result['abusers']} abusive calls in flight" if result["abusers"] else "")
          + f", {result['seconds']:.1f} s)")  # fmt: skip
    head = f"{'RPC':28} {'calls':>7} {'ok/s':>8} {'p50 ms':>8} {'p99 ms':>8}"
    extra = f" {'of ceiling':>10}" if ceiling else (f" {'p99 x mixed':>11}" if baseline else "")
    print(head + extra + "  errors")
    for op, row in result["rpcs"].items():
        p50 = "-" if row["p50_ms"] is None else f"{row['p50_ms']:.2f}"
        p99 = "-" if row["p99_ms"] is None else f"{row['p99_ms']:.2f}"
        line = f"{op:28} {row['calls']:7d} {row['ok_per_s']:8.1f} {p50:>8} {p99:>8}"
        if ceiling:
            line += f" {row['ok_per_s'] / ceiling:10.0%}"
        elif baseline is not None:
            before = baseline["rpcs"].get(op, {}).get("p99_ms")
            ratio = row["p99_ms"] / before if before and row["p99_ms"] is not None else None
            row["p99_vs_mixed"] = ratio
            line += f" {'-' if ratio is None else f'{ratio:.1f}x':>11}"
        errors = ", ".join(f"{c} {n}" for c, n in sorted(row["errors"].items()))
        errors += "".join(f"  (expected: {c} {n})" for c, n in sorted(row["expected"].items()))
        print(line + ("  " + errors if errors else ""), flush=True)


def log_size(stubs: Stubs) -> int:
    return int(stubs.audit[0].GetServiceInfo(audit_pb.GetServiceInfoRequest(), timeout=30).log_size)


def calibrate(stubs: Stubs, conf: dict[str, Any]) -> dict[str, Any]:
    """Three complete draws and one decline, alone: log entries per draw and per decline."""
    # Windows before the phases' ones; replica 0 only.
    client = Client(
        {
            **conf,
            "index": 0,
            "processes": 1,
            "label": "cal",
            "base_ms": conf["base_ms"] - 1000 * HOUR_MS,
        },
        stubs,
    )
    rec = Recorder()
    rnd = random.Random(1)
    client.op_draw(0, rec, rnd, decline=False)  # warm-up
    before = log_size(stubs)
    for _ in range(3):
        client.op_draw(0, rec, rnd, decline=False)
    after_draws = log_size(stubs)
    client.op_draw(0, rec, rnd, decline=True)
    after_decline = log_size(stubs)
    if len(rec.latencies.get(DRAW, [])) != 5 or "RecordDecline" not in rec.latencies:
        raise RuntimeError(f"calibration draws failed: {dict(rec.codes)}")
    per_draw = (after_draws - before) / 3
    return {"entries_per_draw": per_draw,
            "entries_per_decline": after_decline - after_draws - per_draw,
            "draw_ms_alone": rec.latencies[DRAW], "draw_names": client.draw_names}  # fmt: skip


def goals(report: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    """The issue's goals, as (goal, figure, met or None when not measured)."""
    out: list[tuple[str, str, bool | None]] = []
    phases = report["phases"]
    ceiling = phases["ceiling"]["rpcs"][CEILING]["ok_per_s"]
    for name in READS:
        if f"read:{name}" in phases:
            rate = phases[f"read:{name}"]["rpcs"].get(name, {"ok_per_s": 0.0})["ok_per_s"]
            out.append((f"{name} >= 50 % of the empty-RPC ceiling",
                        f"{rate:.0f}/s of {ceiling:.0f}/s = {rate / ceiling:.0%}",
                        rate >= 0.5 * ceiling))  # fmt: skip
    if "draws" in phases and report["appends"]:
        draws = phases["draws"]["rpcs"].get(DRAW, {"ok_per_s": 0.0})["ok_per_s"]
        appends = report["appends"]["per_second"]
        per_draw = report["calibration"]["entries_per_draw"]
        floor = 0.5 * appends / per_draw
        out.append(("draws/s >= 0.5 x appends/s / entries per draw"
                    + ("" if report["backend"] == "postgres" else " (a PostgreSQL goal)"),
                    f"{draws:.1f}/s vs 0.5 x {appends:.0f} / {per_draw:.1f} = {floor:.1f}/s",
                    draws >= floor))  # fmt: skip
    for phase in ("mixed", "draws"):
        row = phases.get(phase, {}).get("rpcs", {}).get(DRAW)
        if row is not None and row["p99_ms"] is not None:
            out.append((f"draw p99 < 250 ms ({phase} phase)", f"{row['p99_ms']:.0f} ms",
                        row["p99_ms"] < 250))  # fmt: skip
    if "abusive" in phases:
        for key, label in (("normal_p99_ms", "every RPC"), ("reads_p99_ms", "reads")):
            base, hit = phases["mixed"][key], phases["abusive"][key]
            out.append((f"others' p99 ({label}) under an abusive client <= 2x baseline",
                        f"{hit:.0f} ms vs {base:.0f} ms = {hit / base:.1f}x", hit <= 2 * base))  # fmt: skip
    return out


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    replicas = args.replicas if args.backend == "postgres" else 1
    service = Service(work, args.backend, replicas)
    driver: Driver | None = None
    stubs: Stubs | None = None
    try:
        began = time.perf_counter()
        service.start()
        csv = library_csv(args.experts)
        imported = service.import_library(csv)
        print(f"{args.backend}, {replicas} replica(s): started and imported {args.experts:,} "
              f"experts in {time.perf_counter() - began:.0f} s (import {imported:.0f} s)", flush=True)  # fmt: skip
        codes = pick_codes(service.database_url, args.pool_holders)
        print("draw codes (holders): " + ", ".join(f"{c} ({n})" for c, n in codes), flush=True)
        stubs = Stubs(service.var, service.ports)
        listed = stubs.experts[0].ListExperts(
            exp_pb.ListExpertsRequest(page_size=1000), timeout=120
        )
        conf: dict[str, Any] = {
            "var": str(service.var), "ports": service.ports, "codes": [c for c, _ in codes],
            "names": [e.name for e in listed.experts], "hot_experts": args.hot_experts,
            "decline_every": args.decline_every,
            "base_ms": (int(time.time() * 1000) // DAY_MS + 30) * DAY_MS + 1000 * HOUR_MS,
            "run": os.getpid(),
            "certs": None if args.shared_certs else client_certs(service.var, args.clients),
        }  # fmt: skip
        calibration = calibrate(stubs, {**conf, "draw_names": []})
        conf["draw_names"] = calibration.pop("draw_names")
        print(f"calibration: {calibration['entries_per_draw']:.1f} log entries per draw, "
              f"{calibration['entries_per_decline']:.1f} per decline; a draw alone "
              f"{percentile(calibration['draw_ms_alone'], 0.5):.0f} ms", flush=True)  # fmt: skip
        appends: dict[str, Any] = {}
        if "draws" in args.phases.split(","):
            appends = measure_appends(service, args.append_seconds)
            print(f"serialized appends: {appends['setting']}: {appends['per_second']:.0f}/s "
                  f"(p50 {appends['p50_ms']:.2f} ms, p99 {appends['p99_ms']:.2f} ms)", flush=True)  # fmt: skip
        driver = started = Driver(conf, args.client_processes)
        phases: dict[str, Any] = {}

        def phase(name: str, roles: list[str], abusers: int = 0) -> None:
            phases[name] = started.phase(name, roles, args, abusers)
            ceiling = (
                phases["ceiling"]["rpcs"][CEILING]["ok_per_s"] if name.startswith("read:") else None
            )
            print_phase(phases[name], ceiling, phases["mixed"] if abusers else None)

        wanted = set(args.phases.split(","))
        phase("warm-up", ["reader"] * args.clients)
        phase("ceiling", ["ceiling"] * args.clients)
        if "draws" in wanted:  # first, so that GetDraw and ListDraws meet a few hundred draws
            phase("draws", ["drawer"] * args.clients)
        for name in READS if "reads" in wanted else ():
            phase(f"read:{name}", [f"read:{name}"] * args.clients)
        roles = mix_roles(args.clients, args.mix)
        if wanted & {"mixed", "abusive"}:
            phase("mixed", roles)
        if "abusive" in wanted and args.abusers:
            phase("abusive", roles, args.abusers)
        del phases["warm-up"]
        return {"backend": args.backend, "replicas": replicas, "experts": args.experts,
                "clients": args.clients, "client_processes": args.client_processes,
                "mix": args.mix, "codes": codes, "calibration": calibration,
                "appends": appends, "phases": phases, "import_seconds": imported,
                "argv": sys.argv}  # fmt: skip
    finally:
        if driver is not None:
            driver.stop()
        if stubs is not None:
            stubs.close()
        service.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--replicas", type=int, default=1, help="PostgreSQL only")
    parser.add_argument("--experts", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=10.0, help="per phase")
    parser.add_argument("--max-requests", type=int, default=None, help="per phase")
    parser.add_argument("--mix", default="10:2:4", help="readers:writers:drawers")
    parser.add_argument("--hot-experts", type=int, default=20)
    parser.add_argument("--decline-every", type=int, default=3)
    parser.add_argument("--pool-holders", type=int, default=200)
    parser.add_argument("--abusers", type=int, default=32, help="0: no abusive phase")
    parser.add_argument("--append-seconds", type=float, default=5.0)
    parser.add_argument("--phases", default=",".join(PHASES),
                        help="which of " + ",".join(PHASES) + " (the ceiling always runs)")  # fmt: skip
    parser.add_argument("--shared-certs", action="store_true",
                        help="all client threads share one certificate per role (one client)")  # fmt: skip
    parser.add_argument("--json", type=Path)
    parser.add_argument("--strict", action="store_true",
                        help="exit 1 if any call ended in an unexpected status (CI's smoke run)")  # fmt: skip
    args = parser.parse_args()
    if args.backend == "sqlite" and args.replicas != 1:
        parser.error("several processes require PostgreSQL (--backend postgres)")
    if not 1 <= args.client_processes <= args.clients:
        parser.error("--client-processes must be between 1 and --clients")

    def terminate(signum: int, frame: Any) -> None:
        del frame
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
    threading.current_thread().name = "load"
    work = Path(tempfile.mkdtemp(prefix="expert-draw-load."))
    try:
        report = run(args, work)
    except Exception:
        for log in sorted(work.glob("server-*.log")):  # the servers' last words, then clean up
            tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-20:]
            print(f"--- {log.name} (last lines)", *tail, sep="\n", file=sys.stderr)
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("\n## Goals (issue 7)")
    for goal, figure, met in goals(report):
        verdict = "-" if met is None else ("met" if met else "NOT MET")
        print(f"{goal:62} {figure:44} {verdict}")
    report["goals"] = [{"goal": g, "figure": f, "met": m} for g, f, m in goals(report)]
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, ensure_ascii=False), encoding="utf-8")
    wrong = unexpected(report)
    if wrong:
        print("\n## Unexpected outcomes", *wrong, sep="\n")
        if args.strict:
            raise SystemExit(1)


def unexpected(report: dict[str, Any]) -> list[str]:
    """Calls that ended other than as the load expects.

    Expected: OK, an admin's edit that met another's (ABORTED, FAILED_PRECONDITION),
    and the abuser told to back off (RESOURCE_EXHAUSTED) or its streams refused (it
    keeps more calls open than its connection may have).
    """
    found = []
    for name, phase in report["phases"].items():
        for op, row in phase["rpcs"].items():
            for code, n in row["errors"].items():
                if "abuser" in op and (
                    code.startswith("RESOURCE_EXHAUSTED") or code == "UNAVAILABLE/REFUSED_STREAM"
                ):
                    continue
                found.append(f"{name}: {op} {code} x{n}")
    return found


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
