"""Interoperability: a Node.js client made from the .proto, and `buf curl` via reflection.

The Node client (clients/node/draw.mjs, @grpc/grpc-js and @grpc/proto-loader) performs a
whole draw over mTLS against the real service on SQLite, running the requester's checks
in JavaScript before it sends its nonce; the negative cases show it refuses, names the
failed check and leaves the draw committed. `buf curl` (the buf-bin wheel) calls the
service through server reflection only, as grpcurl users would. The first run installs
the client's locked npm dependencies (`npm ci`) once per session.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from audit_log.entry import Entry
from audit_log.note import Signer
from expert_draw.api.v1 import audit_service_pb2 as audit_pb
from expert_draw.api.v1 import audit_service_pb2_grpc as audit_grpc
from expert_draw.api.v1 import draw_service_pb2 as pb
from expert_draw.api.v1 import draw_service_pb2_grpc as pb_grpc
from expert_draw.api.v1 import expert_service_pb2 as expert_pb
from expert_draw.api.v1 import expert_service_pb2_grpc as expert_grpc
from tests.support import experts as sample
from tests.support.databases import new_sqlite_url
from tests.support.service import ORIGIN, client_channel, log_key_file, start

if TYPE_CHECKING:
    from collections.abc import Iterator

    from cli.server import RunningService
    from tests.support.pki import Pki

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "clients" / "node"
BUF = ROOT / ".venv" / "bin" / "buf"
DAY_MS = 86_400_000
A0101 = "editions/2018/disciplines/A0101"
_days = iter(range(3, 10**6))


def _googleapis_include() -> Path:
    """The Google API protos (google/api/*.proto) of the googleapis-common-protos wheel."""
    import google.api

    return Path(next(iter(google.api.__path__))).parent.parent


@pytest.fixture(scope="session")
def node_client() -> Path:
    """clients/node with its locked dependencies installed (`npm ci` when missing)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.fail(
            "the interop tests need Node.js 20+ and npm on PATH (apt-get install nodejs npm)"
        )
    if not (CLIENT / "node_modules" / "@grpc" / "grpc-js").is_dir():
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=CLIENT, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            pytest.fail(f"npm ci in {CLIENT} failed:\n{done.stdout}\n{done.stderr}")
    return CLIENT


@pytest.fixture(scope="module")
def service(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    """The real service on SQLite with a library of 24 experts under A0101."""
    running = start(pki, new_sqlite_url(tmp_path_factory.mktemp("interop")))
    try:
        with client_channel(pki, running.port, "admin") as channel:
            admin = expert_grpc.ExpertServiceStub(channel)
            for n in range(100, 124):
                admin.CreateExpert(
                    expert_pb.CreateExpertRequest(expert=sample.expert(n), request_id=f"i-{n}"),
                    timeout=10,
                )
        yield running
    finally:
        running.stop(grace=0)


@pytest.fixture
def stubs(service: RunningService, pki: Pki) -> Iterator[dict[str, Any]]:
    channels = {role: client_channel(pki, service.port, role)
                for role in ("trading_system", "supervisor")}  # fmt: skip
    yield {
        "requester": pb_grpc.DrawServiceStub(channels["trading_system"]),
        "audit": audit_grpc.AuditServiceStub(channels["supervisor"]),
    }
    for channel in channels.values():
        channel.close()


def pinned_vkey(pki: Pki) -> str:
    """The log's verifier key, as a requester pins it (from the log's signing key)."""
    return str(Signer.parse(log_key_file(pki).read_text(encoding="ascii").strip()).verifier)


def iso(ms: int) -> str:
    """RFC 3339 UTC text of a time in milliseconds (whole seconds)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms // 1000))


def draw_request(tag: str, *, beacon: bool = False) -> dict[str, Any]:
    """clients/node/example-request.json for a fresh tender-lot, project and day."""
    request: dict[str, Any] = json.loads((CLIENT / "example-request.json").read_text("utf-8"))
    start_ms = int(time.time() * 1000) + next(_days) * DAY_MS
    suffix = f"{tag}-{os.getpid()}-{time.monotonic_ns()}"
    request.update(
        tender_id=f"NODE-{suffix}", project_code=f"P-{suffix}", request_id=f"node-{suffix}",
        evaluation_start_time=iso(start_ms), evaluation_end_time=iso(start_ms + DAY_MS // 2),
        use_beacon=beacon,
    )  # fmt: skip
    return request


def run_client(
    client: Path,
    service: RunningService,
    pki: Pki,
    tmp_path: Path,
    request: dict[str, Any],
    *extra: str,
    vkey: str | None = None,
    host: str = "localhost",
) -> tuple[int, dict[str, Any], str]:
    """Run draw.mjs; return its exit code, its JSON output and its stderr.

    The pinned key is ``vkey`` when given, else the log's key from a trust.toml.
    """
    request_file = tmp_path / f"request-{request['request_id']}.json"
    request_file.write_text(json.dumps(request, ensure_ascii=False), encoding="utf-8")
    if vkey is None:
        trust = tmp_path / "trust.toml"
        trust.write_text(f'version = 1\nlog_vkey = "{pinned_vkey(pki)}"\n', encoding="ascii")
        pin = ["--trust", str(trust)]
    else:
        pin = ["--log-vkey", vkey]
    cert, key = pki.client_files("trading_system")
    command = [
        "node", str(client / "draw.mjs"), "--target", f"{host}:{service.port}",
        "--ca", str(pki.ca_file("dev")), "--cert", str(cert), "--key", str(key), *pin,
        "--request", str(request_file), "--include", str(_googleapis_include()), *extra,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    try:
        output = json.loads(done.stdout)
    except json.JSONDecodeError:
        pytest.fail(
            f"draw.mjs printed no JSON (exit {done.returncode}):\n{done.stdout}\n{done.stderr}"
        )
    return done.returncode, output, done.stderr


def entries_of(audit: audit_grpc.AuditServiceStub, name: str) -> list[Entry]:
    found = audit.ListEntries(audit_pb.ListEntriesRequest(subject=name, page_size=100), timeout=10)
    return [Entry.decode(e.body) for e in found.entries]


ALL_CHECKS = {"receipt", "entry", "params", "params_hash", "commit_digest", "request"}


def test_node_client_performs_a_complete_draw(
    node_client: Path, service: RunningService, pki: Pki, tmp_path: Path, stubs: dict[str, Any]
) -> None:
    request = draw_request("ok")
    code, out, err = run_client(node_client, service, pki, tmp_path, request, host="127.0.0.1")
    assert code == 0, err
    assert out["state"] == "STATE_EXECUTED"
    assert {k for k, v in out["checks"].items() if v == "pass"} == ALL_CHECKS
    assert out["checks"]["beacon"] == "not used"
    assert out["nonce_sent"] is True
    assert [(s["code"], len(s["pseudonyms"])) for s in out["seats"]] == [("A0101", 5)]
    assert len(out["panel"]) == 5
    assert len({m["expert"] for m in out["panel"]}) == 5
    assert all(m["expert"].startswith("experts/") and m["full_name"] for m in out["panel"])
    # Python reads the same draw: executed, with the client's seats, its nonce logged.
    draw = stubs["requester"].GetDraw(pb.GetDrawRequest(name=out["draw"]), timeout=10).draw
    assert draw.state == pb.Draw.STATE_EXECUTED
    assert [p.hex() for p in draw.seats[0].pseudonyms] == out["seats"][0]["pseudonyms"]
    assert draw.params_hash.hex() == out["params_hash"]
    entries = entries_of(stubs["audit"], out["draw"])
    nonces = [e.data["nonce"] for e in entries if e.kind == "draw.nonce"]
    assert nonces == [out["nonce"]]


def test_node_client_refuses_a_receipt_under_another_log_key(
    node_client: Path, service: RunningService, pki: Pki, tmp_path: Path, stubs: dict[str, Any]
) -> None:
    """Pinned: another Ed25519 key of the same origin. No nonce; the draw stays committed."""
    stranger = str(Signer.generate(ORIGIN).verifier)  # same origin, another Ed25519 key
    assert stranger != pinned_vkey(pki)
    request = draw_request("bad-key")
    code, out, err = run_client(node_client, service, pki, tmp_path, request, vkey=stranger)
    assert code == 2
    assert out["failed_check"] == "receipt"
    assert "no signature of the pinned log key" in out["error"]
    assert out["nonce_sent"] is False
    assert out["checks"] == {"receipt": "fail"}  # the first check
    assert 'requester check "receipt" failed' in err
    assert "NOT sent" in err
    draw = stubs["requester"].GetDraw(pb.GetDrawRequest(name=out["draw"]), timeout=10).draw
    assert draw.state == pb.Draw.STATE_COMMITTED
    assert not draw.seats
    assert [e.kind for e in entries_of(stubs["audit"], out["draw"])] == [
        "draw.request", "pool.freeze", "draw.commit",
    ]  # fmt: skip


def test_node_client_checks_the_beacon_round_margin(
    node_client: Path, service: RunningService, pki: Pki, tmp_path: Path, stubs: dict[str, Any]
) -> None:
    """With a beacon the client checks R and the time left before time(R) - margin_s: a
    requester demanding more time than is left refuses; otherwise the nonce goes and the
    draw waits for its round."""
    code, out, err = run_client(node_client, service, pki, tmp_path,
                                draw_request("late", beacon=True), "--min-seconds-left", "100000")  # fmt: skip
    assert code == 2, err
    assert out["failed_check"] == "beacon"
    assert "too late" in out["error"]
    assert out["checks"] == {**dict.fromkeys(ALL_CHECKS, "pass"), "beacon": "fail"}
    assert out["nonce_sent"] is False
    draw = stubs["requester"].GetDraw(pb.GetDrawRequest(name=out["draw"]), timeout=10).draw
    assert draw.state == pb.Draw.STATE_COMMITTED
    assert draw.beacon
    assert draw.round > 0

    code, out, err = run_client(
        node_client, service, pki, tmp_path, draw_request("wait", beacon=True)
    )
    assert code == 0, err
    assert out["checks"] == dict.fromkeys([*sorted(ALL_CHECKS), "beacon"], "pass")
    assert 0 < out["seconds_left"] <= 300
    assert out["state"] == "STATE_AWAITING_BEACON"
    assert out["panel"] == []
    waiting = stubs["requester"].GetDraw(pb.GetDrawRequest(name=out["draw"]), timeout=10).draw
    assert waiting.state == pb.Draw.STATE_AWAITING_BEACON
    assert waiting.round == out["round"]


def test_node_client_vectors(node_client: Path) -> None:
    """The client's JS checks against the spec vectors, and each check's failure on a
    commit signed there with the vectors' log key (node --test)."""
    done = subprocess.run(["node", "--test", "vectors.test.mjs"], cwd=node_client,
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "# fail 0" in done.stdout
    assert "# pass 7" in done.stdout


def buf_curl(
    service: RunningService, pki: Pki, role: str, *args: str
) -> subprocess.CompletedProcess[str]:
    """`buf curl` over mTLS with schema from server reflection (no --schema)."""
    cert, key = pki.client_files(role)
    command = [
        str(BUF), "curl", "--protocol", "grpc",
        "--cacert", str(pki.ca_file("dev")), "--cert", str(cert), "--key", str(key),
        "--timeout", "20s", *args,
    ]  # fmt: skip
    env = {**os.environ, "BUF_CACHE_DIR": str(Path(str(cert)).parent / "buf-cache")}
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False, env=env)


def test_buf_curl_calls_health_lists_services_and_reads_through_reflection(
    service: RunningService, pki: Pki
) -> None:
    base = f"https://localhost:{service.port}"
    health = buf_curl(service, pki, "trading_system", f"{base}/grpc.health.v1.Health/Check")
    assert health.returncode == 0, health.stderr
    assert json.loads(health.stdout) == {"status": "SERVING"}
    listed = buf_curl(service, pki, "trading_system", "--list-services", base)
    assert listed.returncode == 0, listed.stderr
    services = set(listed.stdout.split())
    assert {"expert_draw.api.v1.DrawService", "expert_draw.api.v1.ClassificationService",
            "grpc.health.v1.Health"} <= services  # fmt: skip
    # A classification read, with the request and response schema from reflection.
    url = f"{base}/expert_draw.api.v1.ClassificationService/GetDiscipline"
    name = "editions/2018/disciplines/A0101"
    read = buf_curl(service, pki, "supervisor", "-d", json.dumps({"name": name}), url)
    assert read.returncode == 0, read.stderr
    discipline = json.loads(read.stdout)["discipline"]
    assert (discipline["name"], discipline["code"]) == (name, "A0101")
    assert discipline["parent"] == "editions/2018/disciplines/A01"
    # Without a client certificate the TLS handshake is refused.
    anonymous = subprocess.run(
        [str(BUF), "curl", "--protocol", "grpc", "--cacert",
         str(pki.ca_file("dev")), "--timeout", "20s", f"{base}/grpc.health.v1.Health/Check"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert anonymous.returncode != 0


def test_buf_curl_reads_a_draw_through_reflection(
    service: RunningService, pki: Pki, stubs: dict[str, Any]
) -> None:
    """A draw created from Python, read back by `buf curl` as JSON (bytes in base64)."""
    request = draw_request("curl")
    message = pb.CreateDrawRequest(
        tender_id=request["tender_id"], lot_id="1", project_code=request["project_code"],
        disciplines=[pb.DisciplineQuota(discipline=A0101, seats=5, reserves=0)],
        conflicts=pb.ConflictInputs(tenderer=sample.uscc(9000)),
        venue_region="120101", request_id=request["request_id"],
    )  # fmt: skip
    start_ms = int(time.time() * 1000) + next(_days) * DAY_MS
    message.evaluation_start_time.FromMilliseconds(start_ms)
    message.evaluation_end_time.FromMilliseconds(start_ms + DAY_MS // 2)
    draw = stubs["requester"].CreateDraw(message, timeout=30).draw
    url = f"https://localhost:{service.port}/expert_draw.api.v1.DrawService/GetDraw"
    done = buf_curl(service, pki, "trading_system", "-d", json.dumps({"name": draw.name}), url)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)["draw"]
    assert got["name"] == draw.name
    assert got["state"] == "STATE_COMMITTED"
    assert [(d["discipline"], d["seats"]) for d in got["disciplines"]] == [(A0101, 5)]
    assert base64.b64decode(got["paramsHash"]) == draw.params_hash
    # Another trading system's draw is NOT_FOUND, and buf curl says so.
    other = buf_curl(service, pki, "trading_system_b", "-d", json.dumps({"name": draw.name}), url)
    assert other.returncode != 0
    assert "not_found" in other.stderr.lower()
