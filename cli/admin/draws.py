"""``expert-draw draws …``: draws of a running service (trading systems, supervisors).

``draws bundle`` saves a draw's proof bundle for ``expert-draw verify draw``; the
service logs each delivery (draw.publish).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated

import typer

from cli.admin.client import (
    ClientConfigOption,
    ProfileOption,
    TargetOption,
    TimeoutOption,
    connect,
    fail,
    request_metadata,
)

app = typer.Typer(help="Draws: fetch proof bundles, show draws.", no_args_is_help=True)


def _name(value: str) -> str:
    return value if value.startswith("draws/") else f"draws/{value}"


@app.command("bundle")
def bundle(
    draw: Annotated[str, typer.Argument(help="draws/{draw_id} or the draw id.")],
    file: Annotated[Path, typer.Argument(help="Where to save the bundle (aud1 JSON).")],
    client_config: ClientConfigOption = None,
    profile: ProfileOption = None,
    target: TargetOption = None,
    timeout: TimeoutOption = 60.0,
) -> None:
    """Save a draw's proof bundle (supervisors from execution, everyone after the award)."""
    from expert_draw.api.v1 import draw_service_pb2 as pb
    from expert_draw.api.v1 import draw_service_pb2_grpc as pb_grpc

    request = pb.GetProofBundleRequest(name=_name(draw))
    with connect(client_config, profile, target) as channel:
        stub = pb_grpc.DrawServiceStub(channel)
        body, digest = bytearray(), b""
        for chunk in stub.GetProofBundle(request, timeout=timeout, metadata=request_metadata()):
            body += chunk.chunk
            digest = chunk.bundle_sha256
    if hashlib.sha256(body).digest() != digest:
        fail("the bundle's SHA-256 does not match what the service announced", 1)
    file.write_bytes(bytes(body))
    typer.echo(f"saved {len(body)} bytes to {file} (sha256 {digest.hex()})")


@app.command("get")
def get(
    draw: Annotated[str, typer.Argument(help="draws/{draw_id} or the draw id.")],
    client_config: ClientConfigOption = None,
    profile: ProfileOption = None,
    target: TargetOption = None,
    timeout: TimeoutOption = 30.0,
) -> None:
    """Show a draw: state, commitments, counts and seats (pseudonyms), as JSON."""
    from google.protobuf import json_format

    from expert_draw.api.v1 import draw_service_pb2 as pb
    from expert_draw.api.v1 import draw_service_pb2_grpc as pb_grpc

    with connect(client_config, profile, target) as channel:
        found = pb_grpc.DrawServiceStub(channel).GetDraw(
            pb.GetDrawRequest(name=_name(draw)), timeout=timeout, metadata=request_metadata()
        )
    typer.echo(json.dumps(json_format.MessageToDict(found.draw), ensure_ascii=False, indent=2))


@app.command("receipt")
def receipt(
    draw: Annotated[str, typer.Argument(help="draws/{draw_id} or the draw id.")],
    expert: Annotated[str, typer.Argument(help="experts/{uuid} or the UUID.")],
    file: Annotated[Path, typer.Argument(help="Where to save the receipt (aud1 JSON).")],
    purpose: Annotated[str, typer.Option("--purpose", help="Why; logged with the disclosure.")],
    client_config: ClientConfigOption = None,
    profile: ProfileOption = None,
    target: TargetOption = None,
    timeout: TimeoutOption = 30.0,
) -> None:
    """Save an expert's private receipt for a draw (admins; the delivery is logged)."""
    from expert_draw.api.v1 import draw_service_pb2 as pb
    from expert_draw.api.v1 import draw_service_pb2_grpc as pb_grpc

    name = expert if expert.startswith("experts/") else f"experts/{expert}"
    request = pb.GetExpertReceiptRequest(name=_name(draw), expert=name, purpose=purpose)
    with connect(client_config, profile, target) as channel:
        got = pb_grpc.DrawServiceStub(channel).GetExpertReceipt(
            request, timeout=timeout, metadata=request_metadata()
        )
    file.write_bytes(got.receipt)
    typer.echo(f"saved the receipt to {file}; give it to the expert only")
