"""The expert library on the database: every change commits with its audit entry.

Personal fields are stored as AES-GCM ciphertexts bound to their row and column, the
身份证号 also as a keyed hash for uniqueness; the log receives the profile in clear and
the personal fields as salted commitments whose salts stay in ``expert_salt`` (erasing
them leaves the log verifiable). Reads decrypt in-process; callers mask or disclose.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import os
import re
import uuid as uuidlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from sqlalchemy import and_, bindparam, delete, exists, func, insert, not_, or_, select, update
from sqlalchemy.exc import IntegrityError

from audit_log import canonical
from audit_log.entry import REQUEST_ID, commitment
from expert_draw.adapters.audit import pending
from expert_draw.adapters.db.engine import among, read_snapshot, read_statements, write_transaction
from expert_draw.adapters.db.models import (
    expert_affiliation_table,
    expert_credit_table,
    expert_discipline_table,
    expert_salt_table,
    expert_status_table,
    expert_table,
)
from expert_draw.adapters.memo import Pages, Rendered
from expert_draw.core import experts, identifiers
from expert_draw.core.experts import Draft, Personal, Profile, State
from expert_draw.core.paging import decode_cursor, effective_page_size, encode_cursor, query_key
from expert_draw.errors import (
    AlreadyExistsError,
    ConcurrentChangeError,
    FieldViolation,
    InvalidPageTokenError,
    InvalidRequestError,
    NotFoundError,
    PreconditionError,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from sqlalchemy.engine import Connection, Engine, Row
    from sqlalchemy.sql import Select

    from audit_log.entry import Who
    from audit_log.sqlstore import PendingEntry
    from expert_draw.adapters.audit import AuditLog
    from expert_draw.adapters.protection import FieldCipher

TABLE = "expert"
MAX_ROW_ID = 2**31 - 1  # the id column is an INTEGER: a page token past it is forged
ERASED = "erased:"  # the id_hash of an erased record: "erased:<uuid>"
CHINA = dt.timezone(dt.timedelta(hours=8), "CST")  # dates of record are Beijing dates
_COLUMNS = {
    "full_name": "full_name_enc",
    "resident_id_number": "resident_id_enc",
    "phone": "phone_enc",
    "email": "email_enc",
}
MAX_PURPOSE_CHARS = 200
MAX_CACHED_RECORDS = 200_000
MAX_REASON_CHARS = 200
T = TypeVar("T")
# GetExpert's one query when the record is memoized: a constant: building it per call cost
# about 110 of the statement's 250 us of CPU (measured in process on PostgreSQL).
_VERSION = select(expert_table.c.id, expert_table.c.version, expert_table.c.update_ms).where(
    expert_table.c.uuid == bindparam("uuid")
)


class Catalog(experts.Disciplines, Protocol):
    """Port: the loaded editions, as validation and the subtree filter need them."""

    def subtree(self, edition_id: str, code: str) -> tuple[str, ...]:
        """The codes of a discipline and every discipline below it."""
        ...


@dataclass(frozen=True, slots=True)
class Contact:
    """What a disclosure of an expert shows (its repr hides the personal fields)."""

    uuid: str
    full_name: str = dataclasses.field(repr=False)
    phone: str = dataclasses.field(repr=False)


@dataclass(frozen=True, slots=True)
class StoredExpert:
    """One expert as read from the database, personal fields decrypted."""

    uuid: str
    personal: Personal
    profile: Profile
    state: State
    legacy_only: bool
    version: int
    create_ms: int
    update_ms: int
    delete_ms: int | None
    periods: tuple[experts.StatusPeriod, ...] = ()
    credits: tuple[experts.CreditEvent, ...] = ()
    erased: bool = False

    @property
    def name(self) -> str:
        """The resource name."""
        return f"experts/{self.uuid}"

    @property
    def etag(self) -> str:
        """The version as an AIP-154 etag."""
        return f'W/"{self.version}"'


@dataclass(frozen=True, slots=True, repr=False)
class Candidate:
    """An expert as eligibility reads it: the record, the birth date and the keyed hash."""

    row_id: int
    uuid: str
    profile: Profile
    state: State
    periods: tuple[experts.StatusPeriod, ...]
    credits: tuple[experts.CreditEvent, ...]
    birth_date: dt.date | None  # None once erased
    id_hash: str  # the stored keyed hash ("erased:<uuid>" once erased)

    def __repr__(self) -> str:
        """Never the birth date or the hash."""
        return f"Candidate({self.uuid})"


@dataclass(frozen=True, slots=True)
class ExpertFilter:
    """The filters of a list: state, region prefix, discipline subtree."""

    state: State = State.ACTIVE
    region_prefix: str = ""
    discipline: tuple[str, str] | None = None  # (edition, code)
    legacy_only: bool = False
    current_status: experts.Status | None = None


def parsed_profile(text: str) -> Profile:
    """A stored profile, parsed."""
    return experts.profile_from_json(canonical.loads(text.encode()))


# Draws read the same experts again, often at a new version with the same profile. Reads
# (the whole record, rendered once per version) do not use it: held with its text, a
# profile costs about 3 KB, and 50,000 from a walk through the library took 150 MiB.
cached_profile = functools.lru_cache(maxsize=100_000)(parsed_profile)


def check_request_id(request_id: str, field: str = "request_id") -> None:
    """An AIP-155 request id: 1 to 64 characters of ``[A-Za-z0-9._:-]``.

    Raises:
        InvalidRequestError: malformed.
    """
    if REQUEST_ID.fullmatch(request_id) is None:
        raise InvalidRequestError.field(field, "1 to 64 characters of [A-Za-z0-9._:-]")


def _text_field(value: str, field: str, limit: int) -> str:
    text = value.strip()
    if not 1 <= len(text) <= limit or not text.isprintable():
        raise InvalidRequestError.field(field, f"1 to {limit} printable characters")
    return text


@dataclass(frozen=True)
class _Page:
    """A page of a list: its experts' (row id, version, update time), total, next token."""

    keys: tuple[tuple[int, int, int], ...]
    total: int
    token: str


def _version_key(row: Row[Any, Any, Any]) -> tuple[int, int, int]:
    return int(row.id), int(row.version), int(row.update_ms)


class ExpertLibrary:
    """Create, read, list and delete experts; each change logged in its transaction."""

    def __init__(  # noqa: PLR0913 - the library's collaborators
        self,
        engine: Engine,
        audit: AuditLog,
        cipher: FieldCipher,
        catalog: Catalog,
        *,
        clock_ms: Callable[[], int],
        random: Callable[[int], bytes] = os.urandom,
    ) -> None:
        """Use ``engine`` and ``audit``; ``random`` gives UUIDs and salts."""
        self._engine = engine
        self._audit = audit
        self._cipher = cipher
        self._catalog = catalog
        self._clock_ms = clock_ms
        # (row id, version) -> (profile, state, status periods, credit events)
        self._records: dict[tuple[int, int], tuple[Profile, State, Any, Any, dt.date | None]] = {}
        self._pages: Pages[_Page] = Pages()
        self._random = random

    @property
    def engine(self) -> Engine:
        """The library's database."""
        return self._engine

    @property
    def audit_log(self) -> AuditLog:
        """The log the library's changes go to."""
        return self._audit

    def now_ms(self) -> int:
        """The service clock, UTC milliseconds."""
        return self._clock_ms()

    def today(self) -> dt.date:
        """Today in China Standard Time."""
        return dt.datetime.fromtimestamp(self._clock_ms() / 1000, CHINA).date()

    # -- create ------------------------------------------------------------------------

    def create(
        self,
        who: Who,
        request_id: str,
        draft: Draft,
        conversion: Sequence[FieldViolation] = (),
    ) -> StoredExpert:
        """Validate and store a new expert with its ``expert.create`` entry.

        ``conversion`` lists problems the caller met while building the draft (fields it
        left empty for that reason); they are reported with the validation's, once each.
        A retry with the same request id and content returns the expert it created.

        Raises:
            InvalidRequestError: every invalid field, or a malformed request id.
            AlreadyExistsError: an expert with this 身份证号 exists (``EXPERT_ALREADY_EXISTS``).
            PreconditionError: the request id was used for another request.
        """
        draft = experts.normalize(draft)
        flagged = {v.field for v in conversion}
        found = experts.validate(draft, self.today(), self._catalog)
        violations = [*conversion, *(v for v in found if v.field not in flagged)]
        if REQUEST_ID.fullmatch(request_id) is None:
            violations.append(FieldViolation("request_id", "1 to 64 characters of [A-Za-z0-9._:-]"))
        if violations:
            raise InvalidRequestError(violations)
        number = draft.personal.resident_id_number
        content = canonical.dumps(_request_content(draft))
        payload = {"method": "CreateExpert", "content": self._cipher.keyed_digest(content)}
        try:
            with write_transaction(self._engine) as conn:
                stored = self._audit.find_request(conn, who, request_id, payload)
                if stored is not None:
                    return self._read(conn, stored.outcome.decode())
                hashes = self._cipher.identity_hashes(number)
                taken = select(expert_table.c.id).where(expert_table.c.id_hash.in_(hashes))
                if conn.execute(taken).first() is not None:
                    # PostgreSQL reads committed data per statement: a concurrent twin of
                    # this request may have committed since the lookup above.
                    stored = self._audit.find_request(conn, who, request_id, payload)
                    if stored is not None:
                        return self._read(conn, stored.outcome.decode())
                    raise _exists()
                [expert_uuid], entries = self._insert_many(conn, [draft])
                self._audit.append(
                    conn, who=who, request_id=request_id, payload=payload,
                    pending=entries, outcome=expert_uuid.encode(),
                )  # fmt: skip
                return self._read(conn, expert_uuid)
        except IntegrityError:
            # PostgreSQL: a concurrent transaction won a unique key. If it was a retry of
            # this very request, return its result; otherwise the 身份证号 was taken.
            replayed = self._replayed(who, request_id, payload)
            if replayed is not None:
                return self.get(replayed)
            if self._any_exists([number]):
                raise _exists() from None
            raise  # any other constraint failure is a bug: INTERNAL, logged

    def _any_exists(self, numbers: Sequence[str]) -> bool:
        """Whether any of these 身份证号 is in the library now (a fresh read)."""
        with self._engine.connect() as conn:
            return bool(self._existing(conn, numbers))

    def _replayed(self, who: Who, request_id: str, payload: object) -> str | None:
        """The outcome (an expert UUID) a concurrent use of ``request_id`` committed."""
        with self._engine.connect() as conn:
            stored = self._audit.find_request(conn, who, request_id, payload)
        return None if stored is None else stored.outcome.decode()

    def import_experts(
        self, who: Who, request_id: str, rows: Sequence[ImportRow], *, validate_only: bool
    ) -> ImportResult:
        """Check every row; unless ``validate_only``, create all new experts or none.

        Raises:
            InvalidRequestError: a row has a problem (the first ones, as
                ``rows[<row>].<field>``), or the request id is malformed.
            PreconditionError: the request id was used for another request.
        """
        if validate_only:
            with self._engine.connect() as conn:
                checked = self._check_rows(conn, rows)
            listed = tuple(checked.problems[:MAX_LISTED_PROBLEMS])
            return ImportResult(
                len(checked.new), checked.unchanged, listed, len(checked.problems), committed=False
            )
        check_request_id(request_id)
        digest = self._cipher.keyed_digest(
            canonical.dumps([[r.row, _request_content(experts.normalize(r.draft))] for r in rows])
        )
        payload = {"method": "ImportExperts", "content": digest}
        try:
            with write_transaction(self._engine) as conn:
                replayed = self._import_replayed(conn, who, request_id, payload)
                if replayed is not None:
                    return replayed
                checked = self._check_rows(conn, rows)
                if checked.problems:
                    raise InvalidRequestError([
                        FieldViolation(f"rows[{p.row}].{p.field}", p.description)
                        for p in checked.problems
                    ])  # fmt: skip
                if not checked.new:
                    # Every row is there already: perhaps because a copy of this very
                    # import (the client's early retry) committed after the lookup above
                    # (PostgreSQL reads what committed before each statement).
                    return self._import_replayed(conn, who, request_id, payload) or ImportResult(
                        0, checked.unchanged, (), 0, committed=True
                    )
                outcome = {"created": len(checked.new), "unchanged": checked.unchanged}
                _, entries = self._insert_many(conn, checked.new)
                self._audit.append(
                    conn, who=who, request_id=request_id, payload=payload, pending=entries,
                    outcome=canonical.dumps(outcome),
                )  # fmt: skip
        except IntegrityError:
            # A concurrent twin of this very import (a client retry) committed first.
            with self._engine.connect() as conn:
                replayed = self._import_replayed(conn, who, request_id, payload)
            if replayed is not None:
                return replayed
            # Only a concurrent create of one of these 身份证号 is the caller's business;
            # any other constraint failure is a bug and stays one (INTERNAL).
            if not self._any_exists(
                [r.draft.personal.resident_id_number.strip().upper() for r in rows]
            ):
                raise
            msg = "an expert of this import was created meanwhile; run the import again"
            raise AlreadyExistsError(msg, reason="EXPERT_ALREADY_EXISTS") from None
        return ImportResult(len(checked.new), checked.unchanged, (), 0, committed=True)

    def _import_replayed(
        self, conn: Connection, who: Who, request_id: str, payload: object
    ) -> ImportResult | None:
        """The outcome of an import already applied under ``request_id``, if any."""
        stored = self._audit.find_request(conn, who, request_id, payload)
        if stored is None:
            return None
        counts = canonical.loads(stored.outcome)
        return ImportResult(counts["created"], counts["unchanged"], (), 0, committed=True)

    def _check_rows(self, conn: Connection, rows: Sequence[ImportRow]) -> _Checked:
        checked = _Checked()
        today = self.today()
        first_row: dict[str, int] = {}
        candidates: list[tuple[int, Draft]] = []
        for item in rows:
            draft = experts.normalize(item.draft)
            flagged = {v.field for v in item.conversion}
            found = experts.validate(draft, today, self._catalog)
            violations = [*item.conversion, *(v for v in found if v.field not in flagged)]
            number = draft.personal.resident_id_number
            if number in first_row and not violations:
                why = f"the same resident identity number as row {first_row[number]}"
                violations.append(FieldViolation("resident_id_number", why))
            first_row.setdefault(number, item.row)
            checked.add(item.row, violations)
            if not violations:
                candidates.append((item.row, draft))
        existing = self._existing(conn, [d.personal.resident_id_number for _, d in candidates])
        for row, draft in candidates:
            stored = existing.get(draft.personal.resident_id_number)
            if stored is None:
                checked.new.append(draft)
            elif stored.state is State.DELETED:
                why = f"{stored.name} is deleted: undelete it instead of importing it"
                checked.add(row, [FieldViolation("resident_id_number", why)])
            elif _content(draft) == _content(Draft(stored.personal, stored.profile)):
                checked.unchanged += 1
            else:
                why = "already in the library with other content (change it with UpdateExpert)"
                checked.add(row, [FieldViolation("resident_id_number", why)])
        checked.problems.sort(key=lambda p: p.row)
        return checked

    def _existing(self, conn: Connection, numbers: Sequence[str]) -> dict[str, StoredExpert]:
        """The stored experts among ``numbers``, by 身份证号."""
        by_hash = {h: n for n in numbers for h in self._cipher.identity_hashes(n)}
        hashes = list(by_hash)
        found: dict[str, StoredExpert] = {}
        for start in range(0, len(hashes), _LOOKUP_CHUNK):
            chunk = hashes[start : start + _LOOKUP_CHUNK]
            rows = conn.execute(select(expert_table).where(expert_table.c.id_hash.in_(chunk))).all()
            for row, stored in zip(rows, self._load(conn, rows), strict=True):
                found[by_hash[str(row.id_hash)]] = stored
        return found

    def _insert_many(
        self, conn: Connection, drafts: Sequence[Draft]
    ) -> tuple[list[str], list[PendingEntry]]:
        """Insert new experts; return their UUIDs and ``expert.create`` entries."""
        now = self._clock_ms()
        uuids = [str(uuidlib.UUID(bytes=self._random(16), version=4)) for _ in drafts]
        rows = [
            {
                "uuid": expert_uuid,
                "id_hash": self._cipher.identity_hash(d.personal.resident_id_number),
                **{column: self._seal(getattr(d.personal, name), expert_uuid, column)
                   for name, column in _COLUMNS.items()},
                "profile": canonical.dumps(experts.profile_json(d.profile)).decode(),
                "region_code": d.profile.region_code, "state": str(State.ACTIVE),
                "legacy_only": experts.legacy_only(d.profile, self._catalog), "version": 1,
                "create_ms": now, "update_ms": now, "delete_ms": None,
            }
            for expert_uuid, d in zip(uuids, drafts, strict=True)
        ]  # fmt: skip
        statement = insert(expert_table).returning(expert_table.c.id, sort_by_parameter_order=True)
        ids = [int(r.id) for r in conn.execute(statement, rows)]
        disciplines, affiliations, salt_rows, entries = [], [], [], []
        for row_id, expert_uuid, d in zip(ids, uuids, drafts, strict=True):
            disciplines += [
                {"expert_id": row_id, "edition_id": e, "code": c} for e, c in d.profile.disciplines
            ]
            affiliations += [
                _affiliation_row(row_id, i, a) for i, a in enumerate(d.profile.affiliations)
            ]
            salts = {name: self._random(32) for name in experts.personal_values(d.personal)}
            salt_rows.append(self._salt_row(row_id, expert_uuid, 1, salts))
            record = experts.audit_record(d.profile, d.personal, salts, 1)
            entries.append(pending("expert.create", f"experts/{expert_uuid}", {"record": record}))
        for table, values in (
            (expert_discipline_table, disciplines),
            (expert_affiliation_table, affiliations),
            (expert_salt_table, salt_rows),
        ):
            if values:
                conn.execute(insert(table), values)
        return uuids, entries  # fmt: skip

    def _salt_row(
        self, row_id: int, expert_uuid: str, version: int, salts: dict[str, bytes]
    ) -> dict[str, Any]:
        text = canonical.dumps({k: v.hex() for k, v in salts.items()}).decode()
        sealed = self._cipher.encrypt(
            text, table="expert_salt", column="salts_enc", record_id=f"{expert_uuid}/{version}"
        )
        return {"expert_id": row_id, "version": version, "salts_enc": sealed}

    def salts(self, expert_uuid: str, version: int) -> dict[str, bytes]:
        """The salts that open the commitments of ``version`` (openings for supervisors).

        Raises:
            NotFoundError: no such expert or version.
        """
        with self._engine.connect() as conn:
            row_id = self._row_id(conn, expert_uuid)
            sealed = conn.execute(
                select(expert_salt_table.c.salts_enc).where(
                    expert_salt_table.c.expert_id == row_id,
                    expert_salt_table.c.version == version,
                )
            ).scalar()
        if sealed is None:
            raise NotFoundError("Salts", f"experts/{expert_uuid}/versions/{version}")
        text = self._cipher.decrypt(
            bytes(sealed), table="expert_salt", column="salts_enc",
            record_id=f"{expert_uuid}/{version}",
        )  # fmt: skip
        return {k: bytes.fromhex(v) for k, v in canonical.loads(text.encode()).items()}

    def _row_id(self, conn: Connection, expert_uuid: str) -> int:
        query = select(expert_table.c.id).where(expert_table.c.uuid == expert_uuid)
        row_id = conn.execute(query).scalar()
        if row_id is None:
            raise NotFoundError("Expert", f"experts/{expert_uuid}", reason="EXPERT_NOT_FOUND")
        return int(row_id)

    def _seal(self, value: str, expert_uuid: str, column: str) -> bytes | None:
        if not value:
            return None
        return self._cipher.encrypt(value, table=TABLE, column=column, record_id=expert_uuid)

    # -- read --------------------------------------------------------------------------

    def get(self, expert_uuid: str) -> StoredExpert:
        """One expert (deleted ones too).

        Raises:
            NotFoundError: no such expert (``EXPERT_NOT_FOUND``).
        """
        with self._engine.connect() as conn:
            return self._read(conn, expert_uuid)

    def get_rendered(self, expert_uuid: str, rendered: Rendered[StoredExpert, T]) -> T:
        """One expert (deleted ones too) as ``rendered`` shows it.

        One query when the record's current version is memoized; it is read whole and
        rendered only when it changed.

        Raises:
            NotFoundError: no such expert (``EXPERT_NOT_FOUND``).
        """
        with read_statements(self._engine) as conn:
            row = conn.execute(_VERSION, {"uuid": expert_uuid}).first()
            if row is None:
                raise NotFoundError("Expert", f"experts/{expert_uuid}", reason="EXPERT_NOT_FOUND")
            return rendered.many([_version_key(row)], self._whole)[0]  # rows are never deleted

    def reveal(self, who: Who, expert_uuid: str, purpose: str) -> tuple[StoredExpert, int]:
        """One expert's personal fields for an admin, and the seq of the logged access.

        Every call appends ``confidential.grant`` (to the caller) and
        ``confidential.access`` in one transaction before anything is returned; the
        request id is the service's own, so no retry ever skips the record.

        Raises:
            InvalidRequestError: no purpose.
            NotFoundError: no such expert.
        """
        purpose = _text_field(purpose, "purpose", MAX_PURPOSE_CHARS)
        request_id = f"reveal-{self._random(12).hex()}"
        payload = {"method": "RevealExpert", "name": f"experts/{expert_uuid}", "purpose": purpose}
        with write_transaction(self._engine) as conn:
            found = self._read(conn, expert_uuid)
            if found.erased:
                msg = f"{found.name}: the personal data was erased"
                raise PreconditionError(msg, reason="EXPERT_ERASED")
            grant = {"grantee": who.sub, "purpose": purpose}
            access = {"purpose": purpose, "pseuds": []}
            appended = self._audit.append(
                conn, who=who, request_id=request_id, payload=payload,
                pending=[pending("confidential.grant", found.name, grant),
                         pending("confidential.access", found.name, access)],
            )  # fmt: skip
            return found, appended.first_seq + 1

    def list_experts(
        self,
        where: ExpertFilter,
        page_size: int,
        page_token: str,
        rendered: Rendered[StoredExpert, T],
    ) -> tuple[list[T], str, int]:
        """A page of experts as ``rendered`` shows them, the next page's token, the total.

        Experts come in creation order. The page reads ids and versions; only the
        records whose version is not memoized are read whole and rendered.

        Raises:
            InvalidRequestError: a bad page size or token.
            NotFoundError: the discipline filter names an unknown discipline.
        """
        size = effective_page_size(page_size)
        key = query_key(
            "experts", str(where.state), where.region_prefix, repr(where.discipline),
            str(where.legacy_only), str(where.current_status),
        )  # fmt: skip
        after = decode_cursor(page_token, key) if page_token else 0
        if after is not None and after > MAX_ROW_ID:  # forged: ids are 32-bit INTEGERs
            raise InvalidPageTokenError("page token is out of range; start again")
        # The status in force depends on the clock: such a page is never memoized.
        memo = None if where.current_status is not None else (where, after, size)
        with read_statements(self._engine) as conn:
            log_size = 0 if memo is None else self._audit.store.size(conn)  # before the page
            page = None if memo is None else self._pages.get(memo, log_size)
            if page is None:
                query = self._list_query(where)
                total = int(
                    conn.execute(select(func.count()).select_from(query.subquery())).scalar_one()
                )
                statement = query.where(expert_table.c.id > (after or 0)).order_by(
                    expert_table.c.id
                )
                rows = conn.execute(statement.limit(size + 1)).all()
                token = encode_cursor(int(rows[size - 1].id), key) if len(rows) > size else ""
                page = _Page(tuple(_version_key(r) for r in rows[:size]), total, token)
                if memo is not None:
                    self._pages.put(memo, log_size, page, len(page.keys))
            items = rendered.many(page.keys, self._whole)
        return items, page.token, page.total

    def _list_query(self, where: ExpertFilter) -> Select[int, int, int]:
        """The ids, versions and update times of the experts ``where`` selects."""
        t = expert_table
        query = select(t.c.id, t.c.version, t.c.update_ms).where(t.c.state == str(where.state))
        if where.legacy_only:
            query = query.where(expert_table.c.legacy_only.is_(True))
        if where.current_status is not None:
            query = query.where(_status_now(where.current_status, self._clock_ms()))
        if where.region_prefix:
            query = query.where(expert_table.c.region_code.startswith(where.region_prefix))
        if where.discipline is not None:
            edition_id, code = where.discipline
            codes = self._catalog.subtree(edition_id, code)
            holds = exists().where(
                and_(
                    expert_discipline_table.c.expert_id == expert_table.c.id,
                    expert_discipline_table.c.edition_id == edition_id,
                    expert_discipline_table.c.code.in_(codes),
                )
            )
            query = query.where(holds)
        return query

    def _whole(self, ids: list[int]) -> list[tuple[tuple[int, int, int], StoredExpert]]:
        """The experts ``ids`` read whole, each with its (row id, version, update time).

        In a snapshot of its own: the row and its periods and credits are separate
        statements, and a change committed between them (PostgreSQL reads what
        committed before each one) would give a rendering of one version with the
        children of the next, memoized under the first.
        """
        with read_snapshot(self._engine) as conn:
            rows = conn.execute(
                select(expert_table).where(among(conn, expert_table.c.id, ids))
            ).all()
            return [((int(r.id), s.version, s.update_ms), s)
                    for r, s in zip(rows, self._load(conn, rows), strict=True)]  # fmt: skip

    def _read(
        self, conn: Connection, expert_uuid: str, *, for_update: bool = False
    ) -> StoredExpert:
        query = select(expert_table).where(expert_table.c.uuid == expert_uuid)
        # FOR NO KEY UPDATE: a draw inserting members (a foreign key to this row) takes
        # FOR KEY SHARE under the head lock; a full FOR UPDATE here would deadlock with it.
        locked = query.with_for_update(key_share=True)
        row = conn.execute(locked if for_update else query).first()
        if row is None:
            raise NotFoundError("Expert", f"experts/{expert_uuid}", reason="EXPERT_NOT_FOUND")
        return self._load(conn, [row])[0]

    def contacts(self, conn: Connection, ids: Sequence[int]) -> dict[int, Contact]:
        """What a disclosure shows of the experts ``ids`` (by row id): uuid, name, phone.

        One query, and only these two fields decrypted (a panel's disclosure under the
        head lock read the whole records, their children and all four fields).
        """
        t = expert_table
        found: dict[int, Contact] = {}
        for start in range(0, len(ids), 1000):
            for r in conn.execute(
                select(t.c.id, t.c.uuid, t.c.full_name_enc, t.c.phone_enc)
                .where(among(conn, t.c.id, ids[start : start + 1000]))
            ):  # fmt: skip
                found[int(r.id)] = Contact(
                    str(r.uuid), self._opened(r, "full_name_enc"), self._opened(r, "phone_enc")
                )
        return found

    def _opened(self, row: Row[Any, Any, Any, Any] | Row[Any], column: str) -> str:
        """A personal field of the expert row ``row``, decrypted ("" when absent)."""
        blob = getattr(row, column)
        if blob is None:
            return ""
        return self._cipher.decrypt(
            bytes(blob), table=TABLE, column=column, record_id=str(row.uuid)
        )

    def _load(self, conn: Connection, rows: Sequence[Row[Any]]) -> list[StoredExpert]:
        """Build experts from their rows, with status periods and credit events.

        Two queries load the children of any number of rows.
        """
        periods, events = self._children(conn, [int(r.id) for r in rows])
        return [
            self._from_row(r, tuple(periods[int(r.id)]), tuple(events[int(r.id)])) for r in rows
        ]

    def _children(
        self, conn: Connection, ids: Sequence[int]
    ) -> tuple[dict[int, list[experts.StatusPeriod]], dict[int, list[experts.CreditEvent]]]:
        """Status periods and credit events of the experts ``ids``, in their order."""
        periods: dict[int, list[experts.StatusPeriod]] = {i: [] for i in ids}
        events: dict[int, list[experts.CreditEvent]] = {i: [] for i in ids}
        if ids:
            for p in conn.execute(
                select(expert_status_table)
                .where(among(conn, expert_status_table.c.expert_id, ids))
                .order_by(expert_status_table.c.expert_id, expert_status_table.c.position)
            ):
                periods[int(p.expert_id)].append(experts.StatusPeriod(
                    experts.Status(p.status), str(p.reason), int(p.start_ms),
                    None if p.end_ms is None else int(p.end_ms),
                ))  # fmt: skip
            for c in conn.execute(
                select(expert_credit_table)
                .where(among(conn, expert_credit_table.c.expert_id, ids))
                .order_by(expert_credit_table.c.expert_id, expert_credit_table.c.position)
            ):
                events[int(c.expert_id)].append(experts.CreditEvent(
                    str(c.code), str(c.reason), str(c.evidence_sha256), int(c.event_ms)
                ))  # fmt: skip
        return periods, events

    def load_candidates(self, conn: Connection, ids: Sequence[int]) -> list[Candidate]:
        """What eligibility reads of the experts ``ids``.

        The 身份证号 is decrypted once per record version, for the birth date, and not
        kept; the avoid list matches the stored keyed hash (requests hash avoided numbers
        under every configured key, so a record not yet re-hashed still matches). Names
        and contacts stay sealed. Records are kept in memory by (row id, version): every
        change bumps the version, and draws read the same experts again.
        """
        found: list[Candidate] = []
        t = expert_table
        columns = (t.c.id, t.c.uuid, t.c.version, t.c.id_hash)
        known = self._cipher.identity_key_ids()
        if len(self._records) > MAX_CACHED_RECORDS:
            self._records = {}  # a new dict: draws reading the old one keep it
        records = self._records
        for start in range(0, len(ids), 1000):
            chunk = ids[start : start + 1000]
            rows = conn.execute(select(*columns).where(among(conn, t.c.id, chunk))).all()
            missing = [int(r.id) for r in rows if (int(r.id), int(r.version)) not in records]
            if missing:
                self._cache_records(conn, missing, records)
            for r in rows:
                profile, state, periods, events, born = records[(int(r.id), int(r.version))]
                id_hash = str(r.id_hash)
                if not id_hash.startswith(ERASED) and id_hash.split(":", 1)[0] not in known:
                    # Hashed under a key this replica lacks (another replica is ahead in
                    # a rotation, or the old key went before `db rekey` finished): the
                    # avoid list is hashed under this replica's keys, so hash it here.
                    id_hash = self._rehash(conn, int(r.id), str(r.uuid))
                found.append(Candidate(int(r.id), str(r.uuid), profile, state, periods,
                                       events, born, id_hash))  # fmt: skip
        return found

    def _rehash(self, conn: Connection, row_id: int, expert_uuid: str) -> str:
        """The record's identity hash under this replica's current key."""
        sealed = conn.execute(
            select(expert_table.c.resident_id_enc).where(expert_table.c.id == row_id)
        ).scalar_one()
        if sealed is None:  # pragma: no cover - only erased records have no number
            return ""
        number = self._cipher.decrypt(bytes(sealed), table=TABLE, column="resident_id_enc",
                                      record_id=expert_uuid)  # fmt: skip
        return self._cipher.identity_hash(number)

    def _cache_records(
        self, conn: Connection, ids: Sequence[int], records: dict[tuple[int, int], Any]
    ) -> None:
        """Read and cache the records ``ids``, in the caller's snapshot (so at its versions)."""
        t = expert_table
        rows = conn.execute(
            select(t.c.id, t.c.uuid, t.c.version, t.c.profile, t.c.state, t.c.resident_id_enc)
            .where(among(conn, t.c.id, ids))
        ).all()  # fmt: skip
        periods, events = self._children(conn, ids)
        for r in rows:
            number = "" if r.resident_id_enc is None else self._cipher.decrypt(
                bytes(r.resident_id_enc), table=TABLE, column="resident_id_enc",
                record_id=str(r.uuid),
            )  # fmt: skip
            records[(int(r.id), int(r.version))] = (
                cached_profile(str(r.profile)), State(r.state),
                tuple(periods[int(r.id)]), tuple(events[int(r.id)]),
                identifiers.birth_date(number) if number else None,
            )  # fmt: skip

    def _from_row(
        self,
        row: Row[Any],
        periods: tuple[experts.StatusPeriod, ...],
        events: tuple[experts.CreditEvent, ...],
    ) -> StoredExpert:
        expert_uuid = str(row.uuid)
        personal = Personal(*(self._opened(row, column) for column in _COLUMNS.values()))
        profile = parsed_profile(str(row.profile))
        return StoredExpert(
            uuid=expert_uuid, personal=personal, profile=profile, state=State(row.state),
            legacy_only=bool(row.legacy_only), version=int(row.version),
            create_ms=int(row.create_ms), update_ms=int(row.update_ms),
            delete_ms=None if row.delete_ms is None else int(row.delete_ms),
            periods=periods, credits=events, erased=str(row.id_hash).startswith(ERASED),
        )  # fmt: skip

    # -- delete ------------------------------------------------------------------------

    def delete(
        self, who: Who, expert_uuid: str, etag: str, reason: str, request_id: str
    ) -> StoredExpert:
        """Soft-delete an expert with an ``expert.delete`` entry.

        Raises:
            InvalidRequestError: no reason or a malformed request id.
            NotFoundError: no such expert.
            ConcurrentChangeError: ``etag`` is not the current version.
            PreconditionError: already deleted, or the request id was used for another
                request.
        """
        return self._set_state(who, expert_uuid, etag, reason, request_id, target=State.DELETED)

    def undelete(
        self, who: Who, expert_uuid: str, etag: str, reason: str, request_id: str
    ) -> StoredExpert:
        """Restore a soft-deleted expert, logged as ``expert.status`` (``active``).

        Raises:
            InvalidRequestError: no reason or a malformed request id.
            NotFoundError: no such expert.
            ConcurrentChangeError: ``etag`` is not the current version.
            PreconditionError: not deleted, or the request id was used for another
                request.
        """
        return self._set_state(who, expert_uuid, etag, reason, request_id, target=State.ACTIVE)

    def erase(
        self, who: Who, expert_uuid: str, *, etag: str, reason: str, request_id: str
    ) -> StoredExpert:
        """Erase a deleted expert's personal data: ciphertexts and salts (PIPL).

        Raises:
            InvalidRequestError: a bad reason or request id.
            NotFoundError, ConcurrentChangeError: as :meth:`delete`.
            PreconditionError: not deleted (``EXPERT_NOT_DELETED``), already erased.
        """
        reason = _text_field(reason, "reason", MAX_REASON_CHARS)
        name = f"experts/{expert_uuid}"
        payload = {"method": "EraseExpert", "name": name, "etag": etag, "reason": reason}

        def apply(
            conn: Connection, row_id: int, current: StoredExpert, now: int
        ) -> list[PendingEntry]:
            del now
            if current.erased:
                raise PreconditionError(f"{name} is already erased", reason="EXPERT_ERASED")
            if current.state is not State.DELETED:
                msg = f"{name} must be deleted before its personal data is erased"
                raise PreconditionError(msg, reason="EXPERT_NOT_DELETED")
            # The ciphertexts and the identity hash go (the person may register again),
            # and so does free text that may name the person: organisation names (in
            # rows and in the stored profile) and the reasons of periods and events.
            profile = experts.profile_json(current.profile, names=False)
            conn.execute(
                update(expert_table)
                .where(expert_table.c.id == row_id)
                .values(
                    id_hash=f"{ERASED}{expert_uuid}", profile=canonical.dumps(profile).decode(),
                    **dict.fromkeys(_COLUMNS.values()),
                )
            )  # fmt: skip
            conn.execute(delete(expert_salt_table).where(expert_salt_table.c.expert_id == row_id))
            free_text = (
                (expert_affiliation_table, "organization_name"),
                (expert_status_table, "reason"),
                (expert_credit_table, "reason"),
            )
            for table, column in free_text:
                conn.execute(update(table).where(table.c.expert_id == row_id).values({column: ""}))
            return [pending("expert.update", name, {"field": "personal", "value": "erased"})]

        return self._change(
            who, expert_uuid, etag=etag, request_id=request_id, payload=payload, apply=apply,
            living_only=False,
        )  # fmt: skip

    def _set_state(  # noqa: PLR0913 - the parts of one audited request
        self, who: Who, expert_uuid: str, etag: str, reason: str, request_id: str, *, target: State
    ) -> StoredExpert:
        reason = _text_field(reason, "reason", MAX_REASON_CHARS)
        method = "DeleteExpert" if target is State.DELETED else "UndeleteExpert"
        name = f"experts/{expert_uuid}"
        payload = {"method": method, "name": name, "etag": etag, "reason": reason}

        def apply(
            conn: Connection, row_id: int, current: StoredExpert, now: int
        ) -> list[PendingEntry]:
            if target is State.ACTIVE and current.erased:
                msg = f"{current.name}: the personal data was erased; it cannot return"
                raise PreconditionError(msg, reason="EXPERT_ERASED")
            if current.state is target:
                reason_code = "EXPERT_DELETED" if target is State.DELETED else "EXPERT_NOT_DELETED"
                msg = f"{current.name} is already {target}"
                raise PreconditionError(msg, reason=reason_code)
            conn.execute(
                update(expert_table)
                .where(expert_table.c.id == row_id)
                .values(state=str(target), delete_ms=now if target is State.DELETED else None)
            )
            if target is State.DELETED:
                return [pending("expert.delete", name, {"reason": reason})]
            data = {
                "status": str(State.ACTIVE),
                "reason": reason,
                "valid_from": now,
                "valid_to": None,
            }
            return [pending("expert.status", name, data)]

        return self._change(
            who, expert_uuid, etag=etag, request_id=request_id, payload=payload, apply=apply,
            living_only=False,
        )  # fmt: skip

    # -- update --------------------------------------------------------------------------

    def update(  # noqa: PLR0913 - the parts of one audited request
        self,
        who: Who,
        expert_uuid: str,
        *,
        etag: str,
        requested: Draft,
        mask: frozenset[str],
        conversion: Sequence[FieldViolation],
        request_id: str,
    ) -> StoredExpert:
        """Change the masked fields; log one ``expert.update`` per changed field.

        Raises:
            InvalidRequestError: a path that cannot be updated, or an invalid result.
            NotFoundError, ConcurrentChangeError, PreconditionError: as :meth:`delete`.
        """
        bad = sorted(mask - experts.UPDATABLE)
        if bad or not mask:
            why = "name the fields to change: " + ", ".join(sorted(experts.UPDATABLE))
            violations = [
                FieldViolation("update_mask", f"{p!r} cannot be updated; {why}") for p in bad
            ]
            raise InvalidRequestError(violations or [FieldViolation("update_mask", why)])
        check_request_id(request_id)
        masked_problems = [
            v
            for v in conversion
            if v.field.removeprefix("expert.").split(".")[0].split("[")[0] in mask
        ]
        normal = experts.normalize(requested)
        asked = experts.profile_json(normal.profile)
        personal = {f: getattr(normal.personal, f) for f in experts.PERSONAL_UPDATABLE if f in mask}
        profile = {
            k: asked[k] for path, (_, k) in experts.PROFILE_UPDATABLE.items() if path in mask
        }
        content = canonical.dumps({"personal": personal, "profile": profile})
        payload = {"method": "UpdateExpert", "name": f"experts/{expert_uuid}", "etag": etag,
                   "mask": sorted(mask), "content": self._cipher.keyed_digest(content)}  # fmt: skip

        def apply(
            conn: Connection, row_id: int, current: StoredExpert, now: int
        ) -> list[PendingEntry]:
            before = Draft(current.personal, current.profile)
            after = experts.normalize(experts.merge(before, requested, mask))
            flagged = {v.field for v in masked_problems}
            found = experts.validate(after, self.today(), self._catalog)
            violations = [*masked_problems, *(v for v in found if v.field not in flagged)]
            if violations:
                raise InvalidRequestError(violations)
            changed = experts.changed_fields(before, after)
            if not changed:
                raise _Unchanged
            return self._write_update(
                conn, row_id, current=current, after=after, changed=changed, now=now
            )

        try:
            return self._change(
                who, expert_uuid, etag=etag, request_id=request_id, payload=payload, apply=apply
            )
        except _Unchanged:
            return self.get(expert_uuid)

    def _write_update(  # noqa: PLR0913 - the parts of one update
        self,
        conn: Connection,
        row_id: int,
        *,
        current: StoredExpert,
        after: Draft,
        changed: list[str],
        now: int,
    ) -> list[PendingEntry]:
        del now
        version = current.version + 1
        name = current.name
        values: dict[str, Any] = {
            "profile": canonical.dumps(experts.profile_json(after.profile)).decode(),
            "region_code": after.profile.region_code,
            "legacy_only": experts.legacy_only(after.profile, self._catalog),
        }
        entries: list[PendingEntry] = []
        personal_values = experts.personal_values(after.personal)
        salts = {}
        for field in changed:
            if field in experts.PERSONAL_UPDATABLE:
                column = _COLUMNS[field]
                values[column] = self._seal(getattr(after.personal, field), current.uuid, column)
                value: object = None
                if field in personal_values:
                    salts[field] = self._random(32)
                    value = {
                        "commit": commitment(salts[field], personal_values[field]),
                        "version": version,
                    }
                entries.append(
                    pending("expert.update", name, {"field": f"{field}_commit", "value": value})
                )
            else:
                key = experts.PROFILE_UPDATABLE[field][1]
                value = experts.profile_json(after.profile, names=False)[key]
                entries.append(pending("expert.update", name, {"field": key, "value": value}))
        conn.execute(update(expert_table).where(expert_table.c.id == row_id).values(**values))
        if salts:
            conn.execute(
                insert(expert_salt_table).values(
                    self._salt_row(row_id, current.uuid, version, salts)
                )
            )
        if "disciplines" in changed:
            conn.execute(
                delete(expert_discipline_table).where(expert_discipline_table.c.expert_id == row_id)
            )
            codes = after.profile.disciplines
            conn.execute(insert(expert_discipline_table), [
                {"expert_id": row_id, "edition_id": e, "code": c} for e, c in codes
            ])  # fmt: skip
        if "affiliations" in changed:
            conn.execute(
                delete(expert_affiliation_table).where(
                    expert_affiliation_table.c.expert_id == row_id
                )
            )
            if after.profile.affiliations:
                conn.execute(insert(expert_affiliation_table), [
                    _affiliation_row(row_id, i, a) for i, a in enumerate(after.profile.affiliations)
                ])  # fmt: skip
        return entries  # fmt: skip

    # -- status, credit, history -------------------------------------------------------

    def _change(  # noqa: PLR0913 - the parts of one audited change
        self,
        who: Who,
        expert_uuid: str,
        *,
        etag: str,
        request_id: str,
        payload: dict[str, Any],
        apply: Callable[[Connection, int, StoredExpert, int], list[PendingEntry]],
        living_only: bool = True,
    ) -> StoredExpert:
        """Run one audited change of an expert: lock, replay check, etag, apply, log.

        ``apply(conn, row_id, current, now_ms)`` checks its own preconditions, writes the
        change and returns its entries; the record's version is bumped and everything
        commits together. ``living_only`` refuses deleted and deceased experts first
        (delete, undelete and erase pass False and decide in ``apply``). The row lock
        (PostgreSQL) makes a concurrent retry wait, then see this request's outcome;
        SQLite's write lock does the same.
        """
        check_request_id(request_id)
        try:
            with write_transaction(self._engine) as conn:
                current = self._read(conn, expert_uuid, for_update=True)
                if self._audit.find_request(conn, who, request_id, payload) is not None:
                    return current
                if etag and etag != current.etag:
                    msg = f"{current.name} changed: its etag is now {current.etag}"
                    raise ConcurrentChangeError(msg)
                now = self._clock_ms()
                if living_only and current.state is State.DELETED:
                    msg = f"{current.name} is deleted; undelete it first"
                    raise PreconditionError(msg, reason="EXPERT_DELETED")
                if (
                    living_only
                    and experts.status_at(current.periods, now) is experts.Status.DECEASED
                ):
                    msg = f"{current.name} is recorded as deceased"
                    raise PreconditionError(msg, reason="EXPERT_DECEASED")
                row_id = self._row_id(conn, expert_uuid)
                entries = apply(conn, row_id, current, now)
                conn.execute(
                    update(expert_table)
                    .where(expert_table.c.id == row_id)
                    .values(version=current.version + 1, update_ms=now)
                )
                self._audit.append(
                    conn, who=who, request_id=request_id, payload=payload, pending=entries,
                    outcome=expert_uuid.encode(),
                )  # fmt: skip
                return self._read(conn, expert_uuid)
        except IntegrityError:
            if self._replayed(who, request_id, payload) is None:  # pragma: no cover - defensive
                raise
            return self.get(expert_uuid)

    def _add_period(  # noqa: PLR0913 - one status period
        self,
        who: Who,
        expert_uuid: str,
        *,
        etag: str,
        request_id: str,
        status: experts.Status,
        reason: str,
        start_ms: int | None,
        end_ms: int | None,
        max_ms: int | None = None,
    ) -> StoredExpert:
        """Add a period; ``start_ms`` None means the moment of the change.

        The request digest holds the request's own values (a retry digests the same);
        "now" is resolved inside the transaction. A period never starts in the past:
        eligibility at earlier evaluations must stay what the log said then.
        """
        reason = _text_field(reason, "reason", MAX_REASON_CHARS)
        if start_ms is not None:
            _period_check(start_ms, end_ms, max_ms=max_ms)
        payload = {"method": f"status:{status}", "name": f"experts/{expert_uuid}", "etag": etag,
                   "reason": reason, "start": start_ms, "end": end_ms}  # fmt: skip

        def apply(
            conn: Connection, row_id: int, current: StoredExpert, now: int
        ) -> list[PendingEntry]:
            start = now if start_ms is None else start_ms
            _not_in_the_past(start, now, "start_time")
            _period_check(start, end_ms, max_ms=max_ms)
            if any(p.status is status and p.start_ms == start for p in current.periods):
                # The log says a reinstatement by the same status and start (a replay
                # folds them so, draw-v1 §15): two such periods would be ambiguous.
                msg = f"{current.name} already has a {status} period starting then"
                raise PreconditionError(msg, reason="PERIOD_EXISTS")
            period = experts.StatusPeriod(status, reason, start, end_ms)
            self._insert_period(conn, row_id, len(current.periods), period)
            return [self._status_entry(expert_uuid, period)]

        return self._change(
            who, expert_uuid, etag=etag, request_id=request_id, payload=payload, apply=apply
        )

    @staticmethod
    def _insert_period(
        conn: Connection, row_id: int, position: int, p: experts.StatusPeriod
    ) -> None:
        conn.execute(insert(expert_status_table).values(
            expert_id=row_id, position=position, status=str(p.status), reason=p.reason,
            start_ms=p.start_ms, end_ms=p.end_ms,
        ))  # fmt: skip

    @staticmethod
    def _status_entry(expert_uuid: str, p: experts.StatusPeriod) -> PendingEntry:
        data = {
            "status": str(p.status),
            "reason": p.reason,
            "valid_from": p.start_ms,
            "valid_to": p.end_ms,
        }
        return pending("expert.status", f"experts/{expert_uuid}", data)

    def suspend(  # noqa: PLR0913 - the parts of one audited request
        self,
        who: Who,
        expert_uuid: str,
        *,
        etag: str,
        reason: str,
        start_ms: int | None,
        end_ms: int | None,
        request_id: str,
    ) -> StoredExpert:
        """Suspend from ``start_ms`` (now if None) to ``end_ms`` (open-ended if None).

        Raises:
            InvalidRequestError: a bad period (also one that starts in the past),
                reason or request id.
            NotFoundError, ConcurrentChangeError, PreconditionError: as :meth:`delete`.
        """
        return self._add_period(
            who, expert_uuid, etag=etag, request_id=request_id, status=experts.Status.SUSPENDED,
            reason=reason, start_ms=start_ms, end_ms=end_ms,
        )  # fmt: skip

    def record_leave(  # noqa: PLR0913 - the parts of one audited request
        self,
        who: Who,
        expert_uuid: str,
        *,
        etag: str,
        reason: str,
        start_ms: int,
        end_ms: int,
        request_id: str,
    ) -> StoredExpert:
        """Record a leave ``[start_ms, end_ms)`` of at most 366 days, not in the past.

        Raises:
            InvalidRequestError: a bad period, reason or request id.
            NotFoundError, ConcurrentChangeError, PreconditionError: as :meth:`delete`.
        """
        return self._add_period(
            who, expert_uuid, etag=etag, request_id=request_id, status=experts.Status.ON_LEAVE,
            reason=reason, start_ms=start_ms, end_ms=end_ms, max_ms=experts.MAX_LEAVE_MS,
        )  # fmt: skip

    def retire(  # noqa: PLR0913 - the parts of one audited request
        self,
        who: Who,
        expert_uuid: str,
        *,
        etag: str,
        status: experts.Status,
        reason: str,
        effective_ms: int | None,
        request_id: str,
    ) -> StoredExpert:
        """Record retirement or death from ``effective_ms`` (now if None), open-ended.

        Raises:
            InvalidRequestError: a bad reason, request id, or a time in the past.
            NotFoundError, ConcurrentChangeError, PreconditionError: as :meth:`delete`.
        """
        return self._add_period(
            who, expert_uuid, etag=etag, request_id=request_id, status=status, reason=reason,
            start_ms=effective_ms, end_ms=None,
        )  # fmt: skip

    def reinstate(
        self, who: Who, expert_uuid: str, *, etag: str, reason: str, request_id: str
    ) -> StoredExpert:
        """End every suspension, blacklisting and leave in force now; cancel future ones.

        Each period ended (``valid_to`` now) or cancelled (``valid_to`` = its start) is
        logged as its own ``expert.status`` entry, so the log says what changed.

        Raises:
            InvalidRequestError: a bad reason or request id.
            NotFoundError, ConcurrentChangeError: as :meth:`delete`.
            PreconditionError: nothing to end (``NOTHING_TO_REINSTATE``), deleted.
        """
        reason = _text_field(reason, "reason", MAX_REASON_CHARS)
        payload = {"method": "ReinstateExpert", "name": f"experts/{expert_uuid}", "etag": etag,
                   "reason": reason}  # fmt: skip

        def apply(
            conn: Connection, row_id: int, current: StoredExpert, now: int
        ) -> list[PendingEntry]:
            ending = experts.reinstatable(current.periods, now)
            if not ending:
                msg = f"{current.name} has no suspension, blacklisting or leave now or ahead"
                raise PreconditionError(msg, reason="NOTHING_TO_REINSTATE")
            entries = []
            for position in ending:
                old = current.periods[position]
                end = max(old.start_ms, now)  # a future period is cancelled: it covers nothing
                conn.execute(
                    update(expert_status_table)
                    .where(expert_status_table.c.expert_id == row_id,
                           expert_status_table.c.position == position)
                    .values(end_ms=end)
                )  # fmt: skip
                ended = experts.StatusPeriod(old.status, reason, old.start_ms, end)
                entries.append(self._status_entry(expert_uuid, ended))
            return entries

        return self._change(
            who, expert_uuid, etag=etag, request_id=request_id, payload=payload, apply=apply
        )

    def record_credit(  # noqa: PLR0913 - the parts of one audited request
        self,
        who: Who,
        expert_uuid: str,
        *,
        etag: str,
        code: str,
        reason: str,
        evidence_sha256: str,
        event_ms: int | None,
        blacklist_until: int | None,
        blacklist: bool,
        request_id: str,
    ) -> StoredExpert:
        """Record a penalty or a score (``credit.event``); optionally blacklist too.

        The logged ``evidence_hash`` is ``SHA-256`` of the canonical
        ``{"code", "event_ms", "evidence_sha256"}``, so the log commits to when the event
        happened as well as to its evidence; the free-text reason never reaches the log
        (a blacklisting's ``expert.status`` says ``penalty:<code>``). A blacklisting
        starts when it is recorded, never earlier.

        Raises:
            InvalidRequestError: a bad reason, evidence digest, period or request id.
            NotFoundError, ConcurrentChangeError, PreconditionError: as :meth:`delete`.
        """
        reason = reason and _text_field(reason, "reason", MAX_REASON_CHARS)
        if _SHA256.fullmatch(evidence_sha256) is None:
            raise InvalidRequestError.field("evidence_sha256", "64 lowercase hex digits")
        if not blacklist and blacklist_until is not None:
            raise InvalidRequestError.field("blacklist_end_time", "only with blacklist")
        payload = {"method": "RecordCredit", "name": f"experts/{expert_uuid}", "etag": etag,
                   "code": code, "reason": reason, "evidence": evidence_sha256, "at": event_ms,
                   "blacklist": blacklist, "until": blacklist_until}  # fmt: skip

        def apply(
            conn: Connection, row_id: int, current: StoredExpert, now: int
        ) -> list[PendingEntry]:
            at = now if event_ms is None else event_ms
            if at > now + CLOCK_TOLERANCE_MS:
                raise InvalidRequestError.field("event_time", "not in the future")
            conn.execute(insert(expert_credit_table).values(
                expert_id=row_id, position=len(current.credits), code=code, reason=reason,
                evidence_sha256=evidence_sha256, event_ms=at,
            ))  # fmt: skip
            bound = canonical.dumps(
                {"code": code, "event_ms": at, "evidence_sha256": evidence_sha256}
            )
            data = {
                "code": code,
                "evidence_hash": hashlib.sha256(bound).hexdigest(),
                "due_ts": None,
            }
            entries = [pending("credit.event", f"experts/{expert_uuid}", data)]
            if blacklist:
                _period_check(now, blacklist_until, end_field="blacklist_end_time")
                if any(p.status is experts.Status.BLACKLISTED and p.start_ms == now
                       for p in current.periods):  # fmt: skip
                    msg = f"{current.name} already has a blacklisting starting then"
                    raise PreconditionError(msg, reason="PERIOD_EXISTS")
                period = experts.StatusPeriod(
                    experts.Status.BLACKLISTED, reason, now, blacklist_until
                )
                self._insert_period(conn, row_id, len(current.periods), period)
                logged = experts.StatusPeriod(
                    period.status, f"penalty:{code}", now, blacklist_until
                )
                entries.append(self._status_entry(expert_uuid, logged))
            return entries

        return self._change(
            who, expert_uuid, etag=etag, request_id=request_id, payload=payload, apply=apply
        )

    def add_affiliation(
        self,
        who: Who,
        expert_uuid: str,
        *,
        etag: str,
        affiliation: experts.Affiliation,
        request_id: str,
    ) -> StoredExpert:
        """Add one dated affiliation (``expert.update`` of ``affiliations``).

        Raises:
            InvalidRequestError: the affiliation breaks the rules of CreateExpert.
            NotFoundError, ConcurrentChangeError, PreconditionError: as :meth:`delete`.
        """
        affiliation = experts.normalize_affiliation(affiliation)
        problems = experts.affiliation_problems("affiliation", affiliation, self.today())
        if problems:
            raise InvalidRequestError([FieldViolation(f, why) for f, why in problems])
        row = _affiliation_row(0, 0, affiliation)
        payload = {"method": "AddAffiliation", "name": f"experts/{expert_uuid}", "etag": etag,
                   "row": {k: v for k, v in row.items()
                           if k not in {"expert_id", "position"}}}  # fmt: skip

        def apply(
            conn: Connection, row_id: int, current: StoredExpert, now: int
        ) -> list[PendingEntry]:
            del now
            held = current.profile.affiliations
            if len(held) >= experts.MAX_AFFILIATIONS:
                raise InvalidRequestError.field(
                    "affiliation", f"an expert holds at most {experts.MAX_AFFILIATIONS}"
                )
            conn.execute(
                insert(expert_affiliation_table).values(
                    _affiliation_row(row_id, len(held), affiliation)
                )
            )
            profile = dataclasses.replace(current.profile, affiliations=(*held, affiliation))
            conn.execute(
                update(expert_table).where(expert_table.c.id == row_id)
                .values(profile=canonical.dumps(experts.profile_json(profile)).decode())
            )  # fmt: skip
            value = experts.profile_json(profile, names=False)["affiliations"]
            return [
                pending(
                    "expert.update",
                    f"experts/{expert_uuid}",
                    {"field": "affiliations", "value": value},
                )
            ]

        return self._change(
            who, expert_uuid, etag=etag, request_id=request_id, payload=payload, apply=apply
        )


def _status_now(status: experts.Status, now_ms: int) -> Any:  # noqa: ANN401 - a SQL clause
    """SQL: the expert's status at ``now_ms`` is ``status`` (as experts.status_at decides)."""
    period = expert_status_table.c
    covering = and_(
        period.expert_id == expert_table.c.id, period.start_ms <= now_ms,
        or_(period.end_ms.is_(None), period.end_ms > now_ms),
    )  # fmt: skip
    stronger = [str(s) for s in experts.stronger_than(status)]
    beaten = exists().where(covering, period.status.in_(stronger))
    if status is experts.Status.ACTIVE:
        return not_(exists().where(covering))
    return and_(exists().where(covering, period.status == str(status)), not_(beaten))


class _Unchanged(Exception):  # noqa: N818 - a signal, not an error
    """An update that changes nothing: the transaction rolls back, nothing is logged."""


CLOCK_TOLERANCE_MS = 60_000


def _not_in_the_past(start_ms: int, now_ms: int, field: str) -> None:
    if start_ms < now_ms - CLOCK_TOLERANCE_MS:
        why = "must not lie in the past: eligibility at earlier evaluations stays as logged"
        raise InvalidRequestError.field(field, why)


def _period_check(start_ms: int, end_ms: int | None, *, max_ms: int | None = None,
                  end_field: str = "end_time") -> None:  # fmt: skip
    problems = experts.period_problems(start_ms, end_ms, max_ms=max_ms)
    if problems:
        raise InvalidRequestError([FieldViolation(end_field, why) for _, why in problems])


_SHA256 = re.compile(r"[0-9a-f]{64}")


# -- key rotation -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RekeyResult:
    """What a re-key pass changed."""

    experts: int
    cells: int
    hashes: int
    salts: int


def rekey(engine: Engine, cipher: FieldCipher, batch: int = 500) -> RekeyResult:
    """Re-encrypt every cell and re-hash every 身份证号 under the current keys.

    A batch of experts per transaction; idempotent; safe while the service runs, as
    reads accept every listed key.

    Nothing is logged in the audit log: no record's content changes.
    """
    experts_seen = cells = hashes = salts = 0
    after = 0
    while True:
        with write_transaction(engine) as conn:
            rows = conn.execute(
                select(expert_table).where(expert_table.c.id > after)
                .order_by(expert_table.c.id).limit(batch).with_for_update()
            ).all()  # fmt: skip
            for row in rows:
                changed, hashed = _rekey_row(conn, cipher, row)
                cells, hashes = cells + changed, hashes + hashed
                salts += _rekey_salts(conn, cipher, int(row.id), str(row.uuid))
        if not rows:
            return RekeyResult(experts_seen, cells, hashes, salts)
        experts_seen += len(rows)
        after = int(rows[-1].id)


def _rekey_row(conn: Connection, cipher: FieldCipher, row: Row[Any]) -> tuple[int, int]:
    expert_uuid = str(row.uuid)
    values: dict[str, object] = {}
    for column in _COLUMNS.values():
        blob = getattr(row, column)
        if blob is not None and cipher.key_id_of(bytes(blob)) != cipher.current_key_id:
            plain = cipher.decrypt(bytes(blob), table=TABLE, column=column, record_id=expert_uuid)
            values[column] = cipher.encrypt(
                plain, table=TABLE, column=column, record_id=expert_uuid
            )
    hashed = 0
    if row.resident_id_enc is not None:
        number = cipher.decrypt(
            bytes(row.resident_id_enc), table=TABLE, column="resident_id_enc", record_id=expert_uuid
        )
        current = cipher.identity_hash(number)
        if current != row.id_hash:
            values["id_hash"], hashed = current, 1
    if values:
        conn.execute(update(expert_table).where(expert_table.c.id == row.id).values(**values))
    return len(values) - hashed, hashed


def _rekey_salts(conn: Connection, cipher: FieldCipher, row_id: int, expert_uuid: str) -> int:
    count = 0
    rows = conn.execute(
        select(expert_salt_table).where(expert_salt_table.c.expert_id == row_id)
    ).all()
    for salt in rows:
        blob = None if salt.salts_enc is None else bytes(salt.salts_enc)
        if blob is None or cipher.key_id_of(blob) == cipher.current_key_id:
            continue
        record_id = f"{expert_uuid}/{salt.version}"
        plain = cipher.decrypt(blob, table="expert_salt", column="salts_enc", record_id=record_id)
        sealed = cipher.encrypt(plain, table="expert_salt", column="salts_enc", record_id=record_id)
        conn.execute(
            update(expert_salt_table)
            .where(
                expert_salt_table.c.expert_id == row_id, expert_salt_table.c.version == salt.version
            )
            .values(salts_enc=sealed)
        )
        count += 1
    return count


# -- bulk import ----------------------------------------------------------------------

MAX_IMPORT_ROWS = 200_000
MAX_LISTED_PROBLEMS = 10_000
_LOOKUP_CHUNK = 500


@dataclass(frozen=True, slots=True)
class ImportRow:
    """One row of an import: its number in the file, the draft, conversion problems."""

    row: int
    draft: Draft
    conversion: tuple[FieldViolation, ...] = ()


@dataclass(frozen=True, slots=True)
class ImportProblem:
    """A problem of one row; ``field`` is relative to the row's expert."""

    row: int
    field: str
    description: str


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What an import did or would do."""

    created: int
    unchanged: int
    problems: tuple[ImportProblem, ...]
    problem_count: int
    committed: bool


class _Checked:
    """The rows of an import after validation: new drafts, unchanged count, problems."""

    def __init__(self) -> None:
        self.new: list[Draft] = []
        self.unchanged = 0
        self.problems: list[ImportProblem] = []

    def add(self, row: int, violations: Sequence[FieldViolation]) -> None:
        self.problems.extend(
            ImportProblem(row, v.field.removeprefix("expert."), v.description) for v in violations
        )


def _affiliation_row(expert_id: int, position: int, a: experts.Affiliation) -> dict[str, Any]:
    return {
        "expert_id": expert_id, "position": position, "kind": str(a.kind),
        "organization_code": a.organization_code, "organization_name": a.organization_name,
        "start_date": a.start.isoformat() if a.start else "",
        "end_date": a.end.isoformat() if a.end else None,
    }  # fmt: skip


def _request_content(draft: Draft) -> dict[str, Any]:
    """What a request digest covers: the values as sent, nothing derived.

    Unlike :func:`_content`, it never reads the birth date or gender out of the 身份证号,
    so it works on rows that are not valid yet.
    """
    p = draft.personal
    personal = {"full_name": p.full_name, "resident_id_number": p.resident_id_number,
                "phone": p.phone, "email": p.email}  # fmt: skip
    return {"personal": personal, "profile": experts.profile_json(draft.profile)}


def _content(draft: Draft) -> dict[str, Any]:
    return {
        "personal": experts.personal_values(draft.personal),
        "profile": experts.profile_json(draft.profile),
    }


def _exists() -> AlreadyExistsError:
    return AlreadyExistsError(
        "an expert with this resident identity number is in the library",
        reason="EXPERT_ALREADY_EXISTS",
    )
