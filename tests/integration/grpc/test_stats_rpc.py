"""StatsService over mTLS on SQLite and PostgreSQL (issue 6): supervisors only, every run
logged as an `export` before the report is sent, identities only for closed draws, and
`expert-draw stats fairness` saving a report whose SHA-256 is the logged one."""

from __future__ import annotations

import hashlib
import json
import os
import time
from typing import TYPE_CHECKING, Any

import grpc
import pytest

from audit_log.entry import Entry
from expert_draw.api.v1 import audit_service_pb2 as audit_pb
from expert_draw.api.v1 import audit_service_pb2_grpc as audit_grpc
from expert_draw.api.v1 import draw_service_pb2 as pb
from expert_draw.api.v1 import draw_service_pb2_grpc as pb_grpc
from expert_draw.api.v1 import expert_service_pb2 as expert_pb
from expert_draw.api.v1 import expert_service_pb2_grpc as expert_grpc
from expert_draw.api.v1 import stats_service_pb2 as spb
from expert_draw.api.v1 import stats_service_pb2_grpc as spb_grpc
from tests.integration.cli.conftest import run
from tests.integration.grpc.helpers import error_info, field_violations, twins
from tests.support import experts as sample
from tests.support.service import client_channel, write_client_config

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from cli.server import RunningService
    from tests.support.pki import Pki

DAY_MS = 86_400_000
A0101 = "editions/2018/disciplines/A0101"
LIBRARY = range(300, 318)  # 18 experts of A0101's subtree


def stamp(ms: int) -> Any:
    from google.protobuf.timestamp_pb2 import Timestamp

    value = Timestamp()
    value.FromMilliseconds(ms)
    return value


def _draw(requester: pb_grpc.DrawServiceStub, tag: str, day: int) -> tuple[str, list[bytes]]:
    start = int(time.time() * 1000) + day * DAY_MS
    created = requester.CreateDraw(pb.CreateDrawRequest(
        tender_id=f"ST-{tag}", lot_id="1", project_code=f"SP-{tag}",
        disciplines=[pb.DisciplineQuota(discipline=A0101, seats=5, reserves=2)],
        conflicts=pb.ConflictInputs(tenderer=sample.uscc(7000 + day)),
        evaluation_start_time=stamp(start), evaluation_end_time=stamp(start + DAY_MS // 3),
        venue_region="120101", request_id=f"st-create-{tag}",
    ), timeout=30)  # fmt: skip
    done = requester.ExecuteDraw(pb.ExecuteDrawRequest(
        name=created.draw.name, nonce=os.urandom(32), request_id=f"st-ex-{tag}"), timeout=30)  # fmt: skip
    return created.draw.name, [m.pseudonym for m in done.panel]


def _close(requester: pb_grpc.DrawServiceStub, name: str, tag: str) -> None:
    requester.RecordOpening(pb.RecordOpeningRequest(
        name=name, open_time=stamp(int(time.time() * 1000)), request_id=f"st-op-{tag}"),
        timeout=30)  # fmt: skip
    requester.CloseCommittee(pb.CloseCommitteeRequest(name=name, request_id=f"st-cl-{tag}"),
                             timeout=30)  # fmt: skip


@pytest.fixture(scope="module")
def draws(service: RunningService, pki: Pki) -> dict[str, Any]:
    """Three executed draws: one closed after a decline, one closed, one left open."""
    with client_channel(pki, service.port, "admin") as channel:
        admin = expert_grpc.ExpertServiceStub(channel)
        for n in LIBRARY:
            admin.CreateExpert(expert_pb.CreateExpertRequest(
                expert=sample.expert(n), request_id=f"st-lib-{n}"), timeout=10)  # fmt: skip
    with client_channel(pki, service.port, "trading_system") as channel:
        requester = pb_grpc.DrawServiceStub(channel)
        first, panel = _draw(requester, "a", 200)
        requester.RecordDecline(pb.RecordDeclineRequest(
            name=first, pseudonym=panel[0], reason="HEALTH", evidence=b"call",
            request_id="st-dec-a"), timeout=30)  # fmt: skip
        _close(requester, first, "a")
        second, _ = _draw(requester, "b", 203)
        _close(requester, second, "b")
        third, open_panel = _draw(requester, "c", 206)
        fourth, cancelled_panel = _draw(requester, "d", 209)
        requester.CancelDraw(pb.CancelDrawRequest(name=fourth, reason="TENDER_CANCELLED",
                                                  request_id="st-cancel-d"), timeout=30)  # fmt: skip
    return {"closed": [first, second], "open": third,
            "open_panel": [*open_panel, *cancelled_panel]}  # fmt: skip


def _run(
    stub: spb_grpc.StatsServiceStub, request_id: str, **times: Any
) -> tuple[dict[str, bytes], Any]:
    chunks = list(stub.RunFairnessAnalysis(
        spb.RunFairnessAnalysisRequest(request_id=request_id, **times), timeout=60))  # fmt: skip
    files: dict[str, bytes] = {}
    for c in chunks:
        files[c.file] = files.get(c.file, b"") + c.chunk
        assert c.total_size == len(files[c.file]) or c.total_size > len(files[c.file])
    return files, chunks[-1]


def _entries(audit: audit_grpc.AuditServiceStub, kind: str) -> list[Entry]:
    page = audit.ListEntries(audit_pb.ListEntriesRequest(kind=kind, page_size=1000), timeout=10)
    return [Entry.decode(e.body) for e in page.entries]


def test_a_supervisor_run_is_logged_and_discloses_closed_draws_only(
    service: RunningService, draws: dict[str, Any],
    connect: Callable[[int, str | None], grpc.Channel],
) -> None:  # fmt: skip
    stub = spb_grpc.StatsServiceStub(connect(service.port, "supervisor"))
    audit = audit_grpc.AuditServiceStub(connect(service.port, "supervisor"))
    before = len(_entries(audit, "export"))
    files, last = _run(stub, "st-run-1")
    assert set(files) == {"report.json", "report.html"}
    assert hashlib.sha256(files["report.json"]).digest() == last.report_sha256
    report = json.loads(files["report.json"])
    # Logged before the bytes were sent: one export, this supervisor as recipient.
    exports = _entries(audit, "export")
    assert len(exports) == before + 1
    logged = exports[-1]
    assert logged.subj == last.export
    assert logged.seq == last.export_seq
    html_sha256 = hashlib.sha256(files["report.html"]).hexdigest()
    assert logged.data == {
        "what": f"fairness [,) as_of {report['as_of_ms']} html {html_sha256}",
        "recipient": logged.who.sub, "data_sha256": last.report_sha256.hex(),
    }  # fmt: skip
    assert logged.who.role == "supervisor"
    # Every draw counts in the platform statistics; identities only from closed draws.
    assert report["platform"]["draws"] >= 3
    assert report["platform"]["executed"] >= 4  # the cancelled one was executed too
    # Pool sizes are public counts: an unclosed draw's pool counts by its size (18).
    [a0101] = [r for r in report["platform"]["disciplines"] if r["discipline"] == "A0101"]
    assert a0101["mean_pool"] == len(LIBRARY)
    text = files["report.json"].decode()
    assert all(p.hex() not in text for p in draws["open_panel"])  # not even pseudonyms
    experts = {row["subject"] for row in report["selection"]["experts"]}
    assert experts  # the closed draws' pools, by expert uuid
    assert all(len(e) == 36 for e in experts)
    assert report["platform"]["responses"]["declined"] >= 1
    assert b"<svg" in files["report.html"]
    # A retry with the same request id returns the same logged run, and logs nothing.
    again, repeat = _run(stub, "st-run-1")
    assert (repeat.export, repeat.export_seq) == (last.export, last.export_seq)
    assert again["report.json"] == files["report.json"]
    assert len(_entries(audit, "export")) == before + 1


def test_concurrent_retries_of_a_run_and_an_openings_export_get_one_logged_export(
    service: RunningService, draws: dict[str, Any],
    connect: Callable[[int, str | None], grpc.Channel],
) -> None:  # fmt: skip
    """Four copies at once of one request: each copy computed at its own time ("as of",
    log size), and every copy gets the run (or export) the first logged."""
    del draws
    stub = spb_grpc.StatsServiceStub(connect(service.port, "supervisor"))
    audit = audit_grpc.AuditServiceStub(connect(service.port, "supervisor"))
    before = len(_entries(audit, "export"))
    runs = twins(lambda: _run(stub, "st-twins"))
    assert all(isinstance(r, tuple) for r in runs), runs
    assert len({(last.export, last.export_seq) for _, last in runs}) == 1
    assert len({files["report.json"] for files, _ in runs}) == 1

    def openings() -> tuple[bytes, str]:
        chunks = list(stub.ExportReplayOpenings(
            spb.ExportReplayOpeningsRequest(request_id="st-twin-openings"), timeout=60))  # fmt: skip
        return b"".join(c.chunk for c in chunks), chunks[-1].export

    exported = twins(openings)
    assert all(isinstance(e, tuple) for e in exported), exported
    assert len(set(exported)) == 1
    assert len(_entries(audit, "export")) == before + 2


def test_only_supervisors_and_valid_ranges(
    service: RunningService, draws: dict[str, Any],
    connect: Callable[[int, str | None], grpc.Channel],
) -> None:  # fmt: skip
    del draws
    for role in ("trading_system", "admin"):
        stub = spb_grpc.StatsServiceStub(connect(service.port, role))
        with pytest.raises(grpc.RpcError) as caught:
            _run(stub, "st-denied")
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    stub = spb_grpc.StatsServiceStub(connect(service.port, "supervisor"))
    now = int(time.time() * 1000)
    with pytest.raises(grpc.RpcError) as caught:
        _run(stub, "st-bad", start_time=stamp(now), end_time=stamp(now - 1))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(caught.value) == ["end_time"]
    with pytest.raises(grpc.RpcError) as caught:
        _run(stub, "")
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # A period before any draw: an empty report, still logged.
    files, last = _run(stub, "st-empty", end_time=stamp(now - 365 * DAY_MS))
    assert json.loads(files["report.json"])["platform"]["draws"] == 0
    assert last.export_seq > 0
    # The same request id for another range is refused.
    with pytest.raises(grpc.RpcError) as caught:
        _run(stub, "st-empty", end_time=stamp(now - 300 * DAY_MS))
    assert error_info(caught.value).reason == "REQUEST_ID_REUSED"


def test_stats_fairness_command(
    service: RunningService, draws: dict[str, Any], pki: Pki, tmp_path: Path
) -> None:
    del draws
    config = write_client_config(pki, service.port, tmp_path)
    out = tmp_path / "report"
    result = run("stats", "fairness", str(out), "--from", "2020-01-01", "--client-config",
                 str(config))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "run logged as exports/" in result.stdout
    assert (out / "report.html").read_bytes().startswith(b"<!DOCTYPE html>")
    assert (out / "report.json").stat().st_mode & 0o077 == 0  # expert ids: owner only
    again = run("stats", "fairness", str(out), "--client-config", str(config))
    assert again.exit_code == 4  # never overwrites a report
    assert "exists" in again.stderr
    assert json.loads((out / "report.json").read_bytes())["platform"]["draws"] >= 3
    bad = run("stats", "fairness", str(out), "--from", "yesterday", "--client-config", str(config))
    assert bad.exit_code == 4


def test_replay_openings_verify_against_this_database(
    service: RunningService, draws: dict[str, Any], pki: Pki, tmp_path: Path
) -> None:
    """`stats openings`, `log export` and `verify replay` (draw-v1 §15) on each database:
    a decline with its replacement, closed, open and cancelled draws."""
    config = str(write_client_config(pki, service.port, tmp_path))
    openings, export, trust = tmp_path / "openings.json", tmp_path / "export", tmp_path / "t.toml"
    taken = run("stats", "openings", str(openings), "--client-config", config)
    assert taken.exit_code == 0, taken.output
    assert run("log", "export", str(export), "--client-config", config).exit_code == 0
    printed = run("log", "trust", "--client-config", config)
    assert printed.exit_code == 0, printed.output
    trust.write_text(printed.stdout, encoding="utf-8")
    result = run("verify", "replay", str(openings), "--export", str(export), "--trust",
                 str(trust), "--json")  # fmt: skip
    report = json.loads(result.stdout)
    assert report["problems"] == []
    assert [d["findings"] for d in report["draws"]] == [[] for _ in report["draws"]]
    assert result.exit_code in {0, 3}
    opened = {f"draws/{d['draw_id']}" for d in report["draws"]}
    assert set(draws["closed"]) <= opened
    assert draws["open"] not in opened  # in progress: never disclosed
    # The export is logged before the file is sent: a retry with the id takes the same.
    again = run("stats", "openings", str(tmp_path / "again.json"), "--client-config", config,
                "--request-id", "openings-retry")  # fmt: skip
    repeat = run("stats", "openings", str(tmp_path / "repeat.json"), "--client-config", config,
                 "--request-id", "openings-retry")  # fmt: skip
    assert again.exit_code == repeat.exit_code == 0, repeat.output
    assert (tmp_path / "again.json").read_bytes() == (tmp_path / "repeat.json").read_bytes()
