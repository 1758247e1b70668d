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
from expert_draw.core import beacon as quicknet
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
    draw_id: str = DRAW_ID
    frozen: drawing.Frozen | None = None  # salts and experts (for receipts)


ROUND = 657_413  # the recorded quicknet round of spec §7
SIGNATURE = bytes.fromhex(
    "b713718a38ae728dfd477991af2822e08d2f305e47718cef9f7848ce4050e7be"
    "41076862b98fad56e91a6b85b89cd97b"
)
BEACON_T0 = 1000 * eds1.round_time(ROUND - 100) + 500  # a commit then waits for ROUND


def _params(*, beacon: bool, factor: int = 2, override_seq: int = 0) -> eds1.Params:
    return eds1.Params(
        draw_id=DRAW_ID.encode(), tender_ref=hashlib.sha256(b"tender").digest(),
        supersedes=b"", edition=b"2018", edition_digest=hashlib.sha256(b"edition").digest(),
        match_mode=b"prefix", disciplines=(eds1.DisciplineParams(b"A0101", 5, 2, 3),),
        repl_mode=b"A", delta=100 if beacon else 0, margin_s=30 if beacon else 0, delta_b=0,
        min_pool_factor=factor, override_seq=override_seq,
        drand_chain_hash=quicknet.CHAIN_HASH if beacon else b"",
        rules_digest=hashlib.sha256(b"policy").digest(),
        code_digest=hashlib.sha256(b"release").digest(),
    )  # fmt: skip


def build(
    *,
    decline: bool = True,
    lifecycle: bool = True,
    beacon: bool = False,
    override: bool = False,
) -> DrawLog:
    """A valid draw log: init, the draw's transactions, each followed by a checkpoint.

    With ``beacon``, the draw commits in September 2023 so that it waits for the
    recorded round 657,413, and resolves with its signature. With ``override``, the
    pool (11 eligible) is below 3 x 5 seats and a supervisor's prior draw.override (seq 1)
    waives the minimum.
    """
    random = counter_random(b"golden draw")
    candidates = [
        drawing.Assessed(i, uuid.UUID(int=0x1000 + i).bytes, (b"A0101",),
                         (b"E6",) if i == 11 else ())
        for i in range(12)
    ]  # fmt: skip
    frozen = drawing.freeze(candidates, random)
    params = _params(beacon=beacon, factor=3 if override else 2,
                     override_seq=1 if override else 0)  # fmt: skip
    r = ROUND if beacon else 0
    sig = SIGNATURE if beacon else b""
    rho = quicknet.verify_round(ROUND, SIGNATURE) if beacon else b""
    s = random(32)
    c_s = eds1.secret_commitment(s)
    pk = escrow.public_key(SUPERVISOR_KEY)
    envelopes = escrow.seal_all_from_parts([pk], [random(32)], params.draw_id, c_s, s)
    counts = [{"d": "A0101", "n": frozen.n_elig}]
    excluded = [{"reason": x.decode(), "n": n} for x, n in frozen.excluded_counts()]
    commitment = eds1.commitment(
        params.draw_id, pool_root=frozen.pool_root, n_elig=frozen.n_elig,
        excluded_root=frozen.excluded_root, n_excl=frozen.n_excl, params_hash=params.hash(),
        c_s=c_s, r=r, escrow=eds1.escrow_digest(envelopes),
    )  # fmt: skip
    nonce = hashlib.sha256(b"requester nonce").digest()
    outcome = drawing.resolve(params, frozen.members, pool_root=frozen.pool_root,
                              excluded_root=frozen.excluded_root, s=s, r=r, rho=rho,
                              nonce=nonce)  # fmt: skip
    init = small_logs.entries([])[0][0]
    init = replace(init, data={**init.data, "escrow_keys": [pk.hex()]})
    entries: list[Entry] = [init]
    sizes = [1]
    clock = itertools.count((BEACON_T0 if beacon else T0) - (1000 if override else 0), 1000)

    def tx(who: Who, request: str, items: list[tuple[str, str, dict[str, Any]]]) -> None:
        ts = next(clock)
        for index, (kind, subj, data) in enumerate(items):
            entries.append(Entry(ORIGIN, len(entries), "", ts, make_req(who.sub, request, index),
                                 kind, subj, who, data))  # fmt: skip
        sizes.append(len(entries))

    if override:
        tx(SUPERVISOR, "override", [("draw.override", f"tenders/{params.tender_ref.hex()}", {
            "approver": SUPERVISOR.sub, "tender_ref": params.tender_ref.hex(),
            "disciplines": ["A0101"], "reason": "本地专家不足, 经监督部门批准",
        })])  # fmt: skip
    tx(REQUESTER, "create", [
        ("draw.request", SUBJ, {
            "draw_id": DRAW_ID, "tender_ref": params.tender_ref.hex(), "supersedes": "",
            "disciplines": [{"d": "A0101", "k": 5, "r": 2}], "policy": {"beacon": beacon},
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
            "n_elig": frozen.n_elig, "n_excl": frozen.n_excl, "c_s": c_s.hex(), "r": r,
            "envelopes": [e.hex() for e in envelopes],
            "escrow_digest": eds1.escrow_digest(envelopes).hex(),
            "commit_digest": eds1.sha256(commitment).hex(),
        }),
    ])  # fmt: skip
    panel = outcome.panel[b"A0101"]
    nonce_entry = ("draw.nonce", SUBJ, {"nonce": nonce.hex()})
    if beacon:  # the nonce in a call of its own; the round comes later
        tx(REQUESTER, "nonce", [nonce_entry])
        clock = itertools.count(1000 * eds1.round_time(ROUND) + 1000, 1000)
    tx(REQUESTER, "execute", [
        *([] if beacon else [nonce_entry]),
        ("draw.execute", SUBJ, {
            "r": r, "sig_r": sig.hex(), "rho": rho.hex(), "s": s.hex(),
            "seed": outcome.seed.hex(),
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
    return DrawLog(entries, frozen.members, sizes, DRAW_ID, frozen)


def seal(log: DrawLog) -> tuple[list[bytes], dict[int, str]]:
    """Chain and sign the log (a checkpoint after every transaction).

    Bodies are the canonical bytes of each entry without the schema check, so a
    negative case may carry an entry its kind's schema refuses (the verifier must).
    """
    bodies: list[bytes] = []
    notes: dict[int, str] = {}
    compact = merkle.CompactRange()
    for seq, item in enumerate(log.entries):
        prev = merkle.leaf_hash(bodies[-1]).hex() if bodies else "0" * 64
        body = canonical.dumps(replace(item, seq=seq, prev=prev).to_json())
        bodies.append(body)
        compact.append(merkle.leaf_hash(body))
        if seq + 1 in log.sizes:
            checkpoint = cp.Checkpoint(ORIGIN, seq + 1, compact.root())
            notes[seq + 1] = cp.sign(checkpoint, [small_logs.KEY])
    return bodies, notes


def bundle_bytes(log: DrawLog, *, beacon: bool = False) -> bytes:
    """The proof bundle of the sealed log, as the service would build it."""
    bodies, notes = seal(log)
    tree_nodes: dict[tuple[int, int], bytes] = {}
    compact = merkle.CompactRange()
    for seq, body in enumerate(bodies):
        leaf = merkle.leaf_hash(body)
        tree_nodes[(0, seq)] = leaf
        for level, index, value in compact.append(leaf):
            tree_nodes[(level, index)] = value
    subj = f"draws/{log.draw_id}"
    override = _override_seq(bodies, subj)
    earlier = _earlier_attempts(bodies, subj)
    chosen = [
        (seq, body) for seq, body in enumerate(bodies)
        if _wanted(canonical.loads(body), subj, earlier) or (override and seq == override)
    ]  # fmt: skip
    top = max(seq for seq, _ in chosen)
    size = min(s for s in notes if s > top)
    latest = max(notes)

    def read(level: int, index: int) -> bytes:
        return tree_nodes[(level, index)]

    included = [bundle.Included(seq, body, tuple(merkle.inclusion_proof(seq, size, read)))
                for seq, body in chosen]  # fmt: skip
    consistency = merkle.consistency_proof(size, latest, read) if latest != size else []
    built = bundle.build(draw_id=log.draw_id, members=log.members, entries=included,
                         checkpoint=notes[size], latest=notes[latest], consistency=consistency,
                         drand=quicknet.QUICKNET.to_json() if beacon else None)  # fmt: skip
    return canonical.dumps(built)


def _override_seq(bodies: list[bytes], subj: str) -> int:
    """The params' override_seq (0 when none), read from the draw's commit."""
    for body in bodies:
        entry = canonical.loads(body)
        if entry["kind"] == "draw.commit" and entry["subj"] == subj:
            fields = eds1.dec(bytes.fromhex(entry["data"]["params"]))
            return int.from_bytes(fields[14], "big") if len(fields) > 14 else 0
    return 0


def _earlier_attempts(bodies: list[bytes], subj: str) -> set[str]:
    """Subjects of the earlier attempts on the draw's tender-lot."""
    requests = [canonical.loads(b) for b in bodies]
    requests = [e for e in requests if e["kind"] == "draw.request"]
    mine = next(e for e in requests if e["subj"] == subj)
    tender = mine["data"]["tender_ref"]
    return {e["subj"] for e in requests
            if e["data"]["tender_ref"] == tender and e["subj"] != subj}  # fmt: skip


def _wanted(entry: dict[str, Any], subj: str, earlier: set[str]) -> bool:
    kind = str(entry["kind"])
    if entry["subj"] in earlier:
        return kind in {"draw.request", "draw.commit"}
    return entry["subj"] == subj and (
        kind == "pool.freeze" or (kind.startswith("draw.") and kind != "draw.publish")
    )


def checkpoint_of(notes: dict[int, str], size: int) -> cp.Checkpoint:
    """Parse the signed checkpoint at ``size``."""
    return cp.parse_unverified(notes[size])


RICH_ID = "d-rich-0002"


def build_rich() -> DrawLog:
    """A second attempt on a tender-lot, two disciplines, and every kind of event.

    Attempt ``d-rich-0001`` is committed and cancelled (an earlier committed attempt: a
    policy finding). Attempt ``d-rich-0002`` supersedes it: A0101 (3 seats, 1 reserve)
    and B02 (2 seats, 1 reserve) over 14 experts, 4 of them in both. After execution: a
    notification, a reserve struck before being called (LEAVE), an acceptance, the
    opening, a conflict declared after it (void) with its replacement, the close, the
    award, and an unrelated entry after it (so `latest` is a later checkpoint).
    """
    random = counter_random(b"rich draw")
    both, a_only = range(4), range(4, 10)  # 10-13 hold B02 only
    candidates = [
        drawing.Assessed(i, uuid.UUID(int=0x2000 + i).bytes,
                         (b"A0101", b"B02") if i in both else (b"A0101",) if i in a_only
                         else (b"B02",), (b"A7",) if i == 13 else ())
        for i in range(14)
    ]  # fmt: skip
    quotas = (eds1.DisciplineParams(b"A0101", 3, 1, 2), eds1.DisciplineParams(b"B02", 2, 1, 2))
    tender = hashlib.sha256(b"rich tender").digest()
    pk = escrow.public_key(SUPERVISOR_KEY)
    init = small_logs.entries([])[0][0]
    entries: list[Entry] = [replace(init, data={**init.data, "escrow_keys": [pk.hex()]})]
    sizes = [1]
    clock = itertools.count(T0, 1000)

    def tx(who: Who, request: str, items: list[tuple[str, str, dict[str, Any]]]) -> None:
        ts = next(clock)
        for index, (kind, subj, data) in enumerate(items):
            entries.append(Entry(ORIGIN, len(entries), "", ts, make_req(who.sub, request, index),
                                 kind, subj, who, data))  # fmt: skip
        sizes.append(len(entries))

    def attempt(draw_id: str, supersedes: str) -> tuple[eds1.Params, drawing.Frozen, bytes]:
        frozen = drawing.freeze(candidates, random)
        params = replace(_params(beacon=False), draw_id=draw_id.encode(), tender_ref=tender,
                         supersedes=supersedes.encode(), disciplines=quotas)  # fmt: skip
        s = random(32)
        c_s = eds1.secret_commitment(s)
        envelopes = escrow.seal_all_from_parts([pk], [random(32)], params.draw_id, c_s, s)
        commitment = eds1.commitment(
            params.draw_id, pool_root=frozen.pool_root, n_elig=frozen.n_elig,
            excluded_root=frozen.excluded_root, n_excl=frozen.n_excl,
            params_hash=params.hash(), c_s=c_s, r=0, escrow=eds1.escrow_digest(envelopes),
        )  # fmt: skip
        subj = f"draws/{draw_id}"
        codes = [d.code for d in quotas]
        tx(REQUESTER, f"create-{draw_id}", [
            ("draw.request", subj, {
                "draw_id": draw_id, "tender_ref": tender.hex(), "supersedes": supersedes,
                "disciplines": [{"d": d.code.decode(), "k": d.k, "r": d.r} for d in quotas],
                "policy": {"beacon": False},
                "inputs_sha256": hashlib.sha256(draw_id.encode()).hexdigest(),
            }),
            ("pool.freeze", subj, {
                "pool_root": frozen.pool_root.hex(),
                "excluded_root": frozen.excluded_root.hex(), "n_elig": frozen.n_elig,
                "n_excl": frozen.n_excl,
                "counts": [{"d": d.decode(), "n": n} for d, n in frozen.counts(codes)],
                "excluded_counts": [{"reason": x.decode(), "n": n}
                                    for x, n in frozen.excluded_counts()],
                "edition_digest": params.edition_digest.hex(),
                "rules_digest": params.rules_digest.hex(), "lookback_s": 3600,
                "lookback_n": 0, "lookback_seqs": [],
                "lookback_sha256": eds1.sha256(eds1.enc(b"EDS1/lookback")).hex(),
            }),
            ("draw.commit", subj, {
                "params": params.encode().hex(), "params_hash": params.hash().hex(),
                "pool_root": frozen.pool_root.hex(),
                "excluded_root": frozen.excluded_root.hex(), "n_elig": frozen.n_elig,
                "n_excl": frozen.n_excl, "c_s": c_s.hex(), "r": 0,
                "envelopes": [e.hex() for e in envelopes],
                "escrow_digest": eds1.escrow_digest(envelopes).hex(),
                "commit_digest": eds1.sha256(commitment).hex(),
            }),
        ])  # fmt: skip
        return params, frozen, s

    attempt("d-rich-0001", "")
    tx(REQUESTER, "cancel-1", [("draw.cancel", "draws/d-rich-0001",
                                {"reason": "TENDER_CHANGED", "counts": []})])  # fmt: skip
    params, frozen, s = attempt(RICH_ID, "d-rich-0001")
    subj = f"draws/{RICH_ID}"
    nonce = hashlib.sha256(b"rich nonce").digest()
    outcome = drawing.resolve(params, frozen.members, pool_root=frozen.pool_root,
                              excluded_root=frozen.excluded_root, s=s, r=0, rho=b"",
                              nonce=nonce)  # fmt: skip
    codes = [b"A0101", b"B02"]
    tx(REQUESTER, "execute", [
        ("draw.nonce", subj, {"nonce": nonce.hex()}),
        ("draw.execute", subj, {
            "r": 0, "sig_r": "", "rho": "", "s": s.hex(), "seed": outcome.seed.hex(),
            "order_digest": outcome.order_digest.hex(),
            "panels": [{"d": d.decode(), "panel": [p.hex() for p in outcome.panel[d]],
                        "reserve": [p.hex() for p in outcome.reserve[d]]} for d in codes],
        }),
        ("confidential.grant", subj, {"grantee": REQUESTER.sub, "purpose": "panel"}),
    ])  # fmt: skip
    seating = eds1.Seating(outcome.order, outcome.panel, outcome.reserve,
                           {d.code: d.max_repl for d in quotas})  # fmt: skip
    evidence = drawing.evidence_hash(b"contact record").hex()
    first_b = outcome.panel[b"B02"][0]
    tx(REQUESTER, "notify", [("draw.notify", subj, {"pseud": first_b.hex(), "channel": "sms",
                                                    "evidence_hash": evidence})])  # fmt: skip
    struck = outcome.reserve[b"A0101"][0]
    assert seating.decline(struck) is None  # a reserve struck before being called
    tx(
        REQUESTER,
        "strike-reserve",
        [
            (
                "draw.decline",
                subj,
                {
                    "pseud": struck.hex(),
                    "reason": "LEAVE",
                    "evidence_hash": evidence,
                    "void": False,
                },
            )
        ],
    )
    tx(REQUESTER, "accept", [("draw.accept", subj, {"pseud": first_b.hex(),
                                                    "evidence_hash": evidence})])  # fmt: skip
    tx(REQUESTER, "open", [("draw.open", subj, {"opened_at": T0 + 86_400_000})])
    leaving = outcome.panel[b"A0101"][0]
    replaced = seating.decline(leaving)
    assert replaced is not None
    assert replaced.incoming is not None
    tx(REQUESTER, "conflict", [
        ("draw.decline", subj, {"pseud": leaving.hex(), "reason": "CONFLICT_DECLARED",
                                "evidence_hash": evidence, "void": True}),
        ("draw.replace", subj, {"d": "A0101", "out": leaving.hex(),
                                "in": replaced.incoming.hex()}),
    ])  # fmt: skip
    tx(
        REQUESTER,
        "close",
        [
            (
                "draw.close",
                subj,
                {
                    "panels": [
                        {"d": d.decode(), "panel": [p.hex() for p in seating.seats[d]]}
                        for d in codes
                    ]
                },
            )
        ],
    )
    tx(REQUESTER, "award", [("draw.award", subj, {"evidence_hash": evidence})])
    tx(small_logs.ADMIN, "later", [("expert.delete", f"experts/{uuid.UUID(int=0x2003)}",
                                    {"reason": "retired from the library"})])  # fmt: skip
    return DrawLog(entries, frozen.members, sizes, RICH_ID)
