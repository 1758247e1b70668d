"""``expert-draw archive export``: one project's archive (细则 第18条 档案; draw-v1.md §14).

A supervisor saves, for every draw of a project, its proof bundle (when it has one) and
its log entries with inclusion proofs into one signed checkpoint, writes manifest.json
with every file's SHA-256 and the retention period, and has the service log the
manifest's digest (an ``export`` entry, whose entry and receipt seal the archive).
``expert-draw verify archive`` checks it offline.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

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
from cli.verify import archive as fmt

if TYPE_CHECKING:
    from expert_draw.api.v1.audit_service_pb2_grpc import AuditServiceStub
    from expert_draw.api.v1.draw_service_pb2 import Draw
    from expert_draw.api.v1.draw_service_pb2_grpc import DrawServiceStub

app = typer.Typer(help="Per-project archives (supervisors).", no_args_is_help=True)
PAGE = 1000
MAX_RETENTION_YEARS = 100


def _draws(stub: DrawServiceStub, project: str, timeout: float) -> tuple[list[Draw], bytes]:
    """Every draw of the project (oldest first) and its project_ref."""
    from expert_draw.api.v1 import draw_service_pb2 as pb

    request = pb.ListDrawsRequest(page_size=PAGE, project_code=project)
    draws: list[Draw] = []
    project_ref = b""
    while True:
        page = stub.ListDraws(request, timeout=timeout, metadata=request_metadata())
        draws += page.draws
        project_ref = page.project_ref
        if not page.next_page_token:
            break
        request.page_token = page.next_page_token
    return draws[::-1], project_ref


def _bundle(stub: DrawServiceStub, name: str, timeout: float) -> bytes | None:
    """The proof bundle, or None when the draw was never executed."""
    import grpc

    from expert_draw.api.v1 import draw_service_pb2 as pb

    body, digest = bytearray(), b""
    try:
        for chunk in stub.GetProofBundle(
            pb.GetProofBundleRequest(name=name), timeout=timeout, metadata=request_metadata()
        ):
            body += chunk.chunk
            digest = chunk.bundle_sha256
    except grpc.RpcError as error:
        if error.code() is grpc.StatusCode.FAILED_PRECONDITION:
            return None
        raise
    if hashlib.sha256(body).digest() != digest:
        fail(f"{name}: the bundle's SHA-256 does not match what the service announced", 1)
    return bytes(body)


def _entries(
    audit: AuditServiceStub,
    draw_id: str,
    size: int,
    note: str,
    timeout: float,
) -> list[tuple[int, str, bytes, str]]:
    """(seq, kind, bytes, receipt into ``note``) of each entry on draws/{draw_id}."""
    from audit_log.receipt import Receipt
    from expert_draw.api.v1 import audit_service_pb2 as pb

    request = pb.ListEntriesRequest(page_size=PAGE, subject=f"draws/{draw_id}", end_seq=size)
    found: list[tuple[int, str, bytes, str]] = []
    while True:
        page = audit.ListEntries(request, timeout=timeout, metadata=request_metadata())
        for item in page.entries:
            proof = audit.GetInclusionProof(
                pb.GetInclusionProofRequest(seq=item.seq, tree_size=size),
                timeout=timeout, metadata=request_metadata(),
            )  # fmt: skip
            if proof.checkpoint.note != note:
                fail(f"the service proved seq {item.seq} into another checkpoint", 1)
            text = Receipt(item.seq, tuple(proof.proof), note).format()
            found.append((item.seq, item.kind, item.body, text))
        if not page.next_page_token:
            return found
        request.page_token = page.next_page_token


def _write(root: Path, path: str, data: bytes, files: dict[str, str]) -> None:
    target = root / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    files[path] = fmt.sha256_hex(data)


@app.command("export")
def export(
    directory: Annotated[
        Path, typer.Argument(help="Archive folder to create (must not exist or be empty).")
    ],
    project: Annotated[
        str, typer.Option("--project", help="The project code given at CreateDraw.")
    ],
    retention_years: Annotated[
        int,
        typer.Option(
            "--retention-years",
            min=1,
            max=MAX_RETENTION_YEARS,
            help="How long the archive must be kept (recorded in the manifest).",
        ),
    ],
    client_config: ClientConfigOption = None,
    profile: ProfileOption = None,
    target: TargetOption = None,
    timeout: TimeoutOption = 60.0,
) -> None:
    """Write one project's archive to DIR and log its export (supervisor; spec §14).

    Every draw of the project with its state, the proof bundles of executed draws, each
    draw's log entries with inclusion proofs into one signed checkpoint, and
    manifest.json. The service logs the manifest's SHA-256 (an `export` entry).
    """
    from audit_log import canonical
    from audit_log.checkpoint import parse_unverified
    from expert_draw.api.v1 import audit_service_pb2 as audit_pb
    from expert_draw.api.v1 import audit_service_pb2_grpc as audit_grpc
    from expert_draw.api.v1 import draw_service_pb2 as pb
    from expert_draw.api.v1 import draw_service_pb2_grpc as pb_grpc

    if directory.exists() and any(directory.iterdir()):
        fail(f"{directory} exists and is not empty")
    files: dict[str, str] = {}
    with connect(client_config, profile or "supervisor", target) as channel:
        stub, audit = pb_grpc.DrawServiceStub(channel), audit_grpc.AuditServiceStub(channel)
        draws, project_ref = _draws(stub, project, timeout)
        if not draws:
            fail(f"no draw of project {project!r}", 1)
        directory.mkdir(parents=True, exist_ok=True)
        info = audit.GetServiceInfo(
            audit_pb.GetServiceInfoRequest(), timeout=timeout, metadata=request_metadata()
        )
        items: list[dict[str, Any]] = []
        with Progress(transient=True) as bar:
            task = bar.add_task("bundles", total=len(draws))
            for draw in draws:
                draw_id = draw.name.removeprefix("draws/")
                body = _bundle(stub, draw.name, timeout)
                if body is not None:
                    _write(directory, fmt.bundle_path(draw_id), body, files)
                state = pb.Draw.State.Name(draw.state).removeprefix("STATE_")
                bundle = None if body is None else fmt.bundle_path(draw_id)
                items.append({"bundle": bundle, "draw_id": draw_id, "entries": [],
                              "state": state})  # fmt: skip
                bar.advance(task)
            # The newest checkpoint covers the draw.publish entries of the bundles above.
            note = audit.GetCheckpoint(
                audit_pb.GetCheckpointRequest(), timeout=timeout, metadata=request_metadata()
            ).checkpoint.note
            head = parse_unverified(note)
            _write(directory, fmt.CHECKPOINT, note.encode(), files)
            task = bar.add_task("entries", total=len(draws))
            for item in items:
                for seq, kind, body, text in _entries(
                    audit, item["draw_id"], head.size, note, timeout
                ):
                    entry_path, proof_path = fmt.entry_paths(item["draw_id"], seq)
                    _write(directory, entry_path, body, files)
                    _write(directory, proof_path, text.encode(), files)
                    item["entries"].append({"kind": kind, "seq": seq})
                bar.advance(task)
        manifest = canonical.dumps({
            "archive_v": fmt.ARCHIVE_V, "spec_version": info.spec_version,
            "origin": info.origin, "project_ref": project_ref.hex(),
            "created_at": int(time.time() * 1000), "retention_years": retention_years,
            "checkpoint": {"file": fmt.CHECKPOINT, "root": head.root.hex(), "size": head.size},
            "draws": items,
            "files": [{"path": p, "sha256": d} for p, d in sorted(files.items())],
        })  # fmt: skip
        (directory / fmt.MANIFEST).write_bytes(manifest)
        _seal(stub, audit, directory, manifest, project_ref.hex(), timeout)
    typer.echo(f"{directory}: {len(items)} draw(s), {len(files)} files, checkpoint at size"
               f" {head.size}; manifest sha256 {fmt.sha256_hex(manifest)}")  # fmt: skip


def _seal(
    stub: DrawServiceStub, audit: AuditServiceStub, directory: Path, manifest: bytes,
    project_ref: str,
    timeout: float,
) -> None:  # fmt: skip
    """Log the export (RecordExport) and save its entry and receipt beside the manifest."""
    from expert_draw.api.v1 import audit_service_pb2 as audit_pb
    from expert_draw.api.v1 import draw_service_pb2 as pb

    recorded = stub.RecordExport(
        pb.RecordExportRequest(
            what=fmt.WHAT_PREFIX + project_ref, data_sha256=hashlib.sha256(manifest).digest(),
            request_id=f"archive-{os.urandom(12).hex()}",
        ),
        timeout=timeout, metadata=request_metadata(),
    )  # fmt: skip
    got = audit.GetEntry(
        audit_pb.GetEntryRequest(name=f"entries/{recorded.seq}"),
        timeout=timeout, metadata=request_metadata(),
    )  # fmt: skip
    (directory / fmt.EXPORT_ENTRY).write_bytes(got.entry.body)
    (directory / fmt.EXPORT_RECEIPT).write_text(got.receipt, encoding="utf-8")
    typer.echo(f"logged export {recorded.name} at seq {recorded.seq}")
