"""The offline draw verifier (spec §11) on a synthetic draw: every check can fail.

Two kinds of negative case: a bundle edited after the fact (its entries no longer match
the signed checkpoint, or the bundle disagrees with them), and a log whose entries were
written wrong and signed by the log key (an operator who lies consistently): those
must fail the semantic check that catches the lie.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pytest

from audit_log import canonical
from expert_draw.core import eds1
from expert_draw.core.verify_draw import (
    Check,
    DrawTrust,
    DrawVerificationError,
    UnsupportedBundleError,
    trust_from,
    verify_bundle,
)
from tests.support import draw_log, small_logs
from tests.vectors.generate import signer

if TYPE_CHECKING:
    from collections.abc import Callable

    from audit_log.entry import Entry

TRUST = DrawTrust(draw_log.ORIGIN, (small_logs.KEY.verifier,))


@pytest.fixture(scope="module")
def good() -> dict[str, Any]:
    body = draw_log.bundle_bytes(draw_log.build())
    value: dict[str, Any] = canonical.loads(body)
    return value


def fails(body: bytes | dict[str, Any], check: Check, words: str = "", **kw: Any) -> None:
    data = canonical.dumps(body) if isinstance(body, dict) else body
    with pytest.raises(DrawVerificationError) as caught:
        verify_bundle(data, kw.pop("trust", TRUST), **kw)
    assert caught.value.check is check, caught.value
    assert words in caught.value.message


def relog(change: Callable[[list[Entry]], None], **options: bool) -> bytes:
    """A bundle of a log whose entries ``change`` edits before they are signed.

    An inserted entry is a transaction of its own: checkpoint sizes follow it.
    """
    log = draw_log.build(**options)
    before = list(log.entries)
    change(log.entries)
    added = [i for i, e in enumerate(log.entries) if not any(e is b for b in before)]
    for at in added:
        log.sizes[:] = sorted({s + 1 if s > at else s for s in log.sizes} | {at + 1})
    removed = len(before) - len(log.entries)
    if removed > 0:
        log.sizes[:] = sorted({min(s, len(log.entries)) for s in log.sizes} - {0})
    return draw_log.bundle_bytes(log)


def edit(entries: list[Entry], kind: str, **data: Any) -> None:
    """Replace data members of the draw's first entry of ``kind``."""
    at = next(i for i, e in enumerate(entries) if e.kind == kind)
    entries[at] = replace(entries[at], data={**entries[at].data, **data})


def test_the_synthetic_draw_verifies(good: dict[str, Any]) -> None:
    """The whole story, escrow opened with the supervisor's key: exit 0."""
    report = verify_bundle(canonical.dumps(good), TRUST, escrow_private=draw_log.SUPERVISOR_KEY)
    assert (report.state, report.findings, report.exit_code) == ("AWARDED", [], 0)
    [close] = [e for e in good["entries"] if '"draw.close"' in e["body"]]
    assert report.seats == {
        "A0101": canonical.loads(close["body"].encode())["data"]["panels"][0]["panel"]
    }
    assert report.to_json()["exit_code"] == 0


def test_stages_before_the_end() -> None:
    """An executed draw without lifecycle or declines verifies as EXECUTED."""
    body = draw_log.bundle_bytes(draw_log.build(decline=False, lifecycle=False))
    assert verify_bundle(body, TRUST).state == "EXECUTED"


# -- edited bundles ----------------------------------------------------------------------


def test_check_1_log(good: dict[str, Any]) -> None:
    fails(b"{not json", Check.LOG, "aud1")
    fails({**good, "extra": 1}, Check.LOG, "members")
    fails({**good, "checkpoint": "x"}, Check.LOG, "pinned log key")
    fails({**good, "checkpoint": 1}, Check.LOG, "signed note")
    fails({**good, "latest": {"checkpoint": good["checkpoint"]}}, Check.LOG, "latest")
    other = draw_log.bundle_bytes(draw_log.build())  # same draw, same key: fine
    assert verify_bundle(other, TRUST).exit_code == 0
    stranger = DrawTrust(draw_log.ORIGIN, (signer("a stranger").verifier,))
    fails(good, Check.LOG, "pinned log key", trust=stranger)
    bad = copy.deepcopy(good)
    body = bad["entries"][0]["body"]
    bad["entries"][0]["body"] = body.replace('"HEALTH"', '"ABSENT"').replace(
        '"A0101"', '"A0102"', 1
    )
    fails(bad, Check.LOG, "not in the checkpoint")
    bad = copy.deepcopy(good)
    bad["entries"][1]["proof"] = bad["entries"][1]["proof"][:-1]
    fails(bad, Check.LOG, "not in the checkpoint")
    bad = copy.deepcopy(good)
    bad["entries"].pop(0)  # the draw.request
    fails(bad, Check.LOG, "exactly one draw.request")
    bad = copy.deepcopy(good)
    bad["entries"] = [bad["entries"][1], bad["entries"][0], *bad["entries"][2:]]
    fails(bad, Check.LOG, "ascending")
    bad = copy.deepcopy(good)
    bad["entries"][0] = {"seq": 1, "body": "{}"}
    fails(bad, Check.LOG, "{seq, body, proof}")
    bad = copy.deepcopy(good)
    bad["entries"][0]["body"] = bad["entries"][0]["body"].replace("{", "{ ", 1)
    fails(bad, Check.LOG, "strictly")


def test_check_3_pool(good: dict[str, Any]) -> None:
    bad = copy.deepcopy(good)
    bad["leaves"][0]["idc"] = "00" * 32
    fails(bad, Check.POOL, "pool_root")
    bad = copy.deepcopy(good)
    bad["leaves"] = bad["leaves"][1:] + bad["leaves"][:1]
    fails(bad, Check.POOL, "ascending")
    bad = copy.deepcopy(good)
    bad["leaves"][0]["discs"] = ["B02"]
    fails(bad, Check.POOL, "do not request")
    bad = copy.deepcopy(good)
    bad["leaves"][0]["pseud"] = "ab"
    fails(bad, Check.POOL, "16 bytes")
    fails({**good, "params_hash": "00" * 32}, Check.POOL, "params_hash")
    fails({**good, "params": good["params"] + "00"}, Check.POOL, "params")
    fails({**good, "excluded_counts": []}, Check.POOL, "n_excl")
    fails({**good, "excluded_counts": [{"reason": "e6", "n": 1}]}, Check.POOL, "excluded_counts")


def test_check_4_binding(good: dict[str, Any]) -> None:
    fails({**good, "s": good["s"][::-1]}, Check.BINDING, "draw.execute")
    fails({**good, "nonce": "00" * 32}, Check.BINDING, "draw.nonce")
    fails({**good, "envelopes": []}, Check.BINDING, "draw.commit")
    fails({**good, "code_digest": "00" * 32}, Check.BINDING, "code_digest")
    fails({**good, "spec_version": "EDS-2"}, Check.BINDING, "spec_version")
    bad = copy.deepcopy(good)
    bad["draw"][0]["panel"] = list(reversed(bad["draw"][0]["panel"]))
    fails(bad, Check.BINDING, "draw.execute")


def test_check_5_beacon(good: dict[str, Any]) -> None:
    fails({**good, "drand": {"scheme": "x"}}, Check.BEACON, "null")


def test_check_7_draw_order(good: dict[str, Any]) -> None:
    bad = copy.deepcopy(good)
    bad["draw"][0]["order"] = list(reversed(bad["draw"][0]["order"]))
    fails(bad, Check.DRAW, "recompute")


def test_check_8_replacements_list(good: dict[str, Any]) -> None:
    bad = copy.deepcopy(good)
    bad["replacements"][0]["void"] = True
    fails(bad, Check.REPLACEMENTS, "replacements")


# -- consistent lies, signed by the log key ---------------------------------------------------


def test_lie_wrong_secret() -> None:
    """s revealed at execute does not open C_s (the seed is computed from the lie)."""
    fails(relog(lambda es: edit(es, "draw.execute", s="11" * 32)), Check.ESCROW, "C_s")


def test_lie_wrong_seed() -> None:
    """A seed that is not the HMAC of the committed inputs, with panels drawn from it."""
    seed = bytes([0x22]) * 32
    members = draw_log.build().members
    order = eds1.orders(members, [b"A0101"], lambda p: eds1.rank(seed, p))
    panel, reserve = eds1.panels(order, [b"A0101"], {b"A0101": eds1.Quota(5, 2)})
    panels = [{"d": "A0101", "panel": [p.hex() for p in panel[b"A0101"]],
               "reserve": [p.hex() for p in reserve[b"A0101"]]}]  # fmt: skip
    body = relog(lambda es: edit(es, "draw.execute", seed=seed.hex(), panels=panels),
                 decline=False, lifecycle=False)  # fmt: skip
    fails(body, Check.DRAW, "seed")


def test_lie_r_without_beacon() -> None:
    def change(es: list[Entry]) -> None:
        edit(es, "draw.commit", r=7)
        edit(es, "draw.execute", r=7)

    fails(relog(change), Check.ORDER, "R = 0")


def test_lie_void_and_strike_before_opening() -> None:
    fails(relog(lambda es: edit(es, "draw.decline", void=True)), Check.REPLACEMENTS, "void")
    fails(relog(lambda es: edit(es, "draw.decline", reason="STRUCK_48_3", void=True)),
          Check.REPLACEMENTS, "before draw.open")  # fmt: skip


def test_lie_wrong_replacement() -> None:
    def change(es: list[Entry]) -> None:
        replace_ = next(e for e in es if e.kind == "draw.replace")
        panel = next(e for e in es if e.kind == "draw.execute").data["panels"][0]["panel"]
        edit(
            es, "draw.replace", **{"in": panel[0] if panel[0] != replace_.data["out"] else panel[2]}
        )

    fails(relog(change), Check.REPLACEMENTS, "expected draw.replace")


def test_lie_close_with_other_seats() -> None:
    def change(es: list[Entry]) -> None:
        panel = next(e for e in es if e.kind == "draw.execute").data["panels"][0]["panel"]
        edit(es, "draw.close", panels=[{"d": "A0101", "panel": panel}])

    fails(relog(change), Check.REPLACEMENTS, "seats at close")


def test_lie_order_of_phases() -> None:
    def change(es: list[Entry]) -> None:  # swapped in seq order, times kept in order
        at = next(i for i, e in enumerate(es) if e.kind == "draw.open")
        close = next(i for i, e in enumerate(es) if e.kind == "draw.close")
        early, late = es[at].ts, es[close].ts
        es[at], es[close] = replace(es[close], ts=early), replace(es[at], ts=late)

    fails(relog(change), Check.ORDER, "order")


def test_lie_pool_minimum_without_override() -> None:
    def change(es: list[Entry]) -> None:
        commit = next(e for e in es if e.kind == "draw.commit")
        params = eds1.Params.decode(bytes.fromhex(commit.data["params"]))
        params = replace(params, min_pool_factor=3)  # 11 eligible < 3 x 5
        edit(es, "draw.commit", params=params.encode().hex(), params_hash=params.hash().hex())

    fails(relog(change), Check.POOL, "without an override")


def test_lie_lookback() -> None:
    fails(relog(lambda es: edit(es, "pool.freeze", lookback_n=1, lookback_seqs=[0])),
          Check.POOL, "lookback_sha256")  # fmt: skip
    fails(relog(lambda es: edit(es, "pool.freeze", lookback_n=2, lookback_seqs=[0])),
          Check.POOL, "lookback_seqs")  # fmt: skip


def test_policy_finding_lookback() -> None:
    digest = hashlib.sha256(eds1.enc(b"EDS1/lookback", eds1.u64(0))).hexdigest()
    body = relog(lambda es: edit(es, "pool.freeze", lookback_n=1, lookback_seqs=[0],
                                 lookback_sha256=digest))  # fmt: skip
    report = verify_bundle(body, TRUST)
    assert report.exit_code == 3
    assert report.findings == ["1 pool change(s) in the 3600 s before the freeze"]


def test_require_beacon_is_a_policy_finding(good: dict[str, Any]) -> None:
    strict = trust_from(draw_log.ORIGIN, [small_logs.KEY.verifier], delta_min=100,
                        require_beacon=True, escrow_keys=[])  # fmt: skip
    report = verify_bundle(canonical.dumps(good), strict)
    assert report.findings == ["the draw used no beacon, and trust.toml requires one"]


def test_escrow_pins(good: dict[str, Any]) -> None:
    other = bytes(range(200, 232))
    pinned = trust_from(draw_log.ORIGIN, [small_logs.KEY.verifier], delta_min=100,
                        require_beacon=False, escrow_keys=["ab" * 32])  # fmt: skip
    fails(good, Check.ESCROW, "escrow", trust=pinned)
    fails(good, Check.ESCROW, "no envelope", escrow_private=other)


def test_mode_b_is_refused_as_unsupported() -> None:
    """A v1 verifier refuses replacement mode B (exit 4), it does not pass or fail it."""

    def change(es: list[Entry]) -> None:
        commit = next(e for e in es if e.kind == "draw.commit")
        params = eds1.Params.decode(bytes.fromhex(commit.data["params"]))
        params = replace(params, repl_mode=b"B", drand_chain_hash=bytes(32), delta_b=1)
        edit(es, "draw.commit", params=params.encode().hex())

    with pytest.raises(UnsupportedBundleError):
        verify_bundle(relog(change), TRUST)


def _mutated(good: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    bad = copy.deepcopy(good)
    target = bad
    for step in path[:-1]:
        target = target[step]
    if value is _DROP:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return bad


_DROP = object()
# (where, new value, the check that must fail): every member of §10 read wrong.
MUTATIONS: list[tuple[tuple[Any, ...], Any, Check]] = [
    (("params_hash",), 1, Check.POOL),
    (("params_hash",), "zz", Check.POOL),
    (("params_hash",), "AB" * 32, Check.POOL),
    (("params",), 7, Check.POOL),
    (("latest", "checkpoint"), 3, Check.LOG),
    (("latest", "consistency"), ["00" * 32], Check.LOG),
    (("latest", "consistency"), "x", Check.LOG),
    (("entries", 0, "seq"), "0", Check.LOG),
    (("entries", 0, "seq"), 10**6, Check.LOG),
    (("entries", 0, "proof"), ["zz"], Check.LOG),
    (("entries",), {}, Check.LOG),
    (("leaves", 0), "x", Check.POOL),
    (("leaves", 0, "idc"), "00", Check.POOL),
    (("leaves", 0, "discs"), [], Check.POOL),
    (("n_elig",), 1, Check.POOL),
    (("n_excl",), 0, Check.POOL),
    (("excluded_counts",), [{"reason": "E6"}], Check.POOL),
    (("excluded_counts",), [{"reason": "E6", "n": 0}], Check.POOL),
    (("excluded_counts",), [{"reason": "E6", "n": 1}, {"reason": "A1", "n": 1}], Check.POOL),
    (("pool_root",), "00" * 32, Check.POOL),
    (("excluded_root",), "00" * 32, Check.BINDING),
    (("envelopes", 0), "zz", Check.BINDING),
    (("r",), 1, Check.ORDER),
    (("r",), False, Check.ORDER),
    (("n_elig",), True, Check.POOL),
    (("sig_r",), "ab", Check.BINDING),
    (("seed",), "00" * 32, Check.BINDING),
    (("draw", 0, "reserve"), [], Check.BINDING),
    (("draw",), "x", Check.LOG),
    (("replacements",), [], Check.REPLACEMENTS),
]


@pytest.mark.parametrize(("path", "value", "check"), MUTATIONS, ids=[
    ".".join(map(str, m[0])) + "=" + repr(m[1])[:12] for m in MUTATIONS])  # fmt: skip
def test_every_member_read_wrong_fails(
    good: dict[str, Any], path: tuple[Any, ...], value: Any, check: Check
) -> None:
    fails(_mutated(good, path, value), check)


def test_lies_in_the_entries_fail_their_checks() -> None:
    """Signed lies about the request, the freeze, the nonce and the lifecycle."""
    fails(relog(lambda es: edit(es, "draw.request", supersedes="d-other")), Check.LOG, "chain")
    fails(relog(lambda es: edit(es, "draw.request", disciplines=[])), Check.BINDING, "request")
    fails(relog(lambda es: edit(es, "pool.freeze", rules_digest="00" * 32)), Check.BINDING,
          "pool.freeze")  # fmt: skip
    fails(relog(lambda es: edit(es, "draw.commit", escrow_digest="00" * 32)), Check.BINDING,
          "escrow_digest")  # fmt: skip
    fails(relog(lambda es: edit(es, "draw.commit", commit_digest="00" * 32)), Check.BINDING,
          "commit_digest")  # fmt: skip
    fails(relog(lambda es: edit(es, "draw.execute", order_digest="00" * 32)), Check.DRAW,
          "order_digest")  # fmt: skip

    def accept_unseated(es: list[Entry]) -> None:
        struck = next(e for e in es if e.kind == "draw.decline").data["pseud"]
        at = next(i for i, e in enumerate(es) if e.kind == "draw.open")
        es.insert(at, replace(es[at], kind="draw.accept",
                              data={"pseud": struck, "evidence_hash": "00" * 32}))  # fmt: skip

    fails(relog(accept_unseated), Check.REPLACEMENTS, "unseated")

    def replace_without_decline(es: list[Entry]) -> None:
        del es[next(i for i, e in enumerate(es) if e.kind == "draw.decline")]

    fails(relog(replace_without_decline), Check.REPLACEMENTS, "without its decline")

    def busy_unseated(es: list[Entry]) -> None:
        reserve = next(e for e in es if e.kind == "draw.execute").data["panels"][0]["reserve"]
        at = next(i for i, e in enumerate(es) if e.kind == "draw.open")
        es.insert(
            at,
            replace(
                es[at],
                kind="draw.decline",
                data={
                    "pseud": reserve[-1],
                    "reason": "BUSY",
                    "evidence_hash": "00" * 32,
                    "void": False,
                },
            ),
        )

    fails(relog(busy_unseated), Check.REPLACEMENTS, "BUSY")

    def expire(es: list[Entry]) -> None:
        at = next(i for i, e in enumerate(es) if e.kind == "draw.award")
        es.insert(at, replace(es[at], kind="draw.expire", data={"reason": "NO_NONCE"}))

    fails(relog(expire), Check.LOG, "expired")

    def twice(es: list[Entry]) -> None:
        at = next(i for i, e in enumerate(es) if e.kind == "draw.award")
        es.insert(at, replace(es[at]))

    fails(relog(twice), Check.LOG, "more than once")


def test_entry_times_may_not_go_back() -> None:
    """A signed log whose nonce is stamped before its commit fails check 1."""

    def change(es: list[Entry]) -> None:
        at = next(i for i, e in enumerate(es) if e.kind == "draw.nonce")
        es[at] = replace(es[at], ts=es[at].ts - 3_600_000)

    fails(relog(change), Check.LOG, "times go back")


def test_a_busy_strike_outside_a_seating_request_fails() -> None:
    """BUSY strikes come only in the request that seats (execution or a replacement)."""
    from audit_log.entry import make_req

    def strike_on_its_own(es: list[Entry]) -> None:
        panel = next(e for e in es if e.kind == "draw.execute").data["panels"][0]["panel"]
        at = next(i for i, e in enumerate(es) if e.kind == "draw.open")
        es.insert(
            at,
            replace(
                es[at],
                kind="draw.decline",
                req=make_req(draw_log.REQUESTER.sub, "strike-alone", 0),
                data={
                    "pseud": panel[0],
                    "reason": "BUSY",
                    "evidence_hash": "00" * 32,
                    "void": False,
                },
            ),
        )

    fails(relog(strike_on_its_own), Check.REPLACEMENTS, "outside a seating request")
