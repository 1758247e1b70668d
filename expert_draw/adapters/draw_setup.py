"""What draws need at start: keys, policy, and the log entries that put them in force.

A draw's params name the policy digest (``rules_digest``), the release's code digest
and the edition digest in force; its escrow goes to the supervisors' keys in force. At
start the service compares the configured values with the log's and appends
``service.release``, ``policy.set`` and ``key.escrow`` entries for whatever changed,
so a verifier with the log finds each value's entry.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from audit_log import canonical
from audit_log.sqlstore import LOG_ID, entry_table
from expert_draw.adapters.audit import pending
from expert_draw.adapters.db.engine import write_transaction
from expert_draw.adapters.draws import DrawConfig
from expert_draw.adapters.keyfiles import read_private
from expert_draw.adapters.release import code_digest
from expert_draw.core import escrow
from expert_draw.core.policy import Policy, PolicyError, load_policy
from expert_draw.errors import ConfigurationError

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy.engine import Connection, Engine

    from expert_draw.adapters.audit import AuditLog
    from expert_draw.config import DrawSettings, Settings

HEX32_CHARS = 64


def _hex32(text: str, setting: str) -> bytes:
    value = text.strip()
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raw = b""
    if len(value) != HEX32_CHARS or len(raw) != escrow.KEY_BYTES:
        msg = f"{setting}: expected 64 hex digits (32 bytes)"
        raise ConfigurationError(msg)
    return raw


def read_policy(path: Path | None) -> Policy:
    """The configured policy, or the defaults.

    Raises:
        ConfigurationError: the file is unreadable or breaks the format.
    """
    if path is None:
        return Policy()
    try:
        return load_policy(path.read_bytes())
    except OSError as exc:
        msg = f"draws.policy: cannot read {path}: {exc.strerror or exc}"
        raise ConfigurationError(msg) from None
    except PolicyError as exc:
        msg = f"draws.policy: {exc}"
        raise ConfigurationError(msg) from None


def _in_force(conn: Connection, kinds: tuple[str, ...]) -> list[dict[str, Any]]:
    """The entries of ``kinds``, oldest first, as parsed objects."""
    return [
        canonical.loads(bytes(body))
        for body in conn.execute(
            select(entry_table.c.body)
            .where(entry_table.c.log_id == LOG_ID, entry_table.c.kind.in_(kinds))
            .order_by(entry_table.c.seq)
        ).scalars()
    ]


def escrow_keys_in_force(entries: list[dict[str, Any]]) -> set[str]:
    """The supervisor keys after ``log.init`` and every ``key.escrow`` (hex)."""
    keys: set[str] = set()
    for entry in entries:
        data = entry["data"]
        if entry["kind"] == "log.init":
            keys = set(data["escrow_keys"])
        else:
            keys = (keys - set(data["remove"])) | set(data["add"])
    return keys


def put_in_force(
    engine: Engine, audit: AuditLog, *, policy: Policy, escrow_keys: list[bytes]
) -> list[str]:
    """Append the entries that make the release, the policy and the keys current.

    Returns the kinds appended (empty when the log already agrees).
    """
    appended: list[str] = []
    release = code_digest()
    with write_transaction(engine) as conn:
        audit.store.lock_head(conn)
        entries = []
        releases = _in_force(conn, ("log.init", "service.release"))
        if releases[-1]["data"]["code_digest"] != release:
            from expert_draw import __version__

            entries.append(pending("service.release", "log",
                                   {"version": __version__, "code_digest": release}))  # fmt: skip
        policies = _in_force(conn, ("policy.set",))
        digest = policy.digest().hex()
        if not policies or policies[-1]["data"]["digest"] != digest:
            entries.append(pending("policy.set", "policy",
                                   {"config": policy.config_json(), "digest": digest}))  # fmt: skip
        current = escrow_keys_in_force(_in_force(conn, ("log.init", "key.escrow")))
        wanted = {k.hex() for k in escrow_keys}
        if current != wanted:
            entries.append(pending("key.escrow", "log", {
                "add": sorted(wanted - current), "remove": sorted(current - wanted),
                "reason": "configuration",
            }))  # fmt: skip
        if entries:
            audit.append(
                conn, who=audit.service_who(), request_id=f"setup-{uuid.uuid4().hex[:24]}",
                payload={"setup": [e.kind for e in entries]}, pending=entries,
            )  # fmt: skip
            appended = [e.kind for e in entries]
    return appended


def load_draw_config(
    settings: Settings, draws: DrawSettings, *, edition: str, edition_digest: str
) -> DrawConfig:
    """Read the tender key, the escrow keys and the policy.

    Raises:
        ConfigurationError: a key file or the policy is unreadable or malformed.
    """
    tender_key = _hex32(
        read_private(settings.path(draws.tender_key), "draws.tender_key"), "draws.tender_key"
    )
    keys = []
    for i, path in enumerate(draws.escrow_keys):
        setting = f"draws.escrow_keys[{i}]"
        try:
            text = settings.path(path).read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            msg = f"{setting}: cannot read {path}: {exc}"
            raise ConfigurationError(msg) from None
        keys.append(_hex32(text, setting))
    if len({escrow.key_id(k) for k in keys}) != len(keys):
        msg = "draws.escrow_keys: a key is listed twice"
        raise ConfigurationError(msg)
    policy = read_policy(None if draws.policy is None else settings.path(draws.policy))
    return DrawConfig(
        tender_key=tender_key, escrow_keys=tuple(keys), edition=edition,
        edition_digest=bytes.fromhex(edition_digest), policy=policy, code_digest=bytes.fromhex(
            code_digest()),
    )  # fmt: skip
