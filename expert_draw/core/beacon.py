"""drand quicknet: the pinned chain and the check of a round's signature (pure).

The only importer of ``drand_verify`` (0.2.1), whose ``verify_quicknet(round, sig_hex)``
knows one chain, quicknet, and panics (a ``BaseException``, not a ``ValueError``) on
malformed hex: every value is checked here before it reaches it, and it only ever sees
the lowercase hex of exactly 48 bytes. ``sig_R`` is always the raw 48 bytes; ``ρ`` is
``SHA-256(sig_R)``. docs/spec/draw-v1.md (Beacon) is the normative description.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import drand_verify

from expert_draw.core.eds1 import DRAND_GENESIS, DRAND_PERIOD, ReasonedError, sha256, u64

SCHEME = "bls-unchained-g1-rfc9380"
PERIOD = DRAND_PERIOD  # seconds
GENESIS_TIME = DRAND_GENESIS  # UNIX seconds
CHAIN_HASH = bytes.fromhex("52db9ba70e0cc0f6eaf7803dd07447a1f5477735fd3f661792ba94600c84e971")
PUBLIC_KEY = bytes.fromhex(
    "83cf0f2896adee7eb8b5f01fcad3912212c437e0073e911fb90022d3e760183c"
    "8c4b450b6a0a6c3ac6a5776a2d1064510d1fec758c921cc22b0e17e63aaf4bcb"
    "5ed66304de9cf809bd274ca73bab4af5a6e9c76a4bc09e76eae8991ef5ece45a"
)  # G2, compressed
DST = b"BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_"
SIGNATURE_BYTES = 48  # G1, compressed
MAX_ROUND = 2**64 - 1
_SIGNATURE_HEX = re.compile(r"[0-9a-f]{96}")
_CHAIN_MEMBERS = frozenset({"scheme", "period", "genesis_time", "chain_hash", "public_key"})


class BeaconError(ReasonedError):
    """A beacon value that is malformed, from another chain, or does not verify.

    ``reason`` is stable (the vectors name it): ``ROUND`` (outside 1..2^64-1),
    ``SIGNATURE_LENGTH`` (not 48 bytes), ``SIGNATURE_FORMAT`` (not 96 lowercase hex
    digits), ``CHAIN`` (not the pinned quicknet, or a malformed chain object),
    ``SIGNATURE`` (the BLS check fails), ``RANDOMNESS`` (``drand_verify`` disagrees
    with ``SHA-256(sig)``).
    """


@dataclass(frozen=True, slots=True)
class Chain:
    """A drand chain's public information, as the bundle's ``drand`` object holds it."""

    scheme: str
    period: int
    genesis_time: int
    chain_hash: bytes
    public_key: bytes

    def to_json(self) -> dict[str, str | int]:
        """``{scheme, period, genesis_time, chain_hash, public_key}``, bytes as lowercase hex."""
        return {
            "scheme": self.scheme,
            "period": self.period,
            "genesis_time": self.genesis_time,
            "chain_hash": self.chain_hash.hex(),
            "public_key": self.public_key.hex(),
        }

    @classmethod
    def from_json(cls, value: object) -> Chain:
        """Parse a bundle's ``drand`` object strictly (the inverse of :meth:`to_json`).

        Raises:
            BeaconError: other members, wrong types, or hex that is not lowercase or not
                32 (``chain_hash``) and 96 (``public_key``) bytes (``CHAIN``).
        """
        if not isinstance(value, dict) or set(value) != _CHAIN_MEMBERS:
            msg = f"drand is an object with exactly the members {sorted(_CHAIN_MEMBERS)}"
            raise BeaconError(msg, reason="CHAIN")
        scheme, period, genesis = value["scheme"], value["period"], value["genesis_time"]
        if not isinstance(scheme, str) or type(period) is not int or type(genesis) is not int:
            msg = "drand: scheme is a string, period and genesis_time are integers"
            raise BeaconError(msg, reason="CHAIN")
        return cls(
            scheme,
            period,
            genesis,
            _hex(value["chain_hash"], 32, "chain_hash"),
            _hex(value["public_key"], 96, "public_key"),
        )


def _hex(value: object, size: int, what: str) -> bytes:
    if not isinstance(value, str) or re.fullmatch(f"[0-9a-f]{{{2 * size}}}", value) is None:
        msg = f"drand: {what} is {size} bytes as lowercase hex"
        raise BeaconError(msg, reason="CHAIN")
    return bytes.fromhex(value)


QUICKNET = Chain(SCHEME, PERIOD, GENESIS_TIME, CHAIN_HASH, PUBLIC_KEY)
"""The one chain EDS-1 v1 accepts (draw-v1.md, Beacon)."""


def check_chain(chain: Chain) -> None:
    """Require the pinned quicknet chain, the only one ``drand_verify`` can check.

    Raises:
        BeaconError: any other chain (``CHAIN``).
    """
    if chain != QUICKNET:
        msg = (
            f"only the pinned drand quicknet chain ({CHAIN_HASH.hex()}) is supported, "
            f"not {chain.chain_hash.hex()} ({chain.scheme})"
        )
        raise BeaconError(msg, reason="CHAIN")


def message(round: int) -> bytes:  # noqa: A002 - drand's own name for it
    """The signed message of a quicknet round: ``SHA-256(u64be(round))``.

    Raises:
        BeaconError: ``round`` outside 1..2^64-1 (``ROUND``).
    """
    return sha256(u64(_round(round)))


def _round(round: int) -> int:  # noqa: A002 - drand's own name for it
    if not 1 <= round <= MAX_ROUND:
        msg = f"a drand round is 1..2^64-1, got {round}"
        raise BeaconError(msg, reason="ROUND")
    return round


def parse_signature_hex(text: str) -> bytes:
    """The raw 48-byte signature from its hex text (96 lowercase hex digits, nothing else).

    Raises:
        BeaconError: any other text (``SIGNATURE_FORMAT``).
    """
    if _SIGNATURE_HEX.fullmatch(text) is None:
        msg = f"a quicknet signature is 96 lowercase hex digits, got {len(text)} characters"
        raise BeaconError(msg, reason="SIGNATURE_FORMAT")
    return bytes.fromhex(text)


def verify_round(round: int, sig: bytes, chain: Chain = QUICKNET) -> bytes:  # noqa: A002 - drand's own name for it
    """Verify round ``round``'s BLS signature ``sig`` (raw 48 bytes); return ``ρ = H(sig)``.

    The checks run in this order: ``1 ≤ round ≤ 2^64-1``, ``len(sig) = 48``, ``chain``
    is the pinned quicknet, then the BLS check of ``sig`` on ``SHA-256(u64be(round))``
    under the pinned key and DST, by ``drand_verify`` (which sees only valid hex).

    Raises:
        BeaconError: ``ROUND``, ``SIGNATURE_LENGTH``, ``CHAIN``, ``SIGNATURE`` (does not
            verify: another round's signature, a flipped bit, not a curve point), or
            ``RANDOMNESS``.
    """
    _round(round)
    if len(sig) != SIGNATURE_BYTES:
        msg = f"a quicknet signature is {SIGNATURE_BYTES} bytes, got {len(sig)}"
        raise BeaconError(msg, reason="SIGNATURE_LENGTH")
    check_chain(chain)
    try:
        randomness = drand_verify.verify_quicknet(round, sig.hex(), pk_str=chain.public_key.hex())
    except ValueError as e:
        msg = f"the signature does not verify for round {round} under the quicknet key: {e}"
        raise BeaconError(msg, reason="SIGNATURE") from e
    rho = sha256(sig)
    if randomness != rho.hex():
        msg = f"drand_verify returned randomness {randomness!r}, not SHA-256(sig)"
        raise BeaconError(msg, reason="RANDOMNESS")
    return rho
