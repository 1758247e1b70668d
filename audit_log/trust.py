"""``trust.toml``: what a supervisor pins (audit-log.md §9).

``version = 1`` and ``log_vkey`` (the genesis key, named after the origin) are required;
an unknown key or another version is a usage error. The optional ``[witness]`` table
holds exactly ``keys`` (witness ``cosignature/v1`` vkeys, type 0x04, distinct names or
key IDs) and ``threshold`` (1 to the number of keys): audit-log-v1 §10, §12.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from audit_log.cosig import WitnessKey
from audit_log.errors import AuditLogError, KeyFormatError
from audit_log.note import Verifier

if TYPE_CHECKING:
    from pathlib import Path

_TOP = {"version", "log_vkey", "escrow_keys", "reanchor_keys", "reanchor_threshold",
        "delta_min", "require_beacon", "drand", "witness"}  # fmt: skip
_HEX32 = re.compile(r"[0-9a-f]{64}")


class TrustError(AuditLogError):
    """trust.toml is unreadable or invalid (a usage error, exit 4)."""


@dataclass(frozen=True, slots=True)
class Trust:
    """The pinned trust anchors of one log."""

    log_vkey: Verifier
    escrow_keys: tuple[str, ...] = ()
    reanchor_keys: tuple[Verifier, ...] = ()
    reanchor_threshold: int = 0
    delta_min: int = 100
    require_beacon: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    witness_keys: tuple[WitnessKey, ...] = ()
    witness_threshold: int = 0

    @property
    def origin(self) -> str:
        """The log's origin: the name of its genesis key."""
        return self.log_vkey.name


def parse(text: str) -> Trust:
    """Parse trust.toml text.

    Raises:
        TrustError: invalid TOML, an unknown key, a wrong version or a malformed value.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = f"trust.toml is not valid TOML: {exc}"
        raise TrustError(msg) from None
    unknown = set(data) - _TOP
    if unknown:
        msg = f"trust.toml has unknown keys: {', '.join(sorted(unknown))}"
        raise TrustError(msg)
    if data.get("version") != 1:
        msg = "trust.toml must say version = 1"
        raise TrustError(msg)
    try:
        log_vkey = Verifier.parse(str(data["log_vkey"]))
        reanchor = tuple(Verifier.parse(str(k)) for k in data.get("reanchor_keys", []))
    except KeyError:
        msg = "trust.toml needs log_vkey"
        raise TrustError(msg) from None
    except KeyFormatError as exc:
        msg = f"trust.toml: {exc}"
        raise TrustError(msg) from None
    escrow = tuple(data.get("escrow_keys", []))
    if not all(isinstance(k, str) and _HEX32.fullmatch(k) for k in escrow):
        msg = "trust.toml: escrow_keys are 64 lowercase hex digits each"
        raise TrustError(msg)
    threshold = data.get("reanchor_threshold", 0)
    if reanchor and not (isinstance(threshold, int) and 1 <= threshold <= len(reanchor)):
        msg = "trust.toml: reanchor_threshold must be between 1 and the number of reanchor_keys"
        raise TrustError(msg)
    witness_keys, witness_threshold = _witness(data.get("witness"))
    return Trust(
        log_vkey=log_vkey, escrow_keys=escrow, reanchor_keys=reanchor,
        reanchor_threshold=int(threshold), delta_min=int(data.get("delta_min", 100)),
        require_beacon=bool(data.get("require_beacon", False)),
        extra={k: data[k] for k in ("drand",) if k in data},
        witness_keys=witness_keys, witness_threshold=witness_threshold,
    )  # fmt: skip


def _witness(table: object) -> tuple[tuple[WitnessKey, ...], int]:
    """Parse the ``[witness]`` table (absent: no witness policy).

    Raises:
        TrustError: not exactly ``keys`` and ``threshold``, a key that is not a distinct
            type 0x04 witness vkey, or a threshold outside 1 to the number of keys.
    """
    if table is None:
        return (), 0
    if not isinstance(table, dict) or set(table) != {"keys", "threshold"}:
        msg = "trust.toml: [witness] holds exactly keys and threshold"
        raise TrustError(msg)
    keys, threshold = table["keys"], table["threshold"]
    if not isinstance(keys, list) or not keys or not all(isinstance(k, str) for k in keys):
        msg = "trust.toml: [witness] keys is a non-empty list of witness vkeys"
        raise TrustError(msg)
    try:
        parsed = tuple(WitnessKey.parse(k) for k in keys)
    except KeyFormatError as exc:
        msg = f"trust.toml: [witness] keys: {exc}"
        raise TrustError(msg) from None
    if len({(k.name, k.key_id) for k in parsed}) != len(parsed):
        msg = "trust.toml: [witness] keys must differ in name or key ID"
        raise TrustError(msg)
    if len({k.public_key for k in parsed}) != len(parsed):
        # cosignature/v1 does not sign the witness's name: one key under two names
        # would count twice towards the threshold (C2SP: distinct keys per cosigner).
        msg = "trust.toml: [witness] keys must have distinct public keys"
        raise TrustError(msg)
    if type(threshold) is not int or not 1 <= threshold <= len(parsed):
        msg = "trust.toml: [witness] threshold must be between 1 and the number of keys"
        raise TrustError(msg)
    return parsed, threshold


def load(path: Path) -> Trust:
    """Read and parse a trust.toml file.

    Raises:
        TrustError: unreadable or invalid.
    """
    try:
        return parse(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        msg = f"cannot read {path}: {exc}"
        raise TrustError(msg) from None
