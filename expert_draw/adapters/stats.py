"""Fairness runs for supervisors: gather the draws, analyse them, log the run.

The records come from the draw tables and the draws' own log entries. Identities (expert
ids, employers) are resolved only for draws with a ``draw.close`` entry: from the close
on, supervisors may read a panel's identities (draw-protocol.md §5); for every other
draw the records carry pseudonyms and no pool, so they count in the platform statistics
and in no per-expert figure. The report's SHA-256 is logged as an ``export`` entry
(what ``fairness``, the supervisor as recipient) in the same call, before any byte of it
is returned (细则 第35条: every disclosure is logged).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import tomllib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import select

from audit_log.sqlstore import LOG_ID, entry_table
from expert_draw.adapters.db.models import (
    draw_member_table,
    draw_table,
    expert_affiliation_table,
    expert_table,
)
from expert_draw.adapters.protection import DecryptionError
from expert_draw.core.fairness import (
    Decline,
    DrawRecord,
    ExpertInfo,
    FairnessPolicy,
    FairnessReport,
    Stratum,
    analyse,
)
from expert_draw.core.policy import PolicyError
from expert_draw.errors import ConfigurationError, UnavailableError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from pathlib import Path

    from sqlalchemy.engine import Connection, Engine

    from audit_log.entry import Who
    from expert_draw.adapters.audit import AuditLog
    from expert_draw.adapters.protection import FieldCipher

_log = structlog.get_logger("expert_draw.stats")
WHAT = "fairness"
DRAW_TABLE = "draw"  # the cipher's table name of the draws' sealed cells (adapters/draws.py)
_KINDS = ("draw.request", "draw.execute", "draw.accept", "draw.decline", "draw.replace",
          "draw.close")  # fmt: skip
_SHORT_REASONS = frozenset({"INSUFFICIENT_POOL", "REPL_EXHAUSTED"})
_BATCH = 500


@dataclass(frozen=True, slots=True)
class FairnessRun:
    """A logged run: the report files and the export entry that logged them."""

    report_json: bytes
    report_html: bytes
    export: str
    export_seq: int


def report_json(report: FairnessReport) -> bytes:
    """The report's figures as JSON (sorted keys, UTF-8; a non-finite number is null)."""

    def clean(value: Any) -> Any:  # noqa: ANN401 - JSON values
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {str(k): clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [clean(v) for v in value]
        return value

    data = clean(dataclasses.asdict(report))
    return json.dumps(data, sort_keys=True, ensure_ascii=False, allow_nan=False).encode()


class FairnessRuns:
    """Runs the analytics over the service's database."""

    def __init__(
        self,
        engine: Engine,
        audit: AuditLog,
        cipher: FieldCipher,
        policy: FairnessPolicy,
        render: Callable[[FairnessReport], str],
    ) -> None:
        """Read ``engine``, log to ``audit``, open sealed draw inputs with ``cipher``."""
        self._engine = engine
        self._audit = audit
        self._cipher = cipher
        self._policy = policy
        self._render = render

    def run(  # noqa: PLR0913 - one run's parameters, all keyword-only
        self, who: Who, *, start_ms: int | None, end_ms: int | None, request_id: str,
        now_ms: int, active: Callable[[], bool] = lambda: True,
    ) -> FairnessRun:  # fmt: skip
        """Analyse the draws committed in ``[start_ms, end_ms)`` and log the run.

        The report is rendered before the run is logged (nothing logged is undelivered
        for a rendering error), and nothing is logged once ``active()`` is false (the
        caller gave up during a long analysis).

        Raises:
            PreconditionError: REQUEST_ID_REUSED (the id was used with another range, or
                the data changed since and the report differs).
            UnavailableError: the caller went away before the run was logged.
        """
        payload = {"method": "RunFairnessAnalysis", "start_ms": start_ms, "end_ms": end_ms}
        as_of = now_ms if end_ms is None else min(end_ms, now_ms)
        with self._engine.connect() as conn:
            earlier = self._audit.find_request(conn, who, request_id, payload)
            if earlier is not None:  # a retry: the same "as of" gives the same report
                as_of = int(json.loads(earlier.outcome)["as_of_ms"])
            draws, experts = self.records(conn, start_ms, end_ms)
        report = analyse(draws, experts, self._policy, as_of_ms=as_of)
        body = report_json(report)
        html = self._render(report).encode()
        digest = hashlib.sha256(body).digest()
        if not active():
            msg = "the caller went away before the run was logged; nothing was disclosed"
            raise UnavailableError(msg)
        # What was disclosed, in the log itself: the range, the "as of" time, the HTML.
        span = ",".join("" if t is None else str(t) for t in (start_ms, end_ms))
        what = f"{WHAT} [{span}) as_of {as_of} html {hashlib.sha256(html).hexdigest()}"
        logged = self._audit.log_export(
            who, request_id, payload, what=what, data_sha256=digest.hex(),
            outcome={"as_of_ms": as_of}, name_from=digest, retry=earlier is not None,
            differs="a run whose report differs (draws changed since)",
        )  # fmt: skip
        if logged is not None:
            return FairnessRun(body, html, *logged)
        # A copy of this call (the client's retry, sent before it returned) logged first,
        # at its own "as of": run again at that time.
        return self.run(who, start_ms=start_ms, end_ms=end_ms, request_id=request_id,
                        now_ms=now_ms, active=active)  # fmt: skip

    # -- the records ---------------------------------------------------------------------

    def records(
        self, conn: Connection, start_ms: int | None, end_ms: int | None
    ) -> tuple[list[DrawRecord], list[ExpertInfo]]:
        """The draws committed in the range, and what is known of their experts."""
        t = draw_table
        query = select(
            t.c.id, t.c.draw_id, t.c.requester, t.c.project_ref, t.c.tender_ref, t.c.tenderer,
            t.c.supersedes, t.c.state, t.c.end_reason, t.c.counts, t.c.commit_ms, t.c.inputs_enc,
        ).order_by(t.c.id)  # fmt: skip
        if start_ms is not None:
            query = query.where(draw_table.c.commit_ms >= start_ms)
        if end_ms is not None:
            query = query.where(draw_table.c.commit_ms < end_ms)
        rows = list(conn.execute(query))
        entries = self._entries(conn, [str(r.draw_id) for r in rows])
        closed = [r for r in rows if any(k == "draw.close" for k, _ in entries[str(r.draw_id)])]
        members = self._members(conn, [int(r.id) for r in closed])
        uuids, experts = self._experts(conn, {m[1] for ms in members.values() for m in ms})
        records = [self._record(r, entries[str(r.draw_id)], members.get(int(r.id)), uuids)
                   for r in rows]  # fmt: skip
        return records, experts

    def _entries(self, conn: Connection, draw_ids: list[str]) -> dict[str, list[tuple[str, Any]]]:
        found: dict[str, list[tuple[str, Any]]] = {d: [] for d in draw_ids}
        table = entry_table
        for i in range(0, len(draw_ids), _BATCH):
            subjects = [f"draws/{d}" for d in draw_ids[i : i + _BATCH]]
            rows = conn.execute(
                select(table.c.subj, table.c.kind, table.c.body)
                .where(table.c.log_id == LOG_ID, table.c.subj.in_(subjects),
                       table.c.kind.in_(_KINDS))
                .order_by(table.c.seq)
            )  # fmt: skip
            for r in rows:
                data = json.loads(bytes(r.body))["data"]
                found[str(r.subj).removeprefix("draws/")].append((str(r.kind), data))
        return found

    def _members(
        self, conn: Connection, ids: list[int]
    ) -> dict[int, list[tuple[str, int, str, str]]]:
        """Per draw row id: (pseud hex, expert row id, discs, reasons) of every member."""
        found: dict[int, list[tuple[str, int, str, str]]] = {}
        table = draw_member_table
        for i in range(0, len(ids), _BATCH):
            rows = conn.execute(
                select(table.c.draw_id, table.c.pseud, table.c.expert_id, table.c.discs,
                       table.c.reasons).where(table.c.draw_id.in_(ids[i : i + _BATCH]))
            )  # fmt: skip
            for r in rows:
                found.setdefault(int(r.draw_id), []).append(
                    (bytes(r.pseud).hex(), int(r.expert_id), str(r.discs), str(r.reasons))
                )
        return found

    def _experts(
        self, conn: Connection, ids: Iterable[int]
    ) -> tuple[dict[int, str], list[ExpertInfo]]:
        """The experts' uuids by row id, and their current employer (hashed)."""
        wanted = sorted(ids)
        uuid: dict[int, str] = {}
        employer: dict[int, str] = {}
        for i in range(0, len(wanted), _BATCH):
            chunk = wanted[i : i + _BATCH]
            for r in conn.execute(select(expert_table.c.id, expert_table.c.uuid)
                                  .where(expert_table.c.id.in_(chunk))):  # fmt: skip
                uuid[int(r.id)] = str(r.uuid)
            aff = expert_affiliation_table
            for r in conn.execute(
                select(aff.c.expert_id, aff.c.organization_code)
                .where(aff.c.expert_id.in_(chunk), aff.c.kind == "employer",
                       aff.c.end_date.is_(None))
                .order_by(aff.c.expert_id, aff.c.position)
            ):  # fmt: skip
                code = hashlib.sha256(str(r.organization_code).encode()).hexdigest()[:16]
                employer.setdefault(int(r.expert_id), code)
        return uuid, [ExpertInfo(uuid[i], employer.get(i, "")) for i in wanted if i in uuid]

    def _agency(self, row: Any) -> str:  # noqa: ANN401 - a draw row
        """The draw's agency from its sealed replay inputs.

        "" when they cannot be opened (a data key retired before ``db rekey``): the draw
        still counts everywhere else.
        """
        try:
            sealed = self._cipher.decrypt(
                bytes(row.inputs_enc), table=DRAW_TABLE, column="inputs_enc",
                record_id=str(row.draw_id),
            )  # fmt: skip
        except DecryptionError:
            _log.warning("fairness.inputs_unreadable", draw_id=str(row.draw_id))
            return ""
        return str(json.loads(sealed).get("agency", ""))

    def _record(
        self, row: Any, entries: list[tuple[str, Any]],  # noqa: ANN401 - a draw row
        members: list[tuple[str, int, str, str]] | None, uuids: dict[int, str],
    ) -> DrawRecord:  # fmt: skip
        """One draw; ``members`` only for a closed draw (identities), else pseudonyms."""
        who: dict[str, str] = {}
        pools: dict[str, list[str]] = {}
        if members is not None:
            for pseud, expert, discs, reasons in members:
                who[pseud] = uuids[expert]
                if not reasons:
                    for d in discs.split():
                        pools.setdefault(d, []).append(who[pseud])

        def name(pseud: str) -> str:
            return who.get(pseud, f"pseud:{pseud}")

        seats = {str(d["d"]): int(d["k"]) for k, data in entries if k == "draw.request"
                 for d in data["disciplines"]}  # fmt: skip
        drawn = {str(p["d"]): [name(x) for x in p["panel"]] for k, data in entries
                 if k == "draw.execute" for p in data["panels"]}  # fmt: skip
        counts = json.loads(row.counts)
        short = {str(c["d"]): bool(c.get("short", False)) for c in counts}
        sizes = {str(c["d"]): int(c["n"]) for c in counts}  # |M_d|: public (pool.freeze)
        closed = members is not None
        strata = tuple(
            Stratum(d, tuple(pools.get(d, ())) if closed else (), k,
                    tuple(drawn.get(d, ())) if closed else (), short.get(d, False),
                    size=0 if closed else sizes.get(d, 0))
            for d, k in seats.items()
        )  # fmt: skip
        declines, accepted, seated = self._responses(entries, name, drawn)
        state, reason = str(row.state), str(row.end_reason)
        return DrawRecord(
            draw_id=str(row.draw_id), requester=str(row.requester),
            project_ref=bytes(row.project_ref).hex(), tender_ref=bytes(row.tender_ref).hex(),
            tenderer=str(row.tenderer), agency=self._agency(row), state=state,
            created_ms=int(row.commit_ms), strata=strata, supersedes=str(row.supersedes or ""),
            seated=seated if members is not None else (), accepted=accepted, declines=declines,
            shortfall=state == "CANCELLED" and reason in _SHORT_REASONS,
            cancel_reason=reason if state == "CANCELLED" else "",
            was_executed=any(k == "draw.execute" for k, _ in entries),
        )  # fmt: skip

    @staticmethod
    def _responses(
        entries: list[tuple[str, Any]], name: Callable[[str], str],
        drawn: dict[str, list[str]],
    ) -> tuple[tuple[Decline, ...], tuple[str, ...], tuple[str, ...]]:  # fmt: skip
        """Declines (with who took the seat), acceptances and the final seats."""
        declines: list[tuple[str, str]] = []
        replaced: dict[str, str] = {}
        accepted: list[str] = []
        seats = [x for panel in drawn.values() for x in panel]
        for kind, data in entries:
            if kind == "draw.decline":
                declines.append((name(str(data["pseud"])), str(data["reason"])))
            elif kind == "draw.replace":
                out, into = name(str(data["out"])), name(str(data["in"]))
                replaced[out] = into
                seats = [into if x == out else x for x in seats]
            elif kind == "draw.accept":
                accepted.append(name(str(data["pseud"])))
        return (tuple(Decline(x, reason, replaced.get(x, "")) for x, reason in declines),
                tuple(accepted), tuple(seats))  # fmt: skip


def read_fairness_policy(path: Path | None) -> FairnessPolicy:
    """The ``[fairness]`` table of ``path`` (the only table it may hold), or the defaults.

    Raises:
        ConfigurationError: unreadable, not TOML, or a bad threshold (each one named).
    """
    if path is None:
        return FairnessPolicy()
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        msg = f"draws.fairness_policy: cannot read {path}: {exc}"
        raise ConfigurationError(msg) from None
    extra = sorted(set(document) - {"fairness"})
    table = document.get("fairness", {})
    if extra or not isinstance(table, dict):
        msg = f"draws.fairness_policy {path}: only a [fairness] table is allowed"
        raise ConfigurationError(msg)
    try:
        return FairnessPolicy.from_mapping(table)
    except PolicyError as exc:
        msg = f"draws.fairness_policy {path}: {exc}"
        raise ConfigurationError(msg) from None
