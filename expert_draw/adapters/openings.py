"""The supervisor's replay openings (docs/spec/draw-v1.md §15), taken and logged.

The openings disclose, for every opened draw (frozen before the log size they are taken
at, and closed, cancelled or expired), its sealed replay inputs, every member's expert and
salt, and which members the avoid list names; and, for every member expert, the opening
of its birth-date commitment and the times of its credit events. They are logged as an
``export`` entry (``what`` ``replay-openings size <size>``, ``data_sha256`` the file's
SHA-256) in the same call and before any byte of them is returned (细则 第35条). A draw
still in progress is never opened.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from audit_log import canonical
from audit_log.errors import CanonicalError
from audit_log.sqlstore import LOG_ID, entry_table
from expert_draw.adapters.db.engine import read_snapshot
from expert_draw.adapters.db.models import (
    draw_member_table,
    draw_table,
    expert_credit_table,
    expert_salt_table,
    expert_table,
)
from expert_draw.adapters.draws import TABLE as DRAW_TABLE
from expert_draw.adapters.experts import ERASED
from expert_draw.adapters.experts import TABLE as EXPERT_TABLE
from expert_draw.adapters.protection import DecryptionError
from expert_draw.core import identifiers
from expert_draw.core.replay import OPENINGS_V
from expert_draw.errors import PreconditionError, UnavailableError

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.engine import Connection, Engine

    from audit_log.entry import Who
    from expert_draw.adapters.audit import AuditLog
    from expert_draw.adapters.protection import FieldCipher

WHAT = "replay-openings"
OPENED_STATES = ("CLOSED", "AWARDED", "CANCELLED", "EXPIRED")
_BATCH = 500
_ENDS = ("draw.close", "draw.cancel", "draw.expire")
_Member = tuple[int, str, str, "bytes | None"]  # expert row id, discs, reasons, own salt


@dataclass(frozen=True, slots=True)
class OpeningsExport:
    """A logged export: the openings file and the entry that logged it."""

    body: bytes
    size: int
    export: str
    export_seq: int


class ReplayOpenings:
    """Takes the openings from the service's database and logs each export."""

    def __init__(self, engine: Engine, audit: AuditLog, cipher: FieldCipher) -> None:
        """Read ``engine``, log to ``audit``, open sealed cells with ``cipher``."""
        self._engine = engine
        self._audit = audit
        self._cipher = cipher

    def export(
        self, who: Who, *, request_id: str, active: Callable[[], bool] = lambda: True
    ) -> OpeningsExport:
        """Take the openings at the log's current size and log their disclosure.

        A retry with the same request id takes them again at the size it logged.

        Raises:
            PreconditionError: REQUEST_ID_REUSED (the openings differ from the logged
                ones: an expert's personal data was erased since).
            UnavailableError: the caller went away before the export was logged.
        """
        payload = {"method": "ExportReplayOpenings"}
        with read_snapshot(self._engine) as conn:  # one snapshot: rows and entries agree
            earlier = self._audit.find_request(conn, who, request_id, payload)
            size = (int(json.loads(earlier.outcome)["size"]) if earlier is not None
                    else self._audit.store.size(conn))  # fmt: skip
            try:
                body = canonical.dumps(self.openings(conn, size))
            except (DecryptionError, KeyError, ValueError, CanonicalError) as exc:
                # A sealed cell under a retired key (run `db rekey`), or rows that
                # disagree with the log: nothing is disclosed, nothing logged.
                msg = f"the openings cannot be taken: {type(exc).__name__}: {exc}"
                raise PreconditionError(msg, reason="OPENINGS_UNAVAILABLE") from None
        digest = hashlib.sha256(body).hexdigest()
        if not active():
            msg = "the caller went away before the export was logged; nothing was disclosed"
            raise UnavailableError(msg)
        logged = self._audit.log_export(
            who, request_id, payload, what=f"{WHAT} size {size}", data_sha256=digest,
            outcome={"size": size}, name_from=body, retry=earlier is not None,
            differs="openings that differ (data changed since)",
        )  # fmt: skip
        if logged is not None:
            return OpeningsExport(body, size, *logged)
        # A copy of this call (the client's retry, sent before it returned) logged first,
        # at its own size: take the openings again at that size.
        return self.export(who, request_id=request_id, active=active)

    # -- the openings ------------------------------------------------------------------

    def openings(self, conn: Connection, size: int) -> dict[str, Any]:
        """The §15 openings object at log size ``size``."""
        t, e = draw_table, entry_table
        candidates = list(conn.execute(
            select(t.c.id, t.c.draw_id, t.c.inputs_enc, t.c.salts_enc)
            .where(t.c.state.in_(OPENED_STATES), t.c.commit_seq.is_not(None),
                   t.c.commit_seq < size)
        ))  # fmt: skip
        # Opened: frozen and then closed, cancelled or expired before `size` (§15), as
        # the log says; a draw that ended after the head was read waits for a later export.
        ended: set[str] = set()
        for i in range(0, len(candidates), _BATCH):
            subjects = [f"draws/{r.draw_id}" for r in candidates[i : i + _BATCH]]
            ended |= {str(x.subj) for x in conn.execute(
                select(e.c.subj).where(e.c.log_id == LOG_ID, e.c.subj.in_(subjects),
                                       e.c.kind.in_(_ENDS), e.c.seq < size)
            )}  # fmt: skip
        rows = [r for r in candidates if f"draws/{r.draw_id}" in ended]
        members = self._members(conn, [int(r.id) for r in rows])
        expert_ids = sorted({m[0] for ms in members.values() for m in ms.values()})
        experts = self._experts(conn, expert_ids, size)
        draws = [self._draw(r, members.get(int(r.id), {}), experts)
                 for r in sorted(rows, key=lambda r: str(r.draw_id).encode())]  # fmt: skip
        origin = str(self._audit.store.origin)
        return {
            "openings_v": OPENINGS_V, "origin": origin, "size": size,
            "hash_keys": sorted(self._cipher.identity_key_ids()), "draws": draws,
            "experts": sorted((e["opening"] for e in experts.values()),
                              key=lambda e: str(e["expert"])),
        }  # fmt: skip

    def _open(self, blob: bytes, table: str, column: str, record_id: str) -> str:
        return self._cipher.decrypt(blob, table=table, column=column, record_id=record_id)

    @staticmethod
    def _members(conn: Connection, ids: list[int]) -> dict[int, dict[bytes, _Member]]:
        """Per draw row: pseudonym -> (expert row id, discs, reasons, own sealed salt)."""
        found: dict[int, dict[bytes, _Member]] = {}
        m = draw_member_table
        for i in range(0, len(ids), _BATCH):
            for r in conn.execute(
                select(m.c.draw_id, m.c.pseud, m.c.expert_id, m.c.discs, m.c.reasons,
                       m.c.salt_enc).where(m.c.draw_id.in_(ids[i : i + _BATCH]))
            ):  # fmt: skip
                found.setdefault(int(r.draw_id), {})[bytes(r.pseud)] = (
                    int(r.expert_id), str(r.discs), str(r.reasons),
                    None if r.salt_enc is None else bytes(r.salt_enc),
                )  # fmt: skip
        return found

    def _experts(self, conn: Connection, ids: list[int], size: int) -> dict[int, dict[str, Any]]:
        """Per expert row: uuid, identity hashes under every key, and the §15 opening."""
        found: dict[int, dict[str, Any]] = {}
        for i in range(0, len(ids), _BATCH):
            chunk = ids[i : i + _BATCH]
            self._identities(conn, chunk, found)
            self._birth_dates(conn, chunk, found)
            self._credits(conn, chunk, found, size)
        return found

    def _identities(self, conn: Connection, chunk: list[int], found: dict[int, Any]) -> None:
        x = expert_table
        for r in conn.execute(select(x.c.id, x.c.uuid, x.c.id_hash, x.c.resident_id_enc)
                              .where(x.c.id.in_(chunk))):  # fmt: skip
            uid = str(r.uuid)
            erased = str(r.id_hash).startswith(ERASED) or r.resident_id_enc is None
            number = "" if erased else self._open(
                bytes(r.resident_id_enc), EXPERT_TABLE, "resident_id_enc", uid)  # fmt: skip
            found[int(r.id)] = {
                "uuid": uid,
                "hashes": set(self._cipher.identity_hashes(number)) if number else set(),
                "birth": identifiers.birth_date(number).isoformat() if number else None,
                "opening": {"expert": uid, "erased": erased, "birth_date": None, "credits": []},
            }

    def _birth_dates(self, conn: Connection, chunk: list[int], found: dict[int, Any]) -> None:
        """The salt of the birth-date commitment, with the version that logged it."""
        s = expert_salt_table
        for r in conn.execute(select(s.c.expert_id, s.c.version, s.c.salts_enc)
                              .where(s.c.expert_id.in_(chunk), s.c.salts_enc.is_not(None))
                              .order_by(s.c.expert_id, s.c.version)):  # fmt: skip
            e = found[int(r.expert_id)]
            if e["birth"] is None:
                continue
            text = self._open(bytes(r.salts_enc), "expert_salt", "salts_enc",
                              f"{e['uuid']}/{int(r.version)}")  # fmt: skip
            salts = canonical.loads(text.encode())
            if "birth_date" in salts:
                e["opening"]["birth_date"] = {
                    "version": int(r.version), "value": e["birth"], "salt": salts["birth_date"],
                }  # fmt: skip

    @staticmethod
    def _credits(conn: Connection, chunk: list[int], found: dict[int, Any], size: int) -> None:
        """Each credit.event's seq with the event time and evidence digest it hashes."""
        c = expert_credit_table
        events: dict[int, list[tuple[int, str]]] = {}
        for r in conn.execute(select(c.c.expert_id, c.c.event_ms, c.c.evidence_sha256)
                              .where(c.c.expert_id.in_(chunk))
                              .order_by(c.c.expert_id, c.c.position)):  # fmt: skip
            events.setdefault(int(r.expert_id), []).append(
                (int(r.event_ms), str(r.evidence_sha256))
            )
        by_subject = {f"experts/{found[e]['uuid']}": e for e in chunk if e in found}
        logged: dict[int, list[int]] = {}
        for row in conn.execute(
            select(entry_table.c.subj, entry_table.c.seq)
            .where(entry_table.c.log_id == LOG_ID, entry_table.c.kind == "credit.event",
                   entry_table.c.subj.in_(list(by_subject)))
            .order_by(entry_table.c.seq)
        ):  # fmt: skip
            logged.setdefault(by_subject[str(row.subj)], []).append(int(row.seq))
        for e, seqs in logged.items():
            # Credit rows and credit.event entries are written together, in order.
            found[e]["opening"]["credits"] = [
                {"seq": seq, "event_ms": at, "evidence_sha256": evidence}
                for seq, (at, evidence) in zip(seqs, events.get(e, []), strict=True)
                if seq < size
            ]  # fmt: skip

    def _draw(
        self, row: Any, members: dict[bytes, _Member], experts: dict[int, dict[str, Any]]  # noqa: ANN401 - a draw row
    ) -> dict[str, Any]:  # fmt: skip
        draw_id = str(row.draw_id)
        inputs = json.loads(self._open(bytes(row.inputs_enc), DRAW_TABLE, "inputs_enc", draw_id))
        salts: dict[str, str] = {}
        if row.salts_enc is not None:
            salts = json.loads(self._open(bytes(row.salts_enc), DRAW_TABLE, "salts_enc", draw_id))
        avoid = set(inputs.get("avoid_experts", []))
        opened, avoided = [], set()
        for pseud in sorted(members):
            expert_id, discs, reasons, own = members[pseud]
            expert = experts[expert_id]
            sealed = (self._open(own, DRAW_TABLE, "salt:" + pseud.hex(), draw_id)
                      if own is not None else salts[pseud.hex()])  # fmt: skip
            salt = bytes.fromhex(sealed).hex()
            opened.append({"pseud": pseud.hex(), "expert": expert["uuid"], "salt": salt,
                           "discs": discs.split(), "reasons": reasons.split()})  # fmt: skip
            if avoid & expert["hashes"]:
                avoided.add(expert["uuid"])
        return {"draw_id": draw_id, "inputs": inputs, "members": opened,
                "avoided": sorted(avoided)}  # fmt: skip
