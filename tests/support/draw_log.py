"""A complete, deterministic draw history as log entries, built from the pure core.

The same steps as the service (expert_draw.adapters.draws) with fixed randomness and
times, so verifier tests, tamper cases (audit-log.md T-25) and the golden bundle vectors
share one valid draw to start from: 12 experts in A0101 (one excluded as E6), 5 seats and
2 reserves, a decline with its replacement, the lifecycle to the award.
"""

from __future__ import annotations

import hashlib
import itertools
import uuid
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from audit_log import canonical, merkle
from audit_log import checkpoint as cp
from audit_log.entry import Entry, Who, make_req
from expert_draw.core import bundle, drawing, eds1, escrow
from tests.support import small_logs
from tests.vectors.generate import ORIGIN

if TYPE_CHECKING:
    from collections.abc import Callable

REQUESTER = Who("requester", "client:trading-01", "replica-a")
SUPERVISOR = Who("supervisor", "bureau:supervisor-1", "replica-a")
SERVICE = small_logs.SERVICE
DRAW_ID = "d-golden-0001"
SUBJ = f"draws/{DRAW_ID}"
__all__ = ["ORIGIN", "DrawLog", "build", "bundle_bytes", "seal"]
SUPERVISOR_KEY = bytes(range(64, 96))  # raw X25519 private key of the one supervisor
T0 = 1_790_000_000_000  # ms: 2026-09-21


def counter_random(label: bytes) -> Callable[[int], bytes]:
    """Deterministic stand-in for os.urandom: SHA-256(label ‖ counter), cut to size."""
    counter = itertools.count()

    def random(size: int) -> bytes:
        return hashlib.sha256(label + next(counter).to_bytes(8, "big")).digest()[:size]

    return random


@dataclass(frozen=True, slots=True)
class DrawLog:
    """The log (entries to seal) and what a bundle needs besides it."""

    entries: list[Entry]
    members: tuple[eds1.Member, ...]
    sizes: list[int]  # checkpoint sizes: one per transaction


def _params(frozen: drawing.Frozen, override_seq: int = 0, factor: int = 2) -> eds1.Params:
    return eds1.Params(
        draw_id=DRAW_ID.encode(), tender_ref=hashlib.sha256(b"tender").digest(),
        supersedes=b"", edition=b"2018", edition_digest=hashlib.sha256(b"edition").digest(),
        match_mode=b"prefix", disciplines=(eds1.DisciplineParams(b"A0101", 5, 2, 3),),
        repl_mode=b"A", delta=0, margin_s=0, delta_b=0, min_pool_factor=factor,
        override_seq=override_seq, drand_chain_hash=b"",
        rules_digest=hashlib.sha256(b"policy").digest(),
        code_digest=hashlib.sha256(b"release").digest(),
    )  # fmt: skip


def build(*, decline: bool = True, lifecycle: bool = True) -> DrawLog:
    """A valid draw log: init, the draw's transactions, each followed by a checkpoint."""
    random = counter_random(b"golden draw")
    candidates = [
        drawing.Assessed(i, uuid.UUID(int=0x1000 + i).bytes, (b"A0101",),
                         (b"E6",) if i == 11 else ())
        for i in range(12)
    ]  # fmt: skip
    frozen = drawing.freeze(candidates, random)
    params = _params(frozen)
    s = random(32)
    c_s = eds1.secret_commitment(s)
    pk = escrow.public_key(SUPERVISOR_KEY)
    envelopes = escrow.seal_all_from_parts([pk], [random(32)], params.draw_id, c_s, s)
    counts = [{"d": "A0101", "n": frozen.n_elig}]
    excluded = [{"reason": x.decode(), "n": n} for x, n in frozen.excluded_counts()]
    commitment = eds1.commitment(
        params.draw_id, pool_root=frozen.pool_root, n_elig=frozen.n_elig,
        excluded_root=frozen.excluded_root, n_excl=frozen.n_excl, params_hash=params.hash(),
        c_s=c_s, r=0, escrow=eds1.escrow_digest(envelopes),
    )  # fmt: skip
    nonce = hashlib.sha256(b"requester nonce").digest()
    outcome = drawing.resolve(params, frozen.members, pool_root=frozen.pool_root,
                              excluded_root=frozen.excluded_root, s=s, r=0, rho=b"",
                              nonce=nonce)  # fmt: skip
    init = small_logs.entries([])[0][0]
    init = replace(init, data={**init.data, "escrow_keys": [pk.hex()]})
    entries: list[Entry] = [init]
    sizes = [1]
    clock = itertools.count(T0, 1000)

    def tx(who: Who, request: str, items: list[tuple[str, str, dict[str, Any]]]) -> None:
        ts = next(clock)
        for index, (kind, subj, data) in enumerate(items):
            entries.append(Entry(ORIGIN, len(entries), "", ts, make_req(who.sub, request, index),
                                 kind, subj, who, data))  # fmt: skip
        sizes.append(len(entries))

    tx(REQUESTER, "create", [
        ("draw.request", SUBJ, {
            "draw_id": DRAW_ID, "tender_ref": params.tender_ref.hex(), "supersedes": "",
            "disciplines": [{"d": "A0101", "k": 5, "r": 2}], "policy": {"beacon": False},
            "inputs_sha256": hashlib.sha256(b"inputs").hexdigest(),
        }),
        ("pool.freeze", SUBJ, {
            "pool_root": frozen.pool_root.hex(), "excluded_root": frozen.excluded_root.hex(),
            "n_elig": frozen.n_elig, "n_excl": frozen.n_excl, "counts": counts,
            "excluded_counts": excluded, "edition_digest": params.edition_digest.hex(),
            "rules_digest": params.rules_digest.hex(), "lookback_s": 3600, "lookback_n": 0,
            "lookback_seqs": [], "lookback_sha256": eds1.sha256(eds1.enc(b"EDS1/lookback")).hex(),
        }),
        ("draw.commit", SUBJ, {
            "params": params.encode().hex(), "params_hash": params.hash().hex(),
            "pool_root": frozen.pool_root.hex(), "excluded_root": frozen.excluded_root.hex(),
            "n_elig": frozen.n_elig, "n_excl": frozen.n_excl, "c_s": c_s.hex(), "r": 0,
            "envelopes": [e.hex() for e in envelopes],
            "escrow_digest": eds1.escrow_digest(envelopes).hex(),
            "commit_digest": eds1.sha256(commitment).hex(),
        }),
    ])  # fmt: skip
    panel = outcome.panel[b"A0101"]
    tx(REQUESTER, "execute", [
        ("draw.nonce", SUBJ, {"nonce": nonce.hex()}),
        ("draw.execute", SUBJ, {
            "r": 0, "sig_r": "", "rho": "", "s": s.hex(), "seed": outcome.seed.hex(),
            "order_digest": outcome.order_digest.hex(),
            "panels": [{"d": "A0101", "panel": [p.hex() for p in panel],
                        "reserve": [p.hex() for p in outcome.reserve[b"A0101"]]}],
        }),
        ("confidential.grant", SUBJ, {"grantee": REQUESTER.sub, "purpose": "panel"}),
        ("confidential.access", SUBJ, {"purpose": "panel", "pseuds": [p.hex() for p in panel]}),
    ])  # fmt: skip
    seating = eds1.Seating(outcome.order, outcome.panel, outcome.reserve, {b"A0101": 3})
    if decline:
        replaced = seating.decline(panel[1])
        assert replaced is not None
        assert replaced.incoming is not None
        tx(REQUESTER, "decline", [
            ("draw.decline", SUBJ, {
                "pseud": panel[1].hex(), "reason": "HEALTH",
                "evidence_hash": drawing.evidence_hash(b"call record").hex(), "void": False,
            }),
            ("draw.replace", SUBJ, {"d": "A0101", "out": panel[1].hex(),
                                    "in": replaced.incoming.hex()}),
            ("confidential.access", SUBJ, {"purpose": "panel",
                                           "pseuds": [replaced.incoming.hex()]}),
        ])  # fmt: skip
    if lifecycle:
        tx(REQUESTER, "open", [("draw.open", SUBJ, {"opened_at": T0 + 86_400_000})])
        seats = [p.hex() for p in seating.seats[b"A0101"]]
        tx(REQUESTER, "close", [("draw.close", SUBJ, {"panels": [{"d": "A0101", "panel": seats}]})])
        tx(REQUESTER, "award", [("draw.award", SUBJ, {
            "evidence_hash": drawing.evidence_hash(b"notice").hex()})])  # fmt: skip
    return DrawLog(entries, frozen.members, sizes)


def seal(log: DrawLog) -> tuple[list[bytes], dict[int, str]]:
    """Chain and sign the log (a checkpoint after every transaction)."""
    return small_logs.seal(log.entries, log.sizes)


def bundle_bytes(log: DrawLog) -> bytes:
    """The proof bundle of the sealed log, as the service would build it."""
    bodies, notes = seal(log)
    tree_nodes: dict[tuple[int, int], bytes] = {}
    compact = merkle.CompactRange()
    for seq, body in enumerate(bodies):
        leaf = merkle.leaf_hash(body)
        tree_nodes[(0, seq)] = leaf
        for level, index, value in compact.append(leaf):
            tree_nodes[(level, index)] = value
    chosen = [
        (seq, body) for seq, body in enumerate(bodies)
        if _wanted(canonical.loads(body))
    ]  # fmt: skip
    top = max(seq for seq, _ in chosen)
    size = min(s for s in notes if s > top)
    latest = max(notes)

    def read(level: int, index: int) -> bytes:
        return tree_nodes[(level, index)]

    included = [bundle.Included(seq, body, tuple(merkle.inclusion_proof(seq, size, read)))
                for seq, body in chosen]  # fmt: skip
    consistency = merkle.consistency_proof(size, latest, read) if latest != size else []
    built = bundle.build(draw_id=DRAW_ID, members=log.members, entries=included,
                         checkpoint=notes[size], latest=notes[latest], consistency=consistency)  # fmt: skip
    return canonical.dumps(built)


def _wanted(entry: dict[str, Any]) -> bool:
    kind = str(entry["kind"])
    return entry["subj"] == SUBJ and (
        kind == "pool.freeze" or (kind.startswith("draw.") and kind != "draw.publish")
    )


def checkpoint_of(notes: dict[int, str], size: int) -> cp.Checkpoint:
    """Parse the signed checkpoint at ``size``."""
    return cp.parse_unverified(notes[size])
