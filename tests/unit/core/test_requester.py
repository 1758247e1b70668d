"""The requester's checks before the nonce (expert_draw.core.requester)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from audit_log.receipt import Receipt
from expert_draw.core import eds1
from expert_draw.core.receipts import leaf_proof
from expert_draw.core.requester import CommitCheckError, check_commit
from tests.support import draw_log, small_logs
from tests.vectors.generate import signer

KEYS = [small_logs.KEY.verifier]


def commit_and_receipt(log: draw_log.DrawLog) -> tuple[bytes, str]:
    bodies, notes = draw_log.seal(log)
    seq = next(i for i, e in enumerate(log.entries) if e.kind == "draw.commit")
    size = min(s for s in notes if s > seq)
    proof = leaf_proof(bodies[:size], seq)
    return bodies[seq], Receipt(seq, tuple(proof), notes[size]).format()


def test_a_committed_draw_checks() -> None:
    entry, text = commit_and_receipt(draw_log.build())
    checked = check_commit(entry, text, draw_log.ORIGIN, KEYS, now_s=0)
    assert (checked.draw_id, checked.round, checked.seconds_left) == (draw_log.DRAW_ID, 0, None)


def test_a_beacon_draw_needs_time_left() -> None:
    entry, text = commit_and_receipt(draw_log.build(beacon=True))
    deadline = eds1.round_time(draw_log.ROUND) - 30
    checked = check_commit(entry, text, draw_log.ORIGIN, KEYS, now_s=deadline - 10)
    assert checked.seconds_left == 10
    with pytest.raises(CommitCheckError, match="too late"):
        check_commit(entry, text, draw_log.ORIGIN, KEYS, now_s=deadline)


def test_failures() -> None:
    entry, text = commit_and_receipt(draw_log.build())
    with pytest.raises(CommitCheckError, match="pinned log key"):
        check_commit(entry, text, draw_log.ORIGIN, [signer("someone else").verifier], 0)
    with pytest.raises(CommitCheckError, match="pinned log key"):
        check_commit(entry.replace(b'"r":0', b'"r":1'), text, draw_log.ORIGIN, KEYS, 0)

    def signed_lie(change: dict[str, object]) -> tuple[bytes, str]:
        log = draw_log.build()
        at = next(i for i, e in enumerate(log.entries) if e.kind == "draw.commit")
        log.entries[at] = replace(log.entries[at], data={**log.entries[at].data, **change})
        return commit_and_receipt(log)

    with pytest.raises(CommitCheckError, match="params_hash"):
        check_commit(*signed_lie({"params_hash": "00" * 32}), draw_log.ORIGIN, KEYS, 0)
    with pytest.raises(CommitCheckError, match="commit_digest"):
        check_commit(*signed_lie({"commit_digest": "00" * 32}), draw_log.ORIGIN, KEYS, 0)
    with pytest.raises(CommitCheckError, match="params do not parse"):
        check_commit(*signed_lie({"params": "00"}), draw_log.ORIGIN, KEYS, 0)
    log = draw_log.build()
    bodies, notes = draw_log.seal(log)
    request_at = next(i for i, e in enumerate(log.entries) if e.kind == "draw.request")
    size = min(s for s in notes if s > request_at)
    proof = leaf_proof(bodies[:size], request_at)
    with pytest.raises(CommitCheckError, match=r"not a draw\.commit"):
        check_commit(bodies[request_at], Receipt(request_at, tuple(proof), notes[size]).format(),
                     draw_log.ORIGIN, KEYS, 0)  # fmt: skip
