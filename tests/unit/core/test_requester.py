"""The requester's checks before the nonce (expert_draw.core.requester)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from audit_log.receipt import Receipt
from expert_draw.core import eds1
from expert_draw.core.receipts import leaf_proof
from expert_draw.core.requester import Asked, CommitCheckError, check_commit
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


def test_the_params_must_say_what_was_asked() -> None:
    """§13 check 6: each mismatch with the request is refused, by name."""
    entry, text = commit_and_receipt(draw_log.build())
    asked = Asked(disciplines=(("A0101", 5, 2, None),), beacon=False)
    assert check_commit(entry, text, draw_log.ORIGIN, KEYS, 0, asked=asked).draw_id
    exact = replace(asked, disciplines=(("A0101", 5, 2, 3),), draw_id=draw_log.DRAW_ID)
    assert check_commit(entry, text, draw_log.ORIGIN, KEYS, 0, asked=exact).draw_id
    for wrong, says in [
        (replace(asked, disciplines=(("A0101", 4, 2, None),)), "disciplines"),
        (replace(asked, disciplines=(("A0101", 5, 1, None),)), "disciplines"),
        (replace(asked, disciplines=(("A0101", 5, 2, 4),)), "disciplines"),
        (replace(asked, disciplines=(("A0101", 5, 2, None), ("B01", 1, 0, None))), "disciplines"),
        (replace(asked, disciplines=(("A0102", 5, 2, None),)), "disciplines"),
        (replace(asked, beacon=True), "beacon"),
        (replace(asked, supersedes="d-earlier"), "supersedes"),
        (replace(asked, override_seq=7), "override"),
        (replace(asked, draw_id="d-other"), "not d-other"),
    ]:
        with pytest.raises(CommitCheckError, match=says):
            check_commit(entry, text, draw_log.ORIGIN, KEYS, 0, asked=wrong)


def test_the_beacon_needs_delta_min_and_the_allowance() -> None:
    """§13 check 7: delta below the pinned minimum, or too little time for the allowance."""
    entry, text = commit_and_receipt(draw_log.build(beacon=True))
    deadline = eds1.round_time(draw_log.ROUND) - 30
    with pytest.raises(CommitCheckError, match="delta_min"):
        check_commit(entry, text, draw_log.ORIGIN, KEYS, 0, delta_min=101)
    assert check_commit(entry, text, draw_log.ORIGIN, KEYS, deadline - 10, allowance_s=9).round
    with pytest.raises(CommitCheckError, match="too late"):
        check_commit(entry, text, draw_log.ORIGIN, KEYS, deadline - 10, allowance_s=10)


def test_a_signed_commit_missing_a_member_is_a_failed_check() -> None:
    """A correctly signed entry whose data lacks what §9 says is refused by name, not
    with a traceback (the nonce is not sent)."""
    log = draw_log.build()
    at = next(i for i, e in enumerate(log.entries) if e.kind == "draw.commit")
    log.entries[at] = replace(log.entries[at], data={**log.entries[at].data, "envelopes": "x"})
    bodies, notes = draw_log.seal(log)
    size = min(s for s in notes if s > at)
    text = Receipt(at, tuple(leaf_proof(bodies[:size], at)), notes[size]).format()
    with pytest.raises(CommitCheckError, match=r"malformed member"):
        check_commit(bodies[at], text, draw_log.ORIGIN, KEYS, 0)
