"""`expert-draw draws bundle`, `verify draw` and `escrow …` against a dev service."""

from __future__ import annotations

import json
import os
import re
import time
from typing import TYPE_CHECKING

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from audit_log import canonical
from expert_draw.api.v1 import draw_service_pb2 as pb
from expert_draw.api.v1 import draw_service_pb2_grpc as pb_grpc
from expert_draw.api.v1 import expert_service_pb2 as expert_pb
from expert_draw.api.v1 import expert_service_pb2_grpc as expert_grpc
from tests.integration.cli.conftest import client_args, run
from tests.support import experts as sample

if TYPE_CHECKING:
    from pathlib import Path

    from cli.server import RunningService

DAY_MS = 86_400_000


def channel(var: Path, port: int, role: str) -> grpc.Channel:
    pki = var / "pki"
    credentials = grpc.ssl_channel_credentials(
        (pki / "ca.pem").read_bytes(), (pki / "clients" / f"{role}.key").read_bytes(),
        (pki / "clients" / f"{role}.pem").read_bytes(),
    )  # fmt: skip
    return grpc.secure_channel(
        f"127.0.0.1:{port}", credentials,
        options=[("grpc.ssl_target_name_override", "localhost")],
    )  # fmt: skip


def stamp(ms: int) -> Timestamp:
    value = Timestamp()
    value.FromMilliseconds(ms)
    return value


def executed_draw(running: RunningService, var: Path) -> tuple[str, bytes]:
    """A draw of 5 from 16 experts, executed; returns its name and draw.commit entry."""
    with channel(var, running.port, "admin") as admin_channel:
        admin = expert_grpc.ExpertServiceStub(admin_channel)
        for n in range(500, 516):
            admin.CreateExpert(expert_pb.CreateExpertRequest(
                expert=sample.expert(n), request_id=f"cli-draw-{n}"), timeout=10)  # fmt: skip
    start = int(time.time() * 1000) + 40 * DAY_MS
    with channel(var, running.port, "trading_system") as requester_channel:
        requester = pb_grpc.DrawServiceStub(requester_channel)
        created = requester.CreateDraw(pb.CreateDrawRequest(
            tender_id="CLI-T", lot_id="1", project_code="CLI-P",
            disciplines=[pb.DisciplineQuota(discipline="editions/2018/disciplines/A0101",
                                            seats=5, reserves=1)],
            conflicts=pb.ConflictInputs(tenderer=sample.uscc(7000)),
            evaluation_start_time=stamp(start), evaluation_end_time=stamp(start + DAY_MS),
            venue_region="120101", request_id="cli-draw-create",
        ), timeout=30)  # fmt: skip
        requester.ExecuteDraw(pb.ExecuteDrawRequest(
            name=created.draw.name, nonce=os.urandom(32), request_id="cli-draw-execute"),
            timeout=30)  # fmt: skip
    return created.draw.name, created.commit_entry


def test_bundle_verify_and_escrow(  # noqa: PLR0915 - one draw, start to end
    dev_service: tuple[RunningService, Path], tmp_path: Path
) -> None:
    running, var = dev_service
    name, commit_entry = executed_draw(running, var)
    saved = tmp_path / "bundle.json"
    fetched = run("draws", "bundle", name, str(saved), *client_args(dev_service, "supervisor"))
    assert fetched.exit_code == 0, fetched.output
    trust = var / "trust.toml"
    verified = run("verify", "draw", str(saved), "--trust", str(trust), "--json",
                   "--escrow-key", str(var / "keys" / "supervisor-escrow.key"))  # fmt: skip
    report = json.loads(verified.stdout)
    assert verified.exit_code == report["exit_code"] == 3, verified.output  # pool changes
    assert report["state"] == "EXECUTED"
    assert len(report["seats"]["A0101"]) == 5
    # An admin gets no bundle before the award.
    refused = run("draws", "bundle", name, str(tmp_path / "x"), *client_args(dev_service))
    assert refused.exit_code == 1
    assert "PERMISSION_DENIED" in refused.output or "NOT_AWARDED" in refused.output
    # One changed byte in the bundle: exit 1, the failing check named.
    text = saved.read_text(encoding="utf-8")
    body = json.loads(text)
    body["seed"] = "00" * 32
    broken = tmp_path / "broken.json"
    broken.write_bytes(canonical.dumps(body))
    failed = run("verify", "draw", str(broken), "--trust", str(trust))
    assert failed.exit_code == 1
    assert "check 4 (binding)" in failed.output
    # The supervisor's escrow key opens the envelope (offline), which must be reported.
    entry = tmp_path / "commit.aud1"
    entry.write_bytes(commit_entry)
    key = str(var / "keys" / "supervisor-escrow.key")
    checked = run("escrow", "check", str(entry), "--escrow-key", key)
    assert checked.exit_code == 0, checked.output
    assert body["s"] not in checked.output
    opened = run("escrow", "open", str(entry), "--escrow-key", key, "--reason", "复核",
                 "--offline")  # fmt: skip
    assert opened.exit_code == 0, opened.output
    assert body["s"] in opened.stdout
    assert "not on the record" in opened.output
    reported = run("escrow", "open", str(entry), "--escrow-key", key, "--reason", "复核",
                   *client_args(dev_service, "supervisor"))  # fmt: skip
    assert reported.exit_code == 0, reported.output
    assert "reported: escrow.open at seq" in reported.output
    # The request id is printed; a rerun with it (after a lost connection) logs nothing new.
    used = re.search(r"rerun with --request-id (\S+)\)", reported.stderr).group(1)  # type: ignore[union-attr]
    seq = reported.stderr.split("reported: escrow.open at seq ")[1].split()[0]
    again = run("escrow", "open", str(entry), "--escrow-key", key, "--reason", "复核",
                "--request-id", used, *client_args(dev_service, "supervisor"))  # fmt: skip
    assert again.exit_code == 0, again.output
    assert f"reported: escrow.open at seq {seq}" in again.stderr
    assert "rerun with" not in again.stderr
    unusable = run("verify", "draw", str(saved), "--trust", str(tmp_path / "missing.toml"))
    assert unusable.exit_code == 4
    # An expert's receipt: saved by an admin, checked offline by the expert.
    with channel(var, running.port, "trading_system") as requester_channel:
        panel = pb_grpc.DrawServiceStub(requester_channel).GetPanel(
            pb.GetPanelRequest(name=name), timeout=10).panel  # fmt: skip
    receipt = tmp_path / "receipt.json"
    saved_receipt = run("draws", "receipt", name, panel[0].expert, str(receipt),
                        "--purpose", "专家申请", *client_args(dev_service))  # fmt: skip
    assert saved_receipt.exit_code == 0, saved_receipt.output
    checked = run("verify", "receipt", str(receipt), "--trust", str(trust))
    assert checked.exit_code == 0, checked.output
    assert "is in the eligible pool" in checked.output
    receipt.write_bytes(receipt.read_bytes().replace(b'"index":', b'"index":1', 1))
    assert run("verify", "receipt", str(receipt), "--trust", str(trust)).exit_code == 1


def test_create_and_execute_with_the_requesters_checks(
    dev_service: tuple[RunningService, Path], tmp_path: Path
) -> None:
    """`draws create` saves the commit; `draws execute` checks it before its nonce."""
    running, var = dev_service
    with channel(var, running.port, "admin") as admin_channel:
        admin = expert_grpc.ExpertServiceStub(admin_channel)
        for n in range(520, 536):
            admin.CreateExpert(expert_pb.CreateExpertRequest(
                expert=sample.expert(n), request_id=f"cli-ce-{n}"), timeout=10)  # fmt: skip
    args = client_args(dev_service, "trading_system")
    created = run("draws", "create", "--tender", "CLI-CE", "--lot", "1", "--project", "CLI-CE",
                  "--discipline", "A0101:5:1", "--tenderer", sample.uscc(7100),
                  "--start", "2027-03-01T09:00:00+08:00", "--end", "2027-03-01T18:00:00+08:00",
                  "--out", str(tmp_path / "commit"), *args)  # fmt: skip
    assert created.exit_code == 0, created.output
    name = re.search(r"(draws/d-[0-9a-f-]+) committed", created.output).group(1)  # type: ignore[union-attr]
    trust = str(var / "trust.toml")
    tampered = tmp_path / "tampered"
    tampered.mkdir()
    (tampered / "commit.aud1").write_bytes(
        (tmp_path / "commit" / "commit.aud1").read_bytes().replace(b'"r":0', b'"r":1')
    )
    (tampered / "commit.receipt").write_bytes((tmp_path / "commit" / "commit.receipt").read_bytes())
    refused = run("draws", "execute", name, "--commit", str(tampered), "--trust", trust, *args)
    assert refused.exit_code == 1
    assert "no nonce sent" in refused.output
    # The commit must also say what was asked (saved by `draws create`): 4 seats is not it.
    asked = json.loads((tmp_path / "commit" / "asked.json").read_text(encoding="utf-8"))
    assert asked["disciplines"] == [["A0101", 5, 1]]
    other = tmp_path / "other-request"
    other.mkdir()
    for part in ("commit.aud1", "commit.receipt"):
        (other / part).write_bytes((tmp_path / "commit" / part).read_bytes())
    (other / "asked.json").write_text(json.dumps({**asked, "disciplines": [["A0101", 4, 1]]}))
    refused = run("draws", "execute", name, "--commit", str(other), "--trust", trust, *args)
    assert refused.exit_code == 1
    assert "not the requested" in refused.output
    done = run("draws", "execute", name, "--commit", str(tmp_path / "commit"), "--trust", trust,
               *args)  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "STATE_EXECUTED" in done.output
    assert done.output.count("experts/") == 5
    # A supervisor reads the panel only under a grant before the close.
    supervisor = client_args(dev_service, "supervisor")
    denied = run("draws", "panel", name, *supervisor)
    assert denied.exit_code != 0
    assert "GRANT_REQUIRED" in denied.output
    granted = run("draws", "request-access", name, "--purpose", "投诉核查", *supervisor)
    assert granted.exit_code == 0, granted.output
    shown = run("draws", "panel", name, *supervisor)
    assert shown.exit_code == 0, shown.output
    assert shown.output.count("experts/") == 5
