"""The service's audit log: keys from files, initialisation, self-check, appends.

Every mutation appends its entries through :meth:`AuditLog.append` on the connection of
its own business transaction, so both commit together or not at all. When the start-up
self-check finds an inconsistency the service keeps serving reads but refuses every
write, naming the problem (audit-log.md §5).
"""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING, Any

import structlog

from audit_log import sqlstore
from audit_log.entry import Who
from audit_log.errors import AuditLogError, KeyFormatError
from audit_log.keys import KeyRing
from audit_log.note import Signer
from audit_log.sqlstore import Appended, AuditStore, PendingEntry, RequestReusedError
from expert_draw import __version__
from expert_draw.adapters.db.engine import write_transaction
from expert_draw.adapters.release import code_digest
from expert_draw.errors import ConfigurationError, PreconditionError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from pathlib import Path

    from sqlalchemy.engine import Connection, Engine

    from expert_draw.config import Settings

_log = structlog.get_logger("expert_draw.audit")
SERVICE_PRINCIPAL = "service"


def load_signer(path: Path, origin: str) -> Signer:
    """Read the log's signing key file (``PRIVATE+KEY+<origin>+…``, mode 0600).

    Raises:
        ConfigurationError: unreadable, readable by group or others, malformed, or
            named after another origin.
    """
    setting = "setting audit.signing_key"
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        msg = f"{setting}: cannot read {path}: {getattr(exc, 'strerror', None) or exc}"
        raise ConfigurationError(msg) from None
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        msg = f"{setting}: {path} must not be accessible by group or others (chmod 600)"
        raise ConfigurationError(msg)
    try:
        signer = Signer.parse(text)
    except KeyFormatError as exc:
        msg = f"{setting}: {path}: {exc}"
        raise ConfigurationError(msg) from None
    if signer.name != origin:
        msg = f"{setting}: the key is named {signer.name!r}, but audit.origin is {origin!r}"
        raise ConfigurationError(msg)
    return signer


class AuditLog:
    """The service's handle on its log: one store, one engine, one clock."""

    def __init__(self, engine: Engine, store: AuditStore, clock_ms: Callable[[], int]) -> None:
        """Use ``store`` on ``engine``; ``clock_ms`` gives UTC milliseconds."""
        self.engine = engine
        self.store = store
        self.clock_ms = clock_ms
        self.writes_refused: str | None = None

    @classmethod
    def from_settings(
        cls, settings: Settings, engine: Engine, clock_ms: Callable[[], int]
    ) -> AuditLog:
        """Build the log from the ``audit`` settings (reads the key file)."""
        audit = settings.audit
        signer = load_signer(settings.path(audit.signing_key), audit.origin)
        store = AuditStore(audit.origin, KeyRing.single(signer), audit.replica_id)
        return cls(engine, store, clock_ms)

    @property
    def vkey(self) -> str:
        """The log's current verifier key (what supervisors pin)."""
        return str(self.store.keys.periods[-1].verifier)

    def initialize(self) -> None:
        """Create the log with its ``log.init`` entry if the database has none."""
        with write_transaction(self.engine) as conn:
            if self.store.exists(conn):
                return
            init = {
                "origin": self.store.origin, "hash_alg": "sha256", "format_v": 1,
                "vkeys": [self.vkey], "reanchor_keys": [], "reanchor_threshold": 0,
                "spec_version": "EDS-1", "code_digest": code_digest(), "escrow_keys": [],
                "drand": None,
            }  # fmt: skip
            self.store.create(conn, init, self.clock_ms())
        _log.info("audit.created", origin=self.store.origin, release=__version__)

    def self_check(self, tail: int) -> list[str]:
        """Run the start-up self-check; on any problem, refuse writes from now on."""
        with self.engine.connect() as conn:
            try:
                problems = sqlstore.self_check(self.store, conn, tail)
            except AuditLogError as exc:
                problems = [str(exc)]
        if problems:
            self.writes_refused = "; ".join(problems)
            _log.error("audit.self_check_failed", problems=problems)
        return problems

    def append(  # noqa: PLR0913 - the parts of one audited request
        self,
        conn: Connection,
        *,
        who: Who,
        request_id: str,
        payload: object,
        pending: Sequence[PendingEntry],
        outcome: bytes = b"",
    ) -> Appended:
        """Append entries in the caller's transaction.

        Raises:
            PreconditionError: writes are refused after a failed self-check, or the
                request id was used before with a different payload.
        """
        if self.writes_refused is not None:
            msg = f"audit log self-check failed, writes are refused: {self.writes_refused}"
            raise PreconditionError(msg, reason="AUDIT_SELF_CHECK_FAILED")
        try:
            return self.store.append(
                conn, who=who, request_id=request_id,
                payload_sha256=sqlstore.payload_digest(payload), pending=pending,
                now_ms=self.clock_ms(), outcome=outcome,
            )  # fmt: skip
        except RequestReusedError as exc:
            raise PreconditionError(str(exc), reason="REQUEST_ID_REUSED") from None

    def service_who(self) -> Who:
        """The actor of the service's own entries."""
        return Who("service", SERVICE_PRINCIPAL, self.store.svc)


def pending(kind: str, subj: str, data: Mapping[str, Any]) -> PendingEntry:
    """Shorthand for a pending entry with fixed data."""
    return PendingEntry(kind, subj, data)
