"""The verifier with trust.toml ``[witness]`` (audit-log-v1 §11 step 4, §12).

Exports are built in memory (tests.support.small_logs) and cosigned here by witnesses
with fixed seeds; the witness variants of the tamper catalogue's T-9 and T-16 merge a
cosigned note held by a witness into the export, as another copy's note at its size.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit_log import checkpoint as cp
from audit_log import merkle, state, trust, verify
from audit_log.cosig import WitnessSigner
from audit_log.entry import Entry
from audit_log.note import Signer
from audit_log.verify import Category, Options, Report, verify_log
from tests.support.small_logs import KEY, TRUST, entries, seal, write
from tests.vectors.generate import ORIGIN

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

TX = [2, 1, 3, 1, 2, 1]  # checkpoints at sizes 1, 3, 4, 7, 8, 10, 11
SIZES = [1, 3, 4, 7, 8, 10, 11]
NEWEST = 11
TS = 1_776_643_300


def witness(number: int) -> WitnessSigner:
    seed = hashlib.sha256(f"test_verify_witness witness {number}".encode()).digest()
    return WitnessSigner(f"witness.example/w{number}", Ed25519PrivateKey.from_private_bytes(seed))


W0, W1, W2, W3 = (witness(n) for n in range(4))


def trust_with(witnesses: list[WitnessSigner], threshold: int) -> trust.Trust:
    keys = ", ".join(f'"{w.key}"' for w in witnesses)
    return trust.parse(
        f'version = 1\nlog_vkey = "{KEY.verifier}"\n[witness]\nkeys = [{keys}]\nthreshold = {threshold}\n'
    )


ONE = trust_with([W0], 1)
TWO_OF_THREE = trust_with([W0, W1, W2], 2)


def body(signed: str) -> str:
    return cp.parse_unverified(signed).body()


def cosigned(signed: str, *witnesses: WitnessSigner, ts: int = TS) -> str:
    """``signed`` with each witness's cosignature line appended."""
    return signed + "".join(w.cosign(body(signed), ts) for w in witnesses)


def log() -> tuple[list[Entry], list[int]]:
    return entries(TX)


def clean() -> tuple[list[bytes], dict[int, str]]:
    return seal(*log())


def first(report: Report) -> tuple[Category, int | None] | None:
    return (report.findings[0].category, report.findings[0].seq) if report.findings else None


def run(
    folder: Path,
    bodies: list[bytes],
    notes: dict[int, str],
    pinned: trust.Trust = ONE,
    extra: list[tuple[int, str]] | None = None,
    **kwargs: Any,
) -> Report:
    return verify_log(write(folder, bodies, notes, extra), pinned, **kwargs)


# -- trust.toml [witness] ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("threshold = 1\n", "exactly keys and threshold"),
        (f'keys = ["{W0.key}"]\n', "exactly keys and threshold"),
        (f'keys = ["{W0.key}"]\nthreshold = 1\nextra = 1\n', "exactly keys and threshold"),
        ("keys = []\nthreshold = 1\n", "non-empty list"),
        ("keys = [1]\nthreshold = 1\n", "non-empty list"),
        ('keys = "x"\nthreshold = 1\n', "non-empty list"),
        (f'keys = ["{W0.key}"]\nthreshold = 0\n', "threshold"),
        (f'keys = ["{W0.key}"]\nthreshold = 2\n', "threshold"),
        (f'keys = ["{W0.key}"]\nthreshold = true\n', "threshold"),
        (f'keys = ["{W0.key}"]\nthreshold = "1"\n', "threshold"),
        (f'keys = ["{W0.key}", "{W0.key}"]\nthreshold = 1\n', "differ"),
        (f'keys = ["{KEY.verifier}"]\nthreshold = 1\n', "type 0x04"),
        ('keys = ["not a key"]\nthreshold = 1\n', "witness key"),
    ],
)
def test_witness_table_errors(table: str, message: str) -> None:
    with pytest.raises(trust.TrustError, match=message):
        trust.parse(f'version = 1\nlog_vkey = "{KEY.verifier}"\n[witness]\n{table}')
    with pytest.raises(trust.TrustError, match="exactly keys"):
        trust.parse(f'version = 1\nlog_vkey = "{KEY.verifier}"\nwitness = 1\n')


def test_witness_table_parsed() -> None:
    assert TWO_OF_THREE.witness_keys == (W0.key, W1.key, W2.key)
    assert TWO_OF_THREE.witness_threshold == 2
    assert (TRUST.witness_keys, TRUST.witness_threshold) == ((), 0)


# -- the witnessed head ------------------------------------------------------------------


def test_witnessed_newest_checkpoint(tmp_path: Path) -> None:
    bodies, notes = clean()
    notes[NEWEST] = cosigned(notes[NEWEST], W0)
    report = run(tmp_path, bodies, notes)
    assert report.findings == []
    assert report.new_state is not None
    assert report.new_state.size == NEWEST
    assert report.new_state.checkpoint == notes[NEWEST]


def test_unwitnessed_tail_is_policy_and_state_stops_at_the_witnessed_head(tmp_path: Path) -> None:
    bodies, notes = clean()
    notes[7] = cosigned(notes[7], W0)
    report = run(tmp_path / "export", bodies, notes)
    assert (report.exit_code, first(report)) == (3, (Category.WITNESS_POLICY, 7))
    assert "entries 7..10" in report.findings[0].msg
    assert report.new_state is not None
    assert (report.new_state.size, report.new_state.checkpoint) == (7, notes[7])
    prefix = merkle.CompactRange()
    for b in bodies[:7]:
        prefix.append(merkle.leaf_hash(b))
    assert report.new_state.root == prefix.root()
    assert report.new_state.compact == tuple(prefix.hashes)
    assert report.new_state.offset == sum(len(b) + 1 for b in bodies[:7])
    # An incremental run from there: still policy, the state does not move back or on.
    state.save(tmp_path / "state", report.new_state)
    again = verify_log(tmp_path / "export", ONE, Options(since=True), state_dir=tmp_path / "state")
    assert (again.exit_code, first(again)) == (3, (Category.WITNESS_POLICY, 7))
    assert again.new_state is None
    # Once the newest is cosigned, the incremental run advances to it.
    notes[NEWEST] = cosigned(notes[NEWEST], W0)
    write(tmp_path / "export", bodies, notes)
    later = verify_log(tmp_path / "export", ONE, Options(since=True), state_dir=tmp_path / "state")
    assert later.findings == []
    assert later.new_state is not None
    assert later.new_state.size == NEWEST
    full = verify_log(tmp_path / "export", ONE)
    assert full.new_state == later.new_state


def test_nothing_witnessed(tmp_path: Path) -> None:
    bodies, notes = clean()
    report = run(tmp_path, bodies, notes)
    assert (report.exit_code, first(report)) == (3, (Category.WITNESS_POLICY, 0))
    assert report.new_state is None
    strict = run(tmp_path, bodies, notes, options=Options(strict=True))
    assert [f.category for f in strict.findings] == [Category.WITNESS_POLICY]


def test_unsigned_tail_and_witness_policy_together(tmp_path: Path) -> None:
    bodies, notes = clean()
    kept = {s: n for s, n in notes.items() if s <= 8}
    kept[4] = cosigned(kept[4], W0)
    report = run(tmp_path, bodies, kept)
    assert [(f.category, f.seq) for f in report.findings] == [
        (Category.UNSIGNED_TAIL, 8),
        (Category.WITNESS_POLICY, 4),
    ]
    assert report.new_state is not None
    assert report.new_state.size == 4


def test_threshold_two_of_three(tmp_path: Path) -> None:
    bodies, notes = clean()
    notes[4] = cosigned(notes[4], W0, W1)
    notes[8] = cosigned(notes[8], W2)  # one of two
    notes[NEWEST] = cosigned(notes[NEWEST], W1)
    report = run(tmp_path, bodies, notes, TWO_OF_THREE)
    assert first(report) == (Category.WITNESS_POLICY, 4)
    notes[NEWEST] = cosigned(notes[NEWEST], W0, W2)
    report = run(tmp_path, bodies, notes, TWO_OF_THREE)
    assert report.findings == []
    assert report.new_state is not None
    assert report.new_state.size == NEWEST


def test_cosignatures_of_one_checkpoint_add_up_across_copies(tmp_path: Path) -> None:
    bodies, notes = clean()
    copy = cosigned(notes[NEWEST], W2)  # another copy of the same checkpoint
    notes[NEWEST] = cosigned(notes[NEWEST], W0)
    report = run(tmp_path, bodies, notes, TWO_OF_THREE, extra=[(NEWEST, copy)])
    assert report.findings == []
    # The same witness twice (two timestamps) counts once.
    again = cosigned(clean()[1][NEWEST], W0, ts=TS + 60)
    report = run(tmp_path, bodies, notes, TWO_OF_THREE, extra=[(NEWEST, again)])
    assert first(report) == (Category.WITNESS_POLICY, 0)


def test_bad_cosignature_of_a_listed_key(tmp_path: Path) -> None:
    bodies, notes = clean()
    misplaced = W0.cosign(body(notes[7]), TS)  # a line for size 7 on the note at size 8
    notes[8] += misplaced
    report = run(tmp_path, bodies, notes)
    assert (report.exit_code, first(report)) == (1, (Category.BAD_SIGNATURE, 7))
    bodies, notes = clean()
    line = W0.cosign(body(notes[NEWEST]), TS)
    notes[NEWEST] += line.replace(line[-6:-2], "AAAA" if line[-6:-2] != "AAAA" else "BBBB")
    assert first(run(tmp_path, bodies, notes)) == (Category.BAD_SIGNATURE, NEWEST - 1)


def test_unlisted_witnesses_are_ignored(tmp_path: Path) -> None:
    bodies, notes = clean()
    notes[NEWEST] = cosigned(notes[NEWEST], W3)
    notes[8] += W3.cosign(body(notes[7]), TS)  # even a line that would not verify
    report = run(tmp_path, bodies, notes)
    assert first(report) == (Category.WITNESS_POLICY, 0)
    # A listed name with another key ID is not the listed key either.
    impostor = WitnessSigner(W0.name, Ed25519PrivateKey.generate())
    notes[NEWEST] = cosigned(clean()[1][NEWEST], impostor)
    assert first(run(tmp_path, bodies, notes)) == (Category.WITNESS_POLICY, 0)


def test_without_witness_table_cosignatures_are_ignored(tmp_path: Path) -> None:
    bodies, notes = clean()
    for size in SIZES:
        notes[size] = cosigned(notes[size], W0, W1, W2, W3)
    notes[8] += W0.cosign(body(notes[7]), TS)  # a bad line: nobody listed, nobody checks
    report = run(tmp_path, bodies, notes, TRUST)
    assert report.findings == []
    assert report.new_state is not None
    assert report.new_state.size == NEWEST


def test_sixteen_signature_lines(tmp_path: Path) -> None:
    bodies, notes = clean()
    many = [witness(n) for n in range(15)]
    notes[NEWEST] = cosigned(notes[NEWEST], *many)
    assert run(tmp_path, bodies, notes, TRUST).findings == []
    assert run(tmp_path, bodies, notes, trust_with(many, 15)).findings == []
    notes[NEWEST] = cosigned(notes[NEWEST], witness(15))  # 17 lines
    assert first(run(tmp_path, bodies, notes, TRUST)) == (Category.REJECT, None)


def test_the_witnessed_head_needs_its_log_signature(tmp_path: Path) -> None:
    bodies, notes = clean()
    stranger = Signer.generate(ORIGIN)
    forged = cp.sign(cp.parse_unverified(notes[7]), [stranger])  # right root, unknown key
    notes[7] = cosigned(forged, W0)
    report = run(tmp_path, bodies, notes)
    assert (report.exit_code, first(report)) == (1, (Category.REJECT, 6))


def test_witness_head_with_a_key_rotation_in_the_unwitnessed_tail(tmp_path: Path) -> None:
    items, sizes = log()
    new_key = Signer.generate(ORIGIN)
    items[8] = replace(
        items[8], kind="key.rotate", subj="log", req="admin:ops-1/rot#0",
        data={"old_vkey": str(KEY.verifier), "new_vkey": str(new_key.verifier),
              "reason": "planned", "from_size": 10},
    )  # fmt: skip
    items[9] = replace(items[9], req="admin:ops-1/t5#0")
    sizes = [1, 3, 4, 7, 8, 9, 10, 11]
    bodies, notes = seal(
        items, sizes, keys_at=lambda s: [KEY] if s <= 8 else [KEY, new_key] if s < 10 else [new_key]
    )
    notes[4] = cosigned(notes[4], W0)
    report = run(tmp_path / "export", bodies, notes)
    assert first(report) == (Category.WITNESS_POLICY, 4)
    assert report.new_state is not None
    assert report.new_state.keys == ((str(KEY.verifier), 0, None),)  # as at size 4
    state.save(tmp_path / "state", report.new_state)
    again = verify_log(tmp_path / "export", ONE, Options(since=True), state_dir=tmp_path / "state")
    assert first(again) == (Category.WITNESS_POLICY, 4)  # the rotation is applied once


# -- witness.note entries ----------------------------------------------------------------


def with_witness_note(
    size: int, line_for: bytes | None = None, at: int = 9, changes: dict[str, Any] | None = None
) -> tuple[list[bytes], dict[int, str], str]:
    """The log with entry ``at`` a witness.note of W0 for ``size``.

    The line cosigns the log's root at ``size`` (or ``line_for``); ``changes`` edit data.
    """
    items, sizes = log()
    bodies, _ = seal(items, sizes)
    compact = merkle.CompactRange()
    for b in bodies[:size]:
        compact.append(merkle.leaf_hash(b))
    root = compact.root() if line_for is None else line_for
    line = W0.cosign(cp.Checkpoint(ORIGIN, size, root).body(), TS)
    data = {"witness": W0.name, "size": size, "line": line, **(changes or {})}
    items[at] = replace(
        items[at], kind="witness.note", subj="log", data=data, req=f"service/cosign-{at}#0"
    )
    items[at] = replace(items[at], who=replace(items[at].who, role="service", sub="service"))
    bodies, notes = seal(items, sizes)
    return bodies, notes, line


@pytest.mark.parametrize("size", [0, 4, 5, 8])  # 5: a size inside a transaction
def test_witness_note_that_agrees(tmp_path: Path, size: int) -> None:
    bodies, notes, _ = with_witness_note(size)
    notes[NEWEST] = cosigned(notes[NEWEST], W0)
    assert run(tmp_path, bodies, notes).findings == []


@pytest.mark.parametrize("size", [0, 4, 5, 8])
def test_witness_note_contradicting_the_log_is_fork(tmp_path: Path, size: int) -> None:
    bodies, notes, line = with_witness_note(size, line_for=bytes(32))
    notes[NEWEST] = cosigned(notes[NEWEST], W0)
    report = run(tmp_path, bodies, notes)
    assert (report.exit_code, first(report)) == (2, (Category.FORK, 9))
    assert line in report.findings[0].msg  # the evidence: the cosignature and the body
    assert f"{ORIGIN}\n{size}\n" in report.findings[0].msg
    assert report.new_state is None
    # Without [witness], nobody's line is checked.
    assert run(tmp_path, bodies, notes, TRUST).findings == []


def test_witness_note_of_an_unlisted_witness_is_not_checked(tmp_path: Path) -> None:
    bodies, notes, _ = with_witness_note(4, line_for=bytes(32))
    notes[NEWEST] = cosigned(notes[NEWEST], W1)
    report = run(tmp_path, bodies, notes, trust_with([W1], 1))
    assert report.findings == []


def test_witness_note_after_the_pinned_size_naming_an_older_size(tmp_path: Path) -> None:
    bodies, notes, _ = with_witness_note(3, line_for=bytes(32), at=9)
    for size in (8, NEWEST):
        notes[size] = cosigned(notes[size], W0)
    folder = write(tmp_path / "export", bodies, notes)
    kept = {s: n for s, n in notes.items() if s <= 8}
    first_run = verify_log(write(tmp_path / "old", bodies[:8], kept), ONE)
    assert first_run.new_state is not None
    state.save(tmp_path / "state", first_run.new_state)
    report = verify_log(folder, ONE, Options(since=True), state_dir=tmp_path / "state")
    assert first(report) == (Category.FORK, 9)


@pytest.mark.parametrize(
    "changes",
    [
        {"size": 10},  # beyond its seq (9)
        {"witness": "witness.example/someone-else"},
        {"line": "— witness.example/w0 AAAA\n"},  # a blob under 5 bytes
        {"line": "not a line\n"},
        {"line": "— witness.example/w0 AAAAAAAA\n— witness.example/w0 BBBBBBBB\n"},
    ],
    ids=["size", "name", "short", "syntax", "two lines"],
)
def test_malformed_witness_note_is_schema(tmp_path: Path, changes: dict[str, Any]) -> None:
    bodies, notes, _ = with_witness_note(4, changes=changes)
    report = run(tmp_path, bodies, notes, TRUST)
    assert (report.exit_code, first(report)) == (1, (Category.SCHEMA, 9))


def test_a_line_without_its_newline_is_schema(tmp_path: Path) -> None:
    bodies, notes, line = with_witness_note(4)
    assert line.endswith("\n")
    assert run(tmp_path, bodies, notes, TRUST).findings == []
    bodies, notes, _ = with_witness_note(4, changes={"line": line.removesuffix("\n")})
    assert first(run(tmp_path, bodies, notes, TRUST)) == (Category.SCHEMA, 9)


def test_a_listed_witness_line_of_the_wrong_length_is_fork(tmp_path: Path) -> None:
    short = base64.b64encode(W0.key.key_id + bytes(8)).decode()
    bodies, notes, _ = with_witness_note(4, changes={"line": f"— {W0.name} {short}\n"})
    notes[NEWEST] = cosigned(notes[NEWEST], W0)
    assert run(tmp_path, bodies, notes, TRUST).findings == []  # nobody listed, not checked
    assert first(run(tmp_path, bodies, notes)) == (Category.FORK, 9)


# -- tamper catalogue, witness column ----------------------------------------------------


def test_t9_truncated_tail_with_its_checkpoints_detected_by_a_witness(tmp_path: Path) -> None:
    bodies, notes = clean()
    for size in (4, NEWEST):
        notes[size] = cosigned(notes[size], W0)
    held = notes[NEWEST]  # the witness keeps what it cosigned
    cut = {s: n for s, n in notes.items() if s <= 7}
    # Without the witness's copy the rolled-back export looks whole, but not witnessed.
    report = run(tmp_path, bodies[:7], cut)
    assert (report.exit_code, first(report)) == (3, (Category.WITNESS_POLICY, 4))
    # With the cosigned checkpoint merged in at its size: ROLLBACK, with that note.
    report = run(tmp_path, bodies[:7], cut, extra=[(NEWEST, held)])
    assert (report.exit_code, first(report)) == (2, (Category.ROLLBACK, 7))
    assert held in report.findings[0].msg
    assert report.new_state is None
    # An uncosigned note beyond the entries stays TRUNCATION (T-8).
    report = run(tmp_path, bodies[:7], cut, extra=[(NEWEST, clean()[1][NEWEST])])
    assert first(report) == (Category.TRUNCATION, 7)


def test_t16_rewritten_history_meets_a_cosigned_note(tmp_path: Path) -> None:
    _, notes = clean()
    notes[7] = cosigned(notes[7], W0)
    held = notes[7]
    items, sizes = log()
    items[5] = replace(items[5], data={"reason": "rewritten"})
    fork_bodies, fork_notes = seal(items, sizes)  # the operator re-signs everything
    fork_notes[NEWEST] = cosigned(fork_notes[NEWEST], W1)  # another witness, not listed
    assert run(tmp_path, fork_bodies, fork_notes).exit_code == 3  # alone: not witnessed
    report = run(tmp_path, fork_bodies, fork_notes, extra=[(7, held)])
    assert (report.exit_code, first(report)) == (2, (Category.FORK, None))
    assert held in report.findings[0].msg
    assert fork_notes[7] in report.findings[0].msg  # the log's own checkpoint at that size
    # At a size where the rewritten log has no checkpoint of its own.
    del fork_notes[7]
    report = run(tmp_path, fork_bodies, fork_notes, extra=[(7, held)])
    assert first(report) == (Category.FORK, None)
    # Without [witness] the same export is an equivocation (two log-signed roots).
    fork_notes[7] = seal(items, sizes)[1][7]
    report = run(tmp_path, fork_bodies, fork_notes, TRUST, extra=[(7, held)])
    assert first(report) == (Category.EQUIVOCATION, None)


def test_t16_rewritten_history_keeps_a_witness_note(tmp_path: Path) -> None:
    bodies, _, _ = with_witness_note(4)
    entry = Entry.decode(bodies[9])
    items, sizes = log()
    items[2] = replace(items[2], data={"reason": "rewritten"})
    items[9] = replace(items[9], kind=entry.kind, subj=entry.subj, who=entry.who,
                       req=entry.req, data=entry.data)  # fmt: skip
    fork_bodies, fork_notes = seal(items, sizes)
    fork_notes[NEWEST] = cosigned(fork_notes[NEWEST], W0)
    report = run(tmp_path, fork_bodies, fork_notes)
    assert (report.exit_code, first(report)) == (2, (Category.FORK, 9))


def test_t1_edit_under_a_witnessed_newest_checkpoint_is_tamper(tmp_path: Path) -> None:
    bodies, notes = clean()
    notes[NEWEST] = cosigned(notes[NEWEST], W0)
    edited = list(bodies)
    edited[-1] = bodies[-1].replace(b'"reason":"r', b'"reason":"R', 1)  # only the root sees it
    report = run(tmp_path, edited, notes)
    assert (report.exit_code, first(report)) == (1, (Category.TAMPER, 10))
    # An edit before a witnessed size, with later unwitnessed checkpoints: the first
    # mismatch is localized from the last size that matched (4), not the witnessed 7.
    notes[7] = cosigned(notes[7], W0)
    edited = list(bodies)
    edited[6] = bodies[6].replace(b'"reason":"r', b'"reason":"R', 1)
    for i in range(7, len(edited)):  # re-chain the rest, no key
        prev = merkle.leaf_hash(edited[i - 1]).hex()
        edited[i] = replace(Entry.decode(edited[i]), prev=prev).encode()
    report = run(tmp_path, edited, notes)
    assert (report.exit_code, first(report)) == (1, (Category.TAMPER, 4))


def test_t29_changed_root_keeps_its_cosignature(tmp_path: Path) -> None:
    bodies, notes = clean()
    notes[7] = cosigned(notes[7], W0)
    wrong = cp.Checkpoint(ORIGIN, 7, bytes(32)).body()
    notes[7] = notes[7].replace(body(notes[7]), wrong)
    assert first(run(tmp_path, bodies, notes)) == (Category.BAD_SIGNATURE, 6)


# -- each witness check matters ----------------------------------------------------------


def _noop(*_args: object) -> None:
    return None


WITNESS_CHECKS: dict[str, tuple[str, Any]] = {
    "cosignatures verified": ("verify_cosignatures", _noop),
    "witness.note syntax": ("_check_witness_note", _noop),
    "witness.note lines": ("check_witness_notes", _noop),
    "witness policy": ("check_witness_policy", _noop),
    "witnessed notes of another root judged": ("resolve_set_aside", _noop),
    "witnessed notes of another root set aside": (
        "_set_aside",
        lambda _self, _size, _root, items, _last_good: items,
    ),
}


@pytest.mark.parametrize("check", sorted(WITNESS_CHECKS))
def test_removing_a_witness_check_changes_a_verdict(
    check: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scenarios: list[Callable[[Path], None]] = [
        test_unwitnessed_tail_is_policy_and_state_stops_at_the_witnessed_head,
        test_bad_cosignature_of_a_listed_key,
        test_t9_truncated_tail_with_its_checkpoints_detected_by_a_witness,
        test_t16_rewritten_history_meets_a_cosigned_note,
        test_t16_rewritten_history_keeps_a_witness_note,
        lambda folder: test_malformed_witness_note_is_schema(folder, {"size": 10}),
        lambda folder: test_witness_note_contradicting_the_log_is_fork(folder, 4),
    ]
    name, replacement = WITNESS_CHECKS[check]
    monkeypatch.setattr(verify._Run, name, replacement)
    failed = 0
    for number, scenario in enumerate(scenarios):
        try:
            scenario(tmp_path / str(number))
        except AssertionError:
            failed += 1
    assert failed, f"no scenario notices the verifier without its {check}"


def test_without_witnesses_the_state_keeps_the_key_periods_of_its_size(tmp_path: Path) -> None:
    """A key.rotate in the unsigned tail is not pinned (else --since would apply it twice)."""
    items, _ = log()
    new_key = Signer.generate(ORIGIN)
    items[8] = replace(
        items[8], kind="key.rotate", subj="log", req="admin:ops-1/rot#0",
        data={"old_vkey": str(KEY.verifier), "new_vkey": str(new_key.verifier),
              "reason": "planned", "from_size": 10},
    )  # fmt: skip
    items[9] = replace(items[9], req="admin:ops-1/t5#0")
    bodies, notes = seal(items, [1, 3, 4, 7, 8])
    report = run(tmp_path / "export", bodies, notes, TRUST)
    assert first(report) == (Category.UNSIGNED_TAIL, 8)
    assert report.new_state is not None
    assert report.new_state.keys == ((str(KEY.verifier), 0, None),)
    state.save(tmp_path / "state", report.new_state)
    again = verify_log(
        tmp_path / "export", TRUST, Options(since=True), state_dir=tmp_path / "state"
    )
    assert first(again) == (Category.UNSIGNED_TAIL, 8)


def test_a_tail_of_witness_notes_alone_is_not_a_policy_finding(tmp_path: Path) -> None:
    """Recording a cosignature appends a witness.note, which no witness is asked to
    cosign: a log that ends in it is witnessed as far as it can be."""
    bodies, notes, _ = with_witness_note(10, at=10)  # entry 10 cosigns size 10
    notes[10] = cosigned(notes[10], W0)
    report = run(tmp_path, bodies, notes)
    assert report.findings == []
    assert report.new_state is not None
    assert report.new_state.size == 10  # pinned at the witnessed head, not past it
    # Another kind of entry in that tail is a finding again.
    bodies, notes, _ = with_witness_note(8, at=9)  # entry 10 is an ordinary entry
    notes[10] = cosigned(notes[10], W0)
    report = run(tmp_path, bodies, notes)
    assert (report.exit_code, first(report)) == (3, (Category.WITNESS_POLICY, 10))


def _rogue(size: int, root: bytes) -> str:
    """A note a listed witness cosigned but the log never signed (another key, same name)."""
    body = cp.Checkpoint(ORIGIN, size, root).body()
    return cp.sign(cp.Checkpoint(ORIGIN, size, root), [Signer.generate(ORIGIN)]) + W0.cosign(
        body, TS
    )


def test_a_witness_line_alone_is_no_evidence_of_a_fork_or_rollback(tmp_path: Path) -> None:
    """A listed witness cannot make an honest log look forked or rolled back: the note it
    cosigned must carry the log's signature too, else the note is what is wrong."""
    bodies, notes = clean()
    notes[NEWEST] = cosigned(notes[NEWEST], W0)
    # Another root at size 7, cosigned, not log-signed: BAD SIGNATURE, not FORK.
    report = run(tmp_path, bodies, notes, extra=[(7, _rogue(7, bytes(32)))])
    assert report.exit_code == 1
    assert first(report) == (Category.BAD_SIGNATURE, 6)
    # A size beyond the entries, cosigned, not log-signed: BAD SIGNATURE, not ROLLBACK.
    report = run(tmp_path, bodies, notes, extra=[(NEWEST + 5, _rogue(NEWEST + 5, bytes(32)))])
    assert report.exit_code == 1
    assert first(report) == (Category.BAD_SIGNATURE, None)


def test_one_public_key_under_two_names_is_refused() -> None:
    alias = WitnessSigner("witness.example/alias", W0._key)
    assert alias.key.public_key == W0.key.public_key
    with pytest.raises(trust.TrustError, match="distinct public keys"):
        trust_with([W0, alias], 2)


def test_a_witness_note_counts_as_the_cosignature_of_its_checkpoint(tmp_path: Path) -> None:
    """The log carries its own cosignatures: an export whose notes have no cosignature
    line (`log follow` streams a checkpoint before the witness has seen it) is witnessed
    up to the size its witness.note entries cosign."""
    bodies, notes, _ = with_witness_note(10, at=10)  # entry 10 cosigns size 10
    report = run(tmp_path, bodies, notes)  # no cosignature line in any note
    assert report.findings == []
    assert report.new_state is not None
    assert report.new_state.size == 10
    # A witness.note cosigning an older size leaves a tail of other entries: policy.
    bodies, notes, _ = with_witness_note(8, at=10)
    report = run(tmp_path, bodies, notes)
    assert (report.exit_code, first(report)) == (3, (Category.WITNESS_POLICY, 8))
    # Threshold 2 of 3 with one witness's note: not witnessed.
    bodies, notes, _ = with_witness_note(10, at=10)
    report = run(tmp_path, bodies, notes, TWO_OF_THREE)
    assert (report.exit_code, first(report)) == (3, (Category.WITNESS_POLICY, 0))
