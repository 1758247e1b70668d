"""``expert-draw stats``: fairness analytics and replay openings (StatsService).

``stats fairness DIR`` asks the service to analyse the draws of a period, saves
report.json and report.html (self-contained: open it in a browser) in DIR, checks the
JSON against the SHA-256 the service logged for the run, and prints the findings.
Methods and thresholds: docs/fairness-analytics.md. ``stats openings FILE`` takes the
replay openings (docs/spec/draw-v1.md §15) for ``verify replay``, checked against the
SHA-256 the service sent with them (the one its ``export`` entry, whose seq is printed,
logs).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from cli.admin.client import (
    ClientConfigOption,
    ProfileOption,
    RequestIdOption,
    TargetOption,
    TimeoutOption,
    connect,
    fail,
    request_id,
    request_metadata,
)

app = typer.Typer(help="Fairness analytics and platform statistics (supervisors).",
                  no_args_is_help=True)  # fmt: skip
CHINA = dt.timezone(dt.timedelta(hours=8), "CST")
FILES = ("report.json", "report.html")


def _day(text: str | None, option: str) -> dt.datetime | None:
    """A date (YYYY-MM-DD, 00:00 中国标准时间) or an ISO 8601 time with its offset."""
    if text is None:
        return None
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        fail(f"{option}: {text!r} is not a date (YYYY-MM-DD) or an ISO 8601 time")
    return when if when.tzinfo is not None else when.replace(tzinfo=CHINA)


@app.command("fairness")
def fairness(
    directory: Annotated[Path, typer.Argument(help="Folder for report.json and report.html.")],
    start: Annotated[
        str | None, typer.Option("--from", help="First day (YYYY-MM-DD, UTC+8) or ISO time.")
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="Day after the last (exclusive), or ISO time.")
    ] = None,
    client_config: ClientConfigOption = None,
    profile: ProfileOption = None,
    target: TargetOption = None,
    timeout: TimeoutOption = 300.0,
    given_id: RequestIdOption = None,
) -> None:
    """Analyse the draws committed in [--from, --to) and save the report (logged run)."""
    from google.protobuf.timestamp_pb2 import Timestamp

    from expert_draw.api.v1 import stats_service_pb2 as pb
    from expert_draw.api.v1 import stats_service_pb2_grpc as pb_grpc

    request = pb.RunFairnessAnalysisRequest(request_id=request_id(given_id, "stats"))
    for field, value in (("start_time", _day(start, "--from")), ("end_time", _day(end, "--to"))):
        if value is not None:
            stamp = Timestamp()
            stamp.FromDatetime(value.astimezone(dt.UTC))
            getattr(request, field).CopyFrom(stamp)
    existing = [name for name in FILES if (directory / name).exists()]
    if existing:
        fail(f"{directory / existing[0]} exists: a report is never overwritten")
    directory.mkdir(parents=True, exist_ok=True)
    parts: dict[str, bytearray] = {name: bytearray() for name in FILES}
    digest, export, seq = b"", "", 0
    with (connect(client_config, profile or "supervisor", target) as channel,
          Progress(transient=True) as bar):  # fmt: skip
        task = bar.add_task("analysing", total=None)
        stream = pb_grpc.StatsServiceStub(channel).RunFairnessAnalysis(
            request, timeout=timeout, metadata=request_metadata()
        )
        for chunk in stream:
            if chunk.file not in parts:
                fail(f"the service sent an unknown file {chunk.file!r}", 1)
            parts[chunk.file] += chunk.chunk
            digest, export, seq = chunk.report_sha256, chunk.export, chunk.export_seq
            got = len(parts[chunk.file])
            bar.update(task, description=f"receiving {chunk.file}", completed=got,
                       total=chunk.total_size)  # fmt: skip
    if hashlib.sha256(parts["report.json"]).digest() != digest:
        fail("report.json does not match the SHA-256 the service logged for this run", 1)
    for name, body in parts.items():  # expert ids of closed draws: the owner only
        _write_new_private(directory / name, bytes(body))
    _summary(json.loads(parts["report.json"]), directory, export, seq)


@app.command("openings")
def openings(
    file: Annotated[Path, typer.Argument(help="File for the openings (never overwritten).")],
    client_config: ClientConfigOption = None,
    profile: ProfileOption = None,
    target: TargetOption = None,
    timeout: TimeoutOption = 300.0,
    given_id: RequestIdOption = None,
) -> None:
    """Take the replay openings of every finished draw (a logged export) into FILE."""
    from expert_draw.api.v1 import stats_service_pb2 as pb
    from expert_draw.api.v1 import stats_service_pb2_grpc as pb_grpc

    if file.exists():
        fail(f"{file} exists: openings are never overwritten")
    request = pb.ExportReplayOpeningsRequest(request_id=request_id(given_id, "openings"))
    body = bytearray()
    digest, export, seq, size = b"", "", 0, 0
    with (connect(client_config, profile or "supervisor", target) as channel,
          Progress(transient=True) as bar):  # fmt: skip
        task = bar.add_task("taking the openings", total=None)
        stream = pb_grpc.StatsServiceStub(channel).ExportReplayOpenings(
            request, timeout=timeout, metadata=request_metadata()
        )
        for chunk in stream:
            body += chunk.chunk
            digest, export, seq, size = (chunk.openings_sha256, chunk.export, chunk.export_seq,
                                         chunk.log_size)  # fmt: skip
            bar.update(task, description="receiving", completed=len(body),
                       total=chunk.total_size)  # fmt: skip
    if hashlib.sha256(body).digest() != digest:
        fail("the openings do not match the SHA-256 the service sent for them", 1)
    file.parent.mkdir(parents=True, exist_ok=True)
    _write_new_private(file, bytes(body))  # identities and birth dates: the owner only
    draws = len(json.loads(body)["draws"])
    Console().print(f"openings of {draws} draws at log size {size} written to {file}; "
                    f"logged as {export} (seq {seq})")  # fmt: skip


def _write_new_private(path: Path, data: bytes) -> None:
    """Create ``path`` (never an existing file) readable by its owner only, and fill it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def _summary(report: dict[str, object], directory: Path, export: str, seq: int) -> None:
    console = Console()
    platform = report["platform"]
    assert isinstance(platform, dict)  # noqa: S101 - the report's shape
    console.print(f"{platform['draws']} draws, {platform['executed']} executed; run logged as "
                  f"{export} (seq {seq})")  # fmt: skip
    findings = report["findings"]
    assert isinstance(findings, list)  # noqa: S101
    if findings:
        table = Table("detector", "subject", "detail", "p", title="Findings")
        for f in findings:
            p = f.get("p_value")
            table.add_row(str(f["detector"]), str(f["subject"]), str(f["detail"]),
                          "" if p is None else f"{p:.3g}")  # fmt: skip
        console.print(table)
    else:
        console.print("No findings at the policy's thresholds.")
    console.print(f"Saved {directory / 'report.html'} (open it in a browser) and report.json.")
