"""Several replicas under mixed load, with kill -9 (issue 7).

Three `expert-draw serve` processes over one PostgreSQL database (or one over SQLite)
serve 16 clients of mixed traffic for a bounded time: admins create experts, trading
systems draw committees whose evaluation windows overlap, readers list and get. Every
few seconds one replica is killed with SIGKILL at whatever point it has reached and is
started again. Clients move to another replica on UNAVAILABLE and retry with the same
request id. Afterwards:

- every acknowledged mutation is present, and every request, retried with its id until
  it is answered, was applied exactly once (one ``expert.create`` per expert);
- no expert holds seats in two executed draws whose windows overlap, and every
  acknowledged panel is what the database holds;
- the log verifies offline (seq contiguous, signatures, chain), and every restarted
  replica passed its self-check (it accepts writes).
"""

from __future__ import annotations

import itertools
import json
import os
import random
import signal
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import select

from audit_log.sqlstore import entry_table
from expert_draw.adapters.db.engine import make_engine
from expert_draw.adapters.db.models import draw_member_table, draw_table
from expert_draw.adapters.draws import SEATED_STATES
from expert_draw.api.v1 import draw_service_pb2 as draw_pb
from expert_draw.api.v1 import draw_service_pb2_grpc as draw_grpc
from expert_draw.api.v1 import expert_service_pb2 as pb
from expert_draw.api.v1 import expert_service_pb2_grpc as pb_grpc
from tests.integration.cli.conftest import run
from tests.support import experts as sample
from tests.support.databases import new_postgres_url
from tests.support.postgres import free_port
from tests.support.tables import SHARED_DATA

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

BIN = Path(__file__).resolve().parents[2] / ".venv" / "bin"
DAY_MS = 86_400_000
LIBRARY = range(100, 145)  # 45 experts of A010101: the draws' pool
SECONDS = 10.0
KILL_EVERY = 2.5
# Away, conflicting, or this client's calls per replica are all in use: try again.
RETRY = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.ABORTED, grpc.StatusCode.DEADLINE_EXCEEDED,
         grpc.StatusCode.RESOURCE_EXHAUSTED}  # fmt: skip
# A draw may find too few free experts once the day's seats are taken.
EXPECTED = {grpc.StatusCode.OK, grpc.StatusCode.FAILED_PRECONDITION}


@dataclass
class Replica:
    """One `expert-draw serve` process on its own ports."""

    var: Path
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    health_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start, or restart after a kill on the same ports (clients keep them)."""
        first = self.process is None
        for _ in range(3):
            if self._started():
                return
            # free_port() closes its socket, so another process can bind the port before
            # the replica does (seen once in CI). Only a first start may move.
            assert first, "the replica's port was taken while it was down"
            self.port, self.health_port = free_port(), free_port()
        raise AssertionError("no free ports for the replica after three attempts")

    def _started(self) -> bool:
        """Whether the replica became healthy; False if its ports were taken."""
        env = {**self.env, "EXPERT_DRAW_LISTEN": f"127.0.0.1:{self.port}",
               "EXPERT_DRAW_HEALTH_LISTEN": f"127.0.0.1:{self.health_port}"}  # fmt: skip
        log = self.var / f"replica-{self.port}.log"
        with log.open("ab") as sink:  # the child keeps its own descriptor
            self.process = subprocess.Popen(
                [BIN / "expert-draw", "serve", "--config", self.var / "expert-draw.toml"],
                env=env, stdout=subprocess.DEVNULL, stderr=sink,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while subprocess.run(
            [BIN / "expert-draw", "health", "--target", f"127.0.0.1:{self.health_port}",
             "--timeout", "1"], capture_output=True, check=False,
        ).returncode != 0:  # fmt: skip
            if self.process.poll() is not None:
                said = log.read_text(errors="replace")[-3000:]
                if "Address already in use" in said:
                    return False
                raise AssertionError(said)
            assert time.monotonic() < deadline, "the replica did not become healthy"
            time.sleep(0.2)
        return True

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)


class Clients:
    """Channels to every replica per role; calls move on when a replica is away."""

    def __init__(self, var: Path, replicas: list[Replica]) -> None:
        self.replicas = replicas
        self.var = var
        self.turn = itertools.count()

    def channel(self, port: int, role: str) -> grpc.Channel:
        pki = self.var / "pki"
        credentials = grpc.ssl_channel_credentials(
            (pki / "ca.pem").read_bytes(), (pki / "clients" / f"{role}.key").read_bytes(),
            (pki / "clients" / f"{role}.pem").read_bytes(),
        )  # fmt: skip
        return grpc.secure_channel(f"127.0.0.1:{port}", credentials,
                                   options=[("grpc.ssl_target_name_override", "localhost")])  # fmt: skip

    def call(self, role: str, stub_of: Callable[[grpc.Channel], Any], method: str,
             request: Any, attempts: int = 40) -> tuple[grpc.StatusCode, Any]:  # fmt: skip
        """Call ``method``, moving to the next replica on UNAVAILABLE (same request).

        ``attempts`` retries of a failure; a TOO_MANY_CALLS refusal (the call never ran:
        six requesters share one certificate) is retried with a growing pause for up to
        a minute whatever the count, as docs/clients.md tells clients to.
        """
        code, tries, pause = grpc.StatusCode.UNKNOWN, 0, 0.05
        busy_until = time.monotonic() + 60
        while tries < attempts:
            replica = self.replicas[next(self.turn) % len(self.replicas)]
            with self.channel(replica.port, role) as channel:
                try:
                    return grpc.StatusCode.OK, getattr(stub_of(channel), method)(
                        request, timeout=15
                    )
                except grpc.RpcError as exc:
                    code = exc.code()
                    if code not in RETRY:
                        return code, exc
            busy = code is grpc.StatusCode.RESOURCE_EXHAUSTED and time.monotonic() < busy_until
            if busy:
                pause = min(pause * 2, 1.0)
            else:
                tries += 1
            time.sleep(pause if busy else 0.1)
        return code, None


def stamp(ms: int) -> Timestamp:
    value = Timestamp()
    value.FromMilliseconds(ms)
    return value


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def deployment(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[Path, list[Replica], str]]:
    """A `make serve` var folder and its replicas: three on PostgreSQL, one on SQLite."""
    var = tmp_path / "var"
    assert run("dev", "init", "--var", str(var), "--data-dir", str(SHARED_DATA)).exit_code == 0
    env = {**os.environ, "GRPC_VERBOSITY": "ERROR", "EXPERT_DRAW_LOG__LEVEL": "warning"}
    if request.param == "postgres":
        url = new_postgres_url(request.getfixturevalue("pg_server_url"))
        env["EXPERT_DRAW_DATABASE_URL"] = url
        count = 3
    else:
        url = f"sqlite:///{var / 'expert-draw.db'}"
        assert run("db", "upgrade", "--config", str(var / "expert-draw.toml")).exit_code == 0
        count = 1
    replicas = [Replica(var, {**env, "EXPERT_DRAW_AUDIT__REPLICA_ID": f"replica-{i}"})
                for i in range(count)]  # fmt: skip
    try:
        for replica in replicas:
            replica.start()
        yield var, replicas, url
    finally:
        for replica in replicas:
            replica.stop()


def test_mixed_load_with_kill_9_loses_nothing_and_seats_nobody_twice(  # noqa: PLR0915 - one scenario
    deployment: tuple[Path, list[Replica], str],
) -> None:
    var, replicas, url = deployment
    clients = Clients(var, replicas)
    experts = (pb_grpc.ExpertServiceStub, "CreateExpert")
    for n in LIBRARY:
        code, _ = clients.call("admin", experts[0], experts[1], pb.CreateExpertRequest(
            expert=sample.expert(n, disciplines=["editions/2018/disciplines/A010101"]),
            request_id=f"lib-{n}"))  # fmt: skip
        assert code is grpc.StatusCode.OK
    numbers = itertools.count(500)
    draws = itertools.count()
    lock = threading.Lock()
    created: dict[int, grpc.StatusCode] = {}  # expert number -> last answer
    panels: dict[str, set[str]] = {}  # executed draw -> acknowledged panel experts
    made: list[str] = []  # every draw created
    outcomes: Counter[str] = Counter()
    stop = threading.Event()
    base = int(time.time() * 1000) + 40 * DAY_MS

    def admin() -> None:
        while not stop.is_set():
            with lock:
                n = next(numbers)
            code, _ = clients.call("admin", *experts, pb.CreateExpertRequest(
                expert=sample.expert(n), request_id=f"load-{n}"), attempts=3)  # fmt: skip
            with lock:
                created[n] = code
                outcomes[f"CreateExpert {code.name}"] += 1

    def requester() -> None:
        stub = draw_grpc.DrawServiceStub
        while not stop.is_set():
            with lock:
                i = next(draws)
            start = base + (i % 2) * DAY_MS + (i % 3) * 3_600_000  # overlapping windows
            code, created_draw = clients.call("trading_system", stub, "CreateDraw",
                draw_pb.CreateDrawRequest(
                    tender_id=f"R-{i}", lot_id="1", project_code=f"RP-{i}",
                    disciplines=[draw_pb.DisciplineQuota(
                        discipline="editions/2018/disciplines/A0101", seats=5)],
                    conflicts=draw_pb.ConflictInputs(tenderer=sample.uscc(9100)),
                    evaluation_start_time=stamp(start),
                    evaluation_end_time=stamp(start + 4 * 3_600_000),
                    venue_region="120101", request_id=f"rc-{i}"))  # fmt: skip
            with lock:
                outcomes[f"CreateDraw {code.name}"] += 1
            assert code in EXPECTED, (code, getattr(created_draw, "details", lambda: "")())
            if code is not grpc.StatusCode.OK:
                continue
            name = created_draw.draw.name
            with lock:
                made.append(name)
            code, done = clients.call("trading_system", stub, "ExecuteDraw",
                draw_pb.ExecuteDrawRequest(name=name, nonce=os.urandom(32),
                                           request_id=f"rx-{i}"))  # fmt: skip
            with lock:
                outcomes[f"ExecuteDraw {code.name}"] += 1
            assert code in EXPECTED, (code, done)
            if code is grpc.StatusCode.OK and done.panel:
                with lock:
                    panels[name] = {m.expert for m in done.panel}

    def reader() -> None:
        while not stop.is_set():
            code, _ = clients.call("supervisor", pb_grpc.ExpertServiceStub, "ListExperts",
                                   pb.ListExpertsRequest(page_size=50))  # fmt: skip
            with lock:
                outcomes[f"ListExperts {code.name}"] += 1
            assert code is grpc.StatusCode.OK

    failures: list[BaseException] = []

    def guarded(target: Callable[[], None]) -> Callable[[], None]:
        def body() -> None:
            try:
                target()
            except BaseException as exc:  # noqa: BLE001 - reported below
                failures.append(exc)
                stop.set()

        return body

    targets = [admin] * 6 + [requester] * 6 + [reader] * 4  # 16 clients
    workers = [threading.Thread(target=guarded(target)) for target in targets]
    for worker in workers:
        worker.start()
    kills = 0
    rng = random.Random(7)
    ends = time.monotonic() + SECONDS
    # At least two kills however slowly the replicas restart on a loaded machine.
    while (time.monotonic() < ends or kills < 2) and not stop.is_set():
        time.sleep(KILL_EVERY * rng.uniform(0.5, 1.0))
        victim = rng.choice(replicas)
        victim.kill()
        kills += 1
        time.sleep(0.3)
        victim.start()  # its self-check runs at start; writes are refused if it fails
    stop.set()
    for worker in workers:
        worker.join(120)
    assert not failures, failures
    assert kills >= 2
    assert outcomes["ExecuteDraw OK"] >= 2, outcomes

    # Every request, retried with its id until answered, is applied once.
    for n, code in sorted(created.items()):
        if code is not grpc.StatusCode.OK:
            again, _ = clients.call("admin", *experts, pb.CreateExpertRequest(
                expert=sample.expert(n), request_id=f"load-{n}"))  # fmt: skip
            assert again is grpc.StatusCode.OK, (n, code, again)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            subjects = Counter(str(r.subj) for r in conn.execute(
                select(entry_table.c.subj).where(entry_table.c.kind == "expert.create")))  # fmt: skip
            m, d = draw_member_table, draw_table
            seats = conn.execute(
                select(m.c.expert_id, d.c.draw_id, d.c.window_from_ms, d.c.window_to_ms)
                .join(d, d.c.id == m.c.draw_id)
                .where(m.c.seat.is_not(None), m.c.left.is_(False), d.c.state.in_(SEATED_STATES))
            ).all()  # fmt: skip
    finally:
        engine.dispose()
    assert len(subjects) == len(LIBRARY) + len(created)
    assert set(subjects.values()) == {1}  # no expert created twice
    held: dict[int, list[tuple[int, int, str]]] = {}
    for expert_id, draw_id, start, end in seats:
        for other_start, other_end, other in held.get(int(expert_id), []):
            assert not (start < other_end and other_start < end), (expert_id, draw_id, other)
        held.setdefault(int(expert_id), []).append((int(start), int(end), str(draw_id)))
    for name, acknowledged in panels.items():  # what the answer said is what is stored
        code, panel = clients.call("trading_system", draw_grpc.DrawServiceStub, "GetPanel",
                                   draw_pb.GetPanelRequest(name=name))  # fmt: skip
        assert code is grpc.StatusCode.OK
        assert {m.expert for m in panel.panel} == acknowledged
    # Every replica passed its start-up self-check: it accepts a write.
    for i, replica in enumerate(replicas):
        with clients.channel(replica.port, "admin") as channel:
            pb_grpc.ExpertServiceStub(channel).CreateExpert(pb.CreateExpertRequest(
                expert=sample.expert(990 + i), request_id=f"after-{i}"), timeout=15)  # fmt: skip
    target = ["--client-config", str(var / "client.toml"), "--target",
              f"127.0.0.1:{replicas[0].port}"]  # fmt: skip
    exported = run("log", "export", str(var / "export"), "-p", "supervisor", *target)
    assert exported.exit_code == 0, exported.output
    checked = run("verify", "log", "--export", str(var / "export"), "--trust",
                  str(var / "trust.toml"))  # fmt: skip
    assert checked.exit_code in {0, 3}, checked.output  # 3: policy findings only

    # Every pool, frozen before the head lock while experts were being created on three
    # replicas, is what the rules give on the log (draw-v1 §15): finish every draw, take
    # the openings, replay.
    for name in made:
        code, _ = clients.call("trading_system", draw_grpc.DrawServiceStub, "CancelDraw",
                               draw_pb.CancelDrawRequest(name=name, reason="TENDER_CANCELLED",
                                                         request_id=f"end-{name[6:]}"))  # fmt: skip
        assert code in {grpc.StatusCode.OK, grpc.StatusCode.FAILED_PRECONDITION}, (name, code)
    taken = run("stats", "openings", str(var / "openings.json"), "-p", "supervisor", *target)
    assert taken.exit_code == 0, taken.output
    exported = run("log", "export", str(var / "export2"), "-p", "supervisor", *target)
    assert exported.exit_code == 0, exported.output
    replayed = run("verify", "replay", str(var / "openings.json"), "--export",
                   str(var / "export2"), "--trust", str(var / "trust.toml"), "--json")  # fmt: skip
    report = json.loads(replayed.stdout)
    assert report["problems"] == [], report["problems"]
    assert [d["findings"] for d in report["draws"]] == [[] for _ in report["draws"]]
    assert len(report["draws"]) == len(made)
    assert replayed.exit_code == 0, replayed.output
