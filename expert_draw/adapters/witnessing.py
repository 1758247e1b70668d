"""The service's side of witnessing: submit checkpoints, keep and log the cosignatures.

Every ``[witness] interval_seconds`` each replica takes the newest checkpoint whose last
entry is not a ``witness.note`` and submits it to each configured witness that has not
cosigned it, with a consistency proof from the size that witness last cosigned
(``audit_cosig``); all witnesses thus cosign the same sizes. A returned line is checked
against the witness's pinned key, then stored in ``audit_cosig`` and logged as a
``witness.note`` entry in one transaction.
Replicas racing on one size store one line (the table's key decides; the loser skips).
A witness that answers ``WITNESS_CONFLICT`` with a size this log never had, or with the
same size, has seen another tree: that is logged as ``witness.fork`` at error level.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import grpc
import structlog
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from audit_log import note, sqlstore
from audit_log.checkpoint import parse_unverified
from audit_log.cosig import WitnessKey
from audit_log.errors import AuditLogError
from audit_log.sqlstore import PendingEntry
from expert_draw.adapters.db.engine import write_transaction
from expert_draw.adapters.grpc.status import error_info
from expert_draw.api.v1 import witness_service_pb2 as pb
from expert_draw.api.v1 import witness_service_pb2_grpc as pb_grpc
from expert_draw.errors import ConfigurationError, Error

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.engine import Connection

    from expert_draw.adapters.audit import AuditLog
    from expert_draw.config import Settings, WitnessTarget

_log = structlog.get_logger("expert_draw.witness")
WITNESS_NOTE = "witness.note"
_SIZE = re.compile(r"0|[1-9][0-9]{0,18}")  # a size the witness may hold (below 2^63)


@dataclass
class WitnessClient:
    """One configured witness: its pinned key and a channel to it."""

    key: WitnessKey
    target: str
    stub: pb_grpc.WitnessServiceStub
    channel: grpc.Channel

    @classmethod
    def open(cls, settings: Settings, target: WitnessTarget) -> WitnessClient:
        """Parse the key and open an mTLS channel (files are read now).

        Raises:
            ConfigurationError: a file is unreadable or the vkey is not a witness key.
        """
        try:
            key = WitnessKey.parse(target.vkey)
            credentials = grpc.ssl_channel_credentials(
                root_certificates=settings.path(target.ca).read_bytes(),
                private_key=settings.path(target.key).read_bytes(),
                certificate_chain=settings.path(target.cert).read_bytes(),
            )
        except (OSError, AuditLogError) as exc:
            msg = f"[witness] {target.target}: {exc}"
            raise ConfigurationError(msg) from None
        channel = grpc.secure_channel(target.target, credentials)
        return cls(key, target.target, pb_grpc.WitnessServiceStub(channel), channel)


def _refusal(error: grpc.RpcError) -> tuple[str, int | None]:
    """The ErrorInfo reason of a witness's refusal and its ``witness_size``, if any."""
    info = error_info(error)
    if info is None:
        return "", None
    size = info.metadata.get("witness_size", "")
    return info.reason, int(size) if _SIZE.fullmatch(size) else None


class Cosigner:
    """Submits checkpoints to the witnesses and records what they return."""

    def __init__(
        self, audit: AuditLog, witnesses: list[WitnessClient], timeout: float,
        on_fork: Callable[[], None] = lambda: None,
    ) -> None:  # fmt: skip
        """Work on ``audit`` with these witnesses; each call waits ``timeout`` seconds.

        ``on_fork`` is called for each fork a witness reveals (the metric's counter).
        """
        self._audit = audit
        self._witnesses = witnesses
        self._timeout = timeout
        self._on_fork = on_fork

    def close(self) -> None:
        """Close the channels."""
        for witness in self._witnesses:
            witness.channel.close()

    def run_once(self) -> int:
        """One round over every witness; returns how many cosignatures were stored."""
        stored = 0
        for witness in self._witnesses:
            try:
                stored += self._submit(witness)
            except (grpc.RpcError, Error, AuditLogError, ValueError) as exc:
                why = str(exc) or type(exc).__name__
                _log.warning("witness.submit_failed", witness=witness.key.name,
                             target=witness.target, error=why)  # fmt: skip
        return stored

    def _last_cosigned(self, conn: Connection, name: str) -> int:
        table = sqlstore.cosig_table
        size = conn.execute(
            select(func.max(table.c.size)).where(
                table.c.log_id == sqlstore.LOG_ID, table.c.signer == name
            )
        ).scalar()
        return int(size or 0)

    def _target(self, conn: Connection) -> tuple[int, str] | None:
        """The newest checkpoint whose last entry is not a ``witness.note``.

        Every witness is sent this one size, so their lines add up to a threshold: the
        ``witness.note`` recording one witness's line makes a newer checkpoint, which is
        not sent to the next witness (audit-log-v1 §12.4).
        """
        checkpoints, entries = sqlstore.checkpoint_table, sqlstore.entry_table
        row = conn.execute(
            select(checkpoints.c.size, checkpoints.c.note)
            .join(entries, (entries.c.log_id == checkpoints.c.log_id)
                  & (entries.c.seq == checkpoints.c.size - 1))
            .where(checkpoints.c.log_id == sqlstore.LOG_ID, entries.c.kind != WITNESS_NOTE)
            .order_by(checkpoints.c.size.desc())
            .limit(1)
        ).first()  # fmt: skip
        return None if row is None else (int(row.size), str(row.note))

    def _submit(self, witness: WitnessClient) -> int:
        store = self._audit.store
        with self._audit.engine.connect() as conn:
            target = self._target(conn)
            last = self._last_cosigned(conn, witness.key.name)
        if target is None or target[0] <= last:
            return 0
        size, signed = target
        old = last
        for _ in range(2):  # a second try from the size the witness says it holds
            with self._audit.engine.connect() as conn:
                proof = store.consistency_proof(conn, old, size) if 0 < old < size else []
            request = pb.AddCheckpointRequest(old_size=old, consistency_proof=proof,
                                              checkpoint=signed)  # fmt: skip
            try:
                response = witness.stub.AddCheckpoint(request, timeout=self._timeout)
                break
            except grpc.RpcError as error:
                reason, held = _refusal(error)
                if reason == "BAD_PROOF":  # our proof is of our tree: the witness has another
                    self._fork(witness, old, size)
                    return 0
                if reason != "WITNESS_CONFLICT" or held is None:
                    raise
                if held > size and self._has_checkpoint(held):
                    return 0  # another replica submitted a newer one: the next round follows
                if held > size or held == old:
                    self._fork(witness, held, size)
                    return 0
                if held < last:  # it cosigned `last` before: its state was lost or reset
                    _log.warning("witness.state_behind", witness=witness.key.name,
                                 witness_size=held, cosigned_before=last)  # fmt: skip
                old = held
        else:
            return 0
        return self._record(witness, size, signed, response.cosignature)

    def _has_checkpoint(self, size: int) -> bool:
        with self._audit.engine.connect() as conn:
            return self._audit.store.checkpoint_note(conn, size) is not None

    def _fork(self, witness: WitnessClient, held: int, size: int) -> None:
        """The witness holds a size this log never checkpointed, or another root at it."""
        _log.error("witness.fork", witness=witness.key.name, witness_size=held, log_size=size,
                   detail="the witness cosigned a tree this log does not have")  # fmt: skip
        self._on_fork()

    def _record(self, witness: WitnessClient, size: int, signed: str, line: str) -> int:
        body = parse_unverified(signed).body()
        parsed = note.split(body + "\n" + line)[1]
        if len(parsed) != 1:
            msg = "the witness returned more than one line"
            raise AuditLogError(msg)
        witness.key.verify(body, parsed[0])  # raises NoteError: never store a bad line
        name = witness.key.name
        request_id = f"witness-{hashlib.sha256(name.encode()).hexdigest()[:16]}-{size}"
        try:
            with write_transaction(self._audit.engine) as conn:
                if self._last_cosigned(conn, name) >= size:
                    return 0
                conn.execute(sqlstore.cosig_table.insert().values(
                    log_id=sqlstore.LOG_ID, size=size, signer=name, line=line))  # fmt: skip
                self._audit.append(
                    conn, who=self._audit.service_who(), request_id=request_id,
                    payload={"witness": name, "size": size},
                    pending=[PendingEntry(WITNESS_NOTE, "log",
                                          {"line": line, "size": size, "witness": name})],
                )  # fmt: skip
        except IntegrityError:
            return 0  # another replica stored this size's line first
        _log.info("witness.cosigned", witness=name, size=size)
        return 1
