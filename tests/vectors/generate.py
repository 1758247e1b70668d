"""Generate the committed test vectors (``python -m tests.vectors.generate [OUT]``).

Deterministic: keys come from fixed seeds, timestamps and salts are fixed, Ed25519 is
deterministic. ``tests/unit/audit_log/test_vectors.py`` regenerates into a temporary
folder and requires byte equality with the committed files, then checks the verifier
against every expectation declared here (the expectations are part of each scenario,
never read back from the verifier).
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import struct
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit_log import canonical, merkle
from audit_log import checkpoint as cp
from audit_log.cosig import MAX_TIMESTAMP, WitnessSigner, signed_message
from audit_log.entry import Entry, Who, commitment, make_req
from audit_log.export import CHECKPOINTS, ENTRIES, checkpoint_line
from audit_log.note import Signer
from audit_log.receipt import Receipt

if TYPE_CHECKING:
    from collections.abc import Sequence

HERE = Path(__file__).resolve().parent
ORIGIN = "vectors.expert-draw.example/log"
UUID = "0b7f6c2e-8a1d-4c3b-9e2f-5a6b7c8d9e0f"


def signer(label: str, name: str = ORIGIN) -> Signer:
    seed = hashlib.sha256(f"expert-draw test vector key: {label}".encode()).digest()
    return Signer(name, Ed25519PrivateKey.from_private_bytes(seed))


def witness_signer(label: str, name: str) -> WitnessSigner:
    seed = hashlib.sha256(f"expert-draw test vector witness key: {label}".encode()).digest()
    return WitnessSigner(name, Ed25519PrivateKey.from_private_bytes(seed))


WITNESSES = (
    ("bureau", "witness.expert-draw.example/supervision-bureau"),
    ("second", "witness.expert-draw.example/second"),
)


def write_json(path: Path, value: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )


# -- canonical JSON and entries ---------------------------------------------------------


def canonical_cases() -> dict[str, Any]:
    valid = [
        ("ascii and nesting", {"b": [1, True, None], "a": {"z": -5, "y": ""}}),
        ("non-ASCII text stays UTF-8", {"name_commit": "電氣", "note": "é\u2028"}),
        ("control characters are escaped", {"s": "tab\tnewline\nnul\u0000del\u007f"}),
        ("largest safe integers", {"max": 2**53 - 1, "min": -(2**53 - 1)}),
        ("keys sort by code point", {"b_": 1, "b": 2, "a9": 3, "a_": 4, "a": 5}),
    ]
    invalid = [
        ("duplicate key", '{"a":1,"a":2}'),
        ("float", '{"a":1.0}'),
        ("exponent", '{"a":1e3}'),
        ("NaN", '{"a":NaN}'),
        ("whitespace", '{"a": 1}'),
        ("key order", '{"b":1,"a":2}'),
        ("escaped non-ASCII", '{"a":"\\u7535"}'),
        ("lone surrogate", '{"a":"\\ud800"}'),
        ("integer beyond 2^53-1", '{"a":9007199254740992}'),
        ("uppercase key", '{"A":1}'),
        ("trailing newline", '{"a":1}\n'),
        ("escaped solidus", '"\\/"'),
    ]
    return {
        "valid": [
            {"description": d, "value": v, "canonical": canonical.dumps(v).decode()}
            for d, v in valid
        ],
        "invalid": [{"description": d, "text": t} for d, t in invalid],
    }


def commitment_cases() -> list[dict[str, str]]:
    cases = []
    for label, value in (
        ("a name", "张三"),
        ("NFC input", "e\u0301"),
        ("an ID number", "11010519491231002X"),
    ):
        salt = hashlib.sha256(f"salt: {label}".encode()).digest()
        cases.append(
            {
                "description": label,
                "salt": salt.hex(),
                "value": value,
                "commitment": commitment(salt, value),
            }
        )
    return cases


def small_log(key: Signer, count: int = 11) -> tuple[list[bytes], dict[int, str]]:
    """A log of ``count`` entries in transactions of 1, 2, 3, 1, 1, 3 entries."""
    sizes = [1, 2, 3, 1, 1, 3]
    bodies: list[bytes] = []
    notes: dict[int, str] = {}
    compact = merkle.CompactRange()
    prev = "0" * 64
    who_service = Who("service", "service", "replica-a")
    who_admin = Who("admin", "admin:ops-1", "replica-a")
    transaction = 0
    while len(bodies) < count:
        for index in range(sizes[transaction % len(sizes)]):
            seq = len(bodies)
            if seq == 0:
                entry = Entry(ORIGIN, 0, prev, 1_776_643_200_000, make_req("service", "log-init", 0), "log.init", "log", who_service, {
                    "origin": ORIGIN, "hash_alg": "sha256", "format_v": 1, "vkeys": [str(key.verifier)],
                    "reanchor_keys": [], "reanchor_threshold": 0, "spec_version": "EDS-1",
                    "code_digest": hashlib.sha256(b"release").hexdigest(), "escrow_keys": [], "drand": None,
                })  # fmt: skip
            else:
                entry = Entry(ORIGIN, seq, prev, 1_776_643_200_000 + 1000 * transaction, make_req(who_admin.sub, f"op-{transaction}", index),
                              "expert.status", f"experts/{UUID}", who_admin,
                              {"status": "suspended", "reason": f"case {seq}", "valid_from": 1_776_643_200_000, "valid_to": None})  # fmt: skip
            body = entry.encode()
            bodies.append(body)
            leaf = merkle.leaf_hash(body)
            compact.append(leaf)
            prev = leaf.hex()
            if len(bodies) == count:
                break
        notes[len(bodies)] = cp.sign(cp.Checkpoint(ORIGIN, len(bodies), compact.root()), [key])
        transaction += 1
    return bodies, notes


def write_export(
    folder: Path,
    bodies: list[bytes],
    notes: dict[int, str],
    extra_notes: Sequence[tuple[int, str]] = (),
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ENTRIES).write_bytes(b"".join(b + b"\n" for b in bodies))
    lines = sorted([*notes.items(), *extra_notes])
    (folder / CHECKPOINTS).write_bytes(b"".join(checkpoint_line(s, n) for s, n in lines))


def receipts_for(bodies: list[bytes], note: str) -> list[dict[str, Any]]:
    size = len(bodies)
    nodes: dict[tuple[int, int], bytes] = {}
    compact = merkle.CompactRange()
    for i, body in enumerate(bodies):
        nodes[(0, i)] = merkle.leaf_hash(body)
        nodes.update({(lv, ix): h for lv, ix, h in compact.append(nodes[(0, i)])})
    return [
        {
            "index": i,
            "entry": bodies[i].decode(),
            "receipt": Receipt(
                i, tuple(merkle.inclusion_proof(i, size, lambda lv, ix: nodes[(lv, ix)])), note
            ).format(),
        }
        for i in range(size)
    ]


# -- witness cosignatures (cosignature/v1) ----------------------------------------------


def _seed(label: str) -> bytes:
    return hashlib.sha256(f"expert-draw test vector witness key: {label}".encode()).digest()


def _line(name: str, blob: bytes) -> str:
    return f"— {name} {base64.b64encode(blob).decode()}\n"


def _blob(line: str) -> bytes:
    return base64.b64decode(line.removesuffix("\n").rsplit(" ", 1)[1])


def cosignature_cases(notes: dict[int, str]) -> dict[str, Any]:
    """Witness keys, cosignature lines of the 11-entry log's checkpoints, and rejects."""
    signers = [witness_signer(label, name) for label, name in WITNESSES]
    first, second = signers
    witnesses = [
        {
            "name": w.name,
            "seed_hex": _seed(label).hex(),
            "skey": w.private_string(),
            "vkey": str(w.key),
            "key_id_hex": w.key.key_id.hex(),
            "key_id_input_hex": (w.name.encode() + b"\n\x04" + w.key.public_key).hex(),
        }
        for (label, _), w in zip(WITNESSES, signers, strict=True)
    ]
    body6 = cp.parse_unverified(notes[6]).body()
    body11 = cp.parse_unverified(notes[11]).body()
    valid = []
    for description, w, body, timestamp in (
        ("first witness, size 6", first, body6, 1_776_643_260),
        ("first witness, size 11, timestamp 0", first, body11, 0),
        ("second witness, size 11", second, body11, 1_776_643_261),
        ("second witness, size 11, largest timestamp 2^63-1", second, body11, MAX_TIMESTAMP),
    ):
        line = w.cosign(body, timestamp)
        valid.append({
            "description": description, "witness": w.name, "vkey": str(w.key), "body": body,
            "timestamp": timestamp, "signed_message_hex": signed_message(body, timestamp).hex(),
            "line": line, "blob_hex": _blob(line).hex(),
        })  # fmt: skip
    good = first.cosign(body11, 1_776_643_262)
    blob = _blob(good)
    raw = Ed25519PrivateKey.from_private_bytes(_seed("bureau"))
    too_late = MAX_TIMESTAMP + 1
    late_message = f"cosignature/v1\ntime {too_late}\n".encode() + body11.encode()
    late = first.key.key_id + struct.pack(">Q", too_late) + raw.sign(late_message)
    type_01 = Signer(first.name, raw)
    invalid_lines = [
        ("wrong key ID (the second witness's ID on the first witness's line)",
         _line(first.name, second.key.key_id + blob[4:])),
        ("tampered timestamp (+1)",
         _line(first.name, blob[:4] + struct.pack(">Q", 1_776_643_263) + blob[12:])),
        ("another checkpoint body (the line cosigns size 6)", first.cosign(body6, 1_776_643_262)),
        ("signature bit flipped", _line(first.name, blob[:-1] + bytes([blob[-1] ^ 1]))),
        ("bad length: 75 bytes", _line(first.name, blob[:-1])),
        ("bad length: 77 bytes", _line(first.name, blob + b"\x00")),
        ("timestamp 2^63, validly signed", _line(first.name, late)),
        ("another witness name", _line(second.name, blob)),
        ("a signed-note (type 0x01) signature of the same seed",
         type_01.signature_line(body11.encode())),
    ]  # fmt: skip
    invalid = [
        {"description": d, "reject": "line", "vkey": str(first.key), "body": body11, "line": line}
        for d, line in invalid_lines
    ]
    public = base64.b64encode(b"\x01" + first.key.public_key).decode()
    invalid_keys = [
        ("type 0x01 key (a signed-note verifier key of the same seed)", str(type_01.verifier)),
        ("type 0x01 byte under the type 0x04 key ID",
         f"{first.name}+{first.key.key_id.hex()}+{public}"),
        ("key ID of another key", f"{first.name}+{second.key.key_id.hex()}+{str(first.key).split('+', 2)[2]}"),
    ]  # fmt: skip
    invalid += [{"description": d, "reject": "vkey", "vkey": v} for d, v in invalid_keys]
    return {"witnesses": witnesses, "valid": valid, "invalid": invalid}


def _with_cosigs(signed: str, *witnesses: WitnessSigner, timestamp: int = 1_776_643_300) -> str:
    body = cp.parse_unverified(signed).body()
    return signed + "".join(w.cosign(body, timestamp) for w in witnesses)


def _appended(
    bodies: list[bytes], notes: dict[int, str], key: Signer, entry: Entry
) -> tuple[list[bytes], dict[int, str]]:
    """The log with ``entry`` appended as a transaction of its own (chained, checkpointed)."""
    body = replace(entry, seq=len(bodies), prev=merkle.leaf_hash(bodies[-1]).hex()).encode()
    longer = [*bodies, body]
    compact = merkle.CompactRange()
    for b in longer:
        compact.append(merkle.leaf_hash(b))
    note = cp.sign(cp.Checkpoint(ORIGIN, len(longer), compact.root()), [key])
    return longer, {**notes, len(longer): note}


def witness_logs(
    bodies: list[bytes], notes: dict[int, str], key: Signer
) -> dict[str, tuple[list[bytes], dict[int, str], list[tuple[int, str]], dict[str, Any]]]:
    """Exports for a trust.toml listing both witnesses with threshold 1 (spec §11 step 4)."""
    first, second = (witness_signer(label, name) for label, name in WITNESSES)
    body6 = cp.parse_unverified(notes[6]).body()
    witnessed = {**notes, 11: _with_cosigs(notes[11], first)}
    rewritten = [Entry.decode(b) for b in bodies]
    rewritten[4] = replace(rewritten[4], data={**rewritten[4].data, "reason": "rewritten"})
    fork_bodies: list[bytes] = []
    fork_notes: dict[int, str] = {}
    compact = merkle.CompactRange()
    for entry in rewritten:
        prev = merkle.leaf_hash(fork_bodies[-1]).hex() if fork_bodies else "0" * 64
        fork_bodies.append(replace(entry, prev=prev).encode())
        compact.append(merkle.leaf_hash(fork_bodies[-1]))
        if len(fork_bodies) in notes:
            checkpoint = cp.Checkpoint(ORIGIN, len(fork_bodies), compact.root())
            fork_notes[len(fork_bodies)] = cp.sign(checkpoint, [key])

    def witness_note(root: bytes) -> Entry:
        line = first.cosign(cp.Checkpoint(ORIGIN, 6, root).body(), 1_776_643_290)
        return Entry(ORIGIN, 0, "", 1_776_643_300_000, make_req("service", "cosign-6", 0),
                     "witness.note", "log", Who("service", "service", "replica-a"),
                     {"witness": first.name, "size": 6, "line": line})  # fmt: skip

    root6 = cp.parse_unverified(notes[6]).root
    agreeing = _appended(bodies, notes, key, witness_note(root6))
    contradicting = _appended(bodies, notes, key, witness_note(bytes(32)))
    return {
        "witnessed newest checkpoint": (bodies, witnessed, [], {"exit_code": 0, "first": None}),
        "unwitnessed tail": (
            bodies,
            {**notes, 6: _with_cosigs(notes[6], second)},
            [],
            {"exit_code": 3, "first": ["WITNESS POLICY", 6]},
        ),
        "bad cosignature of a listed witness": (
            bodies,
            {**notes, 11: notes[11] + first.cosign(body6, 1_776_643_300)},
            [],
            {"exit_code": 1, "first": ["BAD SIGNATURE", 10]},
        ),
        "T-9 truncated with its checkpoints, the witness's note merged": (
            bodies[:7],
            {s: n for s, n in witnessed.items() if s <= 7},
            [(11, witnessed[11])],
            {"exit_code": 2, "first": ["ROLLBACK", 7]},
        ),
        "T-16 rewritten and re-signed, the witness's note merged": (
            fork_bodies,
            {**fork_notes, 11: _with_cosigs(fork_notes[11], first)},
            [(6, _with_cosigs(notes[6], first))],
            {"exit_code": 2, "first": ["FORK", None]},
        ),
        "witness.note agreeing with the log": (
            agreeing[0],
            {**agreeing[1], 12: _with_cosigs(agreeing[1][12], first)},
            [],
            {"exit_code": 0, "first": None},
        ),
        "witness.note contradicting the log": (
            contradicting[0],
            {**contradicting[1], 12: _with_cosigs(contradicting[1][12], first)},
            [],
            {"exit_code": 2, "first": ["FORK", 11]},
        ),
    }


# -- tampered logs (expected verdicts declared here) ------------------------------------


def tampered(
    bodies: list[bytes], notes: dict[int, str], key: Signer
) -> dict[str, tuple[list[bytes], dict[int, str], list[tuple[int, str]], dict[str, Any]]]:
    def entry(seq: int) -> Entry:
        return Entry.decode(bodies[seq])

    edited = list(bodies)
    edited[4] = bodies[4].replace(b'"reason":"case 4"', b'"reason":"case X"')
    swapped = list(bodies)
    swapped[4], swapped[8] = bodies[8], bodies[4]
    other = cp.sign(cp.Checkpoint(ORIGIN, 6, bytes(32)), [key])
    foreign = list(bodies)
    foreign[5] = replace(entry(5), log="other.example/log").encode()
    noncanonical = list(bodies)
    noncanonical[3] = bodies[3].replace(b'","', b'", "', 1)
    unknown = cp.sign(cp.parse_unverified(notes[11]), [signer("stranger")])
    return {
        "clean": (bodies, notes, [], {"exit_code": 0, "first": None}),
        "T-1 edited body": (edited, notes, [], {"exit_code": 1, "first": ["TAMPER", 4]}),
        "T-4 deleted entry": (
            bodies[:4] + bodies[5:],
            notes,
            [],
            {"exit_code": 1, "first": ["GAP", 4]},
        ),
        "T-7 swapped bodies": (swapped, notes, [], {"exit_code": 1, "first": ["TAMPER", 4]}),
        "T-8 truncated tail": (bodies[:7], notes, [], {"exit_code": 1, "first": ["TRUNCATION", 7]}),
        "T-10 unsigned tail": (
            bodies,
            {s: n for s, n in notes.items() if s <= 7},
            [],
            {"exit_code": 3, "first": ["UNSIGNED TAIL", 7]},
        ),
        "T-11 foreign entry": (foreign, notes, [], {"exit_code": 1, "first": ["TAMPER", 5]}),
        "T-12 non-canonical entry": (
            noncanonical,
            notes,
            [],
            {"exit_code": 1, "first": ["NONCANONICAL", 3]},
        ),
        "T-15 equivocation": (
            bodies,
            notes,
            [(6, other)],
            {"exit_code": 2, "first": ["EQUIVOCATION", None]},
        ),
        "T-20 newest note by an unknown key only": (
            bodies,
            {**notes, 11: unknown},
            [],
            {"exit_code": 1, "first": ["REJECT", 10]},
        ),
    }


def generate(out: Path) -> None:
    """Write every vector file under ``out``."""
    if out.exists():
        shutil.rmtree(out)
    key = signer("log key")
    write_json(out / "keys.json", {
        "log_signer": key.private_string(), "log_vkey": str(key.verifier), "origin": ORIGIN,
        "key_id_hex": key.verifier.key_id.hex(),
        "key_id_input_hex": (ORIGIN.encode() + b"\n\x01" + key.verifier.public_key).hex(),
    })  # fmt: skip
    write_json(out / "canonical.json", canonical_cases())
    write_json(out / "commitments.json", commitment_cases())
    bodies, notes = small_log(key)
    write_json(out / "entries.json", [
        {"seq": i, "entry": b.decode(), "leaf_hash": merkle.leaf_hash(b).hex()} for i, b in enumerate(bodies)
    ])  # fmt: skip
    write_json(out / "checkpoints.json", [
        {"size": s, "root": cp.parse_unverified(n).root.hex(), "body": cp.parse_unverified(n).body(), "note": n}
        for s, n in sorted(notes.items())
    ])  # fmt: skip
    write_json(out / "receipts.json", receipts_for(bodies, notes[len(bodies)]))
    write_json(out / "cosignatures.json", cosignature_cases(notes))
    (out / "trust.toml").write_text(f'version = 1\nlog_vkey = "{key.verifier}"\n', encoding="utf-8")
    expectations = {}
    for number, (name, (logs, log_notes, extra, expected)) in enumerate(
        tampered(bodies, notes, key).items()
    ):
        folder = f"logs/{number:02d}"
        write_export(out / folder, logs, log_notes, extra)
        expectations[folder] = {"description": name, **expected}
    write_json(out / "logs" / "expected.json", expectations)
    vkeys = ", ".join(f'"{witness_signer(label, name).key}"' for label, name in WITNESSES)
    (out / "witness" / "trust.toml").parent.mkdir(parents=True)
    (out / "witness" / "trust.toml").write_text(
        f'version = 1\nlog_vkey = "{key.verifier}"\n\n[witness]\nkeys = [{vkeys}]\nthreshold = 1\n',
        encoding="utf-8",
    )
    expectations = {}
    for number, (name, (logs, log_notes, extra, expected)) in enumerate(
        witness_logs(bodies, notes, key).items()
    ):
        folder = f"witness/{number:02d}"
        write_export(out / folder, logs, log_notes, extra)
        expectations[folder] = {"description": name, **expected}
    write_json(out / "witness" / "expected.json", expectations)


def main(argv: list[str]) -> int:
    """Generate into ``argv[0]`` (default: tests/vectors/audit_log)."""
    generate(Path(argv[0]) if argv else HERE / "audit_log")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
