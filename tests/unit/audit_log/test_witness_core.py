"""The witness's add-checkpoint decision (audit_log.witness.check), case by case.

Each refusal kind has a submission that triggers it and a neighbour that does not; the
trees are real (audit_log.merkle over entry-like leaves) and the log keys real Ed25519.
"""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit_log import checkpoint as cp
from audit_log import merkle, note
from audit_log.witness import Seen, WitnessRefusalError, check

ORIGIN = "audit.example/log"
OTHER = "other.example/log"


def key(label: str, name: str = ORIGIN) -> note.Signer:
    seed = hashlib.sha256(f"test_witness_core {label}".encode()).digest()
    return note.Signer(name, Ed25519PrivateKey.from_private_bytes(seed))


KEY = key("log key")
NEW_KEY = key("rotated log key")
LOG_KEYS = {ORIGIN: [KEY.verifier]}


class Tree:
    """A log's leaves with proofs (the perfect nodes kept in memory)."""

    def __init__(self, count: int, salt: bytes = b"") -> None:
        self.nodes: dict[tuple[int, int], bytes] = {}
        self.compact = merkle.CompactRange()
        self.roots: dict[int, bytes] = {0: merkle.EMPTY_ROOT}
        for i in range(count):
            leaf = merkle.leaf_hash(salt + f"entry {i}".encode())
            self.nodes[(0, i)] = leaf
            for level, index, value in self.compact.append(leaf):
                self.nodes[(level, index)] = value
            self.roots[i + 1] = self.compact.root()

    def consistency(self, old: int, new: int) -> list[bytes]:
        return merkle.consistency_proof(old, new, lambda lv, ix: self.nodes[(lv, ix)])

    def note(self, size: int, signers: list[note.Signer] | None = None) -> str:
        return cp.sign(cp.Checkpoint(ORIGIN, size, self.roots[size]), signers or [KEY])


TREE = Tree(23)


def refusal(
    signed: str,
    old_size: int,
    proof: list[bytes],
    seen: dict[str, Seen] | None = None,
    log_keys: dict[str, list[note.Verifier]] | None = None,
) -> WitnessRefusalError:
    with pytest.raises(WitnessRefusalError) as caught:
        check(signed, old_size, proof, LOG_KEYS if log_keys is None else log_keys, seen or {})
    return caught.value


# -- accepted submissions ------------------------------------------------------------


def test_first_submission_from_size_zero_with_an_empty_proof() -> None:
    accepted = check(TREE.note(5), 0, [], LOG_KEYS, {})
    assert (accepted.origin, accepted.size, accepted.root) == (ORIGIN, 5, TREE.roots[5])


def test_equal_size_same_root_is_accepted_with_an_empty_proof() -> None:
    accepted = check(TREE.note(8), 8, [], LOG_KEYS, {ORIGIN: Seen(8, TREE.roots[8])})
    assert accepted.size == 8


def test_size_zero_twice() -> None:
    assert check(TREE.note(0), 0, [], LOG_KEYS, {}).size == 0


@pytest.mark.parametrize(("old", "new"), [(1, 2), (3, 7), (4, 8), (5, 23), (8, 23), (22, 23)])
def test_consistency_from_a_real_tree(old: int, new: int) -> None:
    proof = TREE.consistency(old, new)
    accepted = check(TREE.note(new), old, proof, LOG_KEYS, {ORIGIN: Seen(old, TREE.roots[old])})
    assert (accepted.size, accepted.root) == (new, TREE.roots[new])


def test_log_key_rotation_with_both_keys_configured() -> None:
    keys = {ORIGIN: [KEY.verifier, NEW_KEY.verifier]}
    seen = {ORIGIN: Seen(5, TREE.roots[5])}
    both = TREE.note(9, [KEY, NEW_KEY])
    assert check(both, 5, TREE.consistency(5, 9), keys, seen).size == 9
    only_new = TREE.note(12, [NEW_KEY])
    seen = {ORIGIN: Seen(9, TREE.roots[9])}
    assert check(only_new, 9, TREE.consistency(9, 12), keys, seen).size == 12
    # A witness that was not told about the new key refuses the new key's checkpoints.
    assert refusal(only_new, 9, TREE.consistency(9, 12), seen).kind == "no_log_signature"


def test_unknown_signatures_beside_a_log_signature_are_ignored() -> None:
    cosigned = TREE.note(6, [KEY, key("someone", "witness.example/w")])
    assert check(cosigned, 0, [], LOG_KEYS, {}).size == 6


# -- unknown_origin (404) --------------------------------------------------------------


def test_unknown_origin() -> None:
    foreign = cp.sign(cp.Checkpoint(OTHER, 3, TREE.roots[3]), [key("other", OTHER)])
    found = refusal(foreign, 0, [])
    assert (found.kind, found.size) == ("unknown_origin", None)
    assert refusal(TREE.note(3), 0, [], log_keys={ORIGIN: []}).kind == "unknown_origin"
    # Known origin: not refused for its origin.
    assert check(TREE.note(3), 0, [], LOG_KEYS, {}).origin == ORIGIN


# -- no_log_signature (403) ------------------------------------------------------------


def test_no_log_signature() -> None:
    stranger = TREE.note(4, [key("stranger")])  # named after the origin, not a log key
    assert refusal(stranger, 0, []).kind == "no_log_signature"
    text, lines = note.split(TREE.note(4))
    blob = lines[0].key_id + bytes([lines[0].signature[0] ^ 1]) + lines[0].signature[1:]
    broken = f"{text}\n— {ORIGIN} {base64.b64encode(blob).decode()}\n"
    assert refusal(broken, 0, []).kind == "no_log_signature"  # a failing log signature
    assert refusal("not a note", 0, []).kind == "no_log_signature"
    assert refusal(note.sign("hello\n", [KEY]), 0, []).kind == "no_log_signature"
    assert check(TREE.note(4), 0, [], LOG_KEYS, {}).size == 4


def test_unknown_origin_is_checked_before_the_signature() -> None:
    unsigned_foreign = cp.sign(cp.Checkpoint(OTHER, 3, TREE.roots[3]), [key("stranger", OTHER)])
    assert refusal(unsigned_foreign, 0, []).kind == "unknown_origin"


# -- old_size_too_large (400) ----------------------------------------------------------


def test_old_size_too_large() -> None:
    seen = {ORIGIN: Seen(9, TREE.roots[9])}
    assert refusal(TREE.note(8), 9, [], seen).kind == "old_size_too_large"
    assert refusal(TREE.note(8), -1, []).kind == "old_size_too_large"
    # One less is not too large: it is a plain (here conflicting) old size.
    assert refusal(TREE.note(8), 8, [], seen).kind == "conflict"


def test_signature_is_checked_before_old_size() -> None:
    assert refusal(TREE.note(8, [key("stranger")]), 9, []).kind == "no_log_signature"


# -- conflict (409) --------------------------------------------------------------------


def test_conflict_old_size_is_not_the_last_cosigned_size() -> None:
    seen = {ORIGIN: Seen(8, TREE.roots[8])}
    found = refusal(TREE.note(12), 5, TREE.consistency(5, 12), seen)
    assert (found.kind, found.size) == ("conflict", 8)
    found = refusal(TREE.note(12), 0, [], seen)  # a log that forgot what it showed
    assert (found.kind, found.size) == ("conflict", 8)
    found = refusal(TREE.note(12), 5, TREE.consistency(5, 12))  # nothing cosigned yet
    assert (found.kind, found.size) == ("conflict", 0)
    assert check(TREE.note(12), 8, TREE.consistency(8, 12), LOG_KEYS, seen).size == 12


def test_conflict_equal_size_another_root() -> None:
    fork = Tree(23, salt=b"fork ")
    seen = {ORIGIN: Seen(8, TREE.roots[8])}
    found = refusal(fork.note(8), 8, [], seen)
    assert (found.kind, found.size) == ("conflict", 8)


def test_other_origins_state_is_separate() -> None:
    keys = {**LOG_KEYS, OTHER: [key("other", OTHER).verifier]}
    seen = {OTHER: Seen(50, bytes(32))}
    assert check(TREE.note(3), 0, [], keys, seen).size == 3


# -- bad_proof (422) -------------------------------------------------------------------


def test_bad_proof_for_another_tree() -> None:
    fork = Tree(23, salt=b"fork ")
    seen = {ORIGIN: Seen(5, TREE.roots[5])}
    found = refusal(fork.note(12), 5, fork.consistency(5, 12), seen)
    assert found.kind == "bad_proof"
    assert refusal(TREE.note(12), 5, fork.consistency(5, 12), seen).kind == "bad_proof"
    assert refusal(TREE.note(12), 5, TREE.consistency(5, 13), seen).kind == "bad_proof"
    assert refusal(TREE.note(12), 5, [], seen).kind == "bad_proof"
    tampered = TREE.consistency(5, 12)
    tampered[0] = bytes([tampered[0][0] ^ 1]) + tampered[0][1:]
    assert refusal(TREE.note(12), 5, tampered, seen).kind == "bad_proof"
    assert check(TREE.note(12), 5, TREE.consistency(5, 12), LOG_KEYS, seen).size == 12


def test_bad_proof_when_a_proof_must_be_empty() -> None:
    assert refusal(TREE.note(5), 0, [bytes(32)]).kind == "bad_proof"
    seen = {ORIGIN: Seen(8, TREE.roots[8])}
    assert refusal(TREE.note(8), 8, [bytes(32)], seen).kind == "bad_proof"


def test_refusal_carries_a_message() -> None:
    found = refusal(TREE.note(8), 9, [])
    assert "old_size 9" in str(found)


def test_sizes_a_witness_cannot_hold_are_refused() -> None:
    """Above 2^63 - 1 (the witness's store and the gRPC old_size): refused, not stored."""
    for size in (2**63, 2**64 - 1):
        huge = cp.sign(cp.Checkpoint(ORIGIN, size, bytes(32)), [KEY])
        assert refusal(huge, 0, []).kind == "old_size_too_large"
    edge = cp.sign(cp.Checkpoint(ORIGIN, 2**63 - 1, bytes(32)), [KEY])
    assert check(edge, 0, [], LOG_KEYS, {}).size == 2**63 - 1


def test_a_proof_of_more_than_63_hashes_is_bad() -> None:
    seen = {ORIGIN: Seen(5, TREE.roots[5])}
    proof = TREE.consistency(5, 20)
    assert check(TREE.note(20), 5, proof, LOG_KEYS, seen).size == 20
    assert refusal(TREE.note(20), 5, proof + [bytes(32)] * (64 - len(proof)), seen).kind == (
        "bad_proof"
    )
    assert refusal(TREE.note(20), 5, [b"short"], seen).kind == "bad_proof"
