"""``expert-draw log …``: the audit log from a running service (gRPC).

``log trust`` prints the service's part of trust.toml; ``log export DIR`` writes, or
brings up to date, the export folder that ``expert-draw verify log`` reads offline.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import Progress

from cli.admin.client import (
    ClientConfigOption,
    ProfileOption,
    TargetOption,
    TimeoutOption,
    connect,
    fail,
    request_metadata,
)

if TYPE_CHECKING:
    from audit_log.trust import Trust

app = typer.Typer(
    help="The audit log: trust anchors and exports for offline verification.", no_args_is_help=True
)
PAGE = 1000


@app.command("trust")
def trust(
    client_config: ClientConfigOption = None,
    profile: ProfileOption = None,
    target: TargetOption = None,
    timeout: TimeoutOption = 10.0,
) -> None:
    """Print the service's trust.toml part (version, log_vkey); appends nothing.

    Compare log_vkey with the key received out of band before pinning it.
    """
    from expert_draw.api.v1 import audit_service_pb2 as pb
    from expert_draw.api.v1 import audit_service_pb2_grpc as pb_grpc

    with connect(client_config, profile, target) as channel:
        info = pb_grpc.AuditServiceStub(channel).GetServiceInfo(
            pb.GetServiceInfoRequest(), timeout=timeout, metadata=request_metadata()
        )
    typer.echo(f"# log {info.origin}, {info.log_size} entries, release {info.release_version}")
    typer.echo(info.trust_toml, nl=False)


def _newest_size(path: Path) -> int:
    """The size of the export's last checkpoint line (0 if none)."""
    return _last_checkpoint(path, 2**64)[0]


def _last_checkpoint(path: Path, entries: int) -> tuple[int, str]:
    """The size and note of the export's last checkpoint line at or below ``entries``.

    Notes merged from elsewhere (``merge-notes``: a witness's, a receipt holder's) may lie
    beyond the entries; the export continues from what it holds itself. Reads the file
    from its end. ((0, "") if there is none.)
    """
    from audit_log import canonical

    if not path.exists():
        return 0, ""
    with path.open("rb") as handle:
        end = handle.seek(0, 2)
        tail = b""
        while end > 0:
            start = max(0, end - 65536)
            handle.seek(start)
            tail = handle.read(end - start) + tail
            end = start
            lines = tail.split(b"\n")
            complete = lines if start == 0 else lines[1:]  # the first may be cut
            for line in reversed(complete):
                if line.strip():
                    item = canonical.loads(line)
                    if int(item["size"]) <= entries:
                        return int(item["size"]), str(item["note"])
            tail = lines[0] if start else b""
    return 0, ""


@app.command("export")
def export(
    directory: Annotated[
        Path, typer.Argument(help="Export folder (created, or brought up to date).")
    ],
    client_config: ClientConfigOption = None,
    profile: ProfileOption = None,
    target: TargetOption = None,
    timeout: TimeoutOption = 60.0,
) -> None:
    """Write the log and its checkpoints to DIR in the layout `verify log` reads (supervisor).

    A later run appends only what is new. Checkpoints are fetched first, entries only up
    to the newest checkpoint, so the export never ends in an unsigned tail.
    """
    from audit_log.export import CHECKPOINTS, ENTRIES, checkpoint_line, count_lines
    from expert_draw.api.v1 import audit_service_pb2 as pb
    from expert_draw.api.v1 import audit_service_pb2_grpc as pb_grpc

    directory.mkdir(parents=True, exist_ok=True)
    entries_path, checkpoints_path = directory / ENTRIES, directory / CHECKPOINTS
    have = count_lines(entries_path)
    have_size, have_note = _last_checkpoint(checkpoints_path, have)
    newest = _newest_size(checkpoints_path)
    if newest > have:
        fail(f"{directory} holds a checkpoint at size {newest} beyond its {have} entries (notes "
             "merged as evidence, or an interrupted export): export into a new folder")  # fmt: skip
    with connect(client_config, profile, target) as channel:
        stub = pb_grpc.AuditServiceStub(channel)
        # From the last exported size again: a witness may have cosigned it since, and
        # the note with the cosignatures is added as another line at that size.
        request = pb.ListCheckpointsRequest(page_size=PAGE, min_size=max(have_size, 1))
        newest = have_size
        with checkpoints_path.open("ab") as out:
            while True:
                page = stub.ListCheckpoints(request, timeout=timeout, metadata=request_metadata())
                for signed in page.checkpoints:
                    if signed.size != have_size or signed.note != have_note:
                        out.write(checkpoint_line(signed.size, signed.note))
                    newest = signed.size
                if not page.next_page_token:
                    break
                request.page_token = page.next_page_token
        entries = pb.ListEntriesRequest(page_size=PAGE, start_seq=have, end_seq=newest)
        with entries_path.open("ab") as out, Progress(transient=True) as bar:
            task = bar.add_task("entries", total=max(newest - have, 0))
            while newest > have:
                batch = stub.ListEntries(entries, timeout=timeout, metadata=request_metadata())
                for item in batch.entries:
                    if item.seq != have:
                        fail(f"the service sent seq {item.seq} where {have} was expected")
                    out.write(item.body + b"\n")
                    have += 1
                bar.update(task, completed=have - entries.start_seq)
                if not batch.next_page_token:
                    break
                entries.page_token = batch.next_page_token
    typer.echo(f"{directory}: {have} entries, newest checkpoint at size {newest}")


@app.command("follow")
def follow(
    directory: Annotated[
        Path, typer.Argument(help="Export folder kept current (created if needed).")
    ],
    trust_file: Annotated[
        Path, typer.Option("--trust", help="trust.toml with the pinned log_vkey.")
    ],
    state_dir: Annotated[
        Path, typer.Option("--state", help="Pinned-state folder, advanced as the log verifies.")
    ],
    idle_exit: Annotated[
        float | None,
        typer.Option(
            "--idle-exit", help="Stop after this many seconds without news (default: never)."
        ),
    ] = None,
    client_config: ClientConfigOption = None,
    profile: ProfileOption = None,
    target: TargetOption = None,
) -> None:
    """Follow the live feed (细则 第30条) into DIR, pinning each verified checkpoint.

    For supervisors. Stops with the verifier's exit code at the first finding other than
    an unsigned tail.
    """
    import grpc

    from audit_log import trust
    from audit_log.export import CHECKPOINTS, ENTRIES, checkpoint_line, count_lines
    from expert_draw.api.v1 import audit_service_pb2 as pb
    from expert_draw.api.v1 import audit_service_pb2_grpc as pb_grpc

    try:
        pinned_trust = trust.load(trust_file)
    except trust.TrustError as exc:
        fail(str(exc))
    directory.mkdir(parents=True, exist_ok=True)
    have = count_lines(directory / ENTRIES)
    if have < _newest_size(directory / CHECKPOINTS):
        fail(f"{directory} holds a checkpoint beyond its {have} entries: follow into a new folder")
    with connect(client_config, profile, target) as channel:
        stream = pb_grpc.AuditServiceStub(channel).StreamEntries(
            pb.StreamEntriesRequest(start_seq=have), metadata=request_metadata(), timeout=idle_exit
        )
        try:
            with (
                (directory / ENTRIES).open("ab") as entries,
                (directory / CHECKPOINTS).open("ab") as notes,
            ):
                for item in stream:
                    if item.HasField("entry"):
                        if item.entry.seq != have:
                            fail(f"the feed sent seq {item.entry.seq} where {have} was expected")
                        entries.write(item.entry.body + b"\n")
                        have += 1
                        continue
                    entries.flush()
                    notes.write(checkpoint_line(item.checkpoint.size, item.checkpoint.note))
                    notes.flush()
                    _verify_and_pin(directory, pinned_trust, state_dir)
        except grpc.RpcError as error:
            if error.code() is not grpc.StatusCode.DEADLINE_EXCEEDED:
                raise
    typer.echo(f"{directory}: {have} entries")


def _verify_and_pin(directory: Path, pinned_trust: Trust, state_dir: Path) -> None:
    """Verify what is new since the pinned state; pin it, or exit with the verdict."""
    from audit_log import state
    from audit_log.verify import Options, verify_log

    report = verify_log(directory, pinned_trust, Options(since=True), state_dir=state_dir)
    if report.exit_code not in {0, 3}:
        for finding in report.findings:
            typer.echo(f"{finding.category} at seq {finding.seq}: {finding.msg}", err=True)
        raise typer.Exit(report.exit_code)
    if report.new_state is not None:
        state.save(state_dir, report.new_state)
        typer.echo(f"verified and pinned size {report.new_state.size}")


@app.command("merge-notes")
def merge_notes(
    directory: Annotated[Path, typer.Argument(help="Export folder (checkpoints.aud1).")],
    notes: Annotated[
        Path, typer.Argument(help="checkpoints.aud1 lines from another copy (`witness show`).")
    ],
) -> None:
    """Merge checkpoint notes held elsewhere into an export, in size order (offline).

    A witness's cosigned checkpoint, a supervision copy's or a receipt holder's notes are
    evidence: `verify log` checks every note at a size against the log and reports one
    that the log contradicts (audit-log-v1 §9). Lines already present are not repeated.
    Export first: a note beyond the export's entries is what a truncated log looks like
    (ROLLBACK), and `log export` no longer extends a folder that holds one.
    """
    import os

    from audit_log import canonical
    from audit_log.errors import AuditLogError
    from audit_log.export import CHECKPOINTS, ENTRIES, count_lines

    target = directory / CHECKPOINTS
    try:
        have = target.read_bytes().splitlines(keepends=True) if target.exists() else []
        extra = notes.read_bytes().splitlines(keepends=True)
        merged: dict[bytes, int] = {}
        for raw in [*have, *extra]:
            if raw.strip():
                line = raw.rstrip(b"\n") + b"\n"
                merged.setdefault(line, int(canonical.loads(line.rstrip(b"\n"))["size"]))
    except (OSError, AuditLogError, KeyError, TypeError, ValueError) as exc:
        fail(f"cannot merge {notes} into {target}: {exc}")
    added = len(merged) - len(set(have))
    order = sorted(merged, key=lambda line: merged[line])  # stable: old lines first per size
    temporary = target.with_suffix(".tmp")
    with temporary.open("wb") as out:
        out.writelines(order)
        out.flush()
        os.fsync(out.fileno())
    temporary.replace(target)
    typer.echo(f"{target}: {added} note(s) added, {len(order)} in all")
    entries = count_lines(directory / ENTRIES)
    beyond = max(merged.values(), default=0)
    if beyond > entries:
        msg = (f"warning: a note at size {beyond} lies beyond the export's {entries} entries: "
               "if the export is merely old, export again into a new folder and merge there; "
               "`log export` will not extend this one")  # fmt: skip
        typer.secho(msg, fg="yellow", err=True)
