"""Properties of the canonical profile and the Merkle tree (audit-log.md §11)."""

from __future__ import annotations

import hashlib

import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from audit_log import canonical, merkle
from audit_log.errors import ProofError

KEYS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_", min_size=1, max_size=8)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.text(st.characters(blacklist_categories=["Cs"]), max_size=20)
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=20,
)


@given(VALUES)
def test_profile_equals_rfc8785(value: object) -> None:
    encoded = canonical.dumps(value)
    assert encoded == rfc8785.dumps(value)  # type: ignore[arg-type]
    assert canonical.loads(encoded) == value


LEAVES = [hashlib.sha256(str(i).encode()).digest() for i in range(300)]


def tree(size: int) -> tuple[merkle.CompactRange, dict[tuple[int, int], bytes]]:
    nodes: dict[tuple[int, int], bytes] = {}
    compact = merkle.CompactRange()
    for index, leaf in enumerate(LEAVES[:size]):
        nodes[(0, index)] = leaf
        for level, node_index, value in compact.append(leaf):
            nodes[(level, node_index)] = value
    return compact, nodes


def test_compact_root_equals_reference_for_every_size_up_to_300() -> None:
    compact = merkle.CompactRange()
    assert compact.root() == merkle.EMPTY_ROOT
    for size in range(1, 301):
        compact.append(LEAVES[size - 1])
        assert compact.root() == merkle.reference_root(LEAVES[:size]), size
        resumed = merkle.CompactRange(compact.size, compact.hashes)
        assert resumed.root() == compact.root()


def test_compact_range_rejects_inconsistent_state() -> None:
    with pytest.raises(ValueError):
        merkle.CompactRange(3, [LEAVES[0]])


@given(st.integers(1, 300), st.data())
def test_inclusion_proofs_verify_and_mutations_fail(size: int, data: st.DataObject) -> None:
    _, nodes = tree(size)
    root = merkle.reference_root(LEAVES[:size])
    index = data.draw(st.integers(0, size - 1))
    proof = merkle.inclusion_proof(index, size, lambda level, i: nodes[(level, i)])
    merkle.verify_inclusion(index, size, LEAVES[index], proof, root)
    mutations = [
        (index + 1, size, proof),
        (index - 1, size, proof),
        (index, size * 2, proof),
        (index, size // 2, proof),
        (index, size, [*proof, LEAVES[0]]),
        (index, size, proof[:-1]),
    ]
    if proof:
        position = data.draw(st.integers(0, len(proof) - 1))
        bit = data.draw(st.integers(0, 255))
        flipped = bytearray(proof[position])
        flipped[bit // 8] ^= 1 << (bit % 8)
        mutations.append((index, size, [*proof[:position], bytes(flipped), *proof[position + 1 :]]))
    for m_index, m_size, m_proof in mutations:
        if (m_index, m_size, m_proof) == (index, size, proof):
            continue
        if (
            m_index == index
            and m_size != size
            and m_size > 0
            and merkle.reference_root(LEAVES[:m_size]) == root
        ):
            continue
        with pytest.raises(ProofError):
            merkle.verify_inclusion(m_index, m_size, LEAVES[index], m_proof, root)


@given(st.integers(1, 300), st.data())
def test_consistency_proofs_verify_and_mutations_fail(size2: int, data: st.DataObject) -> None:
    _, nodes = tree(size2)
    size1 = data.draw(st.integers(1, size2))
    root1, root2 = merkle.reference_root(LEAVES[:size1]), merkle.reference_root(LEAVES[:size2])
    proof = merkle.consistency_proof(size1, size2, lambda level, i: nodes[(level, i)])
    merkle.verify_consistency(size1, size2, proof, root1, root2)
    if size1 == size2:
        assert proof == []
        return
    with pytest.raises(ProofError):
        merkle.verify_consistency(size1, size2, [*proof, LEAVES[0]], root1, root2)
    with pytest.raises(ProofError):
        merkle.verify_consistency(size1, size2, proof[:-1], root1, root2)
    with pytest.raises(ProofError):
        merkle.verify_consistency(size1, size2, proof, root2, root1)
    position = data.draw(st.integers(0, len(proof) - 1))
    flipped = bytearray(proof[position])
    flipped[0] ^= 1
    with pytest.raises(ProofError):
        merkle.verify_consistency(
            size1, size2, [*proof[:position], bytes(flipped), *proof[position + 1 :]], root1, root2
        )
    if size1 + 1 < size2:
        with pytest.raises(ProofError):
            merkle.verify_consistency(size1 + 1, size2, proof, root1, root2)


def test_generation_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        merkle.inclusion_proof(5, 5, lambda *_: b"")
    with pytest.raises(ValueError):
        merkle.consistency_proof(0, 5, lambda *_: b"")
    with pytest.raises(ValueError):
        merkle.consistency_proof(6, 5, lambda *_: b"")


def test_known_roots() -> None:
    # transparency-dev/merkle testonly constants: leaves are the RFC 6962 test inputs.
    inputs = [b"", b"\x00", b"\x10", b"\x20\x21", b"\x30\x31", b"\x40\x41\x42\x43",
              b"\x50\x51\x52\x53\x54\x55\x56\x57", b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f"]  # fmt: skip
    leaves = [merkle.leaf_hash(i) for i in inputs]
    assert merkle.reference_root(leaves[:3]).hex().startswith("aeb6bcfe")
    assert merkle.reference_root(leaves[:3]).hex().endswith("e06e77")
    assert merkle.reference_root(leaves).hex().startswith("5dc9da79")
    assert merkle.reference_root(leaves).hex().endswith("604328")
