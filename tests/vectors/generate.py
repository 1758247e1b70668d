"""Generate the committed test vectors (``python -m tests.vectors.generate [OUT]``).

Deterministic: keys come from fixed seeds, timestamps and salts are fixed, Ed25519 is
deterministic. ``tests/unit/audit_log/test_vectors.py`` regenerates into a temporary
folder and requires byte equality with the committed files, then checks the verifier
against every expectation declared here (the expectations are part of each scenario,
never read back from the verifier).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit_log import canonical, merkle
from audit_log import checkpoint as cp
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
    (out / "trust.toml").write_text(f'version = 1\nlog_vkey = "{key.verifier}"\n', encoding="utf-8")
    expectations = {}
    for number, (name, (logs, log_notes, extra, expected)) in enumerate(
        tampered(bodies, notes, key).items()
    ):
        folder = f"logs/{number:02d}"
        write_export(out / folder, logs, log_notes, extra)
        expectations[folder] = {"description": name, **expected}
    write_json(out / "logs" / "expected.json", expectations)


def main(argv: list[str]) -> int:
    """Generate into ``argv[0]`` (default: tests/vectors/audit_log)."""
    generate(Path(argv[0]) if argv else HERE / "audit_log")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
