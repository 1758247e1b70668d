"""A second verifier of project archives, written from docs/spec/draw-v1.md §14 alone.

It shares with ``cli.verify.archive`` only what other specifications define: aud1
canonical JSON and entries (audit-log-v1 §2, §3), signed checkpoints and receipts (§5,
§6) and the proof-bundle verifier of draw-v1 §11 (``verify_bundle``). Everything §14
says is re-implemented here, so ``tests/unit/test_archive_vectors.py`` can require both
verifiers to reach the same verdict on every vector of ``tests/vectors/archive/``.

Where §14 leaves a choice open, this verifier takes the stricter reading and says so in
a comment (``reading:``); the vectors avoid those corners, and the review lists them.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from audit_log import canonical, receipt
from audit_log import checkpoint as cp
from audit_log.entry import Entry
from audit_log.errors import AuditLogError
from expert_draw.core.verify_draw import (
    DrawTrust,
    DrawVerificationError,
    UnsupportedBundleError,
    verify_bundle,
)

if TYPE_CHECKING:
    from pathlib import Path

    from audit_log.trust import Trust

MANIFEST = "manifest.json"
CHECKPOINT = "checkpoint.note"
EXPORT_ENTRY = "export.aud1"
EXPORT_RECEIPT = "export.receipt"
_HEX32 = re.compile(r"[0-9a-f]{64}")
_DRAW_ID = re.compile(r"[a-z0-9-]{1,56}")
_MEMBERS = {
    "archive_v": int, "spec_version": str, "origin": str, "project_ref": str,
    "created_at": int, "retention_years": int, "checkpoint": dict, "draws": list,
    "files": list,
}  # fmt: skip


@dataclass
class Verdict:
    """Findings as ``(file, text)``; ``exit_code`` per §14's last paragraph."""

    tamper: list[tuple[str, str]] = field(default_factory=list)
    unusable: list[tuple[str, str]] = field(default_factory=list)
    policy: list[tuple[str, str]] = field(default_factory=list)
    entries_verified: dict[str, int] = field(default_factory=dict)
    bundles_verified: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """1 when any check of 2-6 fails, else 4 (unusable), else 3 (policy), else 0."""
        if self.tamper:
            return 1
        if self.unusable:
            return 4
        return 3 if self.policy else 0

    def lines(self, which: str) -> list[str]:
        """The findings of one list as ``<file>: <text>``."""
        found: list[tuple[str, str]] = getattr(self, which)
        return [f"{path}: {text}" for path, text in found]


class _Step1Error(Exception):
    pass


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _typed(value: object, kind: type) -> bool:
    return _is_int(value) if kind is int else isinstance(value, kind)


def _exact(value: object, members: dict[str, Any]) -> bool:
    """An object with exactly ``members``, each of its type (a tuple: any of them)."""
    if not isinstance(value, dict) or set(value) != set(members):
        return False
    for name, kind in members.items():
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if not any(value[name] is None if k is None else _typed(value[name], k) for k in kinds):
            return False
    return True


def read_manifest(data: bytes) -> dict[str, Any]:
    """Step 1: canonical aud1, exactly the §14 members (reading: with their JSON types).

    Raises:
        _Step1Error: the archive is unusable (exit 4).
    """
    try:
        value = canonical.loads(data)
    except (AuditLogError, ValueError) as exc:
        msg = f"not canonical aud1 ({exc})"
        raise _Step1Error(msg) from None
    if not _exact(value, _MEMBERS):
        msg = "not exactly the members of §14 with their types"
        raise _Step1Error(msg)
    if value["archive_v"] != 1:
        msg = f"archive_v {value['archive_v']} is not 1"
        raise _Step1Error(msg)
    # reading: "exactly the members above" covers the nested objects and their types.
    if not _HEX32.fullmatch(value["project_ref"]):
        msg = "project_ref is not hex32"
        raise _Step1Error(msg)
    head = value["checkpoint"]
    if not _exact(head, {"file": str, "root": str, "size": int}) or head["file"] != CHECKPOINT:
        msg = "checkpoint is not {file: checkpoint.note, root, size}"
        raise _Step1Error(msg)
    draw_item = {"draw_id": str, "state": str, "bundle": (str, None), "entries": list}
    for item in value["draws"]:
        if not _exact(item, draw_item) or not all(
            _exact(e, {"kind": str, "seq": int}) for e in item["entries"]
        ):
            msg = "a draws item is not {draw_id, state, bundle, entries: [{kind, seq}]}"
            raise _Step1Error(msg)
    paths = []
    for item in value["files"]:
        if not _exact(item, {"path": str, "sha256": str}) or not _HEX32.fullmatch(item["sha256"]):
            msg = "a files item is not {path, sha256: hex32}"
            raise _Step1Error(msg)
        paths.append(item["path"].encode())
    if paths != sorted(set(paths)):  # reading: ascending by the UTF-8 bytes, no repeats
        msg = "files are not ascending by path without repeats"
        raise _Step1Error(msg)
    manifest: dict[str, Any] = value
    return manifest


def _inside(root: Path, path: str) -> Path | None:
    """The file a manifest path names, or None when it does not stay inside ``root``.

    A path is relative POSIX: non-empty, no leading ``/``, no empty, ``.`` or ``..``
    component, no backslash or NUL (reading: §14 says only "POSIX, relative"); it must
    also resolve (symbolic links followed) to a regular file below the folder.
    """
    parts = path.split("/")
    if not path or path.startswith("/") or "\\" in path or "\0" in path:
        return None
    if any(p in {"", ".", ".."} for p in parts):
        return None
    target = root.joinpath(*parts)
    base = root.resolve()
    try:
        resolved = target.resolve()
    except OSError:
        return None
    if base not in resolved.parents:
        return None
    return target


def verify(root: Path, pinned: Trust) -> Verdict:
    """Verify the archive folder ``root`` against the pinned trust (§14 steps 1-6)."""
    verdict = Verdict()
    try:
        manifest_bytes = (root / MANIFEST).read_bytes()
        manifest = read_manifest(manifest_bytes)
    except OSError as exc:
        verdict.unusable.append((MANIFEST, f"unreadable ({exc.strerror})"))
        return verdict
    except _Step1Error as exc:
        verdict.unusable.append((MANIFEST, str(exc)))
        return verdict
    origin = pinned.origin
    keys = [pinned.log_vkey]
    # Step 2: the seal.
    _step2(root, manifest, manifest_bytes, origin, keys, verdict)
    if manifest["origin"] != origin:
        verdict.tamper.append((MANIFEST, f"origin {manifest['origin']} is not the pinned one"))
    # Step 3: every listed file.
    good: dict[str, bytes] = {}
    for item in manifest["files"]:
        path = item["path"]
        target = _inside(root, path)
        if target is None:
            verdict.tamper.append((path, "not a file inside the archive folder"))
            continue
        try:
            data = target.read_bytes()
        except OSError:
            verdict.tamper.append((path, "missing"))
            continue
        if hashlib.sha256(data).hexdigest() != item["sha256"]:
            verdict.tamper.append((path, "SHA-256 differs from the manifest"))
            continue
        good[path] = data
    # Step 4: the checkpoint.
    note = _step4(manifest, good, origin, keys, verdict)
    # Steps 5 and 6, per draw.
    trust = DrawTrust(origin, tuple(keys), pinned.delta_min, pinned.require_beacon,
                      tuple(bytes.fromhex(k) for k in pinned.escrow_keys))  # fmt: skip
    listed = {item["path"] for item in manifest["files"]}
    for item in manifest["draws"]:
        draw_id = item["draw_id"]
        if not _DRAW_ID.fullmatch(draw_id):
            verdict.tamper.append((MANIFEST, f"draw_id {draw_id!r} is not a §9 draw id"))
            continue
        verdict.entries_verified[draw_id] = 0
        for listed_entry in item["entries"]:
            _step5(draw_id, listed_entry, note, good, listed, origin, keys, verdict)
        if item["bundle"] is not None:
            _step6(draw_id, item["bundle"], good, listed, trust, verdict)
    return verdict


def _step2(root: Path, manifest: dict[str, Any], manifest_bytes: bytes, origin: str,
           keys: list[Any], verdict: Verdict) -> None:  # fmt: skip
    try:
        entry_bytes = (root / EXPORT_ENTRY).read_bytes()
        text = (root / EXPORT_RECEIPT).read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        verdict.tamper.append((EXPORT_RECEIPT, f"the seal is unreadable ({exc})"))
        return
    try:
        receipt.verify(text, entry_bytes, origin, keys)
    except (AuditLogError, ValueError) as exc:
        verdict.tamper.append((EXPORT_RECEIPT, f"does not prove {EXPORT_ENTRY} ({exc})"))
        return
    try:
        entry = Entry.decode(entry_bytes)
    except (AuditLogError, ValueError) as exc:
        verdict.tamper.append((EXPORT_ENTRY, f"not a valid entry ({exc})"))
        return
    if entry.kind != "export":
        verdict.tamper.append((EXPORT_ENTRY, f"kind {entry.kind}, not export"))
        return
    if entry.data["what"] != "project-archive " + manifest["project_ref"]:
        verdict.tamper.append((EXPORT_ENTRY, f"what {entry.data['what']!r} names another project"))
    if entry.data["data_sha256"] != hashlib.sha256(manifest_bytes).hexdigest():
        verdict.tamper.append((MANIFEST, f"SHA-256 is not the one {entry.subj} logged"))


def _step4(manifest: dict[str, Any], good: dict[str, bytes], origin: str, keys: list[Any],
           verdict: Verdict) -> str | None:  # fmt: skip
    """The verified checkpoint note's text, or None."""
    data = good.get(CHECKPOINT)
    if data is None:
        # reading: checkpoint.note must be listed in files and match (the Writing rule
        # lists every file but three); a failure of step 3 already names it, or:
        if CHECKPOINT not in {i["path"] for i in manifest["files"]}:
            verdict.tamper.append((CHECKPOINT, "not listed in the manifest's files"))
        return None
    try:
        note = data.decode("utf-8")
        head, _ = cp.open_checkpoint(note, origin, keys)
    except (AuditLogError, ValueError) as exc:
        verdict.tamper.append((CHECKPOINT, f"does not verify ({exc})"))
        return None
    want = manifest["checkpoint"]
    if (want["size"], want["root"]) != (head.size, head.root.hex()):
        verdict.tamper.append((CHECKPOINT, "size or root differ from the manifest's checkpoint"))
    return note


def _step5(draw_id: str, listed_entry: dict[str, Any], note: str | None,
           good: dict[str, bytes], listed: set[str], origin: str, keys: list[Any],
           verdict: Verdict) -> None:  # fmt: skip
    seq = listed_entry["seq"]
    entry_path = f"draws/{draw_id}/entries/{seq}.aud1"
    proof_path = f"draws/{draw_id}/entries/{seq}.proof"
    missing = [p for p in (entry_path, proof_path) if p not in listed]
    for path in missing:
        verdict.tamper.append((path, "a listed entry's file is not in the manifest's files"))
    body, proof = good.get(entry_path), good.get(proof_path)
    if missing or body is None or proof is None or note is None:
        return  # step 3 or 4 has named the file
    try:
        parsed = receipt.Receipt.parse(proof.decode("utf-8"))
    except (AuditLogError, ValueError) as exc:
        verdict.tamper.append((proof_path, f"not a receipt ({exc})"))
        return
    if parsed.checkpoint_note != note:
        verdict.tamper.append((proof_path, f"its checkpoint is not {CHECKPOINT} verbatim"))
        return
    if parsed.index != seq:
        verdict.tamper.append((proof_path, f"a receipt for index {parsed.index}, not {seq}"))
        return
    try:
        receipt.verify(proof.decode("utf-8"), body, origin, keys)
        entry = Entry.decode(body)
    except (AuditLogError, ValueError) as exc:
        verdict.tamper.append((proof_path, f"does not prove {entry_path} ({exc})"))
        return
    if entry.seq != seq:
        verdict.tamper.append((entry_path, f"holds seq {entry.seq}"))
    elif entry.subj != f"draws/{draw_id}":
        verdict.tamper.append((entry_path, f"is about {entry.subj}"))
    else:
        # reading: the manifest's kind is informative; §14 does not make it a check.
        verdict.entries_verified[draw_id] += 1


def _step6(draw_id: str, path: str, good: dict[str, bytes], listed: set[str],
           trust: DrawTrust, verdict: Verdict) -> None:  # fmt: skip
    if path not in listed:
        verdict.tamper.append((path, "the bundle is not in the manifest's files"))
        return
    data = good.get(path)
    if data is None:
        return  # step 3 named it
    try:
        report = verify_bundle(data, trust)
    except UnsupportedBundleError as exc:
        verdict.unusable.append((path, str(exc)))
        return
    except DrawVerificationError as exc:
        verdict.tamper.append((path, str(exc)))
        return
    if report.draw_id != draw_id:
        verdict.tamper.append((path, f"the bundle of draws/{report.draw_id}"))
        return
    verdict.bundles_verified.append(draw_id)
    verdict.policy += [(path, f"draws/{draw_id}: {f}") for f in report.findings]
