"""T-25 (audit-log.md): draw rules that `verify log` checks over the whole log.

Each case writes a log whose entries break one rule, signed by the log key (the
operator's own lie), and expects a DOMAIN VIOLATION at the offending entry. The valid
synthetic draw passes, so each case fails for its own reason.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pytest

from audit_log.entry import Entry, make_req
from audit_log.verify import Category, Options, verify_log
from expert_draw.core import eds1
from tests.support import draw_log, small_logs

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path


def verify(tmp_path: Path, change: Callable[[list[Entry]], None] | None = None, **kw: bool) -> Any:
    log = draw_log.build(**kw)
    if change is not None:
        change(log.entries)
    bodies, notes = draw_log.seal(log)
    folder = small_logs.write(tmp_path / "export", bodies, notes)
    return verify_log(folder, small_logs.TRUST, Options(workers=1))


def violations(report: Any) -> list[str]:
    return [f.msg for f in report.findings if f.category is Category.DOMAIN_VIOLATION]


def at(entries: list[Entry], kind: str) -> int:
    return next(i for i, e in enumerate(entries) if e.kind == kind)


def edit(entries: list[Entry], kind: str, **data: Any) -> None:
    i = at(entries, kind)
    entries[i] = replace(entries[i], data={**entries[i].data, **data})


def move(entries: list[Entry], kind: str, before: str) -> None:
    """Move the entry of ``kind`` to just before the entry of ``before``."""
    item = entries.pop(at(entries, kind))
    entries.insert(at(entries, before), item)


def add(entries: list[Entry], after: str, kind: str, data: dict[str, Any], who: Any = None) -> None:
    i = at(entries, after)
    base = entries[i]
    entries.insert(i + 1, replace(base, kind=kind, data=data, who=who or base.who,
                                  req=make_req((who or base.who).sub, f"extra-{kind}", 0)))  # fmt: skip


def test_a_valid_draw_log_has_no_violation(tmp_path: Path) -> None:
    report = verify(tmp_path)
    assert report.exit_code == 0, report.findings


def test_execute_without_commit(tmp_path: Path) -> None:
    """The first violation stops the run: the nonce, then (without it) the execution."""

    def no_commit(es: list[Entry]) -> None:
        del es[at(es, "draw.commit")]

    def neither(es: list[Entry]) -> None:
        no_commit(es)
        del es[at(es, "draw.nonce")]

    assert violations(verify(tmp_path, no_commit)) == ["draw.nonce before the draw's commit"]
    found = violations(verify(tmp_path / "2", neither))
    assert found == ["draw.execute without the draw's commit and nonce"]


def test_secret_that_does_not_open_the_commitment(tmp_path: Path) -> None:
    found = violations(verify(tmp_path, lambda es: edit(es, "draw.execute", s="11" * 32)))
    assert found == ["draw.execute reveals an s that does not open C_s"]


def test_commit_after_the_nonce(tmp_path: Path) -> None:
    found = violations(verify(tmp_path, lambda es: move(es, "draw.nonce", "draw.commit")))
    assert "draw.nonce before the draw's commit" in found


def test_nonce_after_the_beacon_margin(tmp_path: Path) -> None:
    def change(es: list[Entry]) -> None:
        commit = es[at(es, "draw.commit")]
        params = eds1.Params.decode(bytes.fromhex(commit.data["params"]))
        params = replace(params, drand_chain_hash=bytes(32), delta=100, margin_s=30)
        nonce_ts = es[at(es, "draw.nonce")].ts
        late_round = eds1.round_at(nonce_ts // 1000)  # time(R) is now: past the margin
        edit(es, "draw.commit", params=params.encode().hex(), r=late_round)

    found = violations(verify(tmp_path, change))
    assert "the nonce came after time(R) - margin" in found


def test_lifecycle_out_of_order(tmp_path: Path) -> None:
    found = violations(verify(tmp_path, lambda es: move(es, "draw.close", "draw.open")))
    assert "draw.close out of order (needs draw.open, once)" in found
    found = violations(verify(tmp_path, lambda es: move(es, "draw.award", "draw.open")))
    assert "draw.award out of order (needs draw.close, once)" in found
    found = violations(verify(tmp_path, lambda es: move(es, "draw.decline", "draw.nonce")))
    assert "draw.decline outside the executed, not yet closed draw" in found


def test_public_bundle_before_the_award(tmp_path: Path) -> None:
    def change(es: list[Entry]) -> None:
        add(es, "draw.close", "draw.publish", {"audience": "public", "bundle_sha256": "ab" * 32})

    assert violations(verify(tmp_path, change)) == ["a public draw.publish before draw.award"]


def test_access_without_a_grant(tmp_path: Path) -> None:
    def change(es: list[Entry]) -> None:
        del es[at(es, "confidential.grant")]

    assert "confidential.access without a grant" in violations(verify(tmp_path, change))


def test_supervisor_only_entries(tmp_path: Path) -> None:
    def change(es: list[Entry]) -> None:
        add(es, "draw.execute", "escrow.open", {"key_id": "00" * 8, "reason": "x"})

    assert violations(verify(tmp_path, change)) == ["escrow.open is not by a supervisor"]


@pytest.mark.parametrize("case", ["after", "other tender", "not covering", "none"])
def test_pool_overrides(tmp_path: Path, case: str) -> None:
    """A short pool needs an earlier supervisor's override for this tender, covering it."""

    def change(es: list[Entry]) -> None:
        commit = es[at(es, "draw.commit")]
        params = eds1.Params.decode(bytes.fromhex(commit.data["params"]))
        tender = params.tender_ref.hex() if case != "other tender" else "cd" * 32
        codes = ["A0101"] if case != "not covering" else ["B02"]
        override = replace(
            es[at(es, "draw.request")], kind="draw.override", subj=f"tenders/{tender}",
            who=draw_log.SUPERVISOR, req=make_req(draw_log.SUPERVISOR.sub, "ov", 0),
            data={"approver": draw_log.SUPERVISOR.sub, "tender_ref": tender,
                  "disciplines": codes, "reason": "approved"},
        )  # fmt: skip
        es.insert(1, override)
        seq = 1 if case != "after" else 10**6
        params = replace(params, min_pool_factor=3, override_seq=0 if case == "none" else seq)
        edit(es, "draw.commit", params=params.encode().hex())

    found = violations(verify(tmp_path, change))
    expected = {
        "after": "the pool override is not an earlier draw.override",
        "other tender": "the pool override is for another tender-lot",
        "not covering": "the pool override does not cover ['A0101']",
        "none": "below the pool minimum without an override: ['A0101']",
    }[case]
    assert found == [expected]


def test_override_by_someone_else(tmp_path: Path) -> None:
    def change(es: list[Entry]) -> None:
        override = replace(
            es[1], kind="draw.override", subj=f"tenders/{'ab' * 32}",
            req=make_req(draw_log.SUPERVISOR.sub, "ov", 0), who=draw_log.SUPERVISOR,
            data={"approver": "someone:else", "tender_ref": "ab" * 32, "disciplines": ["A0101"],
                  "reason": "x"},
        )  # fmt: skip
        es.insert(1, override)

    assert violations(verify(tmp_path, change)) == [
        "draw.override: approver is not the appending supervisor"
    ]


def test_incremental_runs_skip_draws_begun_before_the_pin(tmp_path: Path) -> None:
    """With --since, a draw whose request lies before the pinned size is not judged."""
    from audit_log.domain import Rules

    rules = Rules(partial=True)
    assert rules.check(5, 0, "draw.execute", "draws/x", {"role": "requester"}, {"s": "00"}) == []
    assert rules.check(6, 0, "confidential.access", "experts/y", {"sub": "a"}, {}) == []
