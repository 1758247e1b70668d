"""`expert-draw archive export` and `verify archive` (draw-v1.md §14) against a dev service."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import pytest

from audit_log import canonical
from audit_log.entry import Entry
from expert_draw.api.v1 import audit_service_pb2 as audit_pb
from expert_draw.api.v1 import audit_service_pb2_grpc as audit_grpc
from expert_draw.api.v1 import draw_service_pb2 as pb
from expert_draw.api.v1 import draw_service_pb2_grpc as pb_grpc
from tests.integration.cli.conftest import client_args, run
from tests.integration.cli.test_draws_cli import DAY_MS, channel, stamp

if TYPE_CHECKING:
    from cli.server import RunningService

ROOT = Path(__file__).resolve().parents[3]
PROJECT = "ARC-P-2031"
TENDERER = "91120000MA9999999K"


def _draw(requester: pb_grpc.DrawServiceStub, lot: str, day: int) -> str:
    start = int(time.time() * 1000) + day * DAY_MS
    created = requester.CreateDraw(pb.CreateDrawRequest(
        tender_id="ARC-T", lot_id=lot, project_code=PROJECT,
        disciplines=[pb.DisciplineQuota(discipline="editions/2018/disciplines/A0101",
                                        seats=5, reserves=1)],
        conflicts=pb.ConflictInputs(tenderer=TENDERER),
        evaluation_start_time=stamp(start), evaluation_end_time=stamp(start + DAY_MS // 3),
        venue_region="120101", request_id=f"arc-create-{lot}",
    ), timeout=30)  # fmt: skip
    requester.ExecuteDraw(pb.ExecuteDrawRequest(
        name=created.draw.name, nonce=os.urandom(32), request_id=f"arc-execute-{lot}"),
        timeout=30)  # fmt: skip
    return created.draw.name


@pytest.fixture(scope="module")
def project_draws(dev_service: tuple[RunningService, Path]) -> list[str]:
    """Two lots of one project, executed; the first one opened, closed and awarded."""
    running, var = dev_service
    imported = run("experts", "import", str(ROOT / "docs/samples/experts-demo.csv"),
                   *client_args(dev_service))  # fmt: skip
    assert imported.exit_code == 0, imported.output
    with channel(var, running.port, "trading_system") as requester_channel:
        requester = pb_grpc.DrawServiceStub(requester_channel)
        first, second = _draw(requester, "1", 400), _draw(requester, "2", 402)
        requester.RecordOpening(pb.RecordOpeningRequest(
            name=first, open_time=stamp(int(time.time() * 1000)), request_id="arc-open"),
            timeout=30)  # fmt: skip
        requester.CloseCommittee(pb.CloseCommitteeRequest(name=first, request_id="arc-close"),
                                 timeout=30)  # fmt: skip
        requester.RecordAward(pb.RecordAwardRequest(
            name=first, evidence=b"notice", request_id="arc-award"), timeout=30)  # fmt: skip
    return [first, second]


@pytest.fixture(scope="module")
def archive(
    dev_service: tuple[RunningService, Path],
    project_draws: list[str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    """The project's archive, exported by the supervisor (retention 15 years)."""
    del project_draws
    out = tmp_path_factory.mktemp("arc") / "archive"
    result = run("archive", "export", "--project", PROJECT, "--retention-years", "15", str(out),
                 *client_args(dev_service, "supervisor"))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "logged export exports/" in result.output
    return out


def _verify(dev_service: tuple[RunningService, Path], folder: Path) -> tuple[int, dict[str, Any]]:
    _, var = dev_service
    result = run("verify", "archive", str(folder), "--trust", str(var / "trust.toml"), "--json")
    return result.exit_code, json.loads(result.stdout)


def test_export_and_verify(
    dev_service: tuple[RunningService, Path], project_draws: list[str], archive: Path
) -> None:
    running, var = dev_service
    manifest = canonical.loads((archive / "manifest.json").read_bytes())
    assert manifest["retention_years"] == 15
    assert PROJECT not in (archive / "manifest.json").read_text(encoding="utf-8")
    assert len(manifest["project_ref"]) == 64
    assert sorted(f"draws/{d['draw_id']}" for d in manifest["draws"]) == sorted(project_draws)
    assert {d["state"] for d in manifest["draws"]} == {"AWARDED", "EXECUTED"}
    assert all(d["bundle"] and d["entries"] for d in manifest["draws"])
    # Clean: every draw verifies (3: the demo experts joined just before the freeze).
    code, report = _verify(dev_service, archive)
    assert code in {0, 3}, report
    assert report["tamper"] == []
    assert report["usage"] == []
    assert code == (3 if report["policy"] else 0)
    assert len(report["draws"]) == 2
    assert all(d["entries"] > 0 and d["bundle"].startswith("verified") for d in report["draws"])
    text = run("verify", "archive", str(archive), "--trust", str(var / "trust.toml"))
    assert "retention 15 years" in text.output
    # The export is logged (kind export) with the manifest's digest.
    seal = Entry.decode((archive / "export.aud1").read_bytes())
    assert seal.kind == "export"
    assert seal.data["what"] == f"project-archive {manifest['project_ref']}"
    assert seal.data["recipient"]
    with channel(var, running.port, "supervisor") as supervisor_channel:
        audit = audit_grpc.AuditServiceStub(supervisor_channel)
        logged = audit.ListEntries(audit_pb.ListEntriesRequest(kind="export"), timeout=10)
    digests = [Entry.decode(e.body).data["data_sha256"] for e in logged.entries]
    assert hashlib.sha256((archive / "manifest.json").read_bytes()).hexdigest() in digests


def _copy(archive: Path, tmp_path: Path, name: str) -> tuple[Path, dict[str, Any]]:
    case = tmp_path / name
    shutil.copytree(archive, case)
    return case, canonical.loads((archive / "manifest.json").read_bytes())


def test_tampering_is_caught(
    dev_service: tuple[RunningService, Path], archive: Path, tmp_path: Path
) -> None:
    _, var = dev_service
    # One changed byte of a bundle: exit 1, the file named.
    case, manifest = _copy(archive, tmp_path, "bundle")
    draw_id = manifest["draws"][0]["draw_id"]
    bundle = case / "draws" / draw_id / "bundle.json"
    data = bytearray(bundle.read_bytes())
    data[len(data) // 2] ^= 0x01
    bundle.write_bytes(bytes(data))
    code, report = _verify(dev_service, case)
    assert code == 1
    assert any(f"draws/{draw_id}/bundle.json" in t for t in report["tamper"])
    # A dropped entry file: exit 1, the file named.
    case, _ = _copy(archive, tmp_path, "dropped")
    seq = manifest["draws"][1]["entries"][0]["seq"]
    dropped = f"draws/{manifest['draws'][1]['draw_id']}/entries/{seq}.aud1"
    (case / dropped).unlink()
    code, report = _verify(dev_service, case)
    assert code == 1
    assert any(t.startswith(f"{dropped}: missing") for t in report["tamper"])
    # The retention edited (still canonical): the logged digest no longer matches.
    case, _ = _copy(archive, tmp_path, "retention")
    (case / "manifest.json").write_bytes(canonical.dumps({**manifest, "retention_years": 1}))
    code, report = _verify(dev_service, case)
    assert code == 1
    assert any("manifest.json: its SHA-256 is not the one logged" in t for t in report["tamper"])
    # A rewritten checkpoint note is caught.
    case, _ = _copy(archive, tmp_path, "note")
    (case / "checkpoint.note").write_text("x\n", encoding="utf-8")
    code, report = _verify(dev_service, case)
    assert code == 1
    assert any(t.startswith("checkpoint.note: SHA-256") for t in report["tamper"])
    # No archive at all: usage.
    missing = run("verify", "archive", str(tmp_path / "none"), "--trust", str(var / "trust.toml"))
    assert missing.exit_code == 4


def test_project_filter_is_for_supervisors(
    dev_service: tuple[RunningService, Path], project_draws: list[str]
) -> None:
    running, var = dev_service
    with channel(var, running.port, "supervisor") as supervisor_channel:
        listed = pb_grpc.DrawServiceStub(supervisor_channel).ListDraws(
            pb.ListDrawsRequest(project_code=PROJECT, page_size=1), timeout=10)  # fmt: skip
        assert len(listed.draws) == 1
        assert listed.next_page_token
        assert len(listed.project_ref) == 32
        rest = pb_grpc.DrawServiceStub(supervisor_channel).ListDraws(
            pb.ListDrawsRequest(project_code=PROJECT, page_size=1,
                                page_token=listed.next_page_token), timeout=10)  # fmt: skip
        assert {listed.draws[0].name, rest.draws[0].name} == set(project_draws)
        # The page token binds the filter.
        with pytest.raises(grpc.RpcError) as caught:
            pb_grpc.DrawServiceStub(supervisor_channel).ListDraws(
                pb.ListDrawsRequest(project_code="OTHER", page_size=1,
                                    page_token=listed.next_page_token), timeout=10)  # fmt: skip
        assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        none = pb_grpc.DrawServiceStub(supervisor_channel).ListDraws(
            pb.ListDrawsRequest(project_code="NO-SUCH-PROJECT"), timeout=10)  # fmt: skip
        assert list(none.draws) == []
    # A trading system cannot use the filter, for its own project or another's.
    with channel(var, running.port, "trading_system") as requester_channel:
        with pytest.raises(grpc.RpcError) as caught:
            pb_grpc.DrawServiceStub(requester_channel).ListDraws(
                pb.ListDrawsRequest(project_code=PROJECT), timeout=10)  # fmt: skip
        assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert "PROJECT_FILTER_DENIED" in str(caught.value.trailing_metadata())
        # Nor log an export.
        with pytest.raises(grpc.RpcError) as caught:
            pb_grpc.DrawServiceStub(requester_channel).RecordExport(
                pb.RecordExportRequest(what="x", data_sha256=bytes(32), request_id="arc-x"),
                timeout=10)  # fmt: skip
        assert caught.value.code() is grpc.StatusCode.PERMISSION_DENIED
    denied = run("archive", "export", "--project", PROJECT, "--retention-years", "15",
                 str(var / "never"), *client_args(dev_service, "trading_system"))  # fmt: skip
    assert denied.exit_code != 0
