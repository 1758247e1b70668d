"""``expert-draw draws …``: draws of a running service (trading systems, supervisors).

``draws bundle`` saves a draw's proof bundle for ``expert-draw verify draw``; the
service logs each delivery (draw.publish).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

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

if TYPE_CHECKING:
    from expert_draw.core.requester import Asked

app = typer.Typer(help="Draws: fetch proof bundles, show draws.", no_args_is_help=True)


def _asked(path: Path) -> Asked:
    """The request `draws create` saved, as the requester's check 6 compares it."""
    from expert_draw.core import requester

    data = json.loads(path.read_text(encoding="utf-8"))
    return requester.Asked(
        disciplines=tuple((str(c), int(k), int(r), None) for c, k, r in data["disciplines"]),
        beacon=bool(data["beacon"]), supersedes=str(data["supersedes"]),
        draw_id=None if data["draw_id"] is None else str(data["draw_id"]),
    )  # fmt: skip


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


@app.command("panel")
def panel(
    draw: Annotated[str, typer.Argument(help="draws/{draw_id} or the draw id.")],
    client_config: ClientConfigOption = None,
    profile: ProfileOption = None,
    target: TargetOption = None,
    timeout: TimeoutOption = 30.0,
) -> None:
    """Show the seated members' identities; every read is logged.

    The requester may; a supervisor after the close, or under a grant from
    `draws request-access`.
    """
    from expert_draw.api.v1 import draw_service_pb2 as pb
    from expert_draw.api.v1 import draw_service_pb2_grpc as pb_grpc

    with connect(client_config, profile, target) as channel:
        got = pb_grpc.DrawServiceStub(channel).GetPanel(
            pb.GetPanelRequest(name=_name(draw)), timeout=timeout, metadata=request_metadata()
        )
    for member in got.panel:
        typer.echo(f"  {member.code}  {member.full_name}  {member.phone}  {member.expert}")


@app.command("request-access")
def request_access(
    draw: Annotated[str, typer.Argument(help="draws/{draw_id} or the draw id.")],
    purpose: Annotated[str, typer.Option("--purpose", help="Why; logged with the grant.")],
    client_config: ClientConfigOption = None,
    profile: ProfileOption = "supervisor",
    target: TargetOption = None,
    timeout: TimeoutOption = 30.0,
    given_id: RequestIdOption = None,
) -> None:
    """Ask for a logged grant to read a draw's identities before its close (supervisors)."""
    from expert_draw.api.v1 import draw_service_pb2 as pb
    from expert_draw.api.v1 import draw_service_pb2_grpc as pb_grpc

    request = pb.RequestAccessRequest(name=_name(draw), purpose=purpose,
                                      request_id=request_id(given_id, "cli-ra"))  # fmt: skip
    with connect(client_config, profile, target) as channel:
        got = pb_grpc.DrawServiceStub(channel).RequestAccess(
            request, timeout=timeout, metadata=request_metadata()
        )
    typer.echo(f"{_name(draw)}: access granted (log seq {got.grant_seq}); "
               f"`draws panel {_name(draw)}` reads the panel, each read logged")  # fmt: skip


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


@app.command("create")
def create(
    tender: Annotated[str, typer.Option("--tender", help="The tender (项目/招标) id.")],
    lot: Annotated[str, typer.Option("--lot", help="The lot (标段) id.")],
    project: Annotated[str, typer.Option("--project", help="The project code.")],
    discipline: Annotated[
        list[str], typer.Option("--discipline", help="CODE:SEATS[:RESERVES], repeatable.")
    ],
    tenderer: Annotated[str, typer.Option("--tenderer", help="The tenderer's 统一社会信用代码.")],
    start: Annotated[str, typer.Option("--start", help="Evaluation start, ISO 8601 with offset.")],
    end: Annotated[str, typer.Option("--end", help="Evaluation end (exclusive), ISO 8601.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the commit entry and receipt.")],
    venue: Annotated[str, typer.Option("--venue", help="The venue's 行政区划 code.")] = "120101",
    supersedes: Annotated[
        str, typer.Option("--supersedes", help="The attempt it supersedes.")
    ] = "",
    beacon: Annotated[bool, typer.Option("--beacon", help="Wait for a drand round.")] = False,
    draw_id: Annotated[
        str, typer.Option("--draw-id", help="The draw id (1-56 of [a-z0-9-]); default: new.")
    ] = "",
    client_config: ClientConfigOption = None,
    profile: ProfileOption = "trading_system",
    target: TargetOption = None,
    timeout: TimeoutOption = 60.0,
    given_id: RequestIdOption = None,
) -> None:
    """Request a draw (trading systems): saves the draw.commit entry and its receipt."""
    import datetime as dt

    from google.protobuf.timestamp_pb2 import Timestamp

    from expert_draw.api.v1 import draw_service_pb2 as pb
    from expert_draw.api.v1 import draw_service_pb2_grpc as pb_grpc

    def stamp(text: str) -> Timestamp:
        value = Timestamp()
        value.FromDatetime(dt.datetime.fromisoformat(text).astimezone(dt.UTC))
        return value

    quotas = []
    for item in discipline:
        code, seats, *rest = item.split(":")
        reserves = int(rest[0]) if rest else 0
        quotas.append(pb.DisciplineQuota(discipline=f"editions/2018/disciplines/{code}",
                                         seats=int(seats), reserves=reserves))  # fmt: skip
    request = pb.CreateDrawRequest(
        draw_id=draw_id, tender_id=tender, lot_id=lot, project_code=project, disciplines=quotas,
        supersedes=_name(supersedes) if supersedes else "",
        conflicts=pb.ConflictInputs(tenderer=tenderer), evaluation_start_time=stamp(start),
        evaluation_end_time=stamp(end), venue_region=venue, use_beacon=beacon,
        request_id=request_id(given_id, "cli-create"),
    )  # fmt: skip
    with connect(client_config, profile, target) as channel:
        created = pb_grpc.DrawServiceStub(channel).CreateDraw(
            request, timeout=timeout, metadata=request_metadata()
        )
    out.mkdir(parents=True, exist_ok=True)
    (out / "commit.aud1").write_bytes(created.commit_entry)
    (out / "commit.receipt").write_text(created.commit_receipt, encoding="utf-8")
    asked = {  # what `draws execute` checks the params against (spec §13 check 6)
        "disciplines": [[q.discipline.rsplit("/", 1)[-1], q.seats, q.reserves] for q in quotas],
        "beacon": beacon, "supersedes": request.supersedes.removeprefix("draws/"),
        "draw_id": draw_id or None,
    }  # fmt: skip
    (out / "asked.json").write_text(json.dumps(asked), encoding="utf-8")
    counts = ", ".join(f"{c.code}: {c.count}" for c in created.draw.counts)
    typer.echo(f"{created.draw.name} committed (eligible {counts}); commit entry and receipt"
               f" in {out}/")  # fmt: skip


@app.command("execute")
def execute(
    draw: Annotated[str, typer.Argument(help="draws/{draw_id} or the draw id.")],
    commit: Annotated[Path, typer.Option("--commit", help="The folder `draws create` wrote.")],
    trust_file: Annotated[Path, typer.Option("--trust", help="trust.toml with the log key.")],
    client_config: ClientConfigOption = None,
    profile: ProfileOption = "trading_system",
    target: TargetOption = None,
    timeout: TimeoutOption = 60.0,
) -> None:
    """Check the commit, then send a fresh nonce; prints the panel (a logged disclosure).

    The checks: the receipt against the pinned log key, params_hash and commit_digest
    recomputed, and with a beacon the time left before time(R) - margin.
    """
    import os
    import time

    from audit_log import trust
    from expert_draw.api.v1 import draw_service_pb2 as pb
    from expert_draw.api.v1 import draw_service_pb2_grpc as pb_grpc
    from expert_draw.core.requester import CommitCheckError, check_commit

    try:
        pinned = trust.load(trust_file)
        entry = (commit / "commit.aud1").read_bytes()
        receipt_text = (commit / "commit.receipt").read_text(encoding="utf-8")
        asked_file = commit / "asked.json"  # absent in folders written before it existed
        asked = _asked(asked_file) if asked_file.exists() else None
        if asked is None:
            typer.echo(f"warning: no {asked_file}: the params are not checked against the "
                       "request (spec §13 check 6)", err=True)  # fmt: skip
    except (OSError, trust.TrustError, ValueError, KeyError, TypeError) as exc:
        fail(f"cannot read the commit or trust: {exc}")
    try:
        checked = check_commit(entry, receipt_text, pinned.origin, [pinned.log_vkey],
                               int(time.time()), asked=asked,
                               delta_min=pinned.delta_min)  # fmt: skip
    except CommitCheckError as exc:
        fail(f"the commit does not check, no nonce sent: {exc}", 1)
    if f"draws/{checked.draw_id}" != _name(draw):
        fail(f"the commit is for draws/{checked.draw_id}, not {_name(draw)}", 1)
    request = pb.ExecuteDrawRequest(name=_name(draw), nonce=os.urandom(32),
                                    request_id=f"cli-x-{checked.draw_id}")  # fmt: skip
    with connect(client_config, profile, target) as channel:
        done = pb_grpc.DrawServiceStub(channel).ExecuteDraw(
            request, timeout=timeout, metadata=request_metadata()
        )
    typer.echo(f"{done.draw.name}: {pb.Draw.State.Name(done.draw.state)}")
    for member in done.panel:
        typer.echo(f"  {member.code}  {member.full_name}  {member.phone}  {member.expert}")
