"""ExpertService: the expert library over gRPC (admins write, supervisors read).

Requests convert to core drafts here; every conversion problem (a date that is not a
calendar date, a malformed discipline name) joins the core validation's violations, so
one response lists every bad field.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from google.type import date_pb2

from expert_draw.adapters.experts import CHINA, MAX_IMPORT_ROWS, ExpertFilter, ImportRow
from expert_draw.adapters.grpc import context
from expert_draw.adapters.grpc.convert import timestamp_from_ms
from expert_draw.adapters.memo import Rendered
from expert_draw.api.v1 import expert_service_pb2 as pb
from expert_draw.api.v1 import expert_service_pb2_grpc as pb_grpc
from expert_draw.core import experts, names
from expert_draw.core.experts import (
    Affiliation,
    AffiliationKind,
    Draft,
    LibraryType,
    Personal,
    Profile,
    Qualification,
    Review,
    State,
    Title,
    TitleLevel,
)
from expert_draw.errors import (
    FieldViolation,
    InvalidRequestError,
    TooLargeError,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    import grpc
    from google.protobuf.message import Message
    from google.protobuf.timestamp_pb2 import Timestamp

    from audit_log.entry import Who
    from expert_draw.adapters.experts import ExpertLibrary, StoredExpert

_LEVELS = {
    pb.Title.LEVEL_JUNIOR: TitleLevel.JUNIOR,
    pb.Title.LEVEL_INTERMEDIATE: TitleLevel.INTERMEDIATE,
    pb.Title.LEVEL_ASSOCIATE_SENIOR: TitleLevel.ASSOCIATE_SENIOR,
    pb.Title.LEVEL_SENIOR: TitleLevel.SENIOR,
}
_REVIEWS = {
    pb.Expert.REVIEW_PROVISIONAL: Review.PROVISIONAL,
    pb.Expert.REVIEW_APPROVED: Review.APPROVED,
}
_LIBRARIES = {
    pb.Expert.LIBRARY_TYPE_PROVINCIAL: LibraryType.PROVINCIAL,
    pb.Expert.LIBRARY_TYPE_STATE_COUNCIL: LibraryType.STATE_COUNCIL,
    pb.Expert.LIBRARY_TYPE_OTHER: LibraryType.OTHER,
}
_KINDS = {
    pb.Affiliation.KIND_EMPLOYER: AffiliationKind.EMPLOYER,
    pb.Affiliation.KIND_REGISTRATION: AffiliationKind.REGISTRATION,
    pb.Affiliation.KIND_DECLARED_AVOID: AffiliationKind.DECLARED_AVOID,
    pb.Affiliation.KIND_RELATIVE: AffiliationKind.RELATIVE,
    pb.Affiliation.KIND_SUPERVISING_POST: AffiliationKind.SUPERVISING_POST,
}
MAX_IMPORT_BATCH = 1000
MAX_ROW_NUMBER = 2**31 - 1
_STATUSES = {
    experts.Status.ACTIVE: pb.StatusPeriod.STATUS_ACTIVE,
    experts.Status.SUSPENDED: pb.StatusPeriod.STATUS_SUSPENDED,
    experts.Status.ON_LEAVE: pb.StatusPeriod.STATUS_ON_LEAVE,
    experts.Status.BLACKLISTED: pb.StatusPeriod.STATUS_BLACKLISTED,
    experts.Status.RETIRED: pb.StatusPeriod.STATUS_RETIRED,
    experts.Status.DECEASED: pb.StatusPeriod.STATUS_DECEASED,
}
_STATUSES_CORE = {v: k for k, v in _STATUSES.items()}
_PENALTIES = {
    pb.PENALTY_KIND_NO_SHOW: "no_show",
    pb.PENALTY_KIND_LATE_WITHDRAWAL: "late_withdrawal",
    pb.PENALTY_KIND_UNDECLARED_CONFLICT: "undeclared_conflict",
    pb.PENALTY_KIND_MISCONDUCT: "misconduct",
    pb.PENALTY_KIND_ADMINISTRATIVE_PENALTY: "administrative_penalty",
    pb.PENALTY_KIND_CRIMINAL_PENALTY: "criminal_penalty",
}
_RETIRE = {
    pb.RetireExpertRequest.KIND_RETIRED: experts.Status.RETIRED,
    pb.RetireExpertRequest.KIND_DECEASED: experts.Status.DECEASED,
}
MAX_TIME_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
MAX_NANOS = 999_999_999
_EDUCATION = {
    pb.EDUCATION_DOCTORATE: experts.Education.DOCTORATE,
    pb.EDUCATION_MASTER: experts.Education.MASTER,
    pb.EDUCATION_BACHELOR: experts.Education.BACHELOR,
    pb.EDUCATION_ASSOCIATE: experts.Education.ASSOCIATE,
    pb.EDUCATION_OTHER: experts.Education.OTHER,
}
_EDUCATION_PB = {v: k for k, v in _EDUCATION.items()}
_STATES = {pb.Expert.STATE_ACTIVE: State.ACTIVE, pb.Expert.STATE_DELETED: State.DELETED}
_STATES_PB = {v: k for k, v in _STATES.items()}


_LEVELS_PB = {v: k for k, v in _LEVELS.items()}
_REVIEWS_PB = {v: k for k, v in _REVIEWS.items()}
_LIBRARIES_PB = {v: k for k, v in _LIBRARIES.items()}
_KINDS_PB = {v: k for k, v in _KINDS.items()}


class _Converter:
    """Collects conversion problems while a request becomes a draft."""

    def __init__(self) -> None:
        self.violations: list[FieldViolation] = []

    def date(self, value: date_pb2.Date, field: str) -> dt.date | None:
        if (value.year, value.month, value.day) == (0, 0, 0):
            return None
        try:
            return dt.date(value.year, value.month, value.day)
        except ValueError:
            self.violations.append(
                FieldViolation(field, "not a calendar date (year, month and day)")
            )
            return None

    def discipline(self, name: str, field: str) -> tuple[str, str] | None:
        try:
            return names.parse_discipline_name(name, field)
        except InvalidRequestError as exc:
            self.violations.extend(exc.violations)
            return None


_REPEATED_LIMITS = (
    ("disciplines", experts.MAX_DISCIPLINES),
    ("qualifications", experts.MAX_QUALIFICATIONS),
    ("affiliations", experts.MAX_AFFILIATIONS),
)


def draft_from_pb(expert: pb.Expert) -> tuple[Draft, list[FieldViolation]]:
    """Convert a request's expert into a draft and the problems met on the way.

    Raises:
        InvalidRequestError: a repeated field is longer than any valid record's (checked
            before anything is converted, so a huge request costs nothing).
    """
    oversized = [
        FieldViolation(f"expert.{name}", f"at most {limit}")
        for name, limit in _REPEATED_LIMITS
        if len(getattr(expert, name)) > limit
    ]
    if oversized:
        raise InvalidRequestError(oversized)
    convert = _Converter()
    personal = Personal(expert.full_name, expert.resident_id_number, expert.phone, expert.email)
    codes = [
        convert.discipline(n, f"expert.disciplines[{i}]") for i, n in enumerate(expert.disciplines)
    ]
    profile = Profile(
        title=Title(
            _LEVELS.get(expert.title.level), expert.title.title_name,
            convert.date(expert.title.obtained_date, "expert.title.obtained_date"),
        ),
        work_start=convert.date(expert.work_start_date, "expert.work_start_date"),
        qualifications=tuple(
            Qualification(q.qualification_name, convert.date(q.registered_date, field))
            for i, q in enumerate(expert.qualifications)
            for field in [f"expert.qualifications[{i}].registered_date"]
        ),
        # An unparsable name keeps its place (as a code no edition has), so that the
        # indices of validation's violations match the request's.
        disciplines=tuple(c if c is not None else ("", f"?{i}") for i, c in enumerate(codes)),
        region_code=expert.region_code,
        accepts_remote=expert.accepts_remote,
        library_type=_LIBRARIES.get(expert.library_type),
        review=_REVIEWS.get(expert.review),
        declaration_date=convert.date(expert.declaration_date, "expert.declaration_date"),
        training_date=convert.date(expert.training_date, "expert.training_date"),
        age_exempt=expert.age_exempt,
        education=_EDUCATION.get(expert.education),
        affiliations=tuple(
            Affiliation(
                _KINDS.get(a.kind), a.organization_code, a.organization_name,
                convert.date(a.start_date, f"expert.affiliations[{i}].start_date"),
                convert.date(a.end_date, f"expert.affiliations[{i}].end_date"),
            )
            for i, a in enumerate(expert.affiliations)
        ),
    )  # fmt: skip
    return Draft(personal, profile), convert.violations


def _date_pb(value: dt.date | None) -> date_pb2.Date | None:
    return (
        None if value is None else date_pb2.Date(year=value.year, month=value.month, day=value.day)
    )


def _ms(stamp: Timestamp, field: str) -> int:
    """A request timestamp in UTC milliseconds, from 1970 to 9999.

    Raises:
        InvalidRequestError: out of that range or with invalid nanos.
    """
    if not 0 <= stamp.nanos <= MAX_NANOS:
        raise InvalidRequestError.field(field, "nanos must lie in 0..999,999,999")
    ms = stamp.seconds * 1000 + stamp.nanos // 1_000_000
    if not 0 <= ms <= MAX_TIME_MS:
        raise InvalidRequestError.field(field, "must lie between 1970 and 9999")
    return ms


def _optional_ms(message: Message, field: str) -> int | None:
    return _ms(getattr(message, field), field) if message.HasField(field) else None


def _period_pb(period: experts.StatusPeriod) -> pb.StatusPeriod:
    message = pb.StatusPeriod(
        status=_STATUSES[period.status], reason=period.reason,
        start_time=timestamp_from_ms(period.start_ms),
    )  # fmt: skip
    if period.end_ms is not None:
        message.end_time.CopyFrom(timestamp_from_ms(period.end_ms))
    return message


def expert_to_pb(stored: StoredExpert, now_ms: int) -> pb.Expert:
    """The resource: personal fields only masked, the status in force at ``now_ms``."""
    message = _expert_message(stored)
    message.current_status = _STATUSES[experts.status_at(stored.periods, now_ms)]
    return message


@dataclass(frozen=True, slots=True)
class _View:
    """An expert's resource without its current status, serialized: memoized, shared.

    Bytes, not a message: a message held about 2.6 KB of memory (its own arena) against
    about 350 bytes serialized, and parsing the bytes into a response costs about what
    copying a message did (a page of 50: 66 against 79 us alone, the same in the handler).
    """

    message: bytes
    statuses: experts.StatusSteps


def _view(stored: StoredExpert) -> _View:
    message = _expert_message(stored).SerializeToString()
    return _View(message, experts.status_steps(stored.periods))


def _served(view: _View, now_ms: int, into: pb.Expert) -> None:
    """Fill ``into`` (a new, empty message) with the view and the status now."""
    into.MergeFromString(view.message)
    into.current_status = _STATUSES[view.statuses.at(now_ms)]


def _expert_message(stored: StoredExpert) -> pb.Expert:
    """The resource, personal fields only masked, without the status in force."""
    p, f = stored.personal, stored.profile
    message = pb.Expert(
        name=stored.name,
        masked=pb.MaskedPersonal(
            full_name=experts.mask_name(p.full_name),
            resident_id_number=experts.mask_resident_id(p.resident_id_number),
            phone=experts.mask_phone(p.phone),
            email=experts.mask_email(p.email),
        )
        if not stored.erased
        else None,
        title=pb.Title(
            level=_LEVELS_PB[f.title.level] if f.title.level else pb.Title.LEVEL_UNSPECIFIED,
            title_name=f.title.name, obtained_date=_date_pb(f.title.obtained),
        ),
        work_start_date=_date_pb(f.work_start),
        qualifications=[
            pb.Qualification(qualification_name=q.name, registered_date=_date_pb(q.registered))
            for q in f.qualifications
        ],
        disciplines=[names.discipline_name(e, c) for e, c in f.disciplines],
        region_code=f.region_code,
        accepts_remote=f.accepts_remote,
        library_type=(
            _LIBRARIES_PB[f.library_type] if f.library_type else pb.Expert.LIBRARY_TYPE_UNSPECIFIED
        ),
        review=_REVIEWS_PB[f.review] if f.review else pb.Expert.REVIEW_UNSPECIFIED,
        declaration_date=_date_pb(f.declaration_date),
        training_date=_date_pb(f.training_date),
        age_exempt=f.age_exempt,
        education=_EDUCATION_PB[f.education] if f.education else pb.EDUCATION_UNSPECIFIED,
        affiliations=[
            pb.Affiliation(
                kind=_KINDS_PB[a.kind] if a.kind else pb.Affiliation.KIND_UNSPECIFIED,
                organization_code=a.organization_code, organization_name=a.organization_name,
                start_date=_date_pb(a.start), end_date=_date_pb(a.end),
            )
            for a in f.affiliations
        ],
        state=_STATES_PB[stored.state],
        legacy_only=stored.legacy_only,
        create_time=timestamp_from_ms(stored.create_ms),
        update_time=timestamp_from_ms(stored.update_ms),
        etag=stored.etag,
        erased=stored.erased,
        status_periods=[_period_pb(p) for p in stored.periods],
        credit_events=[
            pb.CreditEvent(code=c.code, reason=c.reason, evidence_sha256=c.evidence_sha256,
                           event_time=timestamp_from_ms(c.event_ms))
            for c in stored.credits
        ],
    )  # fmt: skip
    if stored.delete_ms is not None:
        message.delete_time.CopyFrom(timestamp_from_ms(stored.delete_ms))
    return message


class ExpertServicer(pb_grpc.ExpertServiceServicer):
    """Serves the expert library."""

    def __init__(self, library: ExpertLibrary, who: Callable[[str, str], Who]) -> None:
        """Serve ``library``; ``who`` names a caller in the log (principal, role)."""
        self._library = library
        self._who = who
        self._views = Rendered(_view)

    def _out(self, stored: StoredExpert) -> pb.Expert:
        return expert_to_pb(stored, self._library.now_ms())

    def _caller(self) -> Who:
        identity = context.caller()
        return self._who(identity.principal, str(identity.role))

    def CreateExpert(
        self, request: pb.CreateExpertRequest, context: grpc.ServicerContext
    ) -> pb.CreateExpertResponse:
        """Create an expert."""
        del context
        if not request.HasField("expert"):
            raise InvalidRequestError.field("expert", "required")
        draft, problems = draft_from_pb(request.expert)
        stored = self._library.create(self._caller(), request.request_id, draft, problems)
        return pb.CreateExpertResponse(expert=self._out(stored))

    def GetExpert(
        self, request: pb.GetExpertRequest, context: grpc.ServicerContext
    ) -> pb.GetExpertResponse:
        """Get one expert (personal fields masked)."""
        del context
        expert_uuid = names.parse_expert_name(request.name)
        view = self._library.get_rendered(expert_uuid, self._views)
        response = pb.GetExpertResponse()
        _served(view, self._library.now_ms(), response.expert)
        return response

    def RevealExpert(
        self, request: pb.RevealExpertRequest, context: grpc.ServicerContext
    ) -> pb.RevealExpertResponse:
        """Disclose one expert's personal fields to an admin, logged."""
        del context
        expert_uuid = names.parse_expert_name(request.name)
        stored, access_seq = self._library.reveal(self._caller(), expert_uuid, request.purpose)
        p = stored.personal
        return pb.RevealExpertResponse(
            name=stored.name, full_name=p.full_name, resident_id_number=p.resident_id_number,
            phone=p.phone, email=p.email, birth_date=_date_pb(p.birth_date),
            gender=pb.RevealExpertResponse.GENDER_MALE if p.gender == "male"
            else pb.RevealExpertResponse.GENDER_FEMALE,
            access_seq=access_seq,
        )  # fmt: skip

    def ListExperts(
        self, request: pb.ListExpertsRequest, context: grpc.ServicerContext
    ) -> pb.ListExpertsResponse:
        """List experts, basic view."""
        del context
        violations = []
        state = State.ACTIVE
        if request.state != pb.Expert.STATE_UNSPECIFIED:
            if request.state not in _STATES:
                violations.append(FieldViolation("state", "unknown state"))
            else:
                state = _STATES[request.state]
        prefix = request.region_prefix
        if prefix and (
            len(prefix) not in (2, 4, 6) or not prefix.isascii() or not prefix.isdigit()
        ):
            violations.append(FieldViolation("region_prefix", "2, 4 or 6 digits"))
        discipline = None
        if request.discipline:
            try:
                discipline = names.parse_discipline_name(request.discipline, "discipline")
            except InvalidRequestError as exc:
                violations.extend(exc.violations)
        if violations:
            raise InvalidRequestError(violations)
        now_status = None
        if request.current_status != pb.StatusPeriod.STATUS_UNSPECIFIED:
            now_status = _STATUSES_CORE.get(request.current_status)
            if now_status is None:
                raise InvalidRequestError.field("current_status", "unknown status")
        where = ExpertFilter(
            state, prefix, discipline, legacy_only=request.legacy_only, current_status=now_status
        )
        views, token, total = self._library.list_experts(
            where, request.page_size, request.page_token, self._views
        )
        now = self._library.now_ms()
        response = pb.ListExpertsResponse(next_page_token=token, total_size=total)
        for view in views:
            _served(view, now, response.experts.add())
        return response

    def ImportExperts(
        self, request_iterator: Iterator[pb.ImportExpertsRequest], context: grpc.ServicerContext
    ) -> pb.ImportExpertsResponse:
        """Import experts in bulk, all or nothing."""
        del context
        request_id, validate_only = "", False
        rows: list[ImportRow] = []
        for index, message in enumerate(request_iterator):
            if index == 0:
                request_id, validate_only = message.request_id, message.validate_only
            if len(message.experts) > MAX_IMPORT_BATCH:
                why = f"at most {MAX_IMPORT_BATCH} experts per message"
                raise InvalidRequestError.field("experts", why)
            if not 1 <= message.first_row <= MAX_ROW_NUMBER - len(message.experts):
                why = f"1 to {MAX_ROW_NUMBER} for every row of the message"
                raise InvalidRequestError.field("first_row", why)
            if len(rows) + len(message.experts) > MAX_IMPORT_ROWS:
                msg = f"an import holds at most {MAX_IMPORT_ROWS} rows; split the file"
                raise TooLargeError(msg, reason="IMPORT_TOO_LARGE")
            for offset, expert in enumerate(message.experts):
                draft, problems = draft_from_pb(expert)
                rows.append(ImportRow(message.first_row + offset, draft, tuple(problems)))
        if not rows:
            raise InvalidRequestError.field("experts", "an import needs at least one row")
        result = self._library.import_experts(
            self._caller(), request_id, rows, validate_only=validate_only
        )
        return pb.ImportExpertsResponse(
            created_count=result.created,
            unchanged_count=result.unchanged,
            problems=[
                pb.ImportProblem(row=p.row, field=p.field, description=p.description)
                for p in result.problems
            ],
            problem_count=result.problem_count,
            committed=result.committed,
        )

    def UpdateExpert(
        self, request: pb.UpdateExpertRequest, context: grpc.ServicerContext
    ) -> pb.UpdateExpertResponse:
        """Update the masked fields of an expert."""
        del context
        if not request.HasField("expert"):
            raise InvalidRequestError.field("expert", "required")
        expert_uuid = names.parse_expert_name(request.expert.name, "expert.name")
        draft, problems = draft_from_pb(request.expert)
        stored = self._library.update(
            self._caller(), expert_uuid, etag=request.expert.etag, requested=draft,
            mask=frozenset(request.update_mask.paths), conversion=problems,
            request_id=request.request_id,
        )  # fmt: skip
        return pb.UpdateExpertResponse(expert=self._out(stored))

    def DeleteExpert(
        self, request: pb.DeleteExpertRequest, context: grpc.ServicerContext
    ) -> pb.DeleteExpertResponse:
        """Soft-delete an expert."""
        del context
        expert_uuid = names.parse_expert_name(request.name)
        stored = self._library.delete(
            self._caller(), expert_uuid, request.etag, request.reason, request.request_id
        )
        return pb.DeleteExpertResponse(expert=self._out(stored))

    def EraseExpert(
        self, request: pb.EraseExpertRequest, context: grpc.ServicerContext
    ) -> pb.EraseExpertResponse:
        """Erase a deleted expert's personal data."""
        del context
        stored = self._library.erase(
            self._caller(), names.parse_expert_name(request.name), etag=request.etag,
            reason=request.reason, request_id=request.request_id,
        )  # fmt: skip
        return pb.EraseExpertResponse(expert=self._out(stored))

    def UndeleteExpert(
        self, request: pb.UndeleteExpertRequest, context: grpc.ServicerContext
    ) -> pb.UndeleteExpertResponse:
        """Restore a soft-deleted expert."""
        del context
        expert_uuid = names.parse_expert_name(request.name)
        stored = self._library.undelete(
            self._caller(), expert_uuid, request.etag, request.reason, request.request_id
        )
        return pb.UndeleteExpertResponse(expert=self._out(stored))

    # -- status, credit, history ---------------------------------------------------------

    def SuspendExpert(
        self, request: pb.SuspendExpertRequest, context: grpc.ServicerContext
    ) -> pb.SuspendExpertResponse:
        """Suspend an expert for a period."""
        del context
        stored = self._library.suspend(
            self._caller(), names.parse_expert_name(request.name), etag=request.etag,
            reason=request.reason, start_ms=_optional_ms(request, "start_time"),
            end_ms=_optional_ms(request, "end_time"), request_id=request.request_id,
        )  # fmt: skip
        return pb.SuspendExpertResponse(expert=self._out(stored))

    def ReinstateExpert(
        self, request: pb.ReinstateExpertRequest, context: grpc.ServicerContext
    ) -> pb.ReinstateExpertResponse:
        """End the suspensions and blacklisting in force."""
        del context
        stored = self._library.reinstate(
            self._caller(), names.parse_expert_name(request.name), etag=request.etag,
            reason=request.reason, request_id=request.request_id,
        )  # fmt: skip
        return pb.ReinstateExpertResponse(expert=self._out(stored))

    def RecordLeave(
        self, request: pb.RecordLeaveRequest, context: grpc.ServicerContext
    ) -> pb.RecordLeaveResponse:
        """Record a leave."""
        del context
        expert_uuid = names.parse_expert_name(request.name)
        start, end = _optional_ms(request, "start_time"), _optional_ms(request, "end_time")
        missing = [
            FieldViolation(f, "required")
            for f, v in (("start_time", start), ("end_time", end))
            if v is None
        ]
        if missing:
            raise InvalidRequestError(missing)
        stored = self._library.record_leave(
            self._caller(), expert_uuid, etag=request.etag, reason=request.reason,
            start_ms=start, end_ms=end, request_id=request.request_id,  # type: ignore[arg-type]
        )  # fmt: skip
        return pb.RecordLeaveResponse(expert=self._out(stored))

    def RecordPenalty(
        self, request: pb.RecordPenaltyRequest, context: grpc.ServicerContext
    ) -> pb.RecordPenaltyResponse:
        """Record a penalty, optionally blacklisting."""
        del context
        expert_uuid = names.parse_expert_name(request.name)
        code = _PENALTIES.get(request.kind)
        if code is None:
            raise InvalidRequestError.field("kind", "required: one of the PenaltyKind values")
        if not request.reason.strip():
            raise InvalidRequestError.field("reason", "1 to 200 printable characters")
        stored = self._library.record_credit(
            self._caller(), expert_uuid, etag=request.etag, code=code, reason=request.reason,
            evidence_sha256=request.evidence_sha256, event_ms=_optional_ms(request, "event_time"),
            blacklist_until=_optional_ms(request, "blacklist_end_time"),
            blacklist=request.blacklist, request_id=request.request_id,
        )  # fmt: skip
        return pb.RecordPenaltyResponse(expert=self._out(stored))

    def RecordEvaluationScore(
        self, request: pb.RecordEvaluationScoreRequest, context: grpc.ServicerContext
    ) -> pb.RecordEvaluationScoreResponse:
        """Record an evaluation score."""
        del context
        expert_uuid = names.parse_expert_name(request.name)
        violations = []
        if not 0 <= request.score <= 100:  # noqa: PLR2004 - a score is 0..100
            violations.append(FieldViolation("score", "0 to 100"))
        convert = _Converter()
        day = convert.date(request.evaluation_date, "evaluation_date")
        violations += convert.violations
        if day is None and not convert.violations:
            violations.append(FieldViolation("evaluation_date", "required"))
        elif day is not None and not experts.EARLIEST <= day <= self._library.today():
            why = f"between {experts.EARLIEST.isoformat()} and today"
            violations.append(FieldViolation("evaluation_date", why))
        if violations:
            raise InvalidRequestError(violations)
        assert day is not None  # noqa: S101 - checked above
        at = int(dt.datetime(day.year, day.month, day.day, tzinfo=CHINA).timestamp() * 1000)
        stored = self._library.record_credit(
            self._caller(), expert_uuid, etag=request.etag, code=experts.score_code(request.score),
            reason="", evidence_sha256=request.evidence_sha256, event_ms=at,
            blacklist_until=None, blacklist=False, request_id=request.request_id,
        )  # fmt: skip
        return pb.RecordEvaluationScoreResponse(expert=self._out(stored))

    def RetireExpert(
        self, request: pb.RetireExpertRequest, context: grpc.ServicerContext
    ) -> pb.RetireExpertResponse:
        """Record retirement or death."""
        del context
        expert_uuid = names.parse_expert_name(request.name)
        status = _RETIRE.get(request.kind)
        if status is None:
            raise InvalidRequestError.field("kind", "required: KIND_RETIRED or KIND_DECEASED")
        stored = self._library.retire(
            self._caller(), expert_uuid, etag=request.etag, status=status, reason=request.reason,
            effective_ms=_optional_ms(request, "effective_time"), request_id=request.request_id,
        )  # fmt: skip
        return pb.RetireExpertResponse(expert=self._out(stored))

    def AddAffiliation(
        self, request: pb.AddAffiliationRequest, context: grpc.ServicerContext
    ) -> pb.AddAffiliationResponse:
        """Add a dated affiliation."""
        del context
        expert_uuid = names.parse_expert_name(request.name)
        if not request.HasField("affiliation"):
            raise InvalidRequestError.field("affiliation", "required")
        convert = _Converter()
        a = request.affiliation
        affiliation = Affiliation(
            _KINDS.get(a.kind), a.organization_code, a.organization_name,
            convert.date(a.start_date, "affiliation.start_date"),
            convert.date(a.end_date, "affiliation.end_date"),
        )  # fmt: skip
        if convert.violations:
            raise InvalidRequestError(convert.violations)
        stored = self._library.add_affiliation(
            self._caller(), expert_uuid, etag=request.etag, affiliation=affiliation,
            request_id=request.request_id,
        )  # fmt: skip
        return pb.AddAffiliationResponse(expert=self._out(stored))
