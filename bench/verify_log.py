"""Offline verification time of a large log, and proof sizes.

Builds an export of N entries (default 1,000,000; one signed checkpoint every 10
entries, as transactions of 10 entries would give), then times `verify_log`:
a full run, a `--since` run over the last 10,000 entries, and reports the inclusion
proof and receipt sizes at N.

    .venv/bin/python bench/verify_log.py [--entries 1000000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from audit_log import checkpoint as cp
from audit_log import merkle, state, trust
from audit_log.entry import Entry, Who, make_req
from audit_log.export import CHECKPOINTS, ENTRIES, checkpoint_line
from audit_log.note import Signer
from audit_log.receipt import Receipt
from audit_log.verify import Options, verify_log

ORIGIN = "bench.expert-draw.example/log"
UUID = "0b7f6c2e-8a1d-4c3b-9e2f-5a6b7c8d9e0f"


def build(
    folder: Path, count: int, signer: Signer, every: int
) -> tuple[list[bytes], merkle.CompactRange]:
    who_service, who = Who("service", "service", "bench"), Who("admin", "admin:ops", "bench")
    compact, prev = merkle.CompactRange(), "0" * 64
    leaves: list[bytes] = []
    with (folder / ENTRIES).open("wb") as entries, (folder / CHECKPOINTS).open("wb") as notes:
        for seq in range(count):
            if seq == 0:
                entry = Entry(ORIGIN, 0, prev, 1_776_643_200_000, make_req("service", "init", 0), "log.init", "log", who_service, {
                    "origin": ORIGIN, "hash_alg": "sha256", "format_v": 1, "vkeys": [str(signer.verifier)], "reanchor_keys": [],
                    "reanchor_threshold": 0, "spec_version": "EDS-1", "code_digest": "0" * 64, "escrow_keys": [], "drand": None})  # fmt: skip
            else:
                entry = Entry(ORIGIN, seq, prev, 1_776_643_200_000 + seq, make_req(who.sub, f"t{seq // every}", seq % every if seq >= every else seq - 1 if seq < every else 0),
                              "expert.status", f"experts/{UUID}", who, {"status": "active", "reason": f"review {seq}", "valid_from": seq, "valid_to": None})  # fmt: skip
            body = entry.encode()
            entries.write(body + b"\n")
            leaf = merkle.leaf_hash(body)
            leaves.append(leaf)
            compact.append(leaf)
            prev = leaf.hex()
            if (seq + 1) % every == 0 or seq + 1 == count:
                notes.write(
                    checkpoint_line(
                        seq + 1, cp.sign(cp.Checkpoint(ORIGIN, seq + 1, compact.root()), [signer])
                    )
                )
    return leaves, compact


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entries", type=int, default=1_000_000)
    args = parser.parse_args()
    signer = Signer.generate(ORIGIN)
    pinned = trust.parse(f'version = 1\nlog_vkey = "{signer.verifier}"\n')
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        leaves, compact = build(folder, args.entries, signer, 10)
        print(
            f"built {args.entries} entries in {time.perf_counter() - started:.1f} s; export {(folder / ENTRIES).stat().st_size / 1e6:.0f} MB"
        )
        for workers in (1, 2):
            started = time.perf_counter()
            report = verify_log(folder, pinned, Options(workers=workers))
            full = time.perf_counter() - started
            print(
                f"full verification, {workers} parsing process(es): {full:.1f} s, exit {report.exit_code}"
            )
        assert report.new_state is not None
        pinned_size = args.entries - 10_000
        prefix = merkle.CompactRange()
        for leaf in leaves[:pinned_size]:
            prefix.append(leaf)
        with (folder / ENTRIES).open("rb") as handle:
            offset = sum(len(next(handle)) for _ in range(pinned_size))
        older = state.PinnedState(ORIGIN, pinned_size, prefix.root(), "", ((str(signer.verifier), 0, None),),
                                  tuple(prefix.hashes), leaves[pinned_size - 1], offset)  # fmt: skip
        state.save(folder / "state", older)
        started = time.perf_counter()
        since = verify_log(folder, pinned, Options(since=True), state_dir=folder / "state")
        print(
            f"--since over the last 10,000 entries: {time.perf_counter() - started:.2f} s, exit {since.exit_code}"
        )
        nodes: dict[tuple[int, int], bytes] = {}
        rebuilt = merkle.CompactRange()
        for i, leaf in enumerate(leaves):
            nodes[(0, i)] = leaf
            for level, index, value in rebuilt.append(leaf):
                nodes[(level, index)] = value
        proof = merkle.inclusion_proof(
            args.entries // 3, args.entries, lambda lv, ix: nodes[(lv, ix)]
        )
        note = cp.sign(cp.Checkpoint(ORIGIN, args.entries, compact.root()), [signer])
        receipt = Receipt(args.entries // 3, tuple(proof), note).format()
        consistency = merkle.consistency_proof(
            args.entries // 2 + 1, args.entries, lambda lv, ix: nodes[(lv, ix)]
        )
        started = time.perf_counter()
        for _ in range(1000):
            merkle.verify_inclusion(
                args.entries // 3, args.entries, leaves[args.entries // 3], proof, compact.root()
            )
        print(f"inclusion proof at {args.entries}: {32 * len(proof)} bytes; consistency proof {32 * len(consistency)} bytes; "
              f"receipt {len(receipt.encode())} bytes; inclusion check {(time.perf_counter() - started):.3f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
