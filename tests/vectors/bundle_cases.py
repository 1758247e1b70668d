"""The proof-bundle vectors (``tests/vectors/eds1/bundles.json``): golden and negative.

Each case is one bundle (its exact aud1 text) and the verdict a verifier written from
docs/spec/draw-v1.md must reach: exit 0, 3 (policy findings) or 4 (unsupported), or
exit 1 at the named check of §11. Negative cases are of two kinds: a bundle edited after
the fact, and a log written wrong and signed with the log key (the operator lying
consistently), which only the semantic checks can catch.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from audit_log import canonical
from audit_log import checkpoint as cp
from audit_log.entry import make_req
from expert_draw.core import eds1
from expert_draw.core.verify_draw import DrawTrust, verify_bundle
from tests.support import draw_log, small_logs
from tests.vectors.generate import signer

if TYPE_CHECKING:
    from collections.abc import Callable

    from audit_log.entry import Entry


def _edit(entries: list[Entry], kind: str, **data: Any) -> None:
    at = next(i for i, e in enumerate(entries) if e.kind == kind)
    entries[at] = replace(entries[at], data={**entries[at].data, **data})


def _params_of(entries: list[Entry]) -> eds1.Params:
    commit = next(e for e in entries if e.kind == "draw.commit")
    return eds1.Params.decode(bytes.fromhex(commit.data["params"]))


def _set_params(entries: list[Entry], params: eds1.Params) -> None:
    """New params in draw.commit, with params_hash and commit_digest recomputed."""
    c = next(e for e in entries if e.kind == "draw.commit").data
    digest = eds1.sha256(eds1.commitment(
        params.draw_id, pool_root=bytes.fromhex(c["pool_root"]), n_elig=c["n_elig"],
        excluded_root=bytes.fromhex(c["excluded_root"]), n_excl=c["n_excl"],
        params_hash=params.hash(), c_s=bytes.fromhex(c["c_s"]), r=c["r"],
        escrow=bytes.fromhex(c["escrow_digest"]),
    ))  # fmt: skip
    _edit(entries, "draw.commit", params=params.encode().hex(), params_hash=params.hash().hex(),
          commit_digest=digest.hex())  # fmt: skip


def _signed(change: Callable[[list[Entry]], None], *, beacon: bool = False) -> bytes:
    """The bundle of a log that ``change`` edits before signing.

    An inserted entry is a transaction of its own: checkpoint sizes follow it.
    """
    log = draw_log.build(beacon=beacon)
    before = list(log.entries)
    change(log.entries)
    added = [i for i, e in enumerate(log.entries) if not any(e is b for b in before)]
    for at in added:
        log.sizes[:] = sorted({s + 1 if s > at else s for s in log.sizes} | {at + 1})
    return draw_log.bundle_bytes(log, beacon=beacon)


def _override(entries: list[Entry], *, tender: str | None = None, codes: tuple[str, ...] = (
        "A0101",), who: Any = None, at: int = 1) -> None:  # fmt: skip
    """Insert a draw.override at ``at`` and name it in the params (factor 3: short)."""
    params = _params_of(entries)
    tender = tender or params.tender_ref.hex()
    who = who or draw_log.SUPERVISOR
    base = entries[1]
    entry = replace(base, kind="draw.override", subj=f"tenders/{tender}", who=who,
                    req=make_req(who.sub, "override", 0),
                    data={"approver": who.sub, "tender_ref": tender,
                          "disciplines": list(codes), "reason": "本地专家不足"})  # fmt: skip
    entries.insert(at, entry)
    _set_params(entries, replace(params, min_pool_factor=3, override_seq=at))


def _late_override(entries: list[Entry]) -> None:
    params = _params_of(entries)
    tender = params.tender_ref.hex()
    entries.append(replace(entries[1], ts=entries[-1].ts + 1000, kind="draw.override",
                           subj=f"tenders/{tender}",
                           who=draw_log.SUPERVISOR, req=make_req("bureau:supervisor-1", "late", 0),
                           data={"approver": draw_log.SUPERVISOR.sub, "tender_ref": tender,
                                 "disciplines": ["A0101"], "reason": "after the fact"}))  # fmt: skip
    _set_params(entries, replace(params, min_pool_factor=3, override_seq=len(entries) - 1))


def _late_nonce(entries: list[Entry]) -> None:
    at = next(i for i, e in enumerate(entries) if e.kind == "draw.nonce")
    deadline = 1000 * (eds1.round_time(draw_log.ROUND) - 30)
    entries[at] = replace(entries[at], ts=deadline)


def _bad_draw_id_params(body: dict[str, Any]) -> dict[str, Any]:
    fields = eds1.dec(bytes.fromhex(body["params"]))
    fields[2] = b"d" * 57
    return {**body, "params": eds1.enc(*fields).hex()}


def cases() -> list[dict[str, Any]]:  # noqa: PLR0915 - one case per statement
    """Every case: name, what it shows, the bundle text, the expected verdict."""
    golden = draw_log.bundle_bytes(draw_log.build())
    approved = draw_log.bundle_bytes(draw_log.build(override=True))
    beacon = draw_log.bundle_bytes(draw_log.build(beacon=True), beacon=True)
    g: dict[str, Any] = canonical.loads(golden)
    found: list[tuple[str, str, bytes, int, int | None]] = [
        ("golden", "a draw without a beacon, a decline, the lifecycle to the award", golden, 0,
         None),
        ("golden-beacon", "the same with drand round 657,413", beacon, 0, None),
    ]  # fmt: skip

    def edited(name: str, what: str, value: dict[str, Any], check: int) -> None:
        found.append((name, what, canonical.dumps(value), 1, check))

    def signed(name: str, what: str, change: Callable[[list[Entry]], None], check: int,
               *, on_beacon: bool = False) -> None:  # fmt: skip
        found.append((name, what, _signed(change, beacon=on_beacon), 1, check))

    bad = copy.deepcopy(g)
    nonce_item = next(e for e in bad["entries"] if '"kind":"draw.nonce"' in e["body"])
    nonce_item["body"] = nonce_item["body"].replace(g["nonce"], g["nonce"][::-1])
    edited("edited-entry", "the draw.nonce entry's text changed: its proof fails", bad, 1)
    body_text = g["checkpoint"].split("\n\n")[0] + "\n"
    stranger = cp.sign(cp.Checkpoint.parse(body_text), [signer("a stranger's key")])
    edited("foreign-key", "the checkpoint signed by another key (same origin)", {
        **g, "checkpoint": stranger}, 1)  # fmt: skip
    rich = draw_log.bundle_bytes(draw_log.build_rich())
    what = (
        "a second attempt (the first committed and cancelled), two disciplines, a"
        " notification, a reserve struck, an acceptance, a conflict declared after the"
        " opening, a later checkpoint"
    )
    found.append(("rich", what, rich, 3, None))
    r = canonical.loads(rich)
    bad = copy.deepcopy(r)
    bad["entries"] = [e for e in bad["entries"] if '"kind":"draw.request"' not in e["body"]
                      or '"d-rich-0001"' not in e["body"]]  # fmt: skip
    edited("rich-attempt-missing", "the first attempt's draw.request left out: the chain"
           " does not start with a first attempt", bad, 1)  # fmt: skip
    bad = copy.deepcopy(r)
    bad["latest"]["consistency"] = bad["latest"]["consistency"][1:]
    edited("rich-consistency", "a consistency hash left out", bad, 1)
    bad = copy.deepcopy(g)
    bad["leaves"][2]["idc"] = "00" * 32
    edited("tampered-leaf", "a leaf's idc changed: pool_root does not recompute", bad, 3)
    bad = copy.deepcopy(g)
    bad["leaves"].insert(1, bad["leaves"][0])
    edited("duplicate-pseudonym", "a leaf listed twice", bad, 3)
    edited("draw-id-57", "params with a 57-byte draw_id", _bad_draw_id_params(g), 3)
    edited("reason-17", "an exclusion reason code of 17 bytes", {
        **g, "excluded_counts": [{"reason": "E" * 17, "n": 1}]}, 3)  # fmt: skip
    edited("wrong-secret", "s in the bundle differs from draw.execute", {
        **g, "s": g["s"][::-1]}, 4)  # fmt: skip
    bad = copy.deepcopy(g)
    bad["draw"][0]["order"] = list(reversed(bad["draw"][0]["order"]))
    edited("wrong-order", "the full order reversed", bad, 7)
    bad = copy.deepcopy(g)
    bad["replacements"][0]["reason"] = "NO_ANSWER"
    edited("wrong-replacements", "the replacements list disagrees with the log", bad, 8)
    signed("signed-wrong-secret", "draw.execute reveals an s that does not open C_s",
           lambda es: _edit(es, "draw.execute", s="11" * 32), 6)  # fmt: skip
    signed("signed-bad-beacon", "a signature with one bit flipped, in the log and bundle",
           lambda es: _edit(es, "draw.execute", sig_r=draw_log.SIGNATURE[:-1].hex() + "7a"), 5,
           on_beacon=True)  # fmt: skip
    signed("signed-late-nonce", "the nonce logged at time(R) - margin", _late_nonce, 2,
           on_beacon=True)  # fmt: skip
    signed("signed-undersized", "11 eligible < 3 x 5 seats, no override",
           lambda es: _set_params(es, replace(_params_of(es), min_pool_factor=3)), 3)  # fmt: skip
    signed("signed-void", "a HEALTH decline marked void",
           lambda es: _edit(es, "draw.decline", void=True), 8)  # fmt: skip
    signed("signed-strike-before-opening", "STRUCK_48_3 before draw.open",
           lambda es: _edit(es, "draw.decline", reason="STRUCK_48_3", void=True), 8)  # fmt: skip
    signed("signed-decline-reason-33", "a decline reason code of 33 bytes",
           lambda es: _edit(es, "draw.decline", reason="X" * 33), 1)  # fmt: skip
    signed("signed-decline-reason-unknown", "a decline reason outside the §5 list",
           lambda es: _edit(es, "draw.decline", reason="HOLIDAY"), 1)  # fmt: skip
    signed("override-not-supervisor", "the override appended by a requester",
           lambda es: _override(es, who=draw_log.REQUESTER), 3)  # fmt: skip
    signed("override-other-tender", "the override approves another tender-lot",
           lambda es: _override(es, tender="cd" * 32), 3)  # fmt: skip
    signed("override-not-covering", "the override lists another discipline",
           lambda es: _override(es, codes=("B02",)), 3)  # fmt: skip
    signed("override-after-commit", "the override appended after the commit",
           _late_override, 3)  # fmt: skip
    with_override = canonical.loads(approved)
    edited(
        "override-missing",
        "override_seq names an entry the bundle leaves out",
        {**with_override, "entries": [e for e in with_override["entries"] if e["seq"] != 1]},
        3,
    )

    def mode_b(es: list[Entry]) -> None:
        _set_params(es, replace(_params_of(es), repl_mode=b"B", drand_chain_hash=bytes(32),
                                delta_b=1))  # fmt: skip

    found.append(("mode-b", "replacement mode B: a v1 verifier refuses it", _signed(mode_b), 4,
                  None))  # fmt: skip
    what = "a pool below the minimum under a supervisor's prior override: a policy finding"
    found.append(("override-approved", what, approved, 3, None))
    digest = hashlib.sha256(eds1.enc(b"EDS1/lookback", eds1.u64(0))).hexdigest()
    found.append(("lookback-finding", "a pool change before the freeze: a policy finding",
                  _signed(lambda es: _edit(es, "pool.freeze", lookback_n=1, lookback_seqs=[0],
                                           lookback_sha256=digest)), 3, None))  # fmt: skip
    return [_case(*item) for item in found]


def _case(name: str, what: str, body: bytes, exit_code: int, check: int | None) -> dict[str, Any]:
    expect: dict[str, Any] = {"exit": exit_code, "check": check}
    if exit_code in {0, 3}:
        report = verify_bundle(body, trust())
        expect.update(state=report.state, seats=report.seats, findings=report.findings)
    return {"name": name, "what": what, "bundle": body.decode(), "expect": expect}


def trust() -> DrawTrust:
    """The trust every case is verified against."""
    return DrawTrust(draw_log.ORIGIN, (small_logs.KEY.verifier,))


def vectors() -> dict[str, Any]:
    """The file's content."""
    return {
        "description": "EDS-1 proof bundles (draw-v1.md §10) and the verdicts of §11",
        "trust": {"origin": draw_log.ORIGIN, "log_vkey": str(small_logs.KEY.verifier),
                  "delta_min": 100, "require_beacon": False},
        "escrow_private_key": draw_log.SUPERVISOR_KEY.hex(),
        "cases": cases(),
    }  # fmt: skip
