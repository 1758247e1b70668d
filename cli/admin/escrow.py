"""``expert-draw escrow open``: recover a draw's secret with a supervisor key, on record.

Opening an envelope is an escrow opening (draw-protocol.md §4 Escrow): the command opens
it offline, checks ``s`` against ``C_s``, prints it, and reports the opening to the
service (ReportEscrowOpening appends ``escrow.open``). On an isolated machine,
``--offline`` skips the report and warns; report it later from a connected machine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.admin.client import (
    ClientConfigOption,
    ProfileOption,
    RequestIdOption,
    TargetOption,
    TimeoutOption,
    connect,
    request_id,
    request_metadata,
)
from cli.verify.draw import envelope_for, read_key


def open_(
    commit_entry: Annotated[Path, typer.Argument(help="The draw's draw.commit entry (bytes).")],
    escrow_key: Annotated[Path, typer.Option("--escrow-key", help="Your X25519 private key.")],
    reason: Annotated[str, typer.Option("--reason", help="Why; logged with the opening.")],
    offline: Annotated[
        bool, typer.Option("--offline", help="Do not report the opening now (warns).")
    ] = False,
    client_config: ClientConfigOption = None,
    profile: ProfileOption = "supervisor",
    target: TargetOption = None,
    timeout: TimeoutOption = 30.0,
    given_id: RequestIdOption = None,
) -> None:
    """Open your envelope, print s, and report the opening (escrow.open)."""
    from expert_draw.core import escrow

    key = read_key(escrow_key)
    draw_id, c_s, envelope = envelope_for(commit_entry, key)
    try:
        s = escrow.open_envelope(key, envelope, draw_id, c_s)
    except escrow.EscrowError as exc:
        typer.secho(f"FAILED: {exc} (report the bad envelope as an operator incident)",
                    fg="red", bold=True)  # fmt: skip
        raise typer.Exit(1) from None
    typer.echo(s.hex())
    key_id = escrow.key_id(escrow.public_key(key))
    if offline:
        typer.secho(f"WARNING: this opening is not on the record until it is reported"
                    f" (ReportEscrowOpening, draws/{draw_id.decode()}, key id {key_id.hex()})",
                    fg="yellow", err=True)  # fmt: skip
        return
    from expert_draw.api.v1 import draw_service_pb2 as pb
    from expert_draw.api.v1 import draw_service_pb2_grpc as pb_grpc

    request = pb.ReportEscrowOpeningRequest(
        name=f"draws/{draw_id.decode()}", key_id=key_id, reason=reason,
        request_id=request_id(given_id, "escrow-open"),
    )  # fmt: skip
    with connect(client_config, profile, target) as channel:
        got = pb_grpc.DrawServiceStub(channel).ReportEscrowOpening(
            request, timeout=timeout, metadata=request_metadata()
        )
    typer.echo(f"reported: escrow.open at seq {got.seq}", err=True)
