"""A witness for supervisory bodies: ``WitnessService`` over mTLS, its state in SQLite.

``expert-draw witness serve --config witness.toml`` runs it. The decision is the pure
:func:`audit_log.witness.check`; this module reads the settings, keeps the newest
cosigned checkpoint per origin in a SQLite file (WAL, synchronous=FULL) and makes the
check, the store and the cosignature one step under ``BEGIN IMMEDIATE``, so two
submissions never both advance from one size. Settings (TOML, paths relative to the
file's folder)::

    listen = "127.0.0.1:50071"
    signing_key = "witness.key"        # PRIVATE+KEY+<name>+<id>+base64(0x04 ‖ seed)
    state = "witness.db"
    [tls]
    server_cert = "server.pem"
    server_key = "server.key"
    client_ca = "clients-ca.pem"       # only clients with a certificate it issued
    [[logs]]
    vkeys = ["<log vkey>"]             # the log's keys; their name is the origin
"""

from __future__ import annotations

import sqlite3
import threading
import time
import tomllib
from concurrent import futures
from dataclasses import dataclass
from typing import TYPE_CHECKING

import grpc
import structlog
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from audit_log import note
from audit_log.cosig import WitnessSigner
from audit_log.errors import AuditLogError
from audit_log.witness import Seen, WitnessRefusalError, check
from expert_draw.adapters.grpc.status import to_status
from expert_draw.adapters.keyfiles import read_private
from expert_draw.api.v1 import witness_service_pb2 as pb
from expert_draw.api.v1 import witness_service_pb2_grpc as pb_grpc
from expert_draw.errors import (
    AccessDeniedError,
    ConfigurationError,
    Error,
    InvalidRequestError,
    NotFoundError,
    PreconditionError,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

_log = structlog.get_logger("expert_draw.witness")


@dataclass(frozen=True, slots=True)
class WitnessSettings:
    """What ``witness serve`` needs."""

    listen: str
    signer: WitnessSigner
    state: Path
    server_cert: bytes
    server_key: bytes
    client_ca: bytes
    log_keys: dict[str, list[note.Verifier]]


def load_settings(path: Path, listen: str | None = None) -> WitnessSettings:
    """Read witness.toml.

    Raises:
        ConfigurationError: unreadable, a member missing or malformed.
    """
    base = path.parent
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        tls = data["tls"]
        key_text = read_private(base / data["signing_key"], "signing_key")
        signer = WitnessSigner.parse(key_text.strip())
        log_keys: dict[str, list[note.Verifier]] = {}
        for log in data["logs"]:
            for vkey in log["vkeys"]:
                key = note.Verifier.parse(vkey)
                log_keys.setdefault(key.name, []).append(key)
        return WitnessSettings(
            listen=listen or str(data.get("listen", "127.0.0.1:50071")),
            signer=signer,
            state=base / data.get("state", "witness.db"),
            server_cert=(base / tls["server_cert"]).read_bytes(),
            server_key=(base / tls["server_key"]).read_bytes(),
            client_ca=(base / tls["client_ca"]).read_bytes(),
            log_keys=log_keys,
        )
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError, AuditLogError) as exc:
        msg = f"witness settings {path}: {exc!r}"
        raise ConfigurationError(msg) from None


def _log_signed(signed: str, keys: Sequence[note.Verifier]) -> str:
    """What the witness keeps as evidence (``witness show``): the log's lines only.

    The note's configured log keys' lines, at most 15, leaving room for its own line.
    """
    text, lines = note.split(signed)
    known = {(k.name, k.key_id) for k in keys}
    kept = [line.line for line in lines if (line.name, line.key_id) in known]
    return text + "\n" + "".join(kept[: note.MAX_SIGNATURES - 1])


class WitnessState:
    """The newest cosigned checkpoint per origin, in a SQLite file."""

    def __init__(self, path: Path) -> None:
        """Open (and create) the state file."""
        self._path = path
        self._lock = threading.Lock()  # one connection, one writer at a time
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS seen (origin TEXT PRIMARY KEY, size INTEGER NOT NULL,"
            " root BLOB NOT NULL, checkpoint TEXT NOT NULL, cosigned_at INTEGER NOT NULL,"
            " cosignature TEXT NOT NULL)"
        )

    def add(
        self, settings: WitnessSettings, old_size: int, proof: Sequence[bytes], signed: str,
        now: Callable[[], float] = time.time,
    ) -> str:  # fmt: skip
        """Check a submission and, if accepted, store it and return the cosignature.

        Raises:
            WitnessRefusalError: refused (nothing stored).
        """
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                rows = self._db.execute("SELECT origin, size, root FROM seen").fetchall()
                seen = {str(o): Seen(int(s), bytes(r)) for o, s, r in rows}
                checkpoint = check(signed, old_size, proof, settings.log_keys, seen)
                stamp = int(now())
                line = settings.signer.cosign(checkpoint.body(), stamp)
                evidence = _log_signed(signed, settings.log_keys[checkpoint.origin])
                self._db.execute(
                    "INSERT INTO seen VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(origin) DO UPDATE SET"
                    " size = excluded.size, root = excluded.root,"
                    " checkpoint = excluded.checkpoint, cosigned_at = excluded.cosigned_at,"
                    " cosignature = excluded.cosignature",
                    (checkpoint.origin, checkpoint.size, checkpoint.root, evidence, stamp, line),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        _log.info("witness.cosigned", origin=checkpoint.origin, size=checkpoint.size)
        return line

    def latest(self) -> list[tuple[str, int, str]]:
        """Per origin: the newest cosigned size and that checkpoint with the cosignature.

        The note is the log's signed checkpoint with this witness's line appended: the
        evidence a supervisor merges into an export (audit-log-v1 §9) when the log is
        later found truncated or rewritten.
        """
        with self._lock:
            rows = self._db.execute(
                "SELECT origin, size, checkpoint, cosignature FROM seen ORDER BY origin"
            ).fetchall()
        return [(str(o), int(s), str(c) + str(line)) for o, s, c, line in rows]

    def close(self) -> None:
        """Close the state file."""
        self._db.close()


def refusal_error(refusal: WitnessRefusalError) -> Error:
    """The service error (and so the gRPC status) of a C2SP refusal."""
    message = str(refusal)
    if refusal.kind == "unknown_origin":
        return NotFoundError("Log", "checkpoint origin", reason="UNKNOWN_LOG")
    if refusal.kind == "no_log_signature":
        return AccessDeniedError(message, reason="NO_LOG_SIGNATURE")
    if refusal.kind == "old_size_too_large":
        return InvalidRequestError.field("old_size", message, reason="OLD_SIZE_TOO_LARGE")
    if refusal.kind == "bad_proof":
        return InvalidRequestError.field("consistency_proof", message, reason="BAD_PROOF")
    error = PreconditionError(message, reason="WITNESS_CONFLICT")
    error.info = (("witness_size", str(refusal.size or 0)),)
    return error


class WitnessServicer(pb_grpc.WitnessServiceServicer):
    """AddCheckpoint: C2SP tlog-witness over gRPC."""

    def __init__(self, settings: WitnessSettings, state: WitnessState) -> None:
        """Serve with these settings and this state."""
        self._settings = settings
        self._state = state

    def AddCheckpoint(
        self, request: pb.AddCheckpointRequest, context: grpc.ServicerContext
    ) -> pb.AddCheckpointResponse:
        """Check the checkpoint against the last cosigned one and cosign it."""
        try:
            line = self._state.add(
                self._settings, request.old_size, list(request.consistency_proof),
                request.checkpoint,
            )  # fmt: skip
        except WitnessRefusalError as refusal:
            _log.warning("witness.refused", kind=refusal.kind, size=refusal.size)
            context.abort_with_status(to_status(refusal_error(refusal)))
        return pb.AddCheckpointResponse(
            cosignature=line, witness_vkey=str(self._settings.signer.key)
        )


def start_witness(settings: WitnessSettings) -> tuple[grpc.Server, int, WitnessState]:
    """Start the witness server (mTLS, health, reflection); return it, its port, its state."""
    state = WitnessState(settings.state)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="witness"))
    pb_grpc.add_WitnessServiceServicer_to_server(WitnessServicer(settings, state), server)
    checker = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(checker, server)
    name = pb.DESCRIPTOR.services_by_name["WitnessService"].full_name
    reflection.enable_server_reflection((name, reflection.SERVICE_NAME), server)
    credentials = grpc.ssl_server_credentials(
        [(settings.server_key, settings.server_cert)],
        root_certificates=settings.client_ca,
        require_client_auth=True,
    )
    port = server.add_secure_port(settings.listen, credentials)
    if port == 0:
        msg = f"cannot listen on {settings.listen}"
        raise ConfigurationError(msg)
    server.start()
    for service in ("", name):
        checker.set(service, health_pb2.HealthCheckResponse.SERVING)
    _log.info("witness.started", listen=settings.listen, port=port,
              witness=str(settings.signer.key))  # fmt: skip
    return server, port, state
