"""Draws on the database: each phase of EDS-1 is one transaction with its log entries.

``CreateDraw`` filters the library, freezes the pool and commits (draw.request,
pool.freeze, draw.commit, or draw.request and draw.cancel for a refusal);
``ExecuteDraw`` logs the nonce and, without a beacon, resolves the draw at once
(draw.execute, BUSY strikes with their replacements, the requester's grant and
access). The draw's secrets (``s`` until execution, the salts, the replay inputs, the
project name) are AES-GCM ciphertexts; the pure steps are expert_draw.core.drawing.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import threading
import uuid as uuidlib
from collections import Counter
from dataclasses import dataclass, field
from functools import cache, partial
from typing import TYPE_CHECKING, Any, TypeVar

import structlog
from sqlalchemy import (
    and_,
    bindparam,
    case,
    insert,
    literal,
    or_,
    select,
    text,
    union_all,
    update,
)

from audit_log import canonical
from audit_log.entry import Entry
from audit_log.receipt import Receipt
from audit_log.sqlstore import LOG_ID, PendingEntry, checkpoint_table, entry_table
from expert_draw.adapters.audit import Locked, pending
from expert_draw.adapters.db.engine import (
    among,
    pipelined,
    read_snapshot,
    read_statements,
    retryable_error,
    write_transaction,
)
from expert_draw.adapters.db.models import (
    draw_member_table,
    draw_table,
    expert_discipline_table,
    expert_table,
)
from expert_draw.adapters.experts import check_request_id
from expert_draw.adapters.memo import Pages, Recent, Rendered
from expert_draw.core import (
    beacon,
    bundle,
    drawing,
    eds1,
    eligibility,
    escrow,
    receipts,
)
from expert_draw.core.paging import decode_cursor, effective_page_size, encode_cursor, query_key
from expert_draw.errors import (
    AccessDeniedError,
    AlreadyExistsError,
    FieldViolation,
    InvalidPageTokenError,
    InvalidRequestError,
    NotFoundError,
    PreconditionError,
    PreconditionViolation,
    UnavailableError,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

    from sqlalchemy import Select
    from sqlalchemy.engine import Connection, Engine, Row
    from sqlalchemy.sql.elements import ColumnElement, TextClause

    from audit_log.entry import Who
    from audit_log.sqlstore import Appended, Query
    from expert_draw.adapters.audit import AuditLog
    from expert_draw.adapters.experts import Candidate as LibraryCandidate
    from expert_draw.adapters.experts import ExpertLibrary
    from expert_draw.adapters.protection import FieldCipher
    from expert_draw.core.policy import Policy

T = TypeVar("T")

_log = structlog.get_logger("expert_draw.draws")

TABLE = "draw"
MAX_ROW_ID = 2**31 - 1  # the id column is an INTEGER: a page token past it is forged
LIVE = frozenset({"COMMITTED", "AWAITING_BEACON", "EXECUTED", "OPENED", "CLOSED", "AWARDED"})
SEATED_STATES = ("EXECUTED", "OPENED", "CLOSED", "AWARDED")
# Entries that may change a pool: records (LOOKBACK_KINDS, eligibility) and seats (D8).
_SEAT_KINDS = ("draw.execute", "draw.decline", "draw.replace", "draw.cancel", "draw.expire")
LOOKBACK_KINDS = ("expert.create", "expert.update", "expert.status", "expert.delete",
                  "credit.event")  # fmt: skip
MAX_LOOKBACK_SEQS = 1000
LOOKBACK_SLACK_MS = 60_000
MAX_TS_MEMO = 100_000


@dataclass(frozen=True, slots=True)
class Quota:
    """Seats, reserves and replacement cap of one requested discipline."""

    code: str
    seats: int
    reserves: int
    max_repl: int


@dataclass(frozen=True, slots=True)
class DrawRequest:
    """A validated CreateDraw request (codes NFC, lists ascending and unique)."""

    draw_id: str
    tender_id: str
    lot_id: str
    project_code: str
    project_name: str
    supersedes: str
    quotas: tuple[Quota, ...]  # ascending code
    # The replay inputs; the service fills project_ref and salt.
    conflicts: eligibility.ConflictInputs
    method: str
    representatives: int
    beacon: bool
    override_seq: int
    # Keyed digest of the 身份证号 to avoid (``Draws.avoid_digest``): what a retry must
    # repeat, the same on every replica (the avoid hashes depend on its identity keys).
    avoid_digest: str = ""

    @property
    def window_from_ms(self) -> int:
        """The evaluation window's start."""
        return self.conflicts.window.from_ms

    @property
    def window_to_ms(self) -> int:
        """The evaluation window's end (exclusive)."""
        return self.conflicts.window.to_ms


@dataclass(frozen=True, slots=True)
class DrawConfig:
    """What every draw needs from configuration and the log in force."""

    tender_key: bytes
    escrow_keys: tuple[bytes, ...]
    edition: str
    edition_digest: bytes
    policy: Policy
    code_digest: bytes
    # The digest of the policy in force (its policy.set entry's digest), hashed once: it
    # was 2 % of the service's CPU in the load bench's draws, hashed on every draw.
    rules_digest: bytes = field(init=False)

    def __post_init__(self) -> None:
        """Hash the policy."""
        object.__setattr__(self, "rules_digest", self.policy.digest())

    @property
    def min_pool_factor(self) -> int:
        """The pool minimum: |M_d| >= factor x seats."""
        return self.policy.pool.min_pool_factor

    @property
    def lookback_s(self) -> int:
        """The look-back window of pool changes, seconds."""
        return self.policy.pool.lookback_seconds

    @property
    def nonce_deadline_s(self) -> int:
        """How long a beacon-less draw waits for its nonce, seconds."""
        return self.policy.beacon.nonce_deadline_seconds


@dataclass(frozen=True, slots=True)
class Member:
    """An expert disclosed to an entitled reader (its repr hides the name and phone)."""

    pseudonym: bytes
    code: str
    expert_uuid: str
    full_name: str = field(repr=False)
    phone: str = field(repr=False)


@dataclass(slots=True)
class StoredDraw:
    """A draw row as the servicer shows it."""

    draw_id: str
    state: str
    supersedes: str
    tender_ref: bytes
    requester: str
    beacon: bool
    params: bytes
    params_hash: bytes
    pool_root: bytes
    excluded_root: bytes
    counts: list[dict[str, Any]]
    excluded_counts: list[dict[str, Any]]
    round: int
    commit_digest: bytes
    commit_ms: int
    nonce_deadline_ms: int | None
    execute_ms: int | None
    end_reason: str
    seats: dict[str, list[bytes]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The resource name."""
        return f"draws/{self.draw_id}"


@dataclass(frozen=True, slots=True)
class Created:
    """CreateDraw's result: the draw, its draw.commit entry and the commit receipt."""

    draw: StoredDraw
    commit_entry: bytes
    commit_receipt: str


@dataclass(frozen=True, slots=True)
class Executed:
    """ExecuteDraw's result: the draw and the disclosed panel (empty while waiting)."""

    draw: StoredDraw
    panel: tuple[Member, ...]


@dataclass(frozen=True)
class _Disclosure:
    """Identities a call discloses, read after its commit (Draws._disclosed).

    ``(pseudonym, code)`` seats of a draw (row id), and pseudonym -> expert row id when
    the caller knows it.
    """

    draw_row_id: int
    seats: tuple[tuple[bytes, str], ...]
    expert_of: Mapping[bytes, int] | None


@dataclass(frozen=True, slots=True)
class _Sealing:
    """The parts of a commit built before the head lock (see Draws._sealing)."""

    params: eds1.Params
    params_bytes: bytes
    params_hash: bytes
    c_s: bytes
    envelopes: tuple[bytes, ...]
    escrow_digest: bytes
    counts: list[dict[str, Any]]
    excluded_counts: list[dict[str, Any]]
    lookback_uuids: frozenset[str]
    s_enc: bytes
    salts_enc: bytes
    members: list[dict[str, Any]]  # the member rows, but for their draw's row id
    kept: _Pool  # what _Pools keeps once the commit is known (parsed here, not under it)


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A draw's eligibility and freeze, as of the log size ``head``."""

    head: int
    assessed: list[drawing.Assessed]
    frozen: drawing.Frozen
    uuid_of: dict[int, str]  # candidates: row id -> uuid
    seats: Counter[eligibility.Seat]  # the candidates' seats read
    subjects: frozenset[str]  # "experts/<uuid>" of every candidate
    # The look-back read ahead: (seq, ts, subj) of the candidates' record entries below
    # ``head`` with ts at or after ``recent_from_ms``.
    recent: tuple[tuple[int, int, str], ...]
    recent_from_ms: int


class Draws:
    """The draw service's state and transactions."""

    def __init__(  # noqa: PLR0913, PLR0917 - the draw's collaborators
        self,
        engine: Engine,
        audit: AuditLog,
        library: ExpertLibrary,
        cipher: FieldCipher,
        config: Callable[[], DrawConfig],
        random: Callable[[int], bytes] = os.urandom,
    ) -> None:
        """Use the database, the log, the library, the data cipher and the config."""
        self._engine = engine
        self._audit = audit
        self._library = library
        self._cipher = cipher
        self._config = config
        self._random = random
        # Entry times by seq, as the look-back's binary searches read them: an entry never
        # changes, and successive draws search nearby windows (bounded, then cleared).
        self._ts_of: dict[int, int] = {}
        self._recent_entries = Recent()  # the candidates' record entries, for the look-back
        self._pools = _Pools()  # committed draws' params and members
        self.refreezes = 0  # CreateDraws whose pool moved between reading and the lock
        # ListDraws pages by (requester filter, state, project, cursor, size): their
        # ((row id, version), ...) and next token.
        self._pages: Pages[tuple[tuple[tuple[int, int], ...], str]] = Pages()

    @property
    def edition(self) -> str:
        """The edition draws match on."""
        return self._config().edition

    # -- CreateDraw ----------------------------------------------------------------------

    def tender_ref(self, tender_id: str, lot_id: str) -> bytes:
        """The blinded tender-lot reference."""
        return eds1.tender_ref(self._config().tender_key, tender_id, lot_id)

    def avoid_digest(self, numbers: list[str]) -> str:
        """A retry-stable digest of the 身份证号 a request avoids.

        HMAC under the tender key (shared by every replica and the supervisors) of their
        sorted list, so a CreateDraw retried on a replica with other identity keys (a
        rolling key rotation) is recognised as the same request, and the digest stored
        for idempotency reveals no number to someone without that key.
        """
        key = self._config().tender_key
        message = eds1.enc(b"EDS1/avoid-digest", *(n.encode() for n in sorted(numbers)))
        return eds1.hmac_sha256(key, message).hex()

    def project_ref(self, project_code: str) -> bytes:
        """The blinded project reference (``EDS1/project``)."""
        key = self._config().tender_key
        return eds1.hmac_sha256(key, eds1.enc(b"EDS1/project", project_code.encode()))

    def create(self, who: Who, request: DrawRequest, request_id: str) -> Created:
        """Run phases 1-3 in one transaction (or log a refusal and raise).

        Raises:
            PreconditionError: INSUFFICIENT_POOL (after logging the refusal),
                LIVE_DRAW_EXISTS, SUPERSEDES_MISMATCH, REQUEST_ID_REUSED.
            InvalidRequestError: BAD_OVERRIDE.
        """
        payload = {"method": "CreateDraw", "request": _request_digest(request)}
        config = self._config()
        refusal: PreconditionError | None = None
        project_ref = self.project_ref(request.project_code)
        conflicts = dataclasses.replace(
            request.conflicts, project_ref=project_ref.hex(), salt=self._random(32).hex()
        )
        # Eligibility and the freeze before the head lock, on one snapshot of the log at
        # a size read first; under the lock, only what moved since is looked at. A retry
        # gets its first outcome before anything else (whatever the clock says now).
        with read_snapshot(self._engine) as conn:
            found, sized = pipelined(conn, [  # one round trip on PostgreSQL
                self._audit.request_query(who, request_id), self._audit.store.size_query(),
            ])  # fmt: skip
            stored = self._audit.stored_request(found, request_id, payload)
            if stored is not None:
                return self._replay_create(conn, bytes(stored.outcome), request)
            self._check_policy(request, config.policy)
            prepared = self._prepare(conn, request, conflicts, config, head=int(sized[0][0]))
        tender_ref = self.tender_ref(request.tender_id, request.lot_id)
        draw_id = request.draw_id or _new_draw_id(self._random)
        sealing = self._sealing(request, prepared, config, draw_id, tender_ref)
        # What the commit or the refusal writes that needs neither the lock nor the pool.
        inputs_bytes = canonical.dumps(conflicts.to_json())
        request_entry = pending("draw.request", f"draws/{draw_id}", {
            "draw_id": draw_id, "tender_ref": tender_ref.hex(),
            "supersedes": request.supersedes,
            "disciplines": [{"d": q.code, "k": q.seats, "r": q.reserves}
                            for q in request.quotas],
            "policy": {"beacon": request.beacon},
            "inputs_sha256": eds1.sha256(inputs_bytes).hex(),
        })  # fmt: skip
        row = {
            "draw_id": draw_id, "tender_ref": tender_ref, "project_ref": project_ref,
            "tenderer": conflicts.tenderer,
            "supersedes": request.supersedes or None, "requester": who.sub,
            "beacon": request.beacon, "window_from_ms": request.window_from_ms,
            "window_to_ms": request.window_to_ms, "version": 1,
            "inputs_enc": self._seal(inputs_bytes.decode(), draw_id, "inputs_enc"),
            "project_name_enc": self._seal(request.project_name, draw_id, "project_name_enc"),
        }  # fmt: skip
        with write_transaction(self._engine) as conn:
            # The head lock: attempts on one tender-lot, and draws of one project, are
            # decided one at a time (one live draw per tender-lot).
            # One round trip on PostgreSQL: the lock, then what CreateDraw checks under
            # it (each read sees every write committed before the lock was granted).
            locked, stored, (guards, since, seated) = self._audit.lock_and_read(
                conn, who, request_id, payload, [
                    (_GUARDS, {"tender_ref": tender_ref, "project_ref": project_ref,
                               "draw_id": draw_id}),
                    (_SINCE, {"since": prepared.head}),
                    _seats_query(conflicts, config.policy),
                ],
            )  # fmt: skip
            if stored is not None:
                return self._replay_create(conn, bytes(stored.outcome), request)
            self._check_policy(request, config.policy)  # the time again, after the wait
            latest, pending_draw, taken = _guards(guards)
            _check_attempts(who, latest, request.supersedes)
            _check_project(pending_draw)
            waived = self._override(conn, request.override_seq, tender_ref)
            if taken:
                msg = f"draws/{draw_id} already exists"
                raise AlreadyExistsError(msg, reason="DRAW_ALREADY_EXISTS")
            if self._moved(conn, prepared, since, seated, locked.head.size):
                prepared = self._prepare(conn, request, conflicts, config)
                sealing = self._sealing(request, prepared, config, draw_id, tender_ref)
                self.refreezes += 1
            codes = [q.code.encode() for q in request.quotas]
            quotas = {q.code.encode(): eds1.Quota(q.seats, q.reserves) for q in request.quotas}
            verdict = eds1.shortfalls(
                prepared.frozen.members, codes, quotas, config.min_pool_factor, waived
            )
            short = [d for d, (_, seats_ok, min_ok) in verdict.items() if not (seats_ok and min_ok)]
            if short:
                refusal = self._refuse(conn, who, request_id, payload, request, row, verdict,
                                       request_entry, config, locked)  # fmt: skip
            else:
                return self._commit(conn, who, request_id, payload, row, prepared, sealing,
                                    request_entry, config, locked)  # fmt: skip
        raise refusal

    def _refuse(  # noqa: PLR0913, PLR0917 - the parts of one refusal
        self,
        conn: Connection,
        who: Who,
        request_id: str,
        payload: object,
        request: DrawRequest,
        row: dict[str, Any],
        verdict: dict[bytes, tuple[int, bool, bool]],
        request_entry: PendingEntry,
        config: DrawConfig,
        locked: Locked,
    ) -> PreconditionError:
        counts = [{"d": d.decode(), "n": n, "short": not (a and b)}
                  for d, (n, a, b) in verdict.items()]  # fmt: skip
        draw_id = row["draw_id"]
        self._audit.append(
            conn, who=who, request_id=request_id, payload=payload,
            pending=[request_entry, pending("draw.cancel", f"draws/{draw_id}",
                                            {"reason": "INSUFFICIENT_POOL", "counts": counts})],
            outcome=json.dumps({"draw_id": draw_id}).encode(), locked=locked,
        )  # fmt: skip
        now = self._audit.clock_ms()
        conn.execute(insert(draw_table).values(
            **row, state="CANCELLED", end_reason="INSUFFICIENT_POOL", params=b"",
            params_hash=b"", pool_root=b"", excluded_root=b"", n_elig=0, n_excl=0,
            counts=json.dumps(counts), excluded_counts="[]", round=0, c_s=b"", s_enc=None,
            envelopes="[]", commit_digest=b"", commit_seq=None, commit_ms=now,
        ))  # fmt: skip
        return _insufficient(draw_id, counts, request, config)

    def _sealing(
        self,
        request: DrawRequest,
        prepared: _Prepared,
        config: DrawConfig,
        draw_id: str,
        tender_ref: bytes,
    ) -> _Sealing:
        """What a commit writes that needs neither the head lock nor the time.

        Computed before the lock (again under it only if the pool moved): the head lock
        serializes every write of every replica, so the params, the secret and its
        escrow envelopes, the sealed columns and the member rows are built outside it.
        """
        frozen = prepared.frozen
        codes = [q.code.encode() for q in request.quotas]
        params = eds1.Params(
            draw_id=draw_id.encode(), tender_ref=tender_ref,
            supersedes=request.supersedes.encode(), edition=config.edition.encode(),
            edition_digest=config.edition_digest,
            match_mode=str(config.policy.matching.mode).encode(),
            disciplines=tuple(eds1.DisciplineParams(q.code.encode(), q.seats, q.reserves,
                                                    q.max_repl) for q in request.quotas),
            repl_mode=b"A", delta=config.policy.beacon.delta_rounds if request.beacon else 0,
            margin_s=config.policy.beacon.margin_seconds if request.beacon else 0, delta_b=0,
            min_pool_factor=config.min_pool_factor, override_seq=request.override_seq,
            drand_chain_hash=beacon.CHAIN_HASH if request.beacon else b"",
            rules_digest=config.rules_digest,
            code_digest=config.code_digest,
        )  # fmt: skip
        s = self._random(32)
        c_s = eds1.secret_commitment(s)
        envelopes = escrow.seal_all_from_parts(
            config.escrow_keys, [self._random(32) for _ in config.escrow_keys],
            params.draw_id, c_s, s,
        )  # fmt: skip
        salts = json.dumps({p.hex(): v.hex() for p, v in frozen.salts.items()})
        members = [
            {"pseud": m.pseudonym, "expert_id": frozen.expert_of[m.pseudonym],
             "discs": " ".join(d.decode() for d in m.discs),
             "reasons": " ".join(x.decode() for x in m.reasons), "idc": m.idc,
             "salt_enc": None, "seat": None, "left": False}
            for m in frozen.members
        ]  # fmt: skip
        params_bytes = params.encode()
        return _Sealing(
            params=params, params_bytes=params_bytes, params_hash=params.hash(), c_s=c_s,
            envelopes=tuple(envelopes), escrow_digest=eds1.escrow_digest(envelopes),
            counts=[{"d": d.decode(), "n": n} for d, n in frozen.counts(codes)],
            excluded_counts=[{"reason": x.decode(), "n": n}
                             for x, n in frozen.excluded_counts()],
            # "experts/<uuid>" of every member, eligible or not
            lookback_uuids=frozenset(f"experts/{uuidlib.UUID(bytes=a.uuid_bytes)}"
                                     for a in prepared.assessed if a.discs),
            s_enc=self._seal(s.hex(), draw_id, "s_enc"),
            salts_enc=self._seal(salts, draw_id, "salts_enc"), members=members,
            # As ExecuteDraw would read it back: the params decoded, the rows parsed.
            kept=(eds1.Params.decode(params_bytes), *_members_of(members)),
        )  # fmt: skip

    def _commit(  # noqa: PLR0913, PLR0917 - the parts of one commit
        self,
        conn: Connection,
        who: Who,
        request_id: str,
        payload: object,
        row: dict[str, Any],
        prepared: _Prepared,
        sealing: _Sealing,
        request_entry: PendingEntry,
        config: DrawConfig,
        locked: Locked,
    ) -> Created:
        draw_id: str = row["draw_id"]
        frozen = prepared.frozen
        params, params_hash, c_s = sealing.params, sealing.params_hash, sealing.c_s
        counts, excluded_counts = sealing.counts, sealing.excluded_counts
        lookback_uuids = sealing.lookback_uuids
        subj = f"draws/{draw_id}"

        def freeze_data(ts: int) -> dict[str, Any]:
            from_ms = ts - 1000 * config.lookback_s
            if from_ms >= prepared.recent_from_ms:
                # Read before the lock; nothing of these subjects was appended since
                # (else _moved would have made CreateDraw prepare again, under the lock).
                seqs = [q for q, at, subj in prepared.recent
                        if subj in lookback_uuids and from_ms <= at < ts]  # fmt: skip
            else:  # the clock stepped back further than the slack
                seqs = self._lookback(conn, lookback_uuids, from_ms, ts, locked.head.size)
            return {
                "pool_root": frozen.pool_root.hex(), "excluded_root": frozen.excluded_root.hex(),
                "n_elig": frozen.n_elig, "n_excl": frozen.n_excl, "counts": counts,
                "excluded_counts": excluded_counts,
                "edition_digest": config.edition_digest.hex(),
                "rules_digest": config.rules_digest.hex(), "lookback_s": config.lookback_s,
                "lookback_n": len(seqs), "lookback_seqs": seqs[:MAX_LOOKBACK_SEQS],
                "lookback_sha256": eds1.sha256(
                    eds1.enc(b"EDS1/lookback", *[eds1.u64(q) for q in seqs])
                ).hex(),
            }  # fmt: skip

        def commit_data(ts: int) -> dict[str, Any]:
            # R follows from this entry's own ts, fixed under the head lock (spec §3).
            r = eds1.round_at(ts // 1000) + params.delta if params.beacon else 0
            commitment = eds1.commitment(
                params.draw_id, pool_root=frozen.pool_root, n_elig=frozen.n_elig,
                excluded_root=frozen.excluded_root, n_excl=frozen.n_excl,
                params_hash=params_hash, c_s=c_s, r=r, escrow=sealing.escrow_digest,
            )  # fmt: skip
            return {
                "params": sealing.params_bytes.hex(), "params_hash": params_hash.hex(),
                "pool_root": frozen.pool_root.hex(), "excluded_root": frozen.excluded_root.hex(),
                "n_elig": frozen.n_elig, "n_excl": frozen.n_excl, "c_s": c_s.hex(), "r": r,
                "envelopes": [e.hex() for e in sealing.envelopes],
                "escrow_digest": sealing.escrow_digest.hex(),
                "commit_digest": eds1.sha256(commitment).hex(),
            }  # fmt: skip

        def committed(appended: Appended) -> dict[str, Any]:
            """The draw row: its commit's seq, time, round and digest from the entry."""
            entry = canonical.loads(appended.bodies[2])
            commit_ms, r = int(entry["ts"]), int(entry["data"]["r"])
            deadline = (
                1000 * (eds1.round_time(r) - params.margin_s) if params.beacon
                else commit_ms + 1000 * config.nonce_deadline_s
            )  # fmt: skip
            return dict(
                row, state="COMMITTED", end_reason="", params=sealing.params_bytes,
                params_hash=params_hash, pool_root=frozen.pool_root,
                excluded_root=frozen.excluded_root, n_elig=frozen.n_elig,
                n_excl=frozen.n_excl, counts=json.dumps(counts),
                excluded_counts=json.dumps(excluded_counts), round=r, c_s=c_s,
                s_enc=sealing.s_enc, salts_enc=sealing.salts_enc,
                envelopes=json.dumps([e.hex() for e in sealing.envelopes]),
                commit_digest=bytes.fromhex(entry["data"]["commit_digest"]),
                commit_seq=appended.first_seq + 2, commit_ms=commit_ms,
                nonce_deadline_ms=deadline,
            )  # fmt: skip

        # The draw's rows go with the entries' write (one round trip on PostgreSQL).
        appended = self._audit.append(
            conn, who=who, request_id=request_id, payload=payload,
            pending=[request_entry, PendingEntry("pool.freeze", subj, freeze_data),
                     PendingEntry("draw.commit", subj, commit_data)],
            outcome=json.dumps({"draw_id": draw_id}).encode(), locked=locked,
            then=lambda appended: _insert_draw(conn, committed(appended), sealing.members),
        )  # fmt: skip
        values = committed(appended)
        # Kept for ExecuteDraw and declines (_Pools: a rollback leaves a key no draw has).
        self._pools.put((draw_id, values["commit_digest"]), sealing.kept)
        # The draw as written (no seats yet): reading it back would cost two more round
        # trips under the head lock.
        return Created(_stored(values, {}), appended.bodies[2], appended.receipts[2].format())

    def _replay_create(self, conn: Connection, outcome: bytes, request: DrawRequest) -> Created:
        """A retried CreateDraw (same content: the request's digest matched)."""
        draw_id = json.loads(outcome)["draw_id"]
        draw = self._read(conn, draw_id)
        if draw.state == "CANCELLED" and draw.end_reason == "INSUFFICIENT_POOL":
            raise _insufficient(draw_id, draw.counts, request, self._config())
        body, receipt = self._audit_entry(conn, draw_id, "draw.commit")
        return Created(draw, body, receipt)

    # -- ExecuteDraw ---------------------------------------------------------------------

    def execute(self, who: Who, draw_id: str, nonce: bytes, request_id: str) -> Executed:
        """Log the nonce and, without a beacon, resolve the draw in the same transaction.

        Raises:
            NotFoundError: no such draw, or another requester's.
            PreconditionError: LATE_NONCE (the draw expires, logged), NONCE_ALREADY_GIVEN
                (the second nonce is logged as rejected), DRAW_NOT_COMMITTED,
                REQUEST_ID_REUSED.
        """
        return self._disclosed(*self._execute(who, draw_id, nonce, request_id))

    def _execute(
        self, who: Who, draw_id: str, nonce: bytes, request_id: str
    ) -> tuple[Executed, _Disclosure | None]:
        payload = {"method": "ExecuteDraw", "name": f"draws/{draw_id}", "nonce": nonce.hex()}
        failure: PreconditionError | None = None
        with write_transaction(self._engine) as conn:
            row, found = self._row_and_request(conn, draw_id, who, request_id)
            if str(row.requester) != who.sub:
                raise NotFoundError("Draw", f"draws/{draw_id}", reason="DRAW_NOT_FOUND")
            stored = self._audit.stored_request(found, request_id, payload)
            if stored is not None:
                _raise_stored(bytes(stored.outcome))
                return self._replay_execute(conn, draw_id), None
            # The order does not depend on the time: computed before the head lock, from
            # the draw's own rows, which its row lock (held) keeps as they are.
            ahead = None
            if row.nonce is None and str(row.state) == "COMMITTED" and not row.beacon:
                ahead = self._order(conn, row, nonce, r=0, rho=b"")
            # The head lock first: the nonce entry's own ts, fixed now, decides (spec §3).
            # With it, in one round trip, the seats a resolution strikes as BUSY.
            locked, (busy,) = self._audit.lock_then_read(conn, [self._busy_query(row)])
            ts = max(self._audit.clock_ms(), locked.head.last_ts)
            subj = f"draws/{draw_id}"
            state = str(row.state)
            rejected: tuple[str, str, str] | None = None  # reason, error reason, message
            if row.nonce is not None:
                msg = f"{subj} already has its nonce (the second one is logged as rejected)"
                rejected = ("SECOND", "NONCE_ALREADY_GIVEN", msg)
            elif state == "EXPIRED":
                msg = f"{subj} expired without a nonce (this one is logged as rejected)"
                rejected = ("LATE", "LATE_NONCE", msg)
            elif state != "COMMITTED":
                msg = f"{subj} is {state.lower()}: only a committed draw takes a nonce"
                raise PreconditionError(msg, reason="DRAW_NOT_COMMITTED")
            if rejected is not None:
                failure = PreconditionError(rejected[2], reason=rejected[1])
                self._audit.append(
                    conn, who=who, request_id=request_id, payload=payload, now_ms=ts,
                    locked=locked,
                    pending=[pending("draw.nonce_reject", subj,
                                     {"nonce": nonce.hex(), "reason": rejected[0]})],
                    outcome=_failure_outcome(draw_id, failure),
                )  # fmt: skip
            elif row.nonce_deadline_ms is not None and ts >= int(row.nonce_deadline_ms):
                failure = PreconditionError(
                    f"{subj}: the nonce came after its deadline; the draw expired (logged)",
                    reason="LATE_NONCE",
                )
                self._audit.append(
                    conn, who=who, request_id=request_id, payload=payload, now_ms=ts,
                    locked=locked,
                    pending=[pending("draw.nonce_reject", subj,
                                     {"nonce": nonce.hex(), "reason": "LATE"}),
                             pending("draw.expire", subj, {"reason": "LATE_NONCE"})],
                    outcome=_failure_outcome(draw_id, failure),
                )  # fmt: skip
                conn.execute(
                    update(draw_table)
                    .where(draw_table.c.id == row.id)
                    .values(state="EXPIRED", end_reason="LATE_NONCE", version=row.version + 1)
                )
            elif row.beacon:
                self._audit.append(
                    conn, who=who, request_id=request_id, payload=payload, now_ms=ts,
                    locked=locked,
                    pending=[pending("draw.nonce", subj, {"nonce": nonce.hex()})],
                    outcome=json.dumps({"draw_id": draw_id}).encode(),
                )  # fmt: skip
                conn.execute(
                    update(draw_table)
                    .where(draw_table.c.id == row.id)
                    .values(state="AWAITING_BEACON", nonce=nonce, version=row.version + 1)
                )
                return Executed(self._read(conn, draw_id), ()), None
            else:
                nonce_entry = pending("draw.nonce", subj, {"nonce": nonce.hex()})
                return self._resolve(conn, who, request_id, payload, row, nonce,
                                     first=[nonce_entry], r=0, sig=b"", rho=b"", ts=ts,
                                     locked=locked, ahead=ahead, busy=_busy(busy))  # fmt: skip
        raise failure

    def _resolve(  # noqa: PLR0913, PLR0917 - the parts of one resolution
        self,
        conn: Connection,
        who: Who,
        request_id: str,
        payload: object,
        row: Row[Any],
        nonce: bytes,
        *,
        first: list[PendingEntry],
        r: int,
        sig: bytes,
        rho: bytes,
        ts: int,
        locked: Locked,
        ahead: _Ordered | None = None,
        busy: dict[int, dict[str, Any]] | None = None,
    ) -> tuple[Executed, _Disclosure | None]:
        """Phase 5: execute, BUSY strikes, the requester's grant and, on its own call, access.

        ``first`` holds the nonce entry when the nonce comes in the same call; ``ahead``
        the order when the caller computed it before the head lock; ``busy`` the other
        draws' seats when the caller read them under it (:meth:`_busy_query`). The
        identities, when this call discloses them, are read once the transaction that
        logs their access has committed (:meth:`_disclosed`).
        """
        draw, s, outcome = ahead or self._order(conn, row, nonce, r=r, rho=rho)
        subj = f"draws/{draw.draw_id}"
        codes = [d.code for d in draw.params.disciplines]
        entries = [
            *first,
            pending("draw.execute", subj, {
                "r": r, "sig_r": sig.hex(), "rho": rho.hex(), "s": s.hex(),
                "seed": outcome.seed.hex(),
                "order_digest": outcome.order_digest.hex(),
                "panels": [{"d": d.decode(), "panel": [p.hex() for p in outcome.panel[d]],
                            "reserve": [p.hex() for p in outcome.reserve[d]]} for d in codes],
            }),
        ]  # fmt: skip
        seating = eds1.Seating(
            outcome.order, outcome.panel, outcome.reserve,
            {d.code: d.max_repl for d in draw.params.disciplines},
        )  # fmt: skip
        if busy is None:
            statement, params = self._busy_query(row)
            busy = _busy(conn.execute(statement, params).all())
        exhausted = self._strike_busy(draw, seating, entries, codes, busy)
        now = self._audit.clock_ms()
        seated = [p for d in codes for p in seating.seats[d]]
        requester = str(row.requester)
        disclose = not exhausted and who.sub == requester
        if exhausted:
            entries.append(pending("draw.cancel", subj, {"reason": "REPL_EXHAUSTED", "counts": []}))
        else:
            entries.append(pending("confidential.grant", subj,
                                   {"grantee": requester, "purpose": "panel"}))  # fmt: skip
        if disclose:
            pseuds = [p.hex() for p in seated]
            entries.append(
                pending("confidential.access", subj, {"purpose": "panel", "pseuds": pseuds})
            )
        state, reason = ("CANCELLED", "REPL_EXHAUSTED") if exhausted else ("EXECUTED", "")
        values = {"state": state, "end_reason": reason, "nonce": nonce, "seed": outcome.seed,
                  "s_enc": None, "execute_ms": now, "version": row.version + 1}  # fmt: skip
        seats = {} if exhausted else {  # a cancelled draw seats nobody
            d.decode(): sorted(seating.seats[d]) for d in sorted(codes) if seating.seats[d]
        }  # fmt: skip
        members: dict[bytes, dict[str, Any]] = {
            **{p: {"seat": None, "left": True} for p in seating.used - set(seated)},
            **{p: {"seat": d, "left": False} for d, ps in seats.items() for p in ps},
        }
        self._audit.append(
            conn, who=who, request_id=request_id, payload=payload, pending=entries, now_ms=ts,
            outcome=json.dumps({"draw_id": draw.draw_id}).encode(), locked=locked,
            then=lambda _: _update_draw(conn, int(row.id), values, members),
        )  # fmt: skip
        # The draw as written, seats in the order a read gives them (no read under the lock).
        stored = _stored({**row._mapping, **values}, seats)  # noqa: SLF001
        if not disclose:
            return Executed(stored, ()), None
        order = tuple((p, d.decode()) for d in codes for p in seating.seats[d])
        return Executed(stored, ()), _Disclosure(int(row.id), order, draw.expert_of)

    def _disclosed(self, executed: Executed, disclosure: _Disclosure | None) -> Executed:
        """``executed`` with the identities of ``disclosure``, read after its commit.

        The access entry is committed first: reading names and phones under the head
        lock was a round trip every other writer waited for. Should this read fail, the
        client's retry gets the draw without identities (as any retry does), and reads
        them with GetPanel, which logs its own access.
        """
        if disclosure is None or not disclosure.seats:
            return executed
        try:
            with read_statements(self._engine) as conn:
                panel = self._disclose(
                    conn, disclosure.draw_row_id, disclosure.seats, disclosure.expert_of
                )
        except Exception as exc:
            # Whatever failed (the database, or anything else), the change is committed:
            # never "nothing was written", never an INTERNAL that hides it.
            _log.exception(
                "draw.identities_not_read", draw=executed.draw.draw_id,
                database=retryable_error(exc) is not None,
            )  # fmt: skip
            msg = (
                f"draws/{executed.draw.draw_id}: the change was applied and the access "
                "logged, but the identities could not be read; retry with the same request "
                "id (it returns the draw without them) and read them with GetPanel"
            )
            raise UnavailableError(msg, reason="IDENTITIES_NOT_READ") from exc
        return dataclasses.replace(executed, panel=panel)

    def _order(
        self, conn: Connection, row: Row[Any], nonce: bytes, *, r: int, rho: bytes
    ) -> _Ordered:
        """The draw's members, its secret and the order they give (pure, no time in it)."""
        draw = _Executing(conn, row, self._pools)
        s = bytes.fromhex(self.open_secret(bytes(row.s_enc), draw.draw_id, "s_enc"))
        outcome = drawing.resolve(
            draw.params, draw.members, pool_root=bytes(row.pool_root),
            excluded_root=bytes(row.excluded_root), s=s, r=r, rho=rho, nonce=nonce,
        )  # fmt: skip
        return draw, s, outcome

    def submit_beacon(  # noqa: PLR0913 - one submission
        self, who: Who, role: str, draw_id: str, *, round_: int, signature: bytes,
        request_id: str,
    ) -> Executed:  # fmt: skip
        """Resolve a draw waiting for its drand round, once the round's signature verifies.

        The requester, a supervisor or the service's beacon adapter may submit it; the
        panel identities are returned (and their access logged) only to the requester.

        Raises:
            NotFoundError: no such draw, or another trading system's.
            InvalidRequestError: BAD_BEACON (another round, or a signature that does not
                verify under the pinned chain key).
            PreconditionError: NOT_AWAITING_BEACON, ROUND_NOT_DUE.
        """
        check_request_id(request_id)
        payload = {"method": "SubmitBeacon", "name": f"draws/{draw_id}", "round": round_,
                   "signature": signature.hex()}  # fmt: skip
        with write_transaction(self._engine) as conn:
            row, found = self._row_and_request(conn, draw_id, who, request_id)
            if role == "trading_system" and str(row.requester) != who.sub:
                raise NotFoundError("Draw", f"draws/{draw_id}", reason="DRAW_NOT_FOUND")
            if self._audit.stored_request(found, request_id, payload) is not None:
                return self._replay_execute(conn, draw_id)
            if str(row.state) != "AWAITING_BEACON":
                msg = f"draws/{draw_id} is {str(row.state).lower()}, not waiting for a round"
                raise PreconditionError(msg, reason="NOT_AWAITING_BEACON")
            r = int(row.round)
            if round_ != r:
                raise InvalidRequestError.field(
                    "round", f"the draw waits for round {r}", reason="BAD_BEACON"
                )
            try:
                rho = beacon.verify_round(r, signature)
            except beacon.BeaconError as exc:
                raise InvalidRequestError.field(
                    "signature",
                    f"does not verify for round {r}: {exc.reason}",
                    reason="BAD_BEACON",
                ) from None
            locked = self._audit.lock(conn)
            ts = max(self._audit.clock_ms(), locked.head.last_ts)
            if ts < 1000 * eds1.round_time(r):
                msg = f"round {r} is not due before {eds1.round_time(r)} (UNIX seconds)"
                raise PreconditionError(msg, reason="ROUND_NOT_DUE")
            resolved = self._resolve(conn, who, request_id, payload, row, bytes(row.nonce),
                                     first=[], r=r, sig=signature, rho=rho, ts=ts,
                                     locked=locked)  # fmt: skip
        return self._disclosed(*resolved)

    def _strike_busy(
        self,
        draw: _Executing,
        seating: eds1.Seating,
        entries: list[PendingEntry],
        codes: Sequence[bytes],
        busy: dict[int, dict[str, Any]],
    ) -> bool:
        """Strike members seated in overlapping executed draws (``busy``), mode-A replace.

        Returns True when a seat could not be refilled (the draw must be cancelled).
        """
        for d in codes:
            for p in list(seating.seats[d]):
                if draw.expert_of[p] in busy and self._leave(
                    draw, seating, p, busy, entries,
                    reason=b"BUSY", evidence=canonical.dumps(busy[draw.expert_of[p]]),
                    void=False,
                ) is None:  # fmt: skip
                    return True
        return False

    def _leave(  # noqa: PLR0913 - one decline
        self,
        draw: _Executing,
        seating: eds1.Seating,
        pseud: bytes,
        busy: dict[int, dict[str, Any]],
        entries: list[PendingEntry],
        *,
        reason: bytes,
        evidence: bytes,
        void: bool,
    ) -> list[bytes] | None:
        """Log one decline and its mode-A replacement; strike busy replacements in turn.

        Returns the pseudonyms newly seated (empty for an unseated member), or None when
        a seat could not be refilled: the caller appends ``draw.cancel``.
        """
        subj = f"draws/{draw.draw_id}"
        seated: list[bytes] = []
        while True:
            entries.append(pending("draw.decline", subj, {
                "pseud": pseud.hex(), "reason": reason.decode(),
                "evidence_hash": drawing.evidence_hash(evidence).hex(), "void": void,
            }))  # fmt: skip
            replaced = seating.decline(pseud)
            if replaced is None:
                return seated
            if replaced.incoming is None:
                return None
            entries.append(pending("draw.replace", subj, {
                "d": replaced.discipline.decode(), "out": pseud.hex(),
                "in": replaced.incoming.hex(),
            }))  # fmt: skip
            overlap = busy.get(draw.expert_of[replaced.incoming])
            if overlap is None:
                return [*seated, replaced.incoming]
            pseud, reason, void = replaced.incoming, b"BUSY", False
            evidence = canonical.dumps(overlap)

    def _busy_query(self, row: Row[Any]) -> tuple[Select[Any], dict[str, Any]]:
        """The experts seated now in other executed draws whose windows overlap ``row``'s.

        Read under the head lock, which every seating transaction takes before it reads
        and holds until it commits: two executions (or replacements) at once serialize,
        and the second sees the first's seats, so nobody is seated twice.
        """
        pad = self._config().policy.history.padding_minutes * 60_000  # as at the freeze
        return _BUSY, {"draw": row.id, "to_ms": row.window_to_ms + pad,
                       "from_ms": row.window_from_ms - pad}  # fmt: skip

    def _disclose(
        self,
        conn: Connection,
        draw_row_id: int,
        seats: Sequence[tuple[bytes, str]],
        expert_of: Mapping[bytes, int] | None = None,
    ) -> tuple[Member, ...]:
        """The identities behind ``(pseudonym, code)`` seats (the caller logs the access).

        ``expert_of`` (pseudonym -> expert row id) when the caller has read it already.
        """
        if not seats:
            return ()
        m = draw_member_table
        wanted = [p for p, _ in seats]
        experts_of = {p: expert_of[p] for p in wanted} if expert_of is not None else {
            bytes(r.pseud): int(r.expert_id)
            for r in conn.execute(
                select(m.c.pseud, m.c.expert_id).where(m.c.draw_id == draw_row_id,
                                                        among(conn, m.c.pseud, wanted))
            )
        }  # fmt: skip
        contacts = self._library.contacts(conn, list(experts_of.values()))
        return tuple(
            Member(p, code, contacts[experts_of[p]].uuid, contacts[experts_of[p]].full_name,
                   contacts[experts_of[p]].phone)
            for p, code in seats
        )  # fmt: skip

    def _replay_execute(self, conn: Connection, draw_id: str) -> Executed:
        """A retried ExecuteDraw: the draw as it is now, without the panel identities.

        Disclosing them again would be a disclosure with no entry of its own; the
        requester reads them with GetPanel, which logs each read.
        """
        return Executed(self._read(conn, draw_id), ())

    # -- changes after the commit ---------------------------------------------------------

    def _change(  # noqa: PLR0913 - the parts of one audited draw change
        self,
        who: Who,
        draw_id: str,
        request_id: str,
        payload: dict[str, Any],
        apply: Callable[[Connection, Row[Any]], _Change],
        *,
        owner_only: bool = True,
    ) -> tuple[StoredDraw, tuple[Member, ...]]:
        """Run one audited change of a draw: lock, owner, replay check, apply, log.

        ``apply(conn, row)`` checks its own preconditions and returns the entries, the
        draw's new state (or None) and the member rows to update. A change that fails
        after logging (``_Change.failure``) commits its entries and then raises.
        """
        check_request_id(request_id)
        failure: PreconditionError | None = None
        with write_transaction(self._engine) as conn:
            row, found = self._row_and_request(conn, draw_id, who, request_id)
            if owner_only and str(row.requester) != who.sub:
                raise NotFoundError("Draw", f"draws/{draw_id}", reason="DRAW_NOT_FOUND")
            stored = self._audit.stored_request(found, request_id, payload)
            if stored is not None:
                _raise_stored(bytes(stored.outcome))  # a change that failed fails again
                return self._read(conn, draw_id), ()
            # ``apply`` reads the draw's own rows and entries, which its row lock (held)
            # keeps as they are; one that reads other draws' seats takes the head lock
            # first (a decline, for _busy) and hands it over.
            change = apply(conn, row)
            locked = change.locked or self._audit.lock(conn)
            values: dict[str, Any] = {"version": row.version + 1}
            if change.state is not None:
                values.update(state=change.state, end_reason=change.end_reason)
            self._audit.append(
                conn, who=who, request_id=request_id, payload=payload, pending=change.entries,
                locked=locked,
                outcome=json.dumps({"draw_id": draw_id}).encode() if change.failure is None
                else _failure_outcome(draw_id, change.failure),
                then=lambda _: _update_draw(conn, int(row.id), values, change.members),
            )  # fmt: skip
            m = draw_member_table
            if change.state == "CANCELLED":  # a cancelled draw holds no seat any more
                conn.execute(update(m).where(m.c.draw_id == row.id).values(seat=None))
            seats = change.seats
            if seats is None:
                seats = _seats_of(conn, [int(row.id)]).get(int(row.id), {})
            after = _stored({**row._mapping, **values}, seats)  # noqa: SLF001 - the row as written
            failure = change.failure
        if failure is not None:
            raise failure
        # Read once the access entry has committed (see _disclosed).
        disclosure = _Disclosure(int(row.id), change.disclose, change.expert_of)
        return after, self._disclosed(Executed(after, ()), disclosure).panel

    def decline(  # noqa: PLR0913 - one decline request
        self,
        who: Who,
        draw_id: str,
        *,
        pseud: bytes,
        reason: str,
        evidence: bytes,
        request_id: str,
    ) -> tuple[StoredDraw, tuple[Member, ...]]:
        """Record a decline (or a 第48条③ strike) and seat the mode-A replacement.

        Returns the draw and the disclosed replacement (its access is logged).

        Raises:
            NotFoundError: DRAW_NOT_FOUND, MEMBER_NOT_FOUND.
            PreconditionError: DRAW_NOT_EXECUTED, COMMITTEE_CLOSED, NOT_OPENED (a strike
                before the opening), ALREADY_LEFT, REPL_EXHAUSTED (logged, then raised).
        """
        payload = {"method": "Decline", "name": f"draws/{draw_id}", "pseud": pseud.hex(),
                   "reason": reason, "evidence": eds1.sha256(evidence).hex()}  # fmt: skip

        def apply(conn: Connection, row: Row[Any]) -> _Change:
            _require_state(row, {"EXECUTED", "OPENED"}, late="COMMITTEE_CLOSED")
            opened = str(row.state) == "OPENED"
            if reason == "STRUCK_48_3" and not opened:
                msg = "a 第48条③ strike comes after the bid opening (RecordOpening)"
                raise PreconditionError(msg, reason="NOT_OPENED")
            draw = _Executing(conn, row, self._pools)
            seating = self._seating(conn, draw)
            if pseud not in seating.pool:
                raise NotFoundError("Member", f"draws/{draw_id}/members/{pseud.hex()}",
                                    reason="MEMBER_NOT_FOUND")  # fmt: skip
            if pseud in seating.used and seating.seat_of(pseud) is None:
                msg = "the member has already left the draw"
                raise PreconditionError(msg, reason="ALREADY_LEFT")
            entries: list[PendingEntry] = []
            # The seats of other draws, read under the head lock (one round trip).
            locked, (busy,) = self._audit.lock_then_read(conn, [self._busy_query(row)])
            seated = self._leave(
                draw, seating, pseud, _busy(busy), entries,
                reason=reason.encode(), evidence=evidence,
                void=drawing.void(reason.encode(), opened=opened),
            )  # fmt: skip
            members = _member_changes(seating)
            if seated is None:
                entries.append(pending("draw.cancel", f"draws/{draw_id}",
                                       {"reason": "REPL_EXHAUSTED", "counts": []}))  # fmt: skip
                failure = PreconditionError(
                    f"draws/{draw_id}: no replacement is possible; the draw is cancelled"
                    " (logged) and a new draw must supersede it",
                    reason="REPL_EXHAUSTED",
                )
                return _Change(entries, "CANCELLED", "REPL_EXHAUSTED", members, (), failure,
                               locked)  # fmt: skip
            if seated:
                entries.append(
                    pending(
                        "confidential.access",
                        f"draws/{draw_id}",
                        {"purpose": "panel", "pseuds": [p.hex() for p in seated]},
                    )
                )
            seat_of = {p: d.decode() for d, ps in seating.seats.items() for p in ps}
            seats = {d.decode(): sorted(ps) for d, ps in sorted(seating.seats.items()) if ps}
            return _Change(entries, None, "", members, tuple((p, seat_of[p]) for p in seated),
                           locked=locked, seats=seats, expert_of=draw.expert_of)  # fmt: skip

        return self._change(who, draw_id, request_id, payload, apply)

    def _seating(self, conn: Connection, draw: _Executing) -> eds1.Seating:
        """The seats now: the committed order, replayed through the logged declines."""
        seed = bytes(draw.row.seed)
        codes = [d.code for d in draw.params.disciplines]
        order = eds1.orders(draw.members, codes, lambda p: eds1.rank(seed, p))
        quotas = {d.code: eds1.Quota(d.k, d.r) for d in draw.params.disciplines}
        panel, reserve = eds1.panels(order, codes, quotas)
        seating = eds1.Seating(
            order, panel, reserve, {d.code: d.max_repl for d in draw.params.disciplines}
        )
        for body in conn.execute(
            select(entry_table.c.body)
            .where(entry_table.c.subj == f"draws/{draw.draw_id}",
                   entry_table.c.kind == "draw.decline")
            .order_by(entry_table.c.seq)
        ).scalars():  # fmt: skip
            seating.decline(bytes.fromhex(canonical.loads(bytes(body))["data"]["pseud"]))
        return seating

    def lifecycle(  # noqa: PLR0913 - the step and what each step names
        self,
        who: Who,
        draw_id: str,
        step: str,
        *,
        request_id: str,
        pseud: bytes = b"",
        channel: str = "",
        evidence: bytes = b"",
        opened_at: int = 0,
        reason: str = "",
    ) -> StoredDraw:
        """Record one lifecycle step of a draw.

        ``notify`` (pseud, channel, evidence), ``accept`` (pseud, evidence), ``open``
        (opened_at, ms), ``close``, ``award`` (evidence: the notice's bytes), ``cancel``
        (reason code).

        Raises:
            NotFoundError: DRAW_NOT_FOUND, MEMBER_NOT_FOUND.
            PreconditionError: the draw is not at the step's stage.
        """
        payload = {"method": step, "name": f"draws/{draw_id}", "pseud": pseud.hex(),
                   "channel": channel, "evidence": eds1.sha256(evidence).hex(),
                   "opened_at": opened_at, "reason": reason}  # fmt: skip
        subj = f"draws/{draw_id}"

        def apply(conn: Connection, row: Row[Any]) -> _Change:
            if step == "open":
                _require_state(row, {"EXECUTED"}, late="ALREADY_OPENED")
                return _Change([pending("draw.open", subj, {"opened_at": opened_at})], "OPENED")
            if step == "close":
                _require_state(row, {"OPENED"}, early="NOT_OPENED", late="ALREADY_CLOSED")
                seating = self._seating(conn, _Executing(conn, row, self._pools))
                panels = [{"d": d.decode(), "panel": [p.hex() for p in seats]}
                          for d, seats in seating.seats.items()]  # fmt: skip
                return _Change([pending("draw.close", subj, {"panels": panels})], "CLOSED")
            if step == "award":
                _require_state(row, {"CLOSED"}, early="NOT_CLOSED", late="ALREADY_AWARDED")
                digest = drawing.evidence_hash(evidence).hex()
                return _Change([pending("draw.award", subj, {"evidence_hash": digest})],
                               "AWARDED")  # fmt: skip
            if step == "cancel":
                if str(row.state) == "AWAITING_BEACON":
                    msg = ("the nonce is logged: the outcome is fixed, so the draw resolves when"
                           " its round comes; cancel it after that")  # fmt: skip
                    raise PreconditionError(msg, reason="NONCE_GIVEN")
                live = set(_STAGES) - {"AWARDED"}
                _require_state(row, live, early="DRAW_ENDED", late="ALREADY_AWARDED")
                return _Change([pending("draw.cancel", subj, {"reason": reason, "counts": []})],
                               "CANCELLED", reason)  # fmt: skip
            _require_state(row, {"EXECUTED", "OPENED"}, late="COMMITTEE_CLOSED")
            draw = _Executing(conn, row, self._pools)
            seating = self._seating(conn, draw)
            if pseud not in seating.pool:
                raise NotFoundError("Member", f"{subj}/members/{pseud.hex()}",
                                    reason="MEMBER_NOT_FOUND")  # fmt: skip
            digest = drawing.evidence_hash(evidence).hex()
            if step == "accept":
                if seating.seat_of(pseud) is None:
                    raise PreconditionError("only a seated member accepts", reason="NOT_SEATED")
                return _Change(
                    [pending("draw.accept", subj, {"pseud": pseud.hex(), "evidence_hash": digest})]
                )
            return _Change(
                [
                    pending(
                        "draw.notify",
                        subj,
                        {"pseud": pseud.hex(), "channel": channel, "evidence_hash": digest},
                    )
                ]
            )

        return self._change(who, draw_id, request_id, payload, apply)[0]

    def panel(self, who: Who, draw_id: str) -> tuple[Member, ...]:
        """The seated members' identities; each read is logged (draw-protocol.md §5.1).

        The draw's requester reads under the grant its execution logged. A supervisor
        reads from ``draw.close`` on, and before that only under a ``confidential.grant``
        of its own (:meth:`request_access`).

        Raises:
            NotFoundError: no such draw, or another requester's.
            PreconditionError: DRAW_NOT_EXECUTED, DRAW_ENDED.
            AccessDeniedError: GRANT_REQUIRED (a supervisor, before the close, no grant).
        """
        with write_transaction(self._engine) as conn:
            row = self._row(conn, draw_id, for_update=True)
            supervisor = who.role == "supervisor"
            if not supervisor and str(row.requester) != who.sub:
                raise NotFoundError("Draw", f"draws/{draw_id}", reason="DRAW_NOT_FOUND")
            _require_state(row, set(SEATED_STATES), late="DRAW_ENDED")
            if (
                supervisor
                and str(row.state) not in {"CLOSED", "AWARDED"}
                and not (self._granted(conn, draw_id, who.sub))
            ):
                msg = (f"draws/{draw_id} is not closed: a supervisor reads its identities "
                       "under a grant (RequestAccess with a purpose)")  # fmt: skip
                raise AccessDeniedError(msg, reason="GRANT_REQUIRED")
            seats = [(p, code) for code, ps in self._read(conn, draw_id).seats.items()
                     for p in ps]  # fmt: skip
            self._audit.append(
                conn, who=who, request_id=f"panel-{self._random(12).hex()}",
                payload={"method": "GetPanel", "name": f"draws/{draw_id}"},
                pending=[pending("confidential.access", f"draws/{draw_id}",
                                 {"purpose": "panel", "pseuds": [p.hex() for p, _ in seats]})],
            )  # fmt: skip
            return self._disclose(conn, int(row.id), seats)

    def request_access(
        self, who: Who, draw_id: str, purpose: str, request_id: str
    ) -> tuple[int, str]:
        """A supervisor's grant to read the draw's identities (``confidential.grant``).

        Returns the grant's seq and its receipt; a retry returns the same grant.

        Raises:
            NotFoundError: DRAW_NOT_FOUND.
            PreconditionError: DRAW_NOT_COMMITTED (a refused draw has no pool),
                REQUEST_ID_REUSED.
        """
        check_request_id(request_id)
        subj = f"draws/{draw_id}"
        payload = {"method": "RequestAccess", "name": subj, "purpose": purpose}
        with write_transaction(self._engine) as conn:
            row, found = self._row_and_request(conn, draw_id, who, request_id)
            stored = self._audit.stored_request(found, request_id, payload)
            if stored is not None:
                seq = stored.first_seq
            else:
                if not bytes(row.pool_root):
                    msg = f"{subj} was refused before its pool was committed"
                    raise PreconditionError(msg, reason="DRAW_NOT_COMMITTED")
                seq = self._audit.append(
                    conn, who=who, request_id=request_id, payload=payload,
                    pending=[pending("confidential.grant", subj,
                                     {"grantee": who.sub, "purpose": purpose})],
                ).first_seq  # fmt: skip
            size, note = self._audit.store.latest_checkpoint(conn)
            proof = self._audit.store.inclusion_proof(conn, seq, size)
        return seq, Receipt(seq, tuple(proof), note).format()

    def _granted(self, conn: Connection, draw_id: str, grantee: str) -> bool:
        """Whether ``grantee`` holds a ``confidential.grant`` on the draw."""
        e = entry_table
        for body in conn.execute(
            select(e.c.body).where(e.c.log_id == LOG_ID, e.c.subj == f"draws/{draw_id}",
                                   e.c.kind == "confidential.grant")
        ).scalars():  # fmt: skip
            if canonical.loads(bytes(body))["data"]["grantee"] == grantee:
                return True
        return False

    def sweep(self, now_ms: int | None = None) -> list[str]:
        """Expire committed draws whose nonce deadline has passed (``NO_NONCE``).

        Idempotent: each expiry has the request id ``expire-<draw_id>``, so replicas
        racing on one draw append one entry. Returns the draw ids expired.
        """
        now = self._audit.clock_ms() if now_ms is None else now_ms
        with self._engine.connect() as conn:
            due = [str(r.draw_id) for r in conn.execute(
                select(draw_table.c.draw_id).where(
                    draw_table.c.state == "COMMITTED", draw_table.c.nonce.is_(None),
                    draw_table.c.nonce_deadline_ms <= now,
                )
            )]  # fmt: skip
        expired = []
        who = self._audit.service_who()
        for draw_id in due:
            request_id = f"expire-{draw_id}"
            with write_transaction(self._engine) as conn:
                row = self._row(conn, draw_id, for_update=True)
                if str(row.state) != "COMMITTED" or row.nonce is not None:
                    continue
                if self._audit.find_request(conn, who, request_id, {"expire": draw_id}):
                    continue  # pragma: no cover - the state check above sees it first
                self._audit.append(
                    conn, who=who, request_id=request_id, payload={"expire": draw_id},
                    pending=[pending("draw.expire", f"draws/{draw_id}", {"reason": "NO_NONCE"})],
                )  # fmt: skip
                conn.execute(
                    update(draw_table)
                    .where(draw_table.c.id == row.id)
                    .values(state="EXPIRED", end_reason="NO_NONCE", version=row.version + 1)
                )
                expired.append(draw_id)
        return expired

    def approve_override(  # noqa: PLR0913 - one approval
        self,
        who: Who,
        *,
        tender_id: str,
        lot_id: str,
        codes: Sequence[str],
        reason: str,
        request_id: str,
    ) -> tuple[int, bytes, str]:
        """A supervisor's prior approval of a pool below the minimum (draw.override).

        Returns the entry's seq, the tender_ref and the receipt.
        """
        check_request_id(request_id)
        tender_ref = self.tender_ref(tender_id, lot_id)
        data = {"approver": who.sub, "tender_ref": tender_ref.hex(),
                "disciplines": sorted(set(codes)), "reason": reason}  # fmt: skip
        with write_transaction(self._engine) as conn:
            locked, stored = self._audit.lock_and_find(conn, who, request_id, data)
            if stored is not None:
                seq = stored.first_seq
            else:
                appended = self._audit.append(
                    conn, who=who, request_id=request_id, payload=data, locked=locked,
                    pending=[pending("draw.override", f"tenders/{tender_ref.hex()}", data)],
                )  # fmt: skip
                seq = appended.first_seq
            size, note = self._audit.store.latest_checkpoint(conn)
            proof = self._audit.store.inclusion_proof(conn, seq, size)
        return seq, tender_ref, Receipt(seq, tuple(proof), note).format()

    def report_escrow_opening(
        self, who: Who, draw_id: str, *, key_id: bytes, reason: str, request_id: str
    ) -> int:
        """Log a supervisor's offline opening of an escrow envelope (escrow.open).

        Raises:
            NotFoundError: DRAW_NOT_FOUND, or ENVELOPE_NOT_FOUND (no envelope has that
                key id).
        """
        check_request_id(request_id)
        data = {"key_id": key_id.hex(), "reason": reason}
        with write_transaction(self._engine) as conn:
            row = self._row(conn, draw_id)
            locked, stored = self._audit.lock_and_find(
                conn, who, request_id, {**data, "draw": draw_id}
            )
            if stored is not None:
                return stored.first_seq
            ids = {escrow.parse_envelope(bytes.fromhex(e)).key_id
                   for e in json.loads(row.envelopes)}  # fmt: skip
            if key_id not in ids:
                raise NotFoundError("Envelope", f"draws/{draw_id}/envelopes/{key_id.hex()}",
                                    reason="ENVELOPE_NOT_FOUND")  # fmt: skip
            return self._audit.append(
                conn, who=who, request_id=request_id, payload={**data, "draw": draw_id},
                pending=[pending("escrow.open", f"draws/{draw_id}", data)], locked=locked,
            ).first_seq  # fmt: skip

    def record_export(
        self, who: Who, *, what: str, data_sha256: bytes, request_id: str
    ) -> tuple[str, int]:
        """Log a supervisor's export (``export`` on exports/{id}); return (name, seq).

        Raises:
            PreconditionError: REQUEST_ID_REUSED (same request id, other payload).
        """
        check_request_id(request_id)
        payload = {"method": "RecordExport", "what": what, "data_sha256": data_sha256.hex()}
        with write_transaction(self._engine) as conn:
            locked, stored = self._audit.lock_and_find(conn, who, request_id, payload)
            if stored is not None:
                subj = conn.execute(
                    select(entry_table.c.subj).where(
                        entry_table.c.log_id == LOG_ID, entry_table.c.seq == stored.first_seq
                    )
                ).scalar_one()
                return str(subj), stored.first_seq
            name = f"exports/{self._random(16).hex()}"
            data = {"what": what, "recipient": who.sub, "data_sha256": data_sha256.hex()}
            seq = self._audit.append(
                conn, who=who, request_id=request_id, payload=payload,
                pending=[pending("export", name, data)], locked=locked,
            ).first_seq  # fmt: skip
        return name, seq

    # -- the proof bundle ----------------------------------------------------------------

    def bundle(self, who: Who, role: str, draw_id: str) -> bytes:
        """The proof bundle (spec §10) as aud1 bytes; its delivery is logged (draw.publish).

        Supervisors receive it from execution on; everyone else once the draw is awarded.

        Raises:
            NotFoundError: no such draw (or another trading system's).
            PreconditionError: DRAW_NOT_EXECUTED, NOT_AWARDED.
        """
        supervisor = role == "supervisor"
        with write_transaction(self._engine) as conn:
            row = self._row(conn, draw_id, for_update=True)
            if role == "trading_system" and str(row.requester) != who.sub:
                raise NotFoundError("Draw", f"draws/{draw_id}", reason="DRAW_NOT_FOUND")
            if row.execute_ms is None:  # executed, even if cancelled since (supervisors)
                msg = f"draws/{draw_id} has no proof bundle: it was never executed"
                raise PreconditionError(msg, reason="DRAW_NOT_EXECUTED")
            if not supervisor and str(row.state) != "AWARDED":
                msg = f"draws/{draw_id}: the public bundle exists only after the award"
                raise PreconditionError(msg, reason="NOT_AWARDED")
            body = canonical.dumps(self._bundle(conn, row))
            self._audit.append(
                conn, who=who, request_id=f"publish-{self._random(12).hex()}",
                payload={"method": "GetProofBundle", "name": f"draws/{draw_id}"},
                pending=[pending("draw.publish", f"draws/{draw_id}", {
                    "audience": "supervisors" if supervisor else "public",
                    "bundle_sha256": eds1.sha256(body).hex(),
                })],
            )  # fmt: skip
        return body

    def _bundle(self, conn: Connection, row: Row[Any]) -> dict[str, Any]:
        draw = _Executing(conn, row, self._pools)
        store = self._audit.store
        chosen = self._bundle_entries(conn, row, draw.params)
        top = max(seq for seq, _ in chosen)
        size, note = conn.execute(
            select(checkpoint_table.c.size, checkpoint_table.c.note)
            .where(checkpoint_table.c.log_id == LOG_ID, checkpoint_table.c.size > top)
            .order_by(checkpoint_table.c.size).limit(1)
        ).one()  # fmt: skip
        size = int(size)
        latest_size, latest_note = store.latest_checkpoint(conn)
        included = [
            bundle.Included(seq, body, tuple(store.inclusion_proof(conn, seq, size)))
            for seq, body in chosen
        ]
        consistency = (
            store.consistency_proof(conn, size, latest_size) if latest_size != size else []
        )
        return bundle.build(
            draw_id=draw.draw_id, members=draw.members, entries=included, checkpoint=str(note),
            latest=latest_note, consistency=consistency,
            drand=beacon.QUICKNET.to_json() if draw.params.beacon else None,
        )  # fmt: skip

    def _bundle_entries(
        self, conn: Connection, row: Row[Any], params: eds1.Params
    ) -> list[tuple[int, bytes]]:
        """The bundle's entries, as (seq, body) by seq.

        The draw's own (pool.freeze, draw.* but draw.publish), every earlier attempt's
        draw.request and draw.commit, and the approving draw.override.
        """
        e = entry_table
        earlier = [str(r.draw_id) for r in conn.execute(
            select(draw_table.c.draw_id).where(draw_table.c.tender_ref == row.tender_ref,
                                               draw_table.c.id < row.id)
        )]  # fmt: skip
        own = (e.c.subj == f"draws/{row.draw_id}") & (
            (e.c.kind == "pool.freeze")
            | (e.c.kind.startswith("draw.") & (e.c.kind != "draw.publish"))
        )
        chosen: list[ColumnElement[bool]] = [own]
        if earlier:
            chosen.append(e.c.subj.in_([f"draws/{d}" for d in earlier])
                          & e.c.kind.in_(("draw.request", "draw.commit")))  # fmt: skip
        if params.override_seq:
            chosen.append(e.c.seq == params.override_seq)
        return [(int(r.seq), bytes(r.body)) for r in conn.execute(
            select(e.c.seq, e.c.body).where(e.c.log_id == LOG_ID, or_(*chosen)).order_by(e.c.seq)
        )]  # fmt: skip

    # -- expert receipts ------------------------------------------------------------------

    def expert_receipt(self, who: Who, draw_id: str, expert_uuid: str, purpose: str) -> bytes:
        """An expert's private receipt for a draw (spec §12), delivered by an admin.

        The delivery appends ``confidential.grant`` and ``confidential.access`` (purpose
        ``receipt``) naming the expert's pseudonym only.

        Raises:
            NotFoundError: DRAW_NOT_FOUND, or NOT_IN_DRAW (the expert has no leaf).
            PreconditionError: DRAW_NOT_COMMITTED (a refused draw has no pool).
        """
        m = draw_member_table
        with write_transaction(self._engine) as conn:
            row = self._row(conn, draw_id, for_update=True)
            if not bytes(row.pool_root):
                msg = f"draws/{draw_id} was refused before its pool was committed"
                raise PreconditionError(msg, reason="DRAW_NOT_COMMITTED")
            mine = conn.execute(
                select(m.c.pseud, m.c.salt_enc)
                .join(expert_table, expert_table.c.id == m.c.expert_id)
                .where(m.c.draw_id == row.id, expert_table.c.uuid == expert_uuid)
            ).first()  # fmt: skip
            if mine is None:
                raise NotFoundError("Member", f"draws/{draw_id}/experts/{expert_uuid}",
                                    reason="NOT_IN_DRAW")  # fmt: skip
            pseud = bytes(mine.pseud)
            salt = self._salt(row, pseud, mine.salt_enc)
            draw = _Executing(conn, row, self._pools)
            member = next(x for x in draw.members if x.pseudonym == pseud)
            tree = [x for x in draw.members if x.eligible == member.eligible]
            index = next(i for i, x in enumerate(tree) if x.pseudonym == pseud)
            proof = receipts.leaf_proof([x.leaf_input() for x in tree], index)
            positions: list[dict[str, Any]] = []
            if str(row.state) == "AWARDED" and member.eligible:
                seed = bytes(row.seed)
                order = eds1.orders(draw.members, list(member.discs),
                                    lambda p: eds1.rank(seed, p))  # fmt: skip
                positions = [{"d": d.decode(), "position": order[d].index(pseud)}
                             for d in member.discs]  # fmt: skip
            body, commit_receipt = self._audit_entry(conn, draw_id, "draw.commit")
            subj = f"draws/{draw_id}"
            self._audit.append(
                conn, who=who, request_id=f"receipt-{self._random(12).hex()}",
                payload={"method": "GetExpertReceipt", "name": subj, "expert": expert_uuid},
                pending=[
                    pending("confidential.grant", subj, {"grantee": who.sub, "purpose": purpose}),
                    pending("confidential.access", subj,
                            {"purpose": "receipt", "pseuds": [pseud.hex()]}),
                ],
            )  # fmt: skip
            return canonical.dumps(receipts.build(
                draw_id=draw_id, expert_uuid=expert_uuid, member=member, salt=salt,
                index=index, tree_size=len(tree), proof=proof, commit_body=body,
                commit_receipt=commit_receipt, positions=positions,
            ))  # fmt: skip

    # -- reading -------------------------------------------------------------------------

    def _row(self, conn: Connection, draw_id: str, *, for_update: bool = False) -> Row[Any]:
        row = conn.execute(_ROW_FOR_UPDATE if for_update else _ROW, {"draw_id": draw_id}).first()
        if row is None:
            raise NotFoundError("Draw", f"draws/{draw_id}", reason="DRAW_NOT_FOUND")
        return row

    def _row_and_request(
        self, conn: Connection, draw_id: str, who: Who, request_id: str
    ) -> tuple[Row[Any], list[Row[Any]]]:
        """The draw's row, locked (``FOR UPDATE``), and the rows of ``request_id``'s look-up.

        One round trip on PostgreSQL (``pipelined``); the look-up runs once the row
        lock is held, so a retry of this call that held it first has committed and is
        found. The caller checks who may see the draw before it reads the look-up
        (``AuditLog.stored_request``), so a reused id reveals no one else's draw.

        Raises:
            NotFoundError: no such draw.
        """
        rows, found = pipelined(conn, [
            (_ROW_FOR_UPDATE, {"draw_id": draw_id}), self._audit.request_query(who, request_id),
        ])  # fmt: skip
        if not rows:
            raise NotFoundError("Draw", f"draws/{draw_id}", reason="DRAW_NOT_FOUND")
        return rows[0], found

    def _read(self, conn: Connection, draw_id: str) -> StoredDraw:
        row = self._row(conn, draw_id)
        return _stored(row._mapping, _seats_of(conn, [int(row.id)]).get(int(row.id), {}))  # noqa: SLF001

    def get_rendered(
        self, caller: str, role: str, draw_id: str, rendered: Rendered[StoredDraw, T]
    ) -> T:
        """A draw its caller may see, as ``rendered`` shows it.

        A trading system sees only its own. One query when the draw's current version
        is memoized: every write of a draw's row or seats bumps its version.

        Raises:
            NotFoundError: no such draw, or another trading system's.
        """
        with read_statements(self._engine) as conn:
            row = conn.execute(_VERSION, {"draw_id": draw_id}).first()
            if row is None or (role == "trading_system" and str(row.requester) != caller):
                raise NotFoundError("Draw", f"draws/{draw_id}", reason="DRAW_NOT_FOUND")
            key = (int(row.id), int(row.version))
            return rendered.many([key], partial(_whole, self._engine))[0]  # draws are never deleted

    def _audit_entry(self, conn: Connection, draw_id: str, kind: str) -> tuple[bytes, str]:
        """The draw's first entry of ``kind``, with a receipt into the newest checkpoint."""
        row = conn.execute(
            select(entry_table.c.seq, entry_table.c.body)
            .where(entry_table.c.subj == f"draws/{draw_id}", entry_table.c.kind == kind)
            .order_by(entry_table.c.seq)
            .limit(1)
        ).one()
        size, note = self._audit.store.latest_checkpoint(conn)
        proof = self._audit.store.inclusion_proof(conn, int(row.seq), size)
        return bytes(row.body), Receipt(int(row.seq), tuple(proof), note).format()

    def list_draws(  # noqa: PLR0913 - the filters of ListDraws
        self,
        caller: str,
        role: str,
        state: str,
        page_size: int,
        page_token: str,
        *,
        rendered: Rendered[StoredDraw, T],
        project_code: str = "",
    ) -> tuple[list[T], str]:
        """A page of draws, newest first: a trading system's own, or all for supervisors.

        The page reads ids and versions; only draws whose version is not memoized in
        ``rendered`` are read whole (row and seats) and rendered.

        ``project_code`` (supervisors) keeps the draws of one project, matched through
        its blinded project_ref; the page token binds it.

        Raises:
            InvalidRequestError: a bad page size or token.
        """
        size = effective_page_size(page_size)
        own = caller if role == "trading_system" else ""
        project_ref = self.project_ref(project_code) if project_code else b""
        # The project part only when set: unfiltered tokens keep their key.
        key = query_key("draws", own, state, *([project_ref.hex()] if project_ref else []))
        before = decode_cursor(page_token, key) if page_token else None
        if before is not None and before > MAX_ROW_ID:  # forged: ids are 32-bit INTEGERs
            raise InvalidPageTokenError("page token is out of range; start again")
        memo = (own, state, project_ref, before, size)
        with read_statements(self._engine) as conn:
            log_size = self._audit.store.size(conn)  # before the page: see Pages
            page = self._pages.get(memo, log_size)
            if page is None:
                t = draw_table
                query = select(t.c.id, t.c.version)
                if own:
                    query = query.where(draw_table.c.requester == own)
                if state:
                    query = query.where(draw_table.c.state == state)
                if project_ref:
                    query = query.where(draw_table.c.project_ref == project_ref)
                if before is not None:
                    query = query.where(draw_table.c.id < before)
                query = query.order_by(draw_table.c.id.desc()).limit(size + 1)
                rows = conn.execute(query).all()
                token = encode_cursor(int(rows[size - 1].id), key) if len(rows) > size else ""
                page = (tuple((int(r.id), int(r.version)) for r in rows[:size]), token)
                self._pages.put(memo, log_size, page, len(page[0]))
            items = rendered.many(page[0], partial(_whole, self._engine))
        return items, page[1]

    # -- helpers of CreateDraw ----------------------------------------------------------

    def _check_policy(self, request: DrawRequest, policy: Policy) -> None:
        """The committee rules (D3), the draw timing window (D5), a required beacon.

        Raises:
            InvalidRequestError: the committee breaks D3, the method is unknown, or the
                policy requires a beacon the request does not use.
            PreconditionError: DRAW_TIMING, when the draw is too early or too late.
        """
        if policy.beacon.require and not request.beacon:
            raise InvalidRequestError.field("use_beacon", "the policy requires a drand beacon")
        experts = sum(q.seats for q in request.quotas)
        problems = policy.committee_problems(request.method, experts, request.representatives)
        if problems:
            raise InvalidRequestError([FieldViolation("disciplines", p) for p in problems])
        timing = policy.timing_problem(
            request.method, self._audit.clock_ms(), request.window_from_ms
        )
        if timing is not None:
            raise PreconditionError(timing, reason="DRAW_TIMING")

    def _prepare(
        self,
        conn: Connection,
        request: DrawRequest,
        conflicts: eligibility.ConflictInputs,
        config: DrawConfig,
        *,
        head: int | None = None,
    ) -> _Prepared:
        """Eligibility and the freeze over the library as of the log size read first.

        Every write that changes a record or a seat appends its entry in the same
        transaction, so whatever these reads see beyond ``head`` shows up as an entry at
        ``head`` or later, which :meth:`_moved` inspects. ``head``: the size, when the
        caller read it in this transaction already (before any other read).
        """
        if head is None:
            head = self._audit.store.size(conn)  # one column, not the head row
        policy = config.policy
        candidates = self._library.load_candidates(conn, self._candidates(conn, request, config))
        uuid_of = {c.row_id: c.uuid for c in candidates}
        seats = self._seats(conn, conflicts, policy, uuid_of)
        assessed = self._assess(request, conflicts, config, candidates, seats)
        subjects = frozenset(f"experts/{c.uuid}" for c in candidates)
        # The commit's ts is this clock or later, so its look-back window starts after
        # this bound (LOOKBACK_SLACK_MS allows for the clock stepping back in between).
        recent_from_ms = self._audit.clock_ms() - 1000 * config.lookback_s - LOOKBACK_SLACK_MS
        return _Prepared(
            head=head, assessed=assessed, frozen=drawing.freeze(assessed, self._random),
            uuid_of=uuid_of, seats=Counter(seats), subjects=subjects,
            recent=self._recent_memoized(conn, subjects, recent_from_ms, head),
            recent_from_ms=recent_from_ms,
        )  # fmt: skip

    def _moved(
        self,
        conn: Connection,
        prepared: _Prepared,
        since: Sequence[Row[Any]],
        seated: Sequence[Row[Any]],
        size: int,
    ) -> bool:
        """Whether an entry in ``[prepared.head, size)`` may change the pool.

        ``since`` holds the pool-changing entries from ``prepared.head`` on (``_SINCE``),
        ``seated`` the draws whose seats the candidates' history counts
        (:func:`_seats_query`), both read under the head lock, whose ``size`` this is.
        A change of a candidate's record, a new expert or new codes for one, or a seat
        that moved among the candidates' seats.
        """
        if size == prepared.head:
            return False
        seats_may_move = False
        for r in since:
            kind = str(r.kind)
            if not prepared.head <= int(r.seq) < size:
                continue
            if kind in _SEAT_KINDS:
                seats_may_move = True
            elif (
                kind == "expert.create"
                or str(r.subj) in prepared.subjects
                or (
                    kind == "expert.update"
                    and json.loads(bytes(r.body))["data"]["field"] == "disciplines"
                )
            ):
                return True
        if seats_may_move:
            return Counter(_held_seats(conn, seated, prepared.uuid_of)) != prepared.seats
        return False

    def _assess(
        self,
        request: DrawRequest,
        conflicts: eligibility.ConflictInputs,
        config: DrawConfig,
        candidates: Sequence[LibraryCandidate],
        seats: Sequence[eligibility.Seat],
    ) -> list[drawing.Assessed]:
        """Eligibility and avoidance for every expert holding a requested code."""
        policy = config.policy
        history = eligibility.History.from_seats(seats, conflicts, policy)
        try:
            rules = eligibility.Rules(
                policy, conflicts,
                eligibility.DrawRequest(tuple(q.code for q in request.quotas), config.edition),
                history,
            )  # fmt: skip
        except eligibility.InputError as exc:
            raise InvalidRequestError(
                [FieldViolation(f"conflicts.{field}", why) for field, why in exc.problems]
            ) from None
        assessed = []
        for expert in candidates:
            candidate = eligibility.Candidate(
                uuid=expert.uuid, profile=expert.profile, birth_date=expert.birth_date,
                state=expert.state, periods=expert.periods, credits=expert.credits,
                id_hash=expert.id_hash,
            )  # fmt: skip
            found = rules.assess(candidate)
            if found is not None:
                uuid_bytes = uuidlib.UUID(expert.uuid).bytes
                assessed.append(
                    drawing.Assessed(expert.row_id, uuid_bytes, found.discs, found.reasons)
                )
        return assessed

    def _seats(
        self,
        conn: Connection,
        conflicts: eligibility.ConflictInputs,
        policy: Policy,
        uuid_of: Mapping[int, str],
    ) -> list[eligibility.Seat]:
        """Seats the candidates (row id -> uuid) hold now in executed draws D8 may count."""
        statement, params = _seats_query(conflicts, policy)
        return _held_seats(conn, conn.execute(statement, params).all(), uuid_of)

    def _override(self, conn: Connection, seq: int, tender_ref: bytes) -> frozenset[bytes]:
        """The disciplines an approved override waives (empty for ``seq`` 0).

        Raises:
            InvalidRequestError: BAD_OVERRIDE, when ``seq`` names no supervisor's
                draw.override for this tender-lot.
        """
        if seq == 0:
            return frozenset()
        row = conn.execute(select(entry_table.c.body).where(entry_table.c.seq == seq)).first()
        entry = None if row is None else Entry.decode(bytes(row.body))
        if (
            entry is None
            or entry.kind != "draw.override"
            or entry.subj != f"tenders/{tender_ref.hex()}"
            or entry.who.role != "supervisor"
        ):
            raise InvalidRequestError.field(
                "override_seq",
                "names no supervisor's draw.override for this tender-lot",
                reason="BAD_OVERRIDE",
            )
        return frozenset(str(d).encode() for d in entry.data["disciplines"])

    def _candidates(self, conn: Connection, request: DrawRequest, config: DrawConfig) -> list[int]:
        """Row ids of the experts holding a requested code: the SQL half of matching.

        Codes of the params' edition, and of the legacy editions (experts holding only
        those are excluded as LEGACY_EDITION, so their number is auditable).
        """
        t = expert_discipline_table
        editions = (config.edition, *config.policy.matching.legacy_editions)
        # A prefix as a range of codes ([A-Z0-9] only), so both databases use the
        # (edition_id, code) index; SQLite's LIKE is case-insensitive and would not.
        matches = or_(*[
            and_(t.c.code >= q.code, t.c.code < q.code[:-1] + chr(ord(q.code[-1]) + 1))
            for q in request.quotas
        ])  # fmt: skip
        return [int(r.expert_id) for r in conn.execute(
            select(t.c.expert_id).distinct()
            .where(t.c.edition_id.in_(editions), matches)
            .order_by(t.c.expert_id)
        )]  # fmt: skip

    def _recent_memoized(
        self, conn: Connection, subjects: frozenset[str], from_ms: int, size: int
    ) -> tuple[tuple[int, int, str], ...]:
        """:meth:`_recent`'s answer, from the process's memo of recent record entries."""
        e = entry_table

        def read(start: int, stop: int) -> list[tuple[int, int, str]]:
            # By the seq range (the primary key): a few entries since the last call.
            return [(int(r.seq), _entry_ts(bytes(r.body)), str(r.subj)) for r in conn.execute(
                select(e.c.seq, e.c.subj, e.c.body).where(
                    e.c.log_id == LOG_ID, e.c.seq >= start, e.c.seq < stop,
                    among(conn, e.c.kind, LOOKBACK_KINDS),
                )
            )]  # fmt: skip

        found = self._recent_entries.entries(
            subjects, from_ms, size, first_at=lambda ms: self._first_at(conn, ms, 0, size),
            read=read,
        )  # fmt: skip
        return self._recent(conn, subjects, from_ms, size) if found is None else found

    def _recent(
        self, conn: Connection, subjects: frozenset[str], from_ms: int, size: int
    ) -> tuple[tuple[int, int, str], ...]:
        """``(seq, ts, subj)`` of record entries of ``subjects`` from ``from_ms`` on.

        Entries below ``size``. Entry times never decrease with ``seq``: a binary search
        over the log finds the first seq of the window, and the subject index does the
        rest. CreateDraw reads its look-back with it before the head lock.
        """
        low = self._first_at(conn, from_ms, 0, size)
        e = entry_table
        seqs: list[int] = []
        ordered = sorted(subjects)
        for start in range(0, len(ordered), 500):
            # By subject only (its index: a few entries per expert); kind and seq range
            # are filtered here, as with them in the query SQLite prefers the kind or the
            # seq index and walks every entry of the window.
            seqs += [int(r.seq) for r in conn.execute(
                select(e.c.seq, e.c.kind).where(
                    e.c.log_id == LOG_ID, among(conn, e.c.subj, ordered[start:start + 500]),
                )
            ) if r.kind in LOOKBACK_KINDS and low <= r.seq < size]  # fmt: skip
        found: list[tuple[int, int, str]] = []
        for start in range(0, len(seqs), 500):
            found += [(int(r.seq), _entry_ts(bytes(r.body)), str(r.subj)) for r in conn.execute(
                select(e.c.seq, e.c.body, e.c.subj).where(
                    e.c.log_id == LOG_ID, among(conn, e.c.seq, seqs[start:start + 500])
                )
            )]  # fmt: skip
        return tuple(sorted(found))

    def _lookback(
        self, conn: Connection, subjects: frozenset[str], from_ms: int, to_ms: int, size: int
    ) -> list[int]:
        """Seqs of record entries of ``subjects`` with ``ts`` in ``[from_ms, to_ms)``.

        ``size`` is the locked head's: the entries before this append.
        """
        return [q for q, at, _ in self._recent(conn, subjects, from_ms, size) if at < to_ms]

    def _first_at(self, conn: Connection, ts: int, low: int, high: int) -> int:
        """The first seq in ``[low, high)`` whose entry has ``ts`` at or after ``ts``."""
        if len(self._ts_of) > MAX_TS_MEMO:
            self._ts_of.clear()
        while low < high:
            mid = (low + high) // 2
            at = self._ts_of.get(mid)
            if at is None:
                body = conn.execute(
                    select(entry_table.c.body).where(
                        entry_table.c.log_id == LOG_ID, entry_table.c.seq == mid
                    )
                ).scalar_one()
                at = self._ts_of[mid] = _entry_ts(bytes(body))
            if at < ts:
                low = mid + 1
            else:
                high = mid
        return low

    def _seal(self, value: str, draw_id: str, column: str) -> bytes:
        return self._cipher.encrypt(value, table=TABLE, column=column, record_id=draw_id)

    def _salt(self, row: Row[Any], pseud: bytes, member_sealed: bytes | None) -> bytes:
        """A member's salt: from the draw's blob, or its own cell (draws before 0007)."""
        draw_id = str(row.draw_id)
        if member_sealed is not None:
            return bytes.fromhex(self.open_secret(bytes(member_sealed), draw_id,
                                                  "salt:" + pseud.hex()))  # fmt: skip
        salts = json.loads(self.open_secret(bytes(row.salts_enc), draw_id, "salts_enc"))
        return bytes.fromhex(salts[pseud.hex()])

    def open_secret(self, blob: bytes, draw_id: str, column: str) -> str:
        """Decrypt one of the draw's secrets."""
        return self._cipher.decrypt(blob, table=TABLE, column=column, record_id=draw_id)


SEALED_COLUMNS = ("s_enc", "salts_enc", "inputs_enc", "project_name_enc")


def rekey_draws(engine: Engine, cipher: FieldCipher, batch: int = 200) -> int:
    """Re-encrypt every sealed draw cell under the current data key; the count changed.

    The withheld secret, the salts (expert receipts), the replay inputs and the project
    name, and each member's own salt cell of draws committed before migration 0007.
    Idempotent and safe while the service runs (reads accept every listed key). Draws
    are read in batches without locks; each draw that has a cell under another key is
    then re-sealed in a transaction of its own that locks that one row, so an execution
    never waits behind a batch. Without it, retiring an old data key would leave
    earlier draws unable to execute, deliver receipts or be replayed.
    """
    changed = after = 0
    t, m = draw_table, draw_member_table

    def stale(blob: bytes | None) -> bool:
        return blob is not None and cipher.key_id_of(bytes(blob)) != cipher.current_key_id

    while True:
        with engine.connect() as conn:
            rows = conn.execute(
                select(t.c.id, *(t.c[c] for c in SEALED_COLUMNS))
                .where(t.c.id > after).order_by(t.c.id).limit(batch)
            ).all()  # fmt: skip
            legacy = {int(r.draw_id) for r in conn.execute(
                select(m.c.draw_id).distinct().where(
                    m.c.draw_id.in_([r.id for r in rows]), m.c.salt_enc.is_not(None))
            )} if rows else set()  # fmt: skip
        for row in rows:
            if int(row.id) in legacy or any(stale(getattr(row, c)) for c in SEALED_COLUMNS):
                changed += _rekey_draw(engine, cipher, int(row.id))
        if not rows:
            return changed
        after = int(rows[-1].id)


def _rekey_draw(engine: Engine, cipher: FieldCipher, row_id: int) -> int:
    """Re-seal one draw's stale cells under its row lock; the count changed."""
    t, m = draw_table, draw_member_table
    with write_transaction(engine) as conn:
        row = conn.execute(
            select(t.c.draw_id, *(t.c[c] for c in SEALED_COLUMNS))
            .where(t.c.id == row_id).with_for_update()
        ).one()  # fmt: skip
        draw_id = str(row.draw_id)

        def renewed(blob: bytes | None, column: str) -> bytes | None:
            if blob is None or cipher.key_id_of(bytes(blob)) == cipher.current_key_id:
                return None
            plain = cipher.decrypt(bytes(blob), table=TABLE, column=column, record_id=draw_id)
            return cipher.encrypt(plain, table=TABLE, column=column, record_id=draw_id)

        values = {c: v for c in SEALED_COLUMNS
                  if (v := renewed(getattr(row, c), c)) is not None}  # fmt: skip
        if values:
            conn.execute(update(t).where(t.c.id == row_id).values(**values))
        salts = [
            {"b_pseud": bytes(r.pseud), "b_salt": sealed}
            for r in conn.execute(select(m.c.pseud, m.c.salt_enc)
                                  .where(m.c.draw_id == row_id, m.c.salt_enc.is_not(None)))
            if (sealed := renewed(r.salt_enc, "salt:" + bytes(r.pseud).hex())) is not None
        ]  # fmt: skip
        if salts:
            conn.execute(
                update(m).where(m.c.draw_id == row_id, m.c.pseud == bindparam("b_pseud"))
                .values(salt_enc=bindparam("b_salt")), salts,
            )  # fmt: skip
        return len(values) + len(salts)


def _check_attempts(who: Who, latest: Row[Any] | None, supersedes: str) -> None:
    """Refuse an attempt the tender-lot's latest one does not allow.

    Raises:
        PreconditionError: TENDER_LOT_OF_ANOTHER_REQUESTER, LIVE_DRAW_EXISTS,
            SUPERSEDES_MISMATCH.
    """
    if latest is not None and str(latest.requester) != who.sub:
        msg = "this tender-lot is drawn by another trading system"  # names no draw
        raise PreconditionError(msg, reason="TENDER_LOT_OF_ANOTHER_REQUESTER")
    if latest is not None and str(latest.state) in LIVE:
        msg = f"draws/{latest.draw_id} is the live draw of this tender-lot; cancel it first"
        raise PreconditionError(msg, reason="LIVE_DRAW_EXISTS")
    expected = "" if latest is None else str(latest.draw_id)
    if supersedes != expected:
        msg = (
            f"supersedes must name the tender-lot's latest attempt"
            f" ({'draws/' + expected if expected else 'none: this is the first'})"
        )
        raise PreconditionError(msg, reason="SUPERSEDES_MISMATCH")


def _check_project(pending_draw: bool) -> None:
    """Refuse while another draw of the project awaits its nonce or round.

    "Already drawn for this project" (SAME_PROJECT) is decided at the freeze from the
    seats then held; a draw of the same project that is committed but not yet executed
    would seat experts this freeze cannot see.

    Raises:
        PreconditionError: PROJECT_DRAW_PENDING.
    """
    if pending_draw:
        msg = (
            "another draw of this project is committed and not yet executed: execute or"
            " cancel it first (experts already drawn for the project are excluded)"
        )
        raise PreconditionError(msg, reason="PROJECT_DRAW_PENDING")


# What CreateDraw checks under the head lock, in one statement: the tender-lot's latest
# attempt (draw id, state, requester), whether another draw of the project awaits its
# nonce or round, and whether the new draw's id is taken.
_GUARDS = union_all(*[
    select(literal(what).label("what"), draw_table.c.draw_id, draw_table.c.state,
           draw_table.c.requester)
    .where(where).order_by(draw_table.c.id.desc()).limit(1).subquery().select()
    for what, where in (
        ("latest", draw_table.c.tender_ref == bindparam("tender_ref")),
        ("pending", and_(draw_table.c.project_ref == bindparam("project_ref"),
                         draw_table.c.state.in_(("COMMITTED", "AWAITING_BEACON")))),
        ("taken", draw_table.c.draw_id == bindparam("draw_id")),
    )
])  # fmt: skip
# The entries since a pool was assessed that may change it (records and seats).
# Only an expert.update's body is looked at (which field changed): the others' bodies
# (an execution's panels among them) are not sent.
_SINCE = select(
    entry_table.c.seq, entry_table.c.kind, entry_table.c.subj,
    case((entry_table.c.kind == "expert.update", entry_table.c.body)).label("body"),
).where(
    entry_table.c.log_id == LOG_ID, entry_table.c.seq >= bindparam("since"),
    entry_table.c.kind.in_((*LOOKBACK_KINDS, *_SEAT_KINDS)),
)  # fmt: skip


# Experts seated in other executed draws whose windows overlap (Draws._busy_query).
_BUSY = (
    select(draw_member_table.c.expert_id, draw_table.c.draw_id, draw_table.c.window_from_ms,
           draw_table.c.window_to_ms)
    .join(draw_table, draw_table.c.id == draw_member_table.c.draw_id)
    .where(
        draw_member_table.c.seat.is_not(None), draw_member_table.c.left.is_(False),
        draw_table.c.id != bindparam("draw"), draw_table.c.state.in_(SEATED_STATES),
        draw_table.c.window_from_ms < bindparam("to_ms"),
        draw_table.c.window_to_ms > bindparam("from_ms"),
    )
    .order_by(draw_table.c.id)
)  # fmt: skip


def _busy(rows: Sequence[Row[Any]]) -> dict[int, dict[str, Any]]:
    """``_BUSY``'s answer: expert row id -> the first overlapping draw and its window."""
    found: dict[int, dict[str, Any]] = {}
    for r in rows:
        found.setdefault(int(r.expert_id), {
            "draw_id": str(r.draw_id),
            "window": {"from": int(r.window_from_ms), "to": int(r.window_to_ms)},
        })  # fmt: skip
    return found


# A draw's row, and locked for the change a request makes (Draws._row, _row_and_request).
_ROW = select(draw_table).where(draw_table.c.draw_id == bindparam("draw_id"))
_ROW_FOR_UPDATE = _ROW.with_for_update()
# GetDraw's one query when the draw is memoized: a constant: building it per call cost
# about 110 of the statement's 250 us of CPU (measured in process on PostgreSQL).
_VERSION = select(draw_table.c.id, draw_table.c.version, draw_table.c.requester).where(
    draw_table.c.draw_id == bindparam("draw_id")
)


def _guards(rows: Sequence[Row[Any]]) -> tuple[Row[Any] | None, bool, bool]:
    """``_GUARDS``' answer: the latest attempt, a pending draw, the id taken."""
    found = {str(r.what): r for r in rows}
    return found.get("latest"), "pending" in found, "taken" in found


def _seats_statement(*, caps: bool) -> Select[Any]:
    t = draw_table
    # Windows within the padding (BUSY_WINDOW) and the project (SAME_PROJECT); with
    # caps, every seat of their period too (the padding may reach further back).
    scope = or_(
        and_(t.c.window_from_ms < bindparam("to_ms"), t.c.window_to_ms > bindparam("from_ms")),
        t.c.project_ref == bindparam("project_ref"),
    )
    if caps:
        scope = or_(scope, t.c.window_to_ms >= bindparam("since"))
    return select(t.c.id, t.c.tenderer, t.c.project_ref, t.c.window_from_ms,
                  t.c.window_to_ms).where(t.c.state.in_(SEATED_STATES), scope)  # fmt: skip


_SEATED_DRAWS = {caps: _seats_statement(caps=caps) for caps in (False, True)}


def _seats_query(
    conflicts: eligibility.ConflictInputs, policy: Policy
) -> tuple[Select[Any], dict[str, Any]]:
    """The executed draws whose seats D8 may count for a draw of ``conflicts``."""
    h = policy.history
    days = max(h.per_expert_days, h.per_tenderer_days)
    pad = h.padding_minutes * 60_000
    window = conflicts.window
    caps = bool(h.per_expert_max or h.per_tenderer_max)
    params = {"to_ms": window.to_ms + pad, "from_ms": window.from_ms - pad,
              "project_ref": bytes.fromhex(conflicts.project_ref)}  # fmt: skip
    if caps:
        params["since"] = window.from_ms - days * 86_400_000
    return _SEATED_DRAWS[caps], params


def _held_seats(
    conn: Connection, seated: Sequence[Row[Any]], uuid_of: Mapping[int, str]
) -> list[eligibility.Seat]:
    """The seats the candidates (row id -> uuid) hold in the draws ``seated``."""
    draws = {int(r.id): r for r in seated}
    if not draws:
        return []
    m = draw_member_table
    ids = sorted(uuid_of)
    # The candidates' seats in those draws (the covering seat index).
    held: list[tuple[int, int]] = []
    for start in range(0, len(ids), 1000):
        held += [(int(r.draw_id), int(r.expert_id)) for r in conn.execute(
            select(m.c.draw_id, m.c.expert_id).where(
                among(conn, m.c.expert_id, ids[start:start + 1000]), m.c.seat.is_not(None),
                m.c.left.is_(False),
            )
        ) if int(r.draw_id) in draws]  # fmt: skip
    return [
        eligibility.Seat(uuid_of[e], str(draws[d].tenderer), bytes(draws[d].project_ref).hex(),
                         int(draws[d].window_from_ms), int(draws[d].window_to_ms))
        for d, e in held
    ]  # fmt: skip


# A commit's draw row and member rows on PostgreSQL, in one round trip under the head
# lock: the members as arrays (unnest), so the statement's text is one for any pool size.
# Members are inserted unseated (seat NULL, left false, no per-member salt since 0007).
_DRAW_COLUMNS = tuple(c.name for c in draw_table.c if c.name != "id")
_MEMBER_ARRAYS = (("pseud", "BYTEA"), ("expert_id", "INTEGER"), ("discs", "TEXT"),
                  ("reasons", "TEXT"), ("idc", "BYTEA"))  # fmt: skip
_UNSEATED = {"salt_enc": None, "seat": None, "left": False}
_MEMBER_KEYS = {c for c, _ in _MEMBER_ARRAYS} | _UNSEATED.keys()
_INSERT_DRAW_POSTGRES = text(
    # Identifiers from the table definitions above; no input is formatted into it.
    "WITH d AS (INSERT INTO draw ({}) VALUES ({}) RETURNING id)"  # noqa: S608
    ' INSERT INTO draw_member (draw_id, {}, salt_enc, seat, "left")'
    " SELECT d.id, m.*, NULL, NULL, false FROM d, unnest({}) AS m".format(
        ", ".join(f'"{c}"' for c in _DRAW_COLUMNS),
        ", ".join(f":d_{c}" for c in _DRAW_COLUMNS),
        ", ".join(c for c, _ in _MEMBER_ARRAYS),
        ", ".join(f"CAST(:m_{c} AS {t}[])" for c, t in _MEMBER_ARRAYS),
    )
)


def _insert_draw(
    conn: Connection, values: Mapping[str, Any], members: Sequence[Mapping[str, Any]]
) -> list[tuple[Query, dict[str, Any]]]:
    """Insert a committed draw's row (columns not in ``values`` NULL) and its members.

    On PostgreSQL the one statement is returned, for the caller to send with its
    append's write (``AuditLog.append``'s ``then``); on SQLite the rows are written now.
    """
    if any({k: m[k] for k in _UNSEATED} != _UNSEATED for m in members):
        msg = "a commit inserts its members unseated"
        raise ValueError(msg)
    if any(m.keys() != _MEMBER_KEYS for m in members):
        msg = f"member rows carry exactly {sorted(_MEMBER_KEYS)}"
        raise ValueError(msg)
    if conn.dialect.name == "postgresql":
        if not set(values) <= set(_DRAW_COLUMNS):
            msg = f"not columns of draw: {sorted(set(values) - set(_DRAW_COLUMNS))}"
            raise ValueError(msg)
        params = {f"d_{c}": values.get(c) for c in _DRAW_COLUMNS}
        for column, _ in _MEMBER_ARRAYS:
            params[f"m_{column}"] = [m[column] for m in members]
        return [(_INSERT_DRAW_POSTGRES, params)]
    row_id = conn.execute(insert(draw_table).values(**values)).inserted_primary_key
    assert row_id is not None  # noqa: S101 - an insert always has its key
    conn.execute(insert(draw_member_table), [{"draw_id": row_id[0], **m} for m in members])
    return []


@cache
def _update_draw_postgres(columns: tuple[str, ...]) -> TextClause:
    if not set(columns) <= set(_DRAW_COLUMNS):
        msg = f"not columns of draw: {sorted(set(columns) - set(_DRAW_COLUMNS))}"
        raise ValueError(msg)
    return text(
        # Identifiers from the table definitions above; no input is formatted into it.
        "WITH d AS (UPDATE draw SET {} WHERE id = :b_draw)"  # noqa: S608
        ' UPDATE draw_member AS m SET seat = u.seat, "left" = u."left"'
        " FROM unnest(CAST(:m_pseud AS BYTEA[]), CAST(:m_seat AS TEXT[]),"
        ' CAST(:m_left AS BOOLEAN[])) AS u(pseud, seat, "left")'
        " WHERE m.draw_id = :b_draw AND m.pseud = u.pseud".format(
            ", ".join(f'"{c}" = :d_{c}' for c in columns)
        )
    )


def _update_draw(
    conn: Connection,
    draw_row_id: int,
    values: Mapping[str, Any],
    members: Mapping[bytes, Mapping[str, Any]],
) -> list[tuple[Query, dict[str, Any]]]:
    """Write a draw row's new ``values`` and its members' new ``seat``/``left``.

    One statement on PostgreSQL, returned for the caller to send with its append's
    write (``AuditLog.append``'s ``then``: under the head lock, each round trip
    lengthens every other writer's wait); on SQLite two, run now (the members as an
    executemany).
    """
    if any(set(v) != {"seat", "left"} for v in members.values()):
        msg = "member changes carry exactly seat and left"
        raise ValueError(msg)
    if conn.dialect.name == "postgresql":
        params: dict[str, Any] = {f"d_{c}": v for c, v in values.items()}
        params.update(
            b_draw=draw_row_id, m_pseud=list(members),
            m_seat=[v["seat"] for v in members.values()],
            m_left=[v["left"] for v in members.values()],
        )  # fmt: skip
        return [(_update_draw_postgres(tuple(values)), params)]
    conn.execute(update(draw_table).where(draw_table.c.id == draw_row_id).values(**values))
    if not members:
        return []
    m = draw_member_table
    conn.execute(
        update(m)
        .where(m.c.draw_id == bindparam("b_draw"), m.c.pseud == bindparam("b_pseud"))
        .values(seat=bindparam("b_seat"), left=bindparam("b_left")),
        [{"b_draw": draw_row_id, "b_pseud": p, "b_seat": v["seat"], "b_left": v["left"]}
         for p, v in members.items()],
    )  # fmt: skip
    return []


def _seats_of(conn: Connection, row_ids: Sequence[int]) -> dict[int, dict[str, list[bytes]]]:
    """The seats of the draws ``row_ids`` (one query, the seated-members index)."""
    m = draw_member_table
    found: dict[int, dict[str, list[bytes]]] = {}
    for r in conn.execute(
        select(m.c.draw_id, m.c.pseud, m.c.seat)
        .where(among(conn, m.c.draw_id, row_ids), m.c.seat.is_not(None))
        .order_by(m.c.draw_id, m.c.seat, m.c.pseud)
    ):  # fmt: skip
        found.setdefault(int(r.draw_id), {}).setdefault(str(r.seat), []).append(bytes(r.pseud))
    return found


def _whole(engine: Engine, ids: list[int]) -> list[tuple[tuple[int, int], StoredDraw]]:
    """The draws ``ids`` read whole (row and seats), each with its (row id, version).

    In a snapshot of its own, so that the seats are those of the row's version (see
    ExpertLibrary._whole).
    """
    with read_snapshot(engine) as conn:
        rows = conn.execute(select(draw_table).where(among(conn, draw_table.c.id, ids))).all()
        seats = _seats_of(conn, ids)
    return [((int(r.id), int(r.version)), _stored(r._mapping, seats.get(int(r.id), {})))  # noqa: SLF001
            for r in rows]  # fmt: skip


def _stored(row: Mapping[Any, Any], seats: dict[str, list[bytes]]) -> StoredDraw:
    """A draw row's columns (as read, or as just written) as the servicer shows them."""
    return StoredDraw(
        draw_id=str(row["draw_id"]), state=str(row["state"]),
        supersedes=row["supersedes"] or "", tender_ref=bytes(row["tender_ref"]),
        requester=str(row["requester"]), beacon=bool(row["beacon"]),
        params=bytes(row["params"]), params_hash=bytes(row["params_hash"]),
        pool_root=bytes(row["pool_root"]), excluded_root=bytes(row["excluded_root"]),
        counts=json.loads(row["counts"]), excluded_counts=json.loads(row["excluded_counts"]),
        round=int(row["round"]), commit_digest=bytes(row["commit_digest"]),
        commit_ms=int(row["commit_ms"]), nonce_deadline_ms=_opt(row.get("nonce_deadline_ms")),
        execute_ms=_opt(row.get("execute_ms")), end_reason=str(row["end_reason"]), seats=seats,
    )  # fmt: skip


def _failure_outcome(draw_id: str, error: PreconditionError) -> bytes:
    """A request's stored outcome when it logged entries and then failed (retries re-raise)."""
    return json.dumps(
        {"draw_id": draw_id, "error": {"reason": error.reason, "message": error.message}}
    ).encode()


def _raise_stored(outcome: bytes) -> None:
    """Re-raise the failure a retried request ended with the first time, if any."""
    if not outcome:
        return
    error = json.loads(outcome).get("error")
    if error is not None:
        raise PreconditionError(error["message"], reason=error["reason"])


def _opt(value: object) -> int | None:
    return None if value is None else int(value)  # type: ignore[call-overload]


_TS = re.compile(rb',"ts":([0-9]+),"v":1,"who":\{[^{}]*\}\}$')


def _entry_ts(body: bytes) -> int:
    """An entry's ts, read from the end of its canonical body without parsing it.

    Canonical keys are sorted (data, kind, log, prev, req, seq, subj, ts, v, who), so
    the top-level ``ts`` is the one right before ``v`` and the final ``who`` object.
    """
    found = _TS.search(body)
    return int(found.group(1)) if found else int(canonical.loads(body)["ts"])


def _new_draw_id(random: Callable[[int], bytes]) -> str:
    return f"d-{uuidlib.UUID(bytes=random(16), version=4)}"


def _request_digest(request: DrawRequest) -> str:
    """A digest of the request's own values (what a retry must repeat)."""
    content = {
        "draw_id": request.draw_id, "tender": [request.tender_id, request.lot_id],
        "project": [request.project_code, request.project_name],
        "supersedes": request.supersedes,
        "quotas": [[q.code, q.seats, q.reserves, q.max_repl] for q in request.quotas],
        # The avoid hashes depend on the replica's identity keys: their keyed digest instead.
        "inputs": {**request.conflicts.to_json(), "avoid_experts": request.avoid_digest},
        "method": request.method,
        "representatives": request.representatives,
        "beacon": request.beacon, "override_seq": request.override_seq,
    }  # fmt: skip
    return eds1.sha256(canonical.dumps(content)).hex()


def _insufficient(
    draw_id: str, counts: list[dict[str, Any]], request: DrawRequest, config: DrawConfig
) -> PreconditionError:
    """The INSUFFICIENT_POOL refusal, one violation per short discipline."""
    quotas = {q.code: q for q in request.quotas}
    violations = []
    for c in counts:
        if not c["short"]:
            continue
        q = quotas.get(c["d"])
        need = (
            ""
            if q is None
            else (
                f"; seats and reserves {q.seats + q.reserves},"
                f" pool minimum {config.min_pool_factor * q.seats}"
            )
        )
        violations.append(PreconditionViolation(
            "INSUFFICIENT_POOL", c["d"], f"eligible experts {c['n']}{need}"
        ))  # fmt: skip
    msg = (f"draws/{draw_id} refused: too few eligible experts in "
           + ", ".join(v.subject for v in violations) + " (the refusal is logged)")  # fmt: skip
    return PreconditionError(msg, reason="INSUFFICIENT_POOL", violations=tuple(violations))


def _members_of(
    rows: Iterable[Any],
) -> tuple[tuple[eds1.Member, ...], dict[bytes, int]]:
    """A draw's members (by pseudonym) and pseudonym -> expert row id, from member rows."""
    members, expert_of = [], {}
    for m in rows:
        pseud = bytes(m["pseud"])
        members.append(eds1.Member(
            pseud, tuple(d.encode() for d in str(m["discs"]).split()),
            tuple(x.encode() for x in str(m["reasons"]).split()), bytes(m["idc"]),
        ))  # fmt: skip
        expert_of[pseud] = int(m["expert_id"])
    members.sort(key=lambda m: m.pseudonym)
    return tuple(members), expert_of


MAX_POOL_MEMBERS = 100_000
_Pool = tuple[eds1.Params, tuple[eds1.Member, ...], dict[bytes, int]]


class _Pools:
    """Committed draws' params and members, by (draw id, commit digest).

    ExecuteDraw and every decline read the draw's params and its member rows (150 or
    more); the columns read never change once committed (seats and leaves are kept
    apart), and the commit digest commits to the params and, through the pool root,
    to every member, so the key names its value. CreateDraw puts its own before the
    commit: a transaction that rolls back leaves a key no committed draw has. At most
    ``limit`` members in all (about 0.25-0.5 KiB each, measured), then it starts again;
    a larger pool is not kept.
    """

    def __init__(self, limit: int = MAX_POOL_MEMBERS) -> None:
        """Hold at most ``limit`` members in all."""
        self._limit = limit
        self._lock = threading.Lock()
        self._done: dict[tuple[str, bytes], _Pool] = {}
        self._members = 0

    def get(self, key: tuple[str, bytes]) -> _Pool | None:
        """The draw's params and members, if held."""
        with self._lock:
            return self._done.get(key)

    def put(self, key: tuple[str, bytes], pool: _Pool) -> None:
        """Hold a draw's params and members (unless its pool alone passes the limit)."""
        members = len(pool[1])
        with self._lock:
            if members > self._limit or key in self._done:
                return
            if self._members + members > self._limit:
                self._done.clear()
                self._members = 0
            self._done[key] = pool
            self._members += members


class _Executing:
    """What ExecuteDraw reads of a committed draw."""

    def __init__(self, conn: Connection, row: Row[Any], pools: _Pools) -> None:
        self.row = row
        self.draw_id = str(row.draw_id)
        key = (self.draw_id, bytes(row.commit_digest))
        found = pools.get(key)
        if found is None:
            m_ = draw_member_table
            members, expert_of = _members_of(r._mapping for r in conn.execute(  # noqa: SLF001 - public API
                select(m_.c.pseud, m_.c.discs, m_.c.reasons, m_.c.idc, m_.c.expert_id).where(
                    m_.c.draw_id == row.id
                )
            ))  # fmt: skip
            found = (eds1.Params.decode(bytes(row.params)), members, expert_of)
            pools.put(key, found)
        self.params = found[0]
        self.members: list[eds1.Member] = list(found[1])
        self.expert_of: dict[bytes, int] = dict(found[2])


_Ordered = tuple[_Executing, bytes, drawing.Outcome]
"""A draw's members, its secret ``s``, and the order they give."""


@dataclass(frozen=True, slots=True)
class _Change:
    """What one draw change logs and writes."""

    entries: list[PendingEntry]
    state: str | None = None
    end_reason: str = ""
    members: dict[bytes, dict[str, Any]] = field(default_factory=dict)
    disclose: tuple[tuple[bytes, str], ...] = ()
    failure: PreconditionError | None = None
    locked: Locked | None = None  # the head lock, when ``apply`` took it
    # When ``apply`` knows them (no read under the head lock): the seats after the change
    # (seat -> pseudonyms, as _seats_of reads them) and pseudonym -> expert row id.
    seats: dict[str, list[bytes]] | None = None
    expert_of: Mapping[bytes, int] | None = None


_STAGES = ("COMMITTED", "AWAITING_BEACON", "EXECUTED", "OPENED", "CLOSED", "AWARDED")


def _require_state(
    row: Row[Any], allowed: set[str], *, early: str = "DRAW_NOT_EXECUTED", late: str
) -> None:
    """Refuse a change the draw's stage does not allow.

    ``early`` names the refusal before the first allowed stage, ``late`` after the last;
    a cancelled or expired draw is ``DRAW_ENDED``.
    """
    state = str(row.state)
    if state in allowed:
        return
    if state not in _STAGES:
        reason = "DRAW_ENDED"
    else:
        first = min(_STAGES.index(a) for a in allowed)
        reason = early if _STAGES.index(state) < first else late
    msg = f"draws/{row.draw_id} is {state.lower()}: not allowed now"
    raise PreconditionError(msg, reason=reason)


def _member_changes(seating: eds1.Seating) -> dict[bytes, dict[str, Any]]:
    """Member rows as the seating now has them (every member that ever moved)."""
    changes: dict[bytes, dict[str, Any]] = {}
    seat_of = {p: d.decode() for d, seats in seating.seats.items() for p in seats}
    for p in seating.used:
        changes[p] = {"seat": seat_of.get(p), "left": p not in seat_of}
    return changes
