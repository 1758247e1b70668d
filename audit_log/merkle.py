"""RFC 9162 Merkle trees: hashing, compact ranges, proofs and their verification.

``leaf = SHA-256(0x00 || entry)``, ``node = SHA-256(0x01 || left || right)``,
``MTH({}) = SHA-256("")``; a tree of n leaves splits at the largest power of two below
n. Perfect subtrees are addressed as ``(level, index)``: the node at level L, index i
covers leaves ``[i·2^L, (i+1)·2^L)``; level 0 is the leaf hashes themselves.

Proof generation reads perfect nodes through a callable, so the same code serves the
in-memory tree and the database store. Verification follows RFC 9162 §2.1.3.2 and
§2.1.4.2 plus the stricter rules of audit-log.md §3, and raises :class:`ProofError`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from audit_log.errors import ProofError

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

NodeReader = Callable[[int, int], bytes]
"""``read(level, index)`` returns the perfect node hash; level 0 is a leaf hash."""


def leaf_hash(entry: bytes) -> bytes:
    """Return ``SHA-256(0x00 || entry)``."""
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return ``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """Largest power of two strictly below ``n`` (n ≥ 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def reference_root(leaves: Sequence[bytes]) -> bytes:
    """The RFC 9162 §2.1.1 MTH by direct recursion over leaf hashes (a test oracle)."""
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = _split(len(leaves))
    return node_hash(reference_root(leaves[:k]), reference_root(leaves[k:]))


class CompactRange:
    """The perfect-subtree roots covering ``[0, size)``, largest first.

    Appending a leaf merges equal-sized subtrees; each merge yields a new perfect node,
    which :meth:`append` returns so that a store can persist it.
    """

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        """Resume from a stored range (``hashes`` one per set bit of ``size``).

        Raises:
            ValueError: the number of hashes does not match ``size``.
        """
        if len(hashes) != size.bit_count():
            msg = f"a compact range of size {size} has {size.bit_count()} hashes, not {len(hashes)}"
            raise ValueError(msg)
        self.size = size
        self.hashes = list(hashes)

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Append one leaf hash; return the new perfect nodes ``(level, index, hash)``."""
        created: list[tuple[int, int, bytes]] = []
        index, level, current = self.size, 0, leaf
        while index & 1:
            current = node_hash(self.hashes.pop(), current)
            index >>= 1
            level += 1
            created.append((level, index, current))
        self.hashes.append(current)
        self.size += 1
        return created

    def root(self) -> bytes:
        """Return the root of the tree of ``size`` leaves."""
        if not self.hashes:
            return EMPTY_ROOT
        root = self.hashes[-1]
        for left in reversed(self.hashes[:-1]):
            root = node_hash(left, root)
        return root

    def nodes(self) -> dict[tuple[int, int], bytes]:
        """The hashes addressed as perfect nodes ``(level, index)``."""
        return dict(zip(perfect_cover(0, self.size), self.hashes, strict=True))

    def copy(self) -> CompactRange:
        """Return an independent copy."""
        return CompactRange(self.size, self.hashes)


def perfect_cover(begin: int, end: int) -> list[tuple[int, int]]:
    """The perfect nodes ``(level, index)`` covering ``[begin, end)``, largest first.

    ``begin`` is aligned as in the RFC recursion (or is 0, as for a compact range).
    """
    cover = []
    position = begin
    for level in range((end - begin).bit_length() - 1, -1, -1):
        if (end - begin) >> level & 1:
            cover.append((level, position >> level))
            position += 1 << level
    return cover


def range_root(begin: int, end: int, read: NodeReader) -> bytes:
    """Return MTH of leaves ``[begin, end)``: its perfect cover folded from the right."""
    nodes = [read(level, index) for level, index in perfect_cover(begin, end)]
    root = nodes[-1]
    for left in reversed(nodes[:-1]):
        root = node_hash(left, root)
    return root


def inclusion_proof(index: int, size: int, read: NodeReader) -> list[bytes]:
    """Return the RFC 9162 audit path of leaf ``index`` in a tree of ``size`` leaves.

    Raises:
        ValueError: ``index`` is not below ``size``.
    """
    if not 0 <= index < size:
        msg = f"index {index} is outside a tree of size {size}"
        raise ValueError(msg)
    path: list[bytes] = []
    begin, end = 0, size
    while end - begin > 1:
        k = _split(end - begin)
        if index < begin + k:
            path.append(range_root(begin + k, end, read))
            end = begin + k
        else:
            path.append(range_root(begin, begin + k, read))
            begin += k
    path.reverse()
    return path


def consistency_proof(size1: int, size2: int, read: NodeReader) -> list[bytes]:
    """Return the RFC 9162 consistency proof from ``size1`` to ``size2``.

    Raises:
        ValueError: unless ``0 < size1 <= size2`` (equal sizes give an empty proof).
    """
    if not 0 < size1 <= size2:
        msg = f"no consistency proof from {size1} to {size2}"
        raise ValueError(msg)
    proof: list[bytes] = []
    m, begin, end, complete = size1, 0, size2, True
    while m != end - begin:
        k = _split(end - begin)
        if m <= k:
            proof.append(range_root(begin + k, end, read))
            end = begin + k
        else:
            proof.append(range_root(begin, begin + k, read))
            begin, m, complete = begin + k, m - k, False
    if not complete:
        proof.append(range_root(begin, end, read))
    proof.reverse()
    return proof


def _require_hash(value: bytes, what: str) -> None:
    if len(value) != HASH_SIZE:
        msg = f"{what} is {len(value)} bytes, not {HASH_SIZE}"
        raise ProofError(msg)


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Verify that ``leaf`` is at ``index`` in the tree of ``size`` with ``root``.

    Raises:
        ProofError: the proof does not verify.
    """
    if not 0 <= index < size:
        msg = f"index {index} is outside a tree of size {size}"
        raise ProofError(msg)
    _require_hash(leaf, "leaf hash")
    _require_hash(root, "root")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        _require_hash(p, "proof hash")
        if sn == 0:
            msg = "inclusion proof is too long"
            raise ProofError(msg)
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        msg = "inclusion proof is too short"
        raise ProofError(msg)
    if r != root:
        msg = "inclusion proof does not lead to the root"
        raise ProofError(msg)


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Verify that the tree of ``size2`` with ``root2`` extends ``size1`` with ``root1``.

    Raises:
        ProofError: the proof does not verify.
    """
    if _trivially_consistent(size1, size2, proof, root1, root2):
        return
    path = list(proof)
    if size1 & (size1 - 1) == 0:
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            msg = "consistency proof is too long"
            raise ProofError(msg)
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        msg = "consistency proof is too short"
        raise ProofError(msg)
    if fr != root1 or sr != root2:
        msg = "consistency proof does not lead to both roots"
        raise ProofError(msg)


def _trivially_consistent(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> bool:
    """Apply the audit-log.md §3 rules before the walk; True when nothing is left to do."""
    if size1 > size2:
        msg = f"size1 {size1} is larger than size2 {size2}"
        raise ProofError(msg)
    if size1 == size2:
        if proof:
            msg = "equal sizes need an empty proof"
            raise ProofError(msg)
        if root1 != root2:
            msg = "equal sizes with different roots"
            raise ProofError(msg)
        if size1 == 0 and root1 != EMPTY_ROOT:
            msg = "the root of the empty tree is SHA-256 of the empty string"
            raise ProofError(msg)
        return True
    if size1 == 0:
        msg = "nothing to prove from the empty tree"
        raise ProofError(msg)
    _require_hash(root1, "root1")
    _require_hash(root2, "root2")
    if not proof:
        msg = "empty consistency proof"
        raise ProofError(msg)
    for p in proof:
        _require_hash(p, "proof hash")
    return False
