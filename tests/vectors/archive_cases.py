"""The project-archive vectors (``tests/vectors/archive/``, draw-v1.md §14).

``python -m tests.vectors.archive_cases [OUT]`` (also run by ``generate_eds1``'s main)
writes one folder per case: ``NN-name/archive/`` (the archive folder itself),
``NN-name/trust.toml`` and ``NN-name/expected.json`` with the verdict a verifier written
from §14 must reach: ``exit_code``, and ``tamper``, ``usage`` and ``policy``, each a list of
strings (file paths, or finding texts) that must each occur in some finding of that class.
The expectations are written here, never read back from a verifier.

Every case derives from one deterministic log (fixed keys, salts and times): the golden
draw of ``tests.support.draw_log`` (executed, a decline and its replacement, awarded),
a draw refused for its pool and a draw committed and waiting for its nonce, all of one
project; the supervisor's bundle delivery (``draw.publish``), the newest checkpoint, and
the ``export`` entry with the manifest's SHA-256. Negative cases are of two kinds: files
edited after the export (``after``), and an archive written wrong and sealed by its
logged ``export`` entry (``sealed``), which only the checks behind the seal catch.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import shutil
import sys
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from audit_log import canonical, merkle
from audit_log import checkpoint as cp
from audit_log.entry import Entry, Who, make_req
from audit_log.receipt import Receipt
from expert_draw.core import drawing, eds1, escrow
from tests.support import draw_log, small_logs
from tests.vectors.generate import ORIGIN, signer, write_json

if TYPE_CHECKING:
    from collections.abc import Callable

HERE = Path(__file__).resolve().parent
OUT = HERE / "archive"

GOLDEN_ID = draw_log.DRAW_ID  # executed, awarded: a bundle
REFUSED_ID = "d-refused-0002"  # CreateDraw refused (INSUFFICIENT_POOL): no bundle
WAITING_ID = "d-waiting-0003"  # committed, no nonce yet: no bundle
STATES = {GOLDEN_ID: "AWARDED", REFUSED_ID: "CANCELLED", WAITING_ID: "COMMITTED"}
PROJECT_REF = hashlib.sha256(b"archive vectors: project_ref").hexdigest()
OTHER_PROJECT_REF = hashlib.sha256(b"archive vectors: another project_ref").hexdigest()
EXPORT_SUBJ = "exports/" + hashlib.sha256(b"archive vectors: export id").hexdigest()[:32]
CREATED_AT = draw_log.T0 + 9_500  # after the draw.publish, before the export entry
RETENTION_YEARS = 15
SUPERVISOR = draw_log.SUPERVISOR
ESCROW_PUBLIC = escrow.public_key(draw_log.SUPERVISOR_KEY).hex()
TRUST = f'version = 1\nlog_vkey = "{small_logs.KEY.verifier}"\nescrow_keys = ["{ESCROW_PUBLIC}"]\n'

Files = dict[str, bytes]


def bundle_path(draw_id: str) -> str:
    return f"draws/{draw_id}/bundle.json"


def entry_path(draw_id: str, seq: int, ext: str = "aud1") -> str:
    return f"draws/{draw_id}/entries/{seq}.{ext}"


# -- the log -------------------------------------------------------------------------------


@dataclass
class Log:
    """Entries to seal, checkpoint sizes (one per transaction) and the clock."""

    entries: list[Entry]
    sizes: list[int]
    clock: itertools.count[int]

    def tx(self, who: Who, request: str, items: list[tuple[str, str, dict[str, Any]]]) -> None:
        ts = next(self.clock)
        for index, (kind, subj, data) in enumerate(items):
            self.entries.append(Entry(ORIGIN, len(self.entries), "", ts,
                                      make_req(who.sub, request, index), kind, subj, who,
                                      data))  # fmt: skip
        self.sizes.append(len(self.entries))

    def sealed(self) -> tuple[list[bytes], dict[int, str]]:
        members = ()
        return draw_log.seal(draw_log.DrawLog(self.entries, members, self.sizes))


def _refused(log: Log) -> None:
    subj = f"draws/{REFUSED_ID}"
    log.tx(draw_log.REQUESTER, f"create-{REFUSED_ID}", [
        ("draw.request", subj, {
            "draw_id": REFUSED_ID, "tender_ref": hashlib.sha256(b"tender lot 2").hexdigest(),
            "supersedes": "", "disciplines": [{"d": "B02", "k": 5, "r": 2}],
            "policy": {"beacon": False},
            "inputs_sha256": hashlib.sha256(b"inputs of the refused draw").hexdigest(),
        }),
        ("draw.cancel", subj, {"reason": "INSUFFICIENT_POOL",
                               "counts": [{"d": "B02", "n": 3, "short": True}]}),
    ])  # fmt: skip


def _waiting(log: Log) -> None:
    """CreateDraw, committed: the draw waits for the requester's nonce."""
    random = draw_log.counter_random(b"archive waiting draw")
    candidates = [drawing.Assessed(i, uuid.UUID(int=0x3000 + i).bytes, (b"A0101",), ())
                  for i in range(8)]  # fmt: skip
    frozen = drawing.freeze(candidates, random)
    params = replace(draw_log._params(beacon=False), draw_id=WAITING_ID.encode(),
                     tender_ref=hashlib.sha256(b"tender lot 3").digest(),
                     disciplines=(eds1.DisciplineParams(b"A0101", 3, 1, 2),))  # fmt: skip
    s = random(32)
    c_s = eds1.secret_commitment(s)
    envelopes = escrow.seal_all_from_parts([bytes.fromhex(ESCROW_PUBLIC)], [random(32)],
                                           params.draw_id, c_s, s)  # fmt: skip
    commitment = eds1.commitment(
        params.draw_id, pool_root=frozen.pool_root, n_elig=frozen.n_elig,
        excluded_root=frozen.excluded_root, n_excl=frozen.n_excl, params_hash=params.hash(),
        c_s=c_s, r=0, escrow=eds1.escrow_digest(envelopes),
    )  # fmt: skip
    subj = f"draws/{WAITING_ID}"
    log.tx(draw_log.REQUESTER, f"create-{WAITING_ID}", [
        ("draw.request", subj, {
            "draw_id": WAITING_ID, "tender_ref": params.tender_ref.hex(), "supersedes": "",
            "disciplines": [{"d": "A0101", "k": 3, "r": 1}], "policy": {"beacon": False},
            "inputs_sha256": hashlib.sha256(b"inputs of the waiting draw").hexdigest(),
        }),
        ("pool.freeze", subj, {
            "pool_root": frozen.pool_root.hex(), "excluded_root": frozen.excluded_root.hex(),
            "n_elig": frozen.n_elig, "n_excl": frozen.n_excl,
            "counts": [{"d": "A0101", "n": frozen.n_elig}], "excluded_counts": [],
            "edition_digest": params.edition_digest.hex(),
            "rules_digest": params.rules_digest.hex(), "lookback_s": 3600, "lookback_n": 0,
            "lookback_seqs": [], "lookback_sha256": eds1.sha256(eds1.enc(b"EDS1/lookback")).hex(),
        }),
        ("draw.commit", subj, {
            "params": params.encode().hex(), "params_hash": params.hash().hex(),
            "pool_root": frozen.pool_root.hex(), "excluded_root": frozen.excluded_root.hex(),
            "n_elig": frozen.n_elig, "n_excl": frozen.n_excl, "c_s": c_s.hex(), "r": 0,
            "envelopes": [e.hex() for e in envelopes],
            "escrow_digest": eds1.escrow_digest(envelopes).hex(),
            "commit_digest": eds1.sha256(commitment).hex(),
        }),
    ])  # fmt: skip


def project_log() -> tuple[Log, bytes]:
    """The log up to the exporter's bundle delivery, and the bundle it delivered."""
    golden = draw_log.build()
    log = Log(list(golden.entries), list(golden.sizes),
              itertools.count(golden.entries[-1].ts + 1000, 1000))  # fmt: skip
    _refused(log)
    log.tx(small_logs.ADMIN, "retire", [("expert.delete", f"experts/{uuid.UUID(int=0x1003)}",
                                        {"reason": "retired from the library"})])  # fmt: skip
    _waiting(log)
    bundle = draw_log.bundle_bytes(replace(golden, entries=log.entries, sizes=log.sizes))
    log.tx(
        SUPERVISOR,
        f"bundle-{GOLDEN_ID}",
        [
            (
                "draw.publish",
                f"draws/{GOLDEN_ID}",
                {"audience": "supervisors", "bundle_sha256": hashlib.sha256(bundle).hexdigest()},
            )
        ],
    )
    return log, bundle


def _reader(bodies: list[bytes]) -> Callable[[int, int], bytes]:
    nodes: dict[tuple[int, int], bytes] = {}
    compact = merkle.CompactRange()
    for seq, body in enumerate(bodies):
        leaf = merkle.leaf_hash(body)
        nodes[(0, seq)] = leaf
        for level, index, value in compact.append(leaf):
            nodes[(level, index)] = value

    def read(level: int, index: int) -> bytes:
        return nodes[(level, index)]

    return read


def receipt_of(bodies: list[bytes], notes: dict[int, str], seq: int, size: int) -> bytes:
    proof = merkle.inclusion_proof(seq, size, _reader(bodies[:size]))
    return Receipt(seq, tuple(proof), notes[size]).format().encode()


# -- the exporter, with the places a case may change it -------------------------------------


@dataclass
class Variant:
    """How a case departs from the honest export.

    ``sealed`` edits the files and the manifest before the export entry is logged (the
    exporter wrote them wrong; the seal covers them); ``raw`` replaces the manifest's
    bytes before the seal; ``after`` edits the archive after the export; each path of
    ``links`` (a file holding trust.toml's bytes) is written as a symbolic link to the
    case's trust.toml, outside the archive folder.
    """

    sealed: Callable[[Files, dict[str, Any], Context], None] | None = None
    raw: Callable[[bytes], bytes] | None = None
    what: str = "project-archive " + PROJECT_REF
    after: Callable[[Files, Context], None] | None = None
    trust: str = TRUST
    links: tuple[str, ...] = ()  # written as symbolic links to the case's trust.toml


@dataclass
class Context:
    """What a case's edit may need: the sealed log before the export."""

    bodies: list[bytes]
    notes: dict[int, str]
    size: int
    seqs: dict[str, list[int]] = field(default_factory=dict)

    def seq_of(self, draw_id: str, kind: str) -> int:
        return next(q for q in self.seqs[draw_id]
                    if canonical.loads(self.bodies[q])["kind"] == kind)  # fmt: skip


def export(variant: Variant) -> Files:
    """The archive's files (path -> bytes), as ``archive export`` would write them."""
    log, bundle = project_log()
    bodies, notes = log.sealed()
    size = len(bodies)  # the newest checkpoint covers the draw.publish
    ctx = Context(bodies, notes, size)
    files: Files = {bundle_path(GOLDEN_ID): bundle, "checkpoint.note": notes[size].encode()}
    items: list[dict[str, Any]] = []
    for draw_id in (GOLDEN_ID, REFUSED_ID, WAITING_ID):
        seqs = [q for q, b in enumerate(bodies[:size])
                if canonical.loads(b)["subj"] == f"draws/{draw_id}"]  # fmt: skip
        ctx.seqs[draw_id] = seqs
        for q in seqs:
            files[entry_path(draw_id, q)] = bodies[q]
            files[entry_path(draw_id, q, "proof")] = receipt_of(bodies, notes, q, size)
        items.append({
            "draw_id": draw_id, "state": STATES[draw_id],
            "bundle": bundle_path(draw_id) if draw_id == GOLDEN_ID else None,
            "entries": [{"kind": canonical.loads(bodies[q])["kind"], "seq": q} for q in seqs],
        })  # fmt: skip
    head = cp.parse_unverified(notes[size])
    manifest: dict[str, Any] = {
        "archive_v": 1, "spec_version": "EDS-1", "origin": ORIGIN, "project_ref": PROJECT_REF,
        "created_at": CREATED_AT, "retention_years": RETENTION_YEARS,
        "checkpoint": {"file": "checkpoint.note", "root": head.root.hex(), "size": size},
        "draws": items, "files": [],
    }  # fmt: skip
    if variant.sealed is not None:
        variant.sealed(files, manifest, ctx)
    if not manifest["files"]:
        manifest["files"] = [{"path": p, "sha256": hashlib.sha256(d).hexdigest()}
                             for p, d in sorted(files.items())]  # fmt: skip
    data = canonical.dumps(manifest)
    if variant.raw is not None:
        data = variant.raw(data)
    log.tx(SUPERVISOR, "archive-export", [("export", EXPORT_SUBJ, {
        "what": variant.what, "recipient": SUPERVISOR.sub,
        "data_sha256": hashlib.sha256(data).hexdigest()})])  # fmt: skip
    bodies, notes = log.sealed()
    files.update(
        {
            "manifest.json": data,
            "export.aud1": bodies[-1],
            "export.receipt": receipt_of(bodies, notes, len(bodies) - 1, len(bodies)),
        }
    )
    if variant.after is not None:
        variant.after(files, ctx)
    return files


# -- the cases ---------------------------------------------------------------------------


def _listing(files: Files, manifest: dict[str, Any], *, without: str) -> None:
    """The files list as the exporter wrote it, leaving ``without`` out."""
    manifest["files"] = [{"path": p, "sha256": hashlib.sha256(d).hexdigest()}
                         for p, d in sorted(files.items()) if p != without]  # fmt: skip


def _flip_bundle_byte(files: Files, ctx: Context) -> None:
    data = bytearray(files[bundle_path(GOLDEN_ID)])
    at = data.index(b'"nonce":"') + len(b'"nonce":"')
    data[at] = ord("0") if data[at] != ord("0") else ord("1")
    files[bundle_path(GOLDEN_ID)] = bytes(data)


def _retention(files: Files, ctx: Context) -> None:
    manifest = canonical.loads(files["manifest.json"])
    manifest["retention_years"] = 3
    files["manifest.json"] = canonical.dumps(manifest)


def _older_checkpoint(files: Files, ctx: Context) -> None:
    files["checkpoint.note"] = ctx.notes[max(s for s in ctx.notes if s < ctx.size)].encode()


def _stranger_checkpoint(files: Files, manifest: dict[str, Any], ctx: Context) -> None:
    body = cp.parse_unverified(ctx.notes[ctx.size])
    files["checkpoint.note"] = cp.sign(body, [signer("a stranger's key")]).encode()


def _proof_into_older(files: Files, manifest: dict[str, Any], ctx: Context) -> None:
    q = ctx.seq_of(GOLDEN_ID, "draw.request")
    older = min(s for s in ctx.notes if s > q)
    files[entry_path(GOLDEN_ID, q, "proof")] = receipt_of(ctx.bodies, ctx.notes, q, older)


def _foreign_entry(files: Files, manifest: dict[str, Any], ctx: Context) -> None:
    q = ctx.seq_of(GOLDEN_ID, "draw.execute")
    files[entry_path(WAITING_ID, q)] = files[entry_path(GOLDEN_ID, q)]
    files[entry_path(WAITING_ID, q, "proof")] = files[entry_path(GOLDEN_ID, q, "proof")]
    item = next(i for i in manifest["draws"] if i["draw_id"] == WAITING_ID)
    item["entries"] = sorted([*item["entries"], {"kind": "draw.execute", "seq": q}],
                             key=lambda e: e["seq"])  # fmt: skip


def _swapped_seq(files: Files, manifest: dict[str, Any], ctx: Context) -> None:
    q = ctx.seq_of(GOLDEN_ID, "draw.nonce")
    other = ctx.seq_of(GOLDEN_ID, "draw.award")
    for ext in ("aud1", "proof"):
        files[entry_path(GOLDEN_ID, q, ext)] = files[entry_path(GOLDEN_ID, other, ext)]


def _foreign_bundle(files: Files, manifest: dict[str, Any], ctx: Context) -> None:
    files[bundle_path(WAITING_ID)] = files[bundle_path(GOLDEN_ID)]
    item = next(i for i in manifest["draws"] if i["draw_id"] == WAITING_ID)
    item["bundle"] = bundle_path(WAITING_ID)


def _escaping(files: Files, manifest: dict[str, Any], ctx: Context) -> None:
    _listing(files, manifest, without="")
    escape = {"path": "../trust.toml", "sha256": hashlib.sha256(TRUST.encode()).hexdigest()}
    manifest["files"] = sorted([*manifest["files"], escape], key=lambda f: f["path"])


def _not_utf8(files: Files, manifest: dict[str, Any], ctx: Context) -> None:
    files["checkpoint.note"] = b"\xff" + files["checkpoint.note"]


def _linked(files: Files, manifest: dict[str, Any], ctx: Context) -> None:
    files[LINK] = TRUST.encode()


LINK = "draws/d-golden-0001/evidence.txt"


def _drop(name: str) -> Callable[[Files, Context], None]:
    def drop(files: Files, ctx: Context) -> None:
        del files[name]

    return drop


def _unlisted(path: Callable[[Context], str]) -> Callable[[Files, dict[str, Any], Context], None]:
    def unlisted(files: Files, manifest: dict[str, Any], ctx: Context) -> None:
        _listing(files, manifest, without=path(ctx))

    return unlisted


def _manifest_edit(**members: Any) -> Callable[[Files, dict[str, Any], Context], None]:
    def edit(files: Files, manifest: dict[str, Any], ctx: Context) -> None:
        manifest.update(members)

    return edit


def _indented(data: bytes) -> bytes:
    return json.dumps(canonical.loads(data), indent=1, sort_keys=True).encode()


def _execute_path(ctx: Context) -> str:
    return entry_path(GOLDEN_ID, ctx.seq_of(GOLDEN_ID, "draw.execute"))


@dataclass(frozen=True)
class Case:
    """One vector: the variant and the verdict declared for it."""

    name: str
    what: str
    variant: Variant
    exit_code: int
    tamper: tuple[str, ...] = ()
    usage: tuple[str, ...] = ()
    policy: tuple[str, ...] = ()


def _paths() -> dict[str, str]:
    """Paths the expectations name (seqs come from the honest log)."""
    log, _ = project_log()
    bodies, notes = log.sealed()
    ctx = Context(bodies, notes, len(bodies))
    for draw_id in (GOLDEN_ID, WAITING_ID):
        ctx.seqs[draw_id] = [q for q, b in enumerate(bodies)
                             if canonical.loads(b)["subj"] == f"draws/{draw_id}"]  # fmt: skip
    execute = ctx.seq_of(GOLDEN_ID, "draw.execute")
    return {
        "execute": entry_path(GOLDEN_ID, execute),
        "request_proof": entry_path(GOLDEN_ID, ctx.seq_of(GOLDEN_ID, "draw.request"), "proof"),
        "nonce_proof": entry_path(GOLDEN_ID, ctx.seq_of(GOLDEN_ID, "draw.nonce"), "proof"),
        "foreign": entry_path(WAITING_ID, execute),
    }


def cases() -> list[Case]:
    """Every case, in folder order."""
    p = _paths()
    stranger = signer("a stranger's key").verifier
    stranger_trust = f'version = 1\nlog_vkey = "{stranger}"\n'
    return [
        Case("golden", "three draws of one project: awarded with a bundle, refused, waiting;"
             " every entry on each draw's subject with its receipt", Variant(), 0),
        Case("policy-finding", "the same archive under require_beacon: the bundle's policy"
             " finding", Variant(trust=TRUST + "require_beacon = true\n"), 3,
             policy=("draws/d-golden-0001: the draw used no beacon",)),
        Case("bundle-byte-changed", "one byte of the bundle's nonce changed after the export",
             Variant(after=_flip_bundle_byte), 1, tamper=(bundle_path(GOLDEN_ID),)),
        Case("entry-file-missing", "the draw.execute entry's file deleted after the export",
             Variant(after=_drop(p["execute"])), 1, tamper=(p["execute"],)),
        Case("entry-not-in-files", "the manifest lists the draw.execute entry but its .aud1"
             " file is missing from files (sealed)",
             Variant(sealed=_unlisted(_execute_path)), 1, tamper=(p["execute"],)),
        Case("manifest-edited", "retention_years lowered after the export: the logged"
             " SHA-256 no longer matches", Variant(after=_retention), 1,
             tamper=("manifest.json",)),
        Case("checkpoint-replaced", "checkpoint.note replaced by an older genuine checkpoint"
             " after the export", Variant(after=_older_checkpoint), 1,
             tamper=("checkpoint.note",)),
        Case("checkpoint-foreign-key", "checkpoint.note signed by another key of the same"
             " name (sealed)", Variant(sealed=_stranger_checkpoint), 1,
             tamper=("checkpoint.note",)),
        Case("proof-into-other-checkpoint", "a valid receipt of the draw.request, but into"
             " an earlier checkpoint, not checkpoint.note (sealed)",
             Variant(sealed=_proof_into_older), 1, tamper=(p["request_proof"],)),
        Case("entry-of-another-draw", "the waiting draw lists the golden draw's draw.execute"
             " (sealed)", Variant(sealed=_foreign_entry), 1, tamper=(p["foreign"],)),
        Case("entry-seq-mismatch", "the draw.nonce files hold the draw.award entry and its"
             " receipt (sealed)", Variant(sealed=_swapped_seq), 1,
             tamper=(p["nonce_proof"],)),
        Case("bundle-of-another-draw", "the waiting draw names a copy of the golden draw's"
             " bundle (sealed)", Variant(sealed=_foreign_bundle), 1,
             tamper=(bundle_path(WAITING_ID),)),
        Case("bundle-not-in-files", "the bundle left out of files (sealed)",
             Variant(sealed=_unlisted(lambda ctx: bundle_path(GOLDEN_ID))), 1,
             tamper=(bundle_path(GOLDEN_ID),)),
        Case("export-other-project", "the export entry names another project_ref",
             Variant(what="project-archive " + OTHER_PROJECT_REF), 1,
             tamper=("export.aud1",)),
        Case("export-receipt-missing", "export.receipt deleted",
             Variant(after=_drop("export.receipt")), 1, tamper=("export.receipt",)),
        Case("origin-other", "the manifest names another origin (sealed)",
             Variant(sealed=_manifest_edit(origin="elsewhere.example/log")), 1,
             tamper=("manifest.json",)),
        Case("path-escapes", "files lists ../trust.toml with its true SHA-256 (sealed)",
             Variant(sealed=_escaping), 1, tamper=("../trust.toml",)),
        Case("foreign-trust", "trust.toml pins another key of the same name", Variant(
            trust=stranger_trust), 1, tamper=("checkpoint.note",)),
        Case("checkpoint-not-utf8", "checkpoint.note starts with a 0xff byte (sealed):"
             " step 4 fails", Variant(sealed=_not_utf8), 1, tamper=("checkpoint.note",)),
        Case("symlink-outside", f"{LINK} is a symbolic link to ../../../trust.toml, listed"
             " with that file's SHA-256 (sealed)", Variant(sealed=_linked, links=(LINK,)), 1,
             tamper=(LINK,)),
        Case("manifest-extra-member", "the manifest carries a project_code member (sealed)",
             Variant(sealed=_manifest_edit(project_code="ZB-2026-0042")), 4,
             usage=("manifest.json",)),
        Case("manifest-archive-v2", "archive_v 2 (sealed)",
             Variant(sealed=_manifest_edit(archive_v=2)), 4, usage=("manifest.json",)),
        Case("manifest-not-canonical", "the manifest indented (sealed)",
             Variant(raw=_indented), 4, usage=("manifest.json",)),
        Case("manifest-archive-v-true", "archive_v is JSON true, not the integer 1 (sealed)",
             Variant(sealed=_manifest_edit(archive_v=True)), 4, usage=("manifest.json",)),
    ]  # fmt: skip


def generate(out: Path) -> None:
    """Write every case folder under ``out`` (replacing it)."""
    if out.exists():
        shutil.rmtree(out)
    for number, case in enumerate(cases()):
        folder = out / f"{number:02d}-{case.name}"
        for path, data in export(case.variant).items():
            target = folder / "archive" / path
            target.parent.mkdir(parents=True, exist_ok=True)
            if path in case.variant.links:
                target.symlink_to("../" * path.count("/") + "../trust.toml")
            else:
                target.write_bytes(data)
        (folder / "trust.toml").write_text(case.variant.trust, encoding="utf-8")
        expected: dict[str, Any] = {
            "description": case.what, "exit_code": case.exit_code, "tamper": list(case.tamper),
            "usage": list(case.usage), "policy": list(case.policy),
        }  # fmt: skip
        if case.exit_code in {0, 3}:
            expected["draws"] = honest_draws()
        write_json(folder / "expected.json", expected)


def honest_draws() -> list[dict[str, Any]]:
    """Per draw of the honest archive: id, state, entries listed, bundle path or null."""
    log, _ = project_log()
    subjects = [e.subj for e in log.entries]
    return [{"draw_id": d, "state": STATES[d], "entries": subjects.count(f"draws/{d}"),
             "bundle": bundle_path(d) if d == GOLDEN_ID else None}
            for d in (GOLDEN_ID, REFUSED_ID, WAITING_ID)]  # fmt: skip


def main(argv: list[str]) -> int:
    """Generate into ``argv[0]`` (default: tests/vectors/archive)."""
    generate(Path(argv[0]) if argv else OUT)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
