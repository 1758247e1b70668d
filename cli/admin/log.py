"""``expert-draw log …``: the audit log from a running service (gRPC).

``log trust`` prints the service's part of trust.toml; ``log export DIR`` writes, or
brings up to date, the export folder that ``expert-draw verify log`` reads offline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

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


def _last_checkpoint_size(path: Path) -> int:
    from audit_log import canonical

    if not path.exists() or path.stat().st_size == 0:
        return 0
    last = path.read_bytes().rstrip(b"\n").rsplit(b"\n", 1)[-1]
    return int(canonical.loads(last)["size"])


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
    have, have_size = count_lines(entries_path), _last_checkpoint_size(checkpoints_path)
    if have < have_size:
        fail(f"{directory} is inconsistent: {have} entries, a checkpoint at {have_size}")
    with connect(client_config, profile, target) as channel:
        stub = pb_grpc.AuditServiceStub(channel)
        request = pb.ListCheckpointsRequest(page_size=PAGE, min_size=have_size + 1)
        newest = have_size
        with checkpoints_path.open("ab") as out:
            while True:
                page = stub.ListCheckpoints(request, timeout=timeout, metadata=request_metadata())
                for signed in page.checkpoints:
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
