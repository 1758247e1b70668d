"""drand quicknet: pinned chain, the recorded rounds, and every rejection."""

from __future__ import annotations

import hashlib
from typing import Any

import drand_verify
import pytest

from expert_draw.core import beacon, eds1
from expert_draw.core.beacon import QUICKNET, BeaconError, Chain

# The two recorded rounds of draw-protocol.md §4 (Beacon), from the quicknet relays.
ROUND_123 = (
    123,
    "b75c69d0b72a5d906e854e808ba7e2accb1542ac355ae486d591aa9d43765482e26cd02df835d3546d23c4b13e0dfc92",
    "fb8f7bc29bf24db51871ec8c79f3a1e4bd0557bc0dfcee9ed1d924e69d1c60dc",
)
ROUND_657413 = (
    657_413,
    "b713718a38ae728dfd477991af2822e08d2f305e47718cef9f7848ce4050e7be41076862b98fad56e91a6b85b89cd97b",
    "fc1873a13f3545aeade8401532ef5519920652eee6b0d2b19ca12643b87b3587",
)
RECORDED = [ROUND_123, ROUND_657413]


def rejects(reason: str, call: object, *args: object) -> BeaconError:
    with pytest.raises(BeaconError) as caught:
        call(*args)  # type: ignore[operator]
    assert caught.value.reason == reason, caught.value
    return caught.value


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """Record every call that reaches drand_verify (and still run the real check)."""
    seen: list[tuple[Any, ...]] = []
    real = drand_verify.verify_quicknet

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append((*args, *kwargs.values()))
        return real(*args, **kwargs)

    monkeypatch.setattr(drand_verify, "verify_quicknet", spy)
    return seen


# -- the pinned chain ---------------------------------------------------------------


def test_pinned_values() -> None:
    assert QUICKNET.to_json() == {
        "scheme": "bls-unchained-g1-rfc9380",
        "period": 3,
        "genesis_time": 1692803367,
        "chain_hash": "52db9ba70e0cc0f6eaf7803dd07447a1f5477735fd3f661792ba94600c84e971",
        "public_key": "83cf0f2896adee7eb8b5f01fcad3912212c437e0073e911fb90022d3e760183c"
        "8c4b450b6a0a6c3ac6a5776a2d1064510d1fec758c921cc22b0e17e63aaf4bcb"
        "5ed66304de9cf809bd274ca73bab4af5a6e9c76a4bc09e76eae8991ef5ece45a",
    }
    assert beacon.DST == b"BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_"
    assert (beacon.GENESIS_TIME, beacon.PERIOD) == (eds1.DRAND_GENESIS, eds1.DRAND_PERIOD)
    assert len(QUICKNET.chain_hash) == 32
    assert len(QUICKNET.public_key) == 96
    # drand_verify's own default key is the pinned one (we pass it explicitly anyway).
    assert QUICKNET.public_key.hex() in (drand_verify.verify_quicknet.__text_signature__ or "")


def test_round_times() -> None:
    assert eds1.round_time(1) == 1692803367
    assert eds1.round_at(1776643200) == 27_946_612  # 2026-04-20T00:00Z, draw-protocol.md §4
    assert eds1.round_time(123) == 1692803367 + 3 * 122


def test_message_is_the_hash_of_the_round() -> None:
    assert beacon.message(123) == hashlib.sha256((123).to_bytes(8, "big")).digest()
    assert beacon.message(2**64 - 1) == hashlib.sha256(b"\xff" * 8).digest()
    rejects("ROUND", beacon.message, 0)
    rejects("ROUND", beacon.message, 2**64)


def test_chain_json_round_trip() -> None:
    assert Chain.from_json(QUICKNET.to_json()) == QUICKNET
    beacon.check_chain(Chain.from_json(QUICKNET.to_json()))


@pytest.mark.parametrize(
    "change",
    [
        {"extra": 1},
        {"scheme": None},
        {"period": "3"},
        {"period": True},
        {"genesis_time": 1692803367.0},
        {"chain_hash": QUICKNET.chain_hash.hex().upper()},
        {"chain_hash": QUICKNET.chain_hash.hex()[:-2]},
        {"chain_hash": 7},
        {"public_key": QUICKNET.public_key.hex() + "00"},
    ],
)
def test_chain_json_is_strict(change: dict[str, object]) -> None:
    rejects("CHAIN", Chain.from_json, {**QUICKNET.to_json(), **change})


def test_chain_json_members() -> None:
    rejects("CHAIN", Chain.from_json, [])
    partial = QUICKNET.to_json()
    del partial["scheme"]
    rejects("CHAIN", Chain.from_json, partial)


# -- recorded rounds ----------------------------------------------------------------


@pytest.mark.parametrize(("r", "sig_hex", "rho_hex"), RECORDED)
def test_recorded_rounds_verify(
    r: int, sig_hex: str, rho_hex: str, calls: list[tuple[Any, ...]]
) -> None:
    sig = beacon.parse_signature_hex(sig_hex)
    assert len(sig) == 48
    rho = beacon.verify_round(r, sig)
    assert rho.hex() == rho_hex == hashlib.sha256(sig).hexdigest()
    assert beacon.verify_round(r, sig, QUICKNET) == rho
    assert calls == [(r, sig_hex, QUICKNET.public_key.hex())] * 2


@pytest.mark.parametrize(("r", "sig_hex", "rho_hex"), RECORDED)
def test_another_round_is_rejected(r: int, sig_hex: str, rho_hex: str) -> None:
    sig = bytes.fromhex(sig_hex)
    for other in (r - 1, r + 1, 1, 2**64 - 1):
        rejects("SIGNATURE", beacon.verify_round, other, sig)
    others = [x for x, _, _ in RECORDED if x != r]
    for other in others:
        rejects("SIGNATURE", beacon.verify_round, other, sig)


@pytest.mark.parametrize(("r", "sig_hex", "rho_hex"), RECORDED)
def test_every_flipped_bit_is_rejected(r: int, sig_hex: str, rho_hex: str) -> None:
    sig = bytes.fromhex(sig_hex)
    for bit in range(48 * 8):
        flipped = bytearray(sig)
        flipped[bit // 8] ^= 0x80 >> (bit % 8)
        rejects("SIGNATURE", beacon.verify_round, r, bytes(flipped))


def test_swapped_signatures_are_rejected() -> None:
    (r1, s1, _), (r2, s2, _) = RECORDED
    rejects("SIGNATURE", beacon.verify_round, r1, bytes.fromhex(s2))
    rejects("SIGNATURE", beacon.verify_round, r2, bytes.fromhex(s1))


# -- rejected before drand_verify ---------------------------------------------------


def test_bad_rounds_and_lengths_never_reach_drand_verify(calls: list[tuple[Any, ...]]) -> None:
    r, sig_hex, _ = ROUND_123
    sig = bytes.fromhex(sig_hex)
    for bad_round in (0, -1, 2**64):
        rejects("ROUND", beacon.verify_round, bad_round, sig)
    for bad_sig in (sig[:47], sig + b"\x00", b"", bytes(96)):
        rejects("SIGNATURE_LENGTH", beacon.verify_round, r, bad_sig)
    assert calls == []


def test_another_chain_never_reaches_drand_verify(calls: list[tuple[Any, ...]]) -> None:
    r, sig_hex, _ = ROUND_123
    sig = bytes.fromhex(sig_hex)
    mainnet_hash = bytes.fromhex("8990e7a9aaed2ffed73dbd7092123d6f289930540d7651336225dc172e51b2ce")
    for chain in (
        Chain("pedersen-bls-chained", 30, 1595431050, mainnet_hash, QUICKNET.public_key),
        Chain(QUICKNET.scheme, 3, QUICKNET.genesis_time, mainnet_hash, QUICKNET.public_key),
        Chain(
            QUICKNET.scheme, 3, QUICKNET.genesis_time + 1, QUICKNET.chain_hash, QUICKNET.public_key
        ),
        Chain(QUICKNET.scheme, 3, QUICKNET.genesis_time, QUICKNET.chain_hash, bytes(96)),
    ):
        error = rejects("CHAIN", beacon.verify_round, r, sig, chain)
        assert "quicknet" in str(error)
    assert calls == []


@pytest.mark.parametrize(
    "text",
    [
        "",
        "zz" * 48,
        ROUND_123[1].upper(),
        ROUND_123[1][:-2],
        ROUND_123[1][:-1],
        ROUND_123[1] + "0",
        ROUND_123[1] + "\n",
        " " + ROUND_123[1],
        "0x" + ROUND_123[1][2:],
        ROUND_123[1][:-1] + "g",
        ROUND_123[1][:-1] + "٣",  # an Arabic-Indic digit
        "b7 5c" + ROUND_123[1][4:],
    ],
)
def test_malformed_hex_never_reaches_drand_verify(text: str, calls: list[tuple[Any, ...]]) -> None:
    rejects("SIGNATURE_FORMAT", beacon.parse_signature_hex, text)
    assert calls == []


def test_a_disagreeing_randomness_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    r, sig_hex, _ = ROUND_123
    monkeypatch.setattr(drand_verify, "verify_quicknet", lambda *_args, **_kw: "00" * 32)
    rejects("RANDOMNESS", beacon.verify_round, r, bytes.fromhex(sig_hex))
