from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from audit_log import canonical, state, trust
from audit_log.cosig import WitnessSigner
from audit_log.note import Signer

if TYPE_CHECKING:
    from pathlib import Path

KEY = Signer.generate("audit.test/log")
VKEY = str(KEY.verifier)


def test_full_trust_file() -> None:
    other = str(Signer.generate("bureau.example/re-anchor").verifier)
    witness = WitnessSigner.generate("bureau.example/witness").key
    parsed = trust.parse(
        f'version = 1\nlog_vkey = "{VKEY}"\nescrow_keys = ["{"a" * 64}"]\nreanchor_keys = ["{other}"]\n'
        "reanchor_threshold = 1\ndelta_min = 120\nrequire_beacon = true\n"
        f'[witness]\nkeys = ["{witness}"]\nthreshold = 1\n'
    )
    assert parsed.origin == "audit.test/log"
    assert (parsed.delta_min, parsed.require_beacon, parsed.reanchor_threshold) == (120, True, 1)
    assert (parsed.witness_keys, parsed.witness_threshold) == ((witness,), 1)
    assert parsed.extra == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("version = ", "not valid TOML"),
        (f'version = 1\nlog_vkey = "{VKEY}"\nsurprise = 1\n', "unknown keys"),
        (f'version = 2\nlog_vkey = "{VKEY}"\n', "version = 1"),
        ("version = 1\n", "needs log_vkey"),
        ('version = 1\nlog_vkey = "not+a+key"\n', "trust.toml"),
        (f'version = 1\nlog_vkey = "{VKEY}"\nescrow_keys = ["XYZ"]\n', "escrow_keys"),
        (f'version = 1\nlog_vkey = "{VKEY}"\nreanchor_keys = ["{VKEY}"]\n', "reanchor_threshold"),
    ],
)
def test_trust_file_errors(text: str, message: str) -> None:
    with pytest.raises(trust.TrustError, match=message):
        trust.parse(text)


def test_unreadable_trust_file(tmp_path: Path) -> None:
    with pytest.raises(trust.TrustError, match="cannot read"):
        trust.load(tmp_path / "missing.toml")


def test_state_round_trip_and_errors(tmp_path: Path) -> None:
    pinned = state.PinnedState(
        "audit.test/log",
        3,
        bytes(32),
        "note",
        ((VKEY, 0, None),),
        (bytes(32), bytes(32)),
        bytes(32),
        99,
    )
    path = state.save(tmp_path, pinned)
    assert state.load(tmp_path, "audit.test/log") == pinned
    assert state.load(tmp_path, "other.example/log") is None
    path.write_bytes(b"{not json")
    with pytest.raises(state.StateError, match="unreadable"):
        state.load(tmp_path, "audit.test/log")
    path.write_bytes(canonical.dumps({"origin": "audit.test/log"}))
    with pytest.raises(state.StateError, match="malformed"):
        state.load(tmp_path, "audit.test/log")
    other = state.state_path(tmp_path, "audit.test/log")
    other.write_bytes(canonical.dumps({**pinned.to_json(), "origin": "x.example/y"}))
    with pytest.raises(state.StateError, match="is for"):
        state.load(tmp_path, "audit.test/log")
