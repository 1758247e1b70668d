"""``expert-draw verify archive``: verify a project archive offline (draw-v1.md §14).

The archive a supervisor writes with ``expert-draw archive export``: a manifest with
every file's SHA-256, one signed checkpoint, each draw's proof bundle and log entries
with inclusion proofs into that checkpoint, and the ``export`` entry that logged the
manifest's digest, with its receipt. Nothing here imports gRPC or database code.

Exit codes: 0 ok; 1 a file, proof, signature or bundle check fails (the file is named);
3 policy findings of a bundle (a failure under --strict); 4 usage or unreadable input.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Annotated, Any

import typer

from audit_log import canonical, receipt, trust
from audit_log.checkpoint import open_checkpoint
from audit_log.entry import Entry
from audit_log.errors import AuditLogError
from expert_draw.core.verify_draw import (
    DrawVerificationError,
    UnsupportedBundleError,
    trust_from,
    verify_bundle,
)

ARCHIVE_V = 1
MANIFEST = "manifest.json"
CHECKPOINT = "checkpoint.note"
EXPORT_ENTRY = "export.aud1"
EXPORT_RECEIPT = "export.receipt"
WHAT_PREFIX = "project-archive "
_HEX32 = re.compile(r"[0-9a-f]{64}")
_DRAW_ID = re.compile(r"[a-z0-9-]{1,56}")
MANIFEST_MEMBERS = frozenset({
    "archive_v", "checkpoint", "created_at", "draws", "files", "origin", "project_ref",
    "retention_years", "spec_version",
})  # fmt: skip


def bundle_path(draw_id: str) -> str:
    """The archive path of a draw's proof bundle."""
    return f"draws/{draw_id}/bundle.json"


def entry_paths(draw_id: str, seq: int) -> tuple[str, str]:
    """The archive paths of one entry's bytes and of its inclusion proof (tlog-proof)."""
    return f"draws/{draw_id}/entries/{seq}.aud1", f"draws/{draw_id}/entries/{seq}.proof"


def sha256_hex(data: bytes) -> str:
    """Lowercase hex SHA-256."""
    return hashlib.sha256(data).hexdigest()


@dataclass
class DrawSummary:
    """What the verifier found for one draw."""

    draw_id: str
    state: str
    entries: int = 0
    bundle: str = "none"
    findings: list[str] = field(default_factory=list)


@dataclass
class ArchiveReport:
    """Findings: ``tamper`` (exit 1), ``policy`` (exit 3), ``usage`` (exit 4)."""

    tamper: list[str] = field(default_factory=list)
    policy: list[str] = field(default_factory=list)
    usage: list[str] = field(default_factory=list)
    draws: list[DrawSummary] = field(default_factory=list)
    manifest: dict[str, Any] = field(default_factory=dict)
    listed: set[str] = field(default_factory=set)

    @property
    def exit_code(self) -> int:
        """1 > 4 > 3 > 0."""
        if self.tamper:
            return 1
        if self.usage:
            return 4
        return 3 if self.policy else 0


class _Unusable(Exception):  # noqa: N818 - control flow inside this module
    pass


def _read(root: Path, path: str, report: ArchiveReport) -> bytes | None:
    """A file named by the manifest, confined to the archive; None (TAMPER) if missing."""
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts or not path:
        report.tamper.append(f"{path}: not a path inside the archive")
        return None
    target = root / pure
    try:
        inside = target.resolve(strict=True).is_relative_to(root.resolve(strict=True))
    except (OSError, RuntimeError):
        inside = True  # missing or unreadable: reported below
    if not inside or (target.exists() and not target.resolve().is_file()):
        report.tamper.append(f"{path}: not a regular file inside the archive (a link out?)")
        return None
    try:
        return target.read_bytes()
    except FileNotFoundError:
        report.tamper.append(f"{path}: missing")
    except OSError as exc:
        report.tamper.append(f"{path}: unreadable ({exc})")
    return None


def _manifest(root: Path) -> tuple[bytes, dict[str, Any]]:
    try:
        data = (root / MANIFEST).read_bytes()
    except OSError as exc:
        msg = f"cannot read {MANIFEST}: {exc}"
        raise _Unusable(msg) from None
    try:
        value = canonical.loads(data)
    except (AuditLogError, ValueError) as exc:
        msg = f"{MANIFEST} is not canonical aud1 JSON: {exc}"
        raise _Unusable(msg) from None
    if not isinstance(value, dict) or set(value) != MANIFEST_MEMBERS:
        msg = f"{MANIFEST} must have exactly the members {sorted(MANIFEST_MEMBERS)}"
        raise _Unusable(msg)
    if type(value["archive_v"]) is not int or value["archive_v"] != ARCHIVE_V:
        msg = f"{MANIFEST}: unsupported archive_v {value['archive_v']!r}"
        raise _Unusable(msg)
    return data, value


def _check_seal(root: Path, manifest_bytes: bytes, pinned: trust.Trust, report: ArchiveReport,
                project_ref: str, size: int) -> None:  # fmt: skip
    """The logged ``export`` entry names the manifest's SHA-256 (the manifest's seal)."""
    entry_bytes = _read(root, EXPORT_ENTRY, report)
    text = _read(root, EXPORT_RECEIPT, report)
    if entry_bytes is None or text is None:
        return
    try:
        receipt.verify(text.decode(), entry_bytes, pinned.origin, [pinned.log_vkey])
        entry = Entry.decode(entry_bytes)
    except (AuditLogError, ValueError) as exc:
        report.tamper.append(f"{EXPORT_ENTRY}: the export entry does not verify ({exc})")
        return
    if entry.kind != "export" or entry.data["what"] != WHAT_PREFIX + project_ref:
        report.tamper.append(f"{EXPORT_ENTRY}: not the export entry of this project's archive")
    elif entry.data["data_sha256"] != sha256_hex(manifest_bytes):
        report.tamper.append(
            f"{MANIFEST}: its SHA-256 is not the one logged by {entry.subj} (seq {entry.seq})"
        )
    elif entry.seq < size:
        msg = (f"{EXPORT_ENTRY}: logged at seq {entry.seq}, inside the archive's checkpoint "
               f"of size {size}: it cannot seal that manifest")  # fmt: skip
        report.tamper.append(msg)


def _check_files(root: Path, manifest: dict[str, Any], report: ArchiveReport) -> dict[str, bytes]:
    """Every listed file against its SHA-256; returns the good ones by path."""
    good: dict[str, bytes] = {}
    for item in manifest["files"]:
        path, digest = str(item["path"]), str(item["sha256"])
        report.listed.add(path)
        data = _read(root, path, report)
        if data is None:
            continue
        if sha256_hex(data) != digest:
            report.tamper.append(f"{path}: SHA-256 does not match the manifest")
            continue
        good[path] = data
    return good


def _check_draw(item: dict[str, Any], good: dict[str, bytes], pinned: trust.Trust,
                checkpoint_note: str, report: ArchiveReport) -> DrawSummary:  # fmt: skip
    draw_id = str(item["draw_id"])
    summary = DrawSummary(draw_id, str(item["state"]))
    if _DRAW_ID.fullmatch(draw_id) is None:
        summary.findings.append("bad draw_id")
        report.tamper.append(f"manifest: bad draw_id {draw_id!r}")
        return summary
    for listed in item["entries"]:
        seq = int(listed["seq"])
        entry_path, proof_path = entry_paths(draw_id, seq)
        body, proof = good.get(entry_path), good.get(proof_path)
        if body is None or proof is None:
            summary.findings.append(f"entry {seq}: file missing or altered")
            unlisted = {entry_path, proof_path} - set(good) - report.listed
            report.tamper += [f"{p}: not in the manifest's files" for p in sorted(unlisted)]
            continue
        try:
            parsed, _ = receipt.verify(proof.decode(), body, pinned.origin, [pinned.log_vkey])
            entry = Entry.decode(body)
        except (AuditLogError, ValueError) as exc:
            report.tamper.append(f"{proof_path}: the inclusion proof does not verify ({exc})")
            summary.findings.append(f"entry {seq}: proof fails")
            continue
        if parsed.checkpoint_note != checkpoint_note or seq != parsed.index or entry.seq != seq:
            report.tamper.append(f"{proof_path}: not a proof of seq {seq} into {CHECKPOINT}")
            continue
        if entry.subj != f"draws/{draw_id}":
            report.tamper.append(f"{entry_path}: the entry is not about draws/{draw_id}")
            continue
        if entry.kind != listed["kind"]:
            report.tamper.append(f"{entry_path}: a {entry.kind} entry, listed as {listed['kind']}")
            continue
        summary.entries += 1
    if item["bundle"] is not None:
        if item["bundle"] not in report.listed:
            report.tamper.append(f"{item['bundle']}: not in the manifest's files")
        _check_bundle(str(item["bundle"]), summary, good, pinned, report)
    return summary


def _check_bundle(path: str, summary: DrawSummary, good: dict[str, bytes],
                  pinned: trust.Trust, report: ArchiveReport) -> None:  # fmt: skip
    data = good.get(path)
    if data is None:
        summary.bundle = "missing or altered"
        return
    pins = trust_from(
        pinned.origin, [pinned.log_vkey], delta_min=pinned.delta_min,
        require_beacon=pinned.require_beacon, escrow_keys=pinned.escrow_keys,
    )  # fmt: skip
    try:
        verified = verify_bundle(data, pins)
    except UnsupportedBundleError as exc:
        report.usage.append(f"{path}: {exc}")
        summary.bundle = "unsupported"
        return
    except DrawVerificationError as exc:
        report.tamper.append(f"{path}: {exc}")
        summary.bundle = f"FAILED {exc}"
        return
    if verified.draw_id != summary.draw_id:
        report.tamper.append(f"{path}: the bundle is of draws/{verified.draw_id}")
        summary.bundle = "another draw's"
        return
    summary.bundle = "verified" + (" with policy findings" if verified.findings else "")
    summary.findings += verified.findings
    report.policy += [f"draws/{summary.draw_id}: {f}" for f in verified.findings]


def verify_archive(root: Path, pinned: trust.Trust) -> ArchiveReport:
    """Check an archive folder; findings go to the report (nothing raises)."""
    report = ArchiveReport()
    try:
        manifest_bytes, manifest = _manifest(root)
    except _Unusable as exc:
        report.usage.append(str(exc))
        return report
    report.manifest = manifest
    project_ref = str(manifest["project_ref"])
    size = manifest["checkpoint"]["size"] if isinstance(manifest["checkpoint"], dict) else 0
    _check_seal(root, manifest_bytes, pinned, report, project_ref,
                size if type(size) is int else 0)  # fmt: skip
    if manifest["origin"] != pinned.origin:
        report.tamper.append(f"{MANIFEST}: origin {manifest['origin']!r} is not the pinned log's")
    try:
        return _check_contents(root, manifest, pinned, report)
    except (KeyError, TypeError, ValueError) as exc:
        report.usage.append(f"{MANIFEST} is malformed: {exc!r}")
        return report


def _check_contents(root: Path, manifest: dict[str, Any], pinned: trust.Trust,
                    report: ArchiveReport) -> ArchiveReport:  # fmt: skip
    good = _check_files(root, manifest, report)
    note_bytes = good.get(CHECKPOINT)
    if note_bytes is None:
        report.tamper.append(f"{CHECKPOINT}: missing or altered")
        return report
    try:
        note = note_bytes.decode()
        checkpoint, _ = open_checkpoint(note, pinned.origin, [pinned.log_vkey])
    except (AuditLogError, ValueError) as exc:  # UnicodeDecodeError is a ValueError
        report.tamper.append(f"{CHECKPOINT}: the signature does not verify ({exc})")
        return report
    head = manifest["checkpoint"]
    if head != {"file": CHECKPOINT, "root": checkpoint.root.hex(), "size": checkpoint.size}:
        report.tamper.append(f"{MANIFEST}: checkpoint size/root differ from {CHECKPOINT}")
    for item in manifest["draws"]:
        report.draws.append(_check_draw(item, good, pinned, note, report))
    return report


def archive(
    directory: Annotated[
        Path, typer.Argument(help="Archive folder written by `expert-draw archive export`.")
    ],
    trust_file: Annotated[
        Path, typer.Option("--trust", help="trust.toml with the pinned log_vkey.")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Verify a project archive offline (spec §14); exit 0, 1, 3 or 4.

    File digests, the manifest's logged digest, the checkpoint signature, every entry's
    inclusion proof into that checkpoint and every proof bundle.
    """
    try:
        pinned = trust.load(trust_file)
    except trust.TrustError as exc:
        typer.echo(f"expert-draw: {exc}", err=True)
        raise typer.Exit(4) from None
    if not directory.is_dir():
        typer.echo(f"expert-draw: {directory} is not a folder", err=True)
        raise typer.Exit(4)
    report = verify_archive(directory, pinned)
    code = report.exit_code
    if as_json:
        typer.echo(json.dumps({
            "exit_code": code, "tamper": report.tamper, "policy": report.policy,
            "usage": report.usage,
            "draws": [vars(d) for d in report.draws],
            "retention_years": report.manifest.get("retention_years"),
            "project_ref": report.manifest.get("project_ref"),
        }, ensure_ascii=False, sort_keys=True))  # fmt: skip
        raise typer.Exit(code)
    colour = {0: "green", 3: "yellow"}.get(code, "red")
    if report.manifest:
        m = report.manifest
        typer.echo(f"project {m['project_ref']} of {m['origin']}: {len(m['draws'])} draw(s),"
                   f" retention {m['retention_years']} years, checkpoint at size"
                   f" {m['checkpoint']['size']}")  # fmt: skip
    for summary in report.draws:
        typer.echo(f"  draws/{summary.draw_id} ({summary.state.lower()}): {summary.entries}"
                   f" entries verified, bundle {summary.bundle}")  # fmt: skip
    for problem in report.usage:
        typer.secho(f"UNUSABLE: {problem}", fg="red")
    for problem in report.tamper:
        typer.secho(f"TAMPER: {problem}", fg="red")
    for finding in report.policy:
        typer.secho(f"POLICY: {finding}", fg="yellow")
    verdict = {0: "OK", 3: "OK with policy findings"}.get(code, "FAILED")
    typer.secho(f"{verdict} (exit {code})", fg=colour, bold=True)
    raise typer.Exit(code)
