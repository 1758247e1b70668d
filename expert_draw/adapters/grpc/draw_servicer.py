"""DrawService over gRPC: requests convert to validated draw requests here.

Every problem of a CreateDraw request (a malformed credit code, a discipline that is
not in the current edition, codes that are prefixes of one another, a window that ends
before it starts) joins one list, so a response names every bad field at once.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import unicodedata
from typing import TYPE_CHECKING

from expert_draw.adapters.draws import DrawRequest, Quota
from expert_draw.adapters.experts import check_request_id
from expert_draw.adapters.grpc import context
from expert_draw.adapters.grpc.convert import timestamp_from_ms
from expert_draw.adapters.memo import Rendered
from expert_draw.api.v1 import draw_service_pb2 as pb
from expert_draw.api.v1 import draw_service_pb2_grpc as pb_grpc
from expert_draw.core import eligibility, identifiers, names
from expert_draw.core.drawing import evidence_hash
from expert_draw.errors import FieldViolation, InvalidRequestError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    import grpc
    from google.protobuf.timestamp_pb2 import Timestamp

    from audit_log.entry import Who
    from expert_draw.adapters.draws import Draws, Member, StoredDraw
    from expert_draw.adapters.protection import FieldCipher

DRAW_ID = re.compile(r"[a-z0-9-]{1,56}")
CODE = re.compile(r"[A-Z0-9]{1,16}")
METHOD = re.compile(r"[a-z0-9_]{1,40}")
UNSET_HEX32 = "0" * 64  # project_ref and salt: the service fills them in
CANCEL_REASON = re.compile(r"[A-Z0-9_]{1,32}")
CHANNELS = frozenset({"call", "sms", "app", "email"})
# RecordDecline's codes; BUSY is the service's own strike, STRUCK_48_3 is StrikeMember.
DECLINE_REASONS = frozenset(
    {"SIGNED_DECLINE", "NO_ANSWER", "LEAVE", "HEALTH", "CONFLICT_DECLARED", "ABSENT"}
)
MAX_EVIDENCE_BYTES = 1024 * 1024
MAX_SAFE_SEQ = 2**53 - 1  # log seqs are aud1 integers
MAX_TIME_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
MAX_NANOS = 999_999_999
DRAW_NAME = re.compile(r"draws/([a-z0-9-]{1,56})")
MAX_ID_CHARS = 64
MAX_NAME_CHARS = 200
MAX_QUOTA = 99
MAX_DISCIPLINES = 20
MAX_ORGS = 200
MAX_WINDOW_MS = 31 * 86_400_000
BUNDLE_CHUNK = 1024 * 1024
_STATES = {
    "COMMITTED": pb.Draw.STATE_COMMITTED, "AWAITING_BEACON": pb.Draw.STATE_AWAITING_BEACON,
    "EXECUTED": pb.Draw.STATE_EXECUTED, "OPENED": pb.Draw.STATE_OPENED,
    "CLOSED": pb.Draw.STATE_CLOSED, "AWARDED": pb.Draw.STATE_AWARDED,
    "CANCELLED": pb.Draw.STATE_CANCELLED, "EXPIRED": pb.Draw.STATE_EXPIRED,
}  # fmt: skip


_STATE_NAMES = {v: k for k, v in _STATES.items()}


def parse_draw_name(name: str, field: str = "name") -> str:
    """The draw id of ``draws/{draw_id}``.

    Raises:
        InvalidRequestError: malformed.
    """
    match = DRAW_NAME.fullmatch(name)
    if match is None:
        raise InvalidRequestError.field(field, "a draw name: draws/ and 1-56 of [a-z0-9-]")
    return match.group(1)


def _text(value: str, field: str, limit: int, problems: list[FieldViolation]) -> str:
    text = unicodedata.normalize("NFC", value)
    if not text.strip() or len(text) > limit or not text.isprintable():
        problems.append(FieldViolation(field, f"1 to {limit} printable characters"))
    return text


def _org(value: str, field: str, problems: list[FieldViolation]) -> str:
    problem = identifiers.uscc_problem(value)
    if problem is not None:
        problems.append(FieldViolation(field, problem))
    return value


def _orgs(values: list[str], field: str, problems: list[FieldViolation]) -> list[str]:
    if len(values) > MAX_ORGS:
        problems.append(FieldViolation(field, f"at most {MAX_ORGS} organisations"))
    for i, code in enumerate(values):
        problem = identifiers.uscc_problem(code)
        if problem is not None:
            problems.append(FieldViolation(f"{field}[{i}]", problem))
    return sorted(set(values))


def _regions(values: list[str], field: str, problems: list[FieldViolation]) -> list[str]:
    for i, code in enumerate(values):
        if re.fullmatch(r"[1-8][0-9]{1,5}", code) is None:
            problems.append(FieldViolation(f"{field}[{i}]", "a 行政区划 code or prefix"))
    return sorted(set(values))


def _quotas(
    request: pb.CreateDrawRequest, edition: str, problems: list[FieldViolation]
) -> tuple[Quota, ...]:
    quotas = []
    if not 1 <= len(request.disciplines) <= MAX_DISCIPLINES:
        problems.append(FieldViolation("disciplines", f"1 to {MAX_DISCIPLINES} disciplines"))
    for i, q in enumerate(request.disciplines):
        field = f"disciplines[{i}]"
        try:
            edition_id, code = names.parse_discipline_name(q.discipline, f"{field}.discipline")
        except InvalidRequestError as exc:
            problems.extend(exc.violations)
            continue
        if edition_id != edition:
            problems.append(FieldViolation(f"{field}.discipline", f"use edition {edition}"))
        if not 1 <= q.seats <= MAX_QUOTA:
            problems.append(FieldViolation(f"{field}.seats", f"1 to {MAX_QUOTA}"))
        if not 0 <= q.reserves <= MAX_QUOTA:
            problems.append(FieldViolation(f"{field}.reserves", f"0 to {MAX_QUOTA}"))
        max_repl = q.max_replacements if q.HasField("max_replacements") else q.seats + q.reserves
        if not 0 <= max_repl <= 2 * MAX_QUOTA:
            problems.append(FieldViolation(f"{field}.max_replacements", f"0 to {2 * MAX_QUOTA}"))
        quotas.append(Quota(code, q.seats, q.reserves, max_repl))
    codes = sorted(q.code for q in quotas)
    if len(set(codes)) != len(codes):
        problems.append(FieldViolation("disciplines", "a discipline is requested twice"))
    elif any(b.startswith(a) for a, b in itertools.pairwise(codes)):
        problems.append(FieldViolation("disciplines", "no code may lie under another"))
    return tuple(sorted(quotas, key=lambda q: q.code.encode()))


def request_from_pb(  # noqa: C901, PLR0912, PLR0915 - one check per field
    request: pb.CreateDrawRequest, edition: str, cipher: FieldCipher,
    avoid_digest: Callable[[list[str]], str] = lambda _numbers: "",
) -> DrawRequest:  # fmt: skip
    """Validate a CreateDraw request.

    ``avoid_digest`` turns the 身份证号 to avoid into the request's idempotency digest of
    them (``Draws.avoid_digest``: keyed, the same on every replica whatever its identity
    keys); the numbers themselves go no further than this function.

    Raises:
        InvalidRequestError: listing every bad field.
    """
    problems: list[FieldViolation] = []
    if request.draw_id and DRAW_ID.fullmatch(request.draw_id) is None:
        problems.append(FieldViolation("draw_id", "1 to 56 characters of [a-z0-9-]"))
    tender_id = _text(request.tender_id, "tender_id", MAX_ID_CHARS, problems)
    lot_id = _text(request.lot_id, "lot_id", MAX_ID_CHARS, problems)
    project_code = _text(request.project_code, "project_code", MAX_ID_CHARS, problems)
    project_name = ""
    if request.project_name:
        project_name = _text(request.project_name, "project_name", MAX_NAME_CHARS, problems)
    supersedes = ""
    if request.supersedes:
        try:
            supersedes = parse_draw_name(request.supersedes, "supersedes")
        except InvalidRequestError as exc:
            problems.extend(exc.violations)
    quotas = _quotas(request, edition, problems)
    if not 0 <= request.tenderer_representatives <= MAX_QUOTA:
        problems.append(FieldViolation("tenderer_representatives", f"0 to {MAX_QUOTA}"))
    method = request.procurement_method or "tender"
    if METHOD.fullmatch(method) is None:
        problems.append(FieldViolation("procurement_method", "a [methods] key of the policy"))
    c = request.conflicts
    if not request.HasField("conflicts"):
        problems.append(FieldViolation("conflicts", "required"))
    tenderer = _org(c.tenderer, "conflicts.tenderer", problems)
    agency = _org(c.agency, "conflicts.agency", problems) if c.agency else ""
    bidders = _orgs(list(c.bidders), "conflicts.bidders", problems)
    avoid_orgs = _orgs(list(c.avoid_organizations), "conflicts.avoid_organizations", problems)
    avoid_hashes = set()
    for i, number in enumerate(c.avoid_resident_id_numbers):
        problem = identifiers.resident_id_problem(number)
        if problem is not None:
            problems.append(FieldViolation(f"conflicts.avoid_resident_id_numbers[{i}]", problem))
        else:
            avoid_hashes.update(cipher.identity_hashes(number))
    window = (0, 0)
    if not (request.HasField("evaluation_start_time") and request.HasField("evaluation_end_time")):
        problems.append(FieldViolation("evaluation_start_time", "the window is required"))
    else:
        start = request_ms(request.evaluation_start_time, "evaluation_start_time", problems)
        end = request_ms(request.evaluation_end_time, "evaluation_end_time", problems)
        window = (start or 0, end or 0)
        if start is not None and end is not None and not 0 < end - start <= MAX_WINDOW_MS:
            problems.append(
                FieldViolation("evaluation_end_time", "after the start, within 31 days of it")
            )
    venue = request.venue_region
    if identifiers.region_code_problem(venue) is not None:
        problems.append(FieldViolation("venue_region", "a 6-digit 行政区划 code"))
    include = _regions(list(request.region.include), "region.include", problems)
    exclude = _regions(list(request.region.exclude), "region.exclude", problems)
    if (include or exclude) and not request.region.reason.strip():
        problems.append(FieldViolation("region.reason", "a region constraint needs a reason"))
    try:
        check_request_id(request.request_id)
    except InvalidRequestError as exc:
        problems.extend(exc.violations)
    if request.override_seq > MAX_SAFE_SEQ:
        problems.append(FieldViolation("override_seq", "a log seq (at most 2^53 - 1)"))
    if problems:
        raise InvalidRequestError(problems)
    conflicts = eligibility.ConflictInputs(
        tenderer=tenderer, agency=agency, bidders=tuple(bidders), avoid_orgs=tuple(avoid_orgs),
        avoid_experts=tuple(sorted(avoid_hashes)), window=eligibility.Window(*window),
        region=eligibility.RegionRule(tuple(include), tuple(exclude),
                                      unicodedata.normalize("NFC", request.region.reason)),
        venue_region=venue, library_type=request.library_type,
        project_ref=UNSET_HEX32, salt=UNSET_HEX32,
    )  # fmt: skip
    return DrawRequest(
        draw_id=request.draw_id, tender_id=tender_id, lot_id=lot_id,
        project_code=project_code, project_name=project_name, supersedes=supersedes,
        quotas=quotas, conflicts=conflicts, method=method,
        representatives=request.tenderer_representatives, beacon=request.use_beacon,
        override_seq=request.override_seq,
        avoid_digest=avoid_digest(sorted(set(c.avoid_resident_id_numbers))),
    )  # fmt: skip


def draw_to_pb(draw: StoredDraw) -> pb.Draw:
    """The Draw resource."""
    out = pb.Draw(
        name=draw.name, state=_STATES[draw.state],
        supersedes=f"draws/{draw.supersedes}" if draw.supersedes else "",
        tender_ref=draw.tender_ref, beacon=draw.beacon, params=draw.params,
        params_hash=draw.params_hash, pool_root=draw.pool_root,
        excluded_root=draw.excluded_root, round=draw.round, commit_digest=draw.commit_digest,
        end_reason=draw.end_reason,
        counts=[pb.DisciplineCount(code=c["d"], count=c["n"], short=bool(c.get("short")))
                for c in draw.counts],
        excluded_counts=[pb.ReasonCount(reason=c["reason"], count=c["n"])
                         for c in draw.excluded_counts],
        seats=[pb.PanelSeats(code=code, pseudonyms=seats) for code, seats in draw.seats.items()],
    )  # fmt: skip
    out.commit_time.CopyFrom(timestamp_from_ms(draw.commit_ms))
    if draw.nonce_deadline_ms is not None:
        out.nonce_deadline.CopyFrom(timestamp_from_ms(draw.nonce_deadline_ms))
    if draw.execute_ms is not None:
        out.execute_time.CopyFrom(timestamp_from_ms(draw.execute_ms))
    if draw.params:
        out.disciplines.extend(_quotas_of(draw))
    return out


def _quotas_of(draw: StoredDraw) -> list[pb.DisciplineQuota]:
    from expert_draw.core import eds1

    params = eds1.Params.decode(draw.params)
    edition = params.edition.decode()
    return [
        pb.DisciplineQuota(
            discipline=names.discipline_name(edition, d.code.decode()),
            seats=d.k,
            reserves=d.r,
            max_replacements=d.max_repl,
        )
        for d in params.disciplines
    ]


def member_to_pb(member: Member) -> pb.PanelMember:
    """A disclosed panel member."""
    return pb.PanelMember(
        pseudonym=member.pseudonym, code=member.code, expert=f"experts/{member.expert_uuid}",
        full_name=member.full_name, phone=member.phone,
    )  # fmt: skip


class DrawServicer(pb_grpc.DrawServiceServicer):
    """Serves draws."""

    def __init__(
        self,
        draws: Draws,
        who: Callable[[str, str], Who],
        edition: Callable[[], str],
        cipher: FieldCipher,
    ) -> None:
        """Serve ``draws``; ``who`` names a caller in the log (principal, role)."""
        self._draws = draws
        self._who = who
        # Serialized: a message kept about 2.6 KB of memory (its own arena), and parsing
        # bytes into a response costs about what copying a message did (measured).
        self._rendered: Rendered[StoredDraw, bytes] = Rendered(
            lambda draw: draw_to_pb(draw).SerializeToString()
        )
        self._edition = edition
        self._cipher = cipher

    def _caller(self) -> Who:
        identity = context.caller()
        return self._who(identity.principal, str(identity.role))

    def CreateDraw(
        self, request: pb.CreateDrawRequest, context: grpc.ServicerContext
    ) -> pb.CreateDrawResponse:
        """Filter, freeze and commit a draw."""
        del context
        parsed = request_from_pb(request, self._edition(), self._cipher,
                                 self._draws.avoid_digest)  # fmt: skip
        created = self._draws.create(self._caller(), parsed, request.request_id)
        return pb.CreateDrawResponse(
            draw=draw_to_pb(created.draw), commit_entry=created.commit_entry,
            commit_receipt=created.commit_receipt,
        )  # fmt: skip

    def GetDraw(
        self, request: pb.GetDrawRequest, context: grpc.ServicerContext
    ) -> pb.GetDrawResponse:
        """Get a draw its caller may see."""
        del context
        principal, role = context_caller()
        rendered = self._draws.get_rendered(
            principal, role, parse_draw_name(request.name), self._rendered
        )
        return pb.GetDrawResponse(draw=pb.Draw.FromString(rendered))

    def ExecuteDraw(
        self, request: pb.ExecuteDrawRequest, context: grpc.ServicerContext
    ) -> pb.ExecuteDrawResponse:
        """Log the nonce and resolve the draw."""
        del context
        draw_id = parse_draw_name(request.name)
        problems = []
        if len(request.nonce) != 32:  # noqa: PLR2004 - the spec's nonce size
            problems.append(FieldViolation("nonce", "exactly 32 bytes"))
        try:
            check_request_id(request.request_id)
        except InvalidRequestError as exc:
            problems.extend(exc.violations)
        if problems:
            raise InvalidRequestError(problems)
        executed = self._draws.execute(self._caller(), draw_id, request.nonce, request.request_id)
        return pb.ExecuteDrawResponse(
            draw=draw_to_pb(executed.draw), panel=[member_to_pb(m) for m in executed.panel]
        )

    def ListDraws(
        self, request: pb.ListDrawsRequest, context: grpc.ServicerContext
    ) -> pb.ListDrawsResponse:
        """List draws its caller may see, newest first."""
        del context
        principal, role = context_caller()
        if request.state not in _STATE_NAMES and request.state != pb.Draw.STATE_UNSPECIFIED:
            raise InvalidRequestError.field("state", "a Draw.State value")
        state = "" if request.state == pb.Draw.STATE_UNSPECIFIED else _STATE_NAMES[request.state]
        project = request.project_code
        if project and role != "supervisor":
            raise InvalidRequestError.field(
                "project_code", "only supervisors may filter by project",
                reason="PROJECT_FILTER_DENIED",
            )  # fmt: skip
        if len(project) > MAX_ID_CHARS:
            raise InvalidRequestError.field("project_code", f"at most {MAX_ID_CHARS} characters")
        draws, token = self._draws.list_draws(
            principal, role, state, request.page_size, request.page_token,
            rendered=self._rendered, project_code=project,
        )  # fmt: skip
        response = pb.ListDrawsResponse(
            next_page_token=token,
            project_ref=self._draws.project_ref(project) if project else b"",
        )  # fmt: skip
        for draw in draws:
            response.draws.add().MergeFromString(draw)
        return response

    def SubmitBeacon(
        self, request: pb.SubmitBeaconRequest, context: grpc.ServicerContext
    ) -> pb.SubmitBeaconResponse:
        """Resolve a draw waiting for its drand round."""
        del context
        draw_id = parse_draw_name(request.name)
        problems = _request_id_problems(request.request_id)
        if len(request.signature) != 48:  # noqa: PLR2004 - a compressed G1 point
            problems.append(FieldViolation("signature", "the round's 48-byte BLS signature"))
        if not 1 <= request.round <= MAX_SAFE_SEQ:  # the round is logged: an aud1 integer
            problems.append(FieldViolation("round", "a drand round, 1 to 2^53 - 1"))
        _check(problems)
        _, role = context_caller()
        executed = self._draws.submit_beacon(
            self._caller(), role, draw_id, round_=request.round, signature=request.signature,
            request_id=request.request_id,
        )  # fmt: skip
        return pb.SubmitBeaconResponse(
            draw=draw_to_pb(executed.draw), panel=[member_to_pb(m) for m in executed.panel]
        )

    def GetProofBundle(
        self, request: pb.GetProofBundleRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.GetProofBundleResponse]:
        """Stream the proof bundle in chunks (its delivery is logged first)."""
        del context
        principal, role = context_caller()
        body = self._draws.bundle(self._caller(), role, parse_draw_name(request.name))
        del principal
        digest = hashlib.sha256(body).digest()
        for start in range(0, max(len(body), 1), BUNDLE_CHUNK):
            yield pb.GetProofBundleResponse(
                chunk=body[start : start + BUNDLE_CHUNK], total_size=len(body),
                bundle_sha256=digest,
            )  # fmt: skip

    def GetPanel(
        self, request: pb.GetPanelRequest, context: grpc.ServicerContext
    ) -> pb.GetPanelResponse:
        """The seated members' identities (logged)."""
        del context
        panel = self._draws.panel(self._caller(), parse_draw_name(request.name))
        return pb.GetPanelResponse(panel=[member_to_pb(m) for m in panel])

    def RequestAccess(
        self, request: pb.RequestAccessRequest, context: grpc.ServicerContext
    ) -> pb.RequestAccessResponse:
        """A supervisor's reasoned, logged grant to read identities before the close."""
        del context
        draw_id = parse_draw_name(request.name)
        problems = _request_id_problems(request.request_id)
        purpose = _text(request.purpose, "purpose", MAX_NAME_CHARS, problems)
        _check(problems)
        seq, receipt = self._draws.request_access(
            self._caller(), draw_id, purpose, request.request_id
        )
        return pb.RequestAccessResponse(grant_seq=seq, receipt=receipt)

    def _decline(self, name: str, pseud: bytes, reason: str, evidence: bytes,
                 request_id: str) -> tuple[pb.Draw, pb.PanelMember | None]:  # fmt: skip
        draw_id = parse_draw_name(name)
        _check(_member_problems(pseud, evidence, request_id))
        draw, seated = self._draws.decline(
            self._caller(), draw_id, pseud=pseud, reason=reason, evidence=evidence,
            request_id=request_id,
        )  # fmt: skip
        return draw_to_pb(draw), (member_to_pb(seated[0]) if seated else None)

    def RecordDecline(
        self, request: pb.RecordDeclineRequest, context: grpc.ServicerContext
    ) -> pb.RecordDeclineResponse:
        """Record a decline and seat the replacement."""
        del context
        if request.reason not in DECLINE_REASONS:
            raise InvalidRequestError.field(
                "reason", "one of " + ", ".join(sorted(DECLINE_REASONS))
            )
        draw, seated = self._decline(request.name, request.pseudonym, request.reason,
                                     request.evidence, request.request_id)  # fmt: skip
        return pb.RecordDeclineResponse(draw=draw, replacement=seated)

    def StrikeMember(
        self, request: pb.StrikeMemberRequest, context: grpc.ServicerContext
    ) -> pb.StrikeMemberResponse:
        """Strike a member under 第48条③ and seat the replacement."""
        del context
        draw, seated = self._decline(request.name, request.pseudonym, "STRUCK_48_3",
                                     request.evidence, request.request_id)  # fmt: skip
        return pb.StrikeMemberResponse(draw=draw, replacement=seated)

    def RecordNotification(
        self, request: pb.RecordNotificationRequest, context: grpc.ServicerContext
    ) -> pb.RecordNotificationResponse:
        """Record a contact attempt."""
        del context
        draw_id = parse_draw_name(request.name)
        problems = _member_problems(request.pseudonym, request.evidence, request.request_id)
        if request.channel not in CHANNELS:
            problems.append(FieldViolation("channel", "call, sms, app or email"))
        _check(problems)
        self._draws.lifecycle(
            self._caller(), draw_id, "notify", request_id=request.request_id,
            pseud=request.pseudonym, channel=request.channel, evidence=request.evidence,
        )  # fmt: skip
        return pb.RecordNotificationResponse(evidence_hash=evidence_hash(request.evidence))

    def RecordAcceptance(
        self, request: pb.RecordAcceptanceRequest, context: grpc.ServicerContext
    ) -> pb.RecordAcceptanceResponse:
        """Record a seated member's confirmation."""
        del context
        draw_id = parse_draw_name(request.name)
        _check(_member_problems(request.pseudonym, request.evidence, request.request_id))
        draw = self._draws.lifecycle(
            self._caller(), draw_id, "accept", request_id=request.request_id,
            pseud=request.pseudonym, evidence=request.evidence,
        )  # fmt: skip
        return pb.RecordAcceptanceResponse(draw=draw_to_pb(draw))

    def RecordOpening(
        self, request: pb.RecordOpeningRequest, context: grpc.ServicerContext
    ) -> pb.RecordOpeningResponse:
        """Record the bid opening."""
        del context
        draw_id = parse_draw_name(request.name)
        problems = _request_id_problems(request.request_id)
        opened_at = request_ms(request.open_time, "open_time", problems)
        if opened_at is not None and (not request.HasField("open_time") or opened_at <= 0):
            problems.append(FieldViolation("open_time", "required"))
        _check(problems)
        draw = self._draws.lifecycle(
            self._caller(), draw_id, "open", request_id=request.request_id,
            opened_at=opened_at or 0,
        )  # fmt: skip
        return pb.RecordOpeningResponse(draw=draw_to_pb(draw))

    def CloseCommittee(
        self, request: pb.CloseCommitteeRequest, context: grpc.ServicerContext
    ) -> pb.CloseCommitteeResponse:
        """Close the committee."""
        del context
        draw_id = parse_draw_name(request.name)
        _check(_request_id_problems(request.request_id))
        draw = self._draws.lifecycle(self._caller(), draw_id, "close",
                                     request_id=request.request_id)  # fmt: skip
        return pb.CloseCommitteeResponse(draw=draw_to_pb(draw))

    def RecordAward(
        self, request: pb.RecordAwardRequest, context: grpc.ServicerContext
    ) -> pb.RecordAwardResponse:
        """Record the award."""
        del context
        draw_id = parse_draw_name(request.name)
        problems = _request_id_problems(request.request_id)
        if not request.evidence:
            problems.append(FieldViolation("evidence", "the notice's bytes are required"))
        _check(problems)
        draw = self._draws.lifecycle(self._caller(), draw_id, "award",
                                     request_id=request.request_id,
                                     evidence=request.evidence)  # fmt: skip
        return pb.RecordAwardResponse(draw=draw_to_pb(draw))

    def CancelDraw(
        self, request: pb.CancelDrawRequest, context: grpc.ServicerContext
    ) -> pb.CancelDrawResponse:
        """Cancel a draw."""
        del context
        draw_id = parse_draw_name(request.name)
        problems = _request_id_problems(request.request_id)
        if CANCEL_REASON.fullmatch(request.reason) is None:
            problems.append(FieldViolation("reason", "1 to 32 of [A-Z0-9_], e.g. TENDER_CANCELLED"))
        _check(problems)
        draw = self._draws.lifecycle(self._caller(), draw_id, "cancel",
                                     request_id=request.request_id,
                                     reason=request.reason)  # fmt: skip
        return pb.CancelDrawResponse(draw=draw_to_pb(draw))

    def ApprovePoolOverride(
        self, request: pb.ApprovePoolOverrideRequest, context: grpc.ServicerContext
    ) -> pb.ApprovePoolOverrideResponse:
        """A supervisor's prior approval of a pool below the minimum."""
        del context
        problems = _request_id_problems(request.request_id)
        tender_id = _text(request.tender_id, "tender_id", MAX_ID_CHARS, problems)
        lot_id = _text(request.lot_id, "lot_id", MAX_ID_CHARS, problems)
        reason = _text(request.reason, "reason", MAX_NAME_CHARS, problems)
        if not request.codes:
            problems.append(FieldViolation("codes", "at least one discipline code"))
        problems += [FieldViolation(f"codes[{i}]", "a discipline code: 1-16 of [A-Z0-9]")
                     for i, c in enumerate(request.codes) if CODE.fullmatch(c) is None]  # fmt: skip
        _check(problems)
        seq, tender_ref, receipt = self._draws.approve_override(
            self._caller(), tender_id=tender_id, lot_id=lot_id, codes=list(request.codes),
            reason=reason, request_id=request.request_id,
        )  # fmt: skip
        return pb.ApprovePoolOverrideResponse(
            override_seq=seq, tender_ref=tender_ref, receipt=receipt
        )

    def GetExpertReceipt(
        self, request: pb.GetExpertReceiptRequest, context: grpc.ServicerContext
    ) -> pb.GetExpertReceiptResponse:
        """An expert's private receipt, delivered by an admin (logged)."""
        del context
        draw_id, expert_uuid, purpose = _receipt_request(request)
        body = self._draws.expert_receipt(self._caller(), draw_id, expert_uuid, purpose)
        return pb.GetExpertReceiptResponse(receipt=body)

    def ReportEscrowOpening(
        self, request: pb.ReportEscrowOpeningRequest, context: grpc.ServicerContext
    ) -> pb.ReportEscrowOpeningResponse:
        """Log a supervisor's offline escrow opening."""
        del context
        draw_id = parse_draw_name(request.name)
        problems = _request_id_problems(request.request_id)
        reason = _text(request.reason, "reason", MAX_NAME_CHARS, problems)
        if len(request.key_id) != 8:  # noqa: PLR2004 - the spec's key id size
            problems.append(FieldViolation("key_id", "exactly 8 bytes"))
        _check(problems)
        seq = self._draws.report_escrow_opening(
            self._caller(), draw_id, key_id=request.key_id, reason=reason,
            request_id=request.request_id,
        )  # fmt: skip
        return pb.ReportEscrowOpeningResponse(seq=seq)

    def RecordExport(
        self, request: pb.RecordExportRequest, context: grpc.ServicerContext
    ) -> pb.RecordExportResponse:
        """Log a supervisor's export (an ``export`` entry)."""
        del context
        problems = _request_id_problems(request.request_id)
        what = _text(request.what, "what", MAX_NAME_CHARS, problems)
        if len(request.data_sha256) != 32:  # noqa: PLR2004 - a SHA-256 digest
            problems.append(FieldViolation("data_sha256", "exactly 32 bytes"))
        _check(problems)
        name, seq = self._draws.record_export(
            self._caller(), what=what, data_sha256=request.data_sha256,
            request_id=request.request_id,
        )  # fmt: skip
        return pb.RecordExportResponse(name=name, seq=seq)


def _receipt_request(request: pb.GetExpertReceiptRequest) -> tuple[str, str, str]:
    problems: list[FieldViolation] = []
    purpose = _text(request.purpose, "purpose", MAX_NAME_CHARS, problems)
    try:
        expert_uuid = names.parse_expert_name(request.expert, "expert")
    except InvalidRequestError as exc:
        problems.extend(exc.violations)
        expert_uuid = ""
    _check(problems)
    return parse_draw_name(request.name), expert_uuid, purpose


def request_ms(stamp: Timestamp, field: str, problems: list[FieldViolation]) -> int | None:
    """A request time in UTC milliseconds; out of 1970..9999 (or bad nanos) is a violation.

    ``Timestamp.ToMilliseconds`` raises ValueError out of that range: an INTERNAL error.
    """
    ms = stamp.seconds * 1000 + stamp.nanos // 1_000_000
    if not 0 <= stamp.nanos <= MAX_NANOS or not 0 <= ms <= MAX_TIME_MS:
        problems.append(FieldViolation(field, "a time from 1970 to 9999, nanos 0 to 999999999"))
        return None
    return ms


def _request_id_problems(request_id: str) -> list[FieldViolation]:
    try:
        check_request_id(request_id)
    except InvalidRequestError as exc:
        return list(exc.violations)
    return []


def _member_problems(pseud: bytes, evidence: bytes, request_id: str) -> list[FieldViolation]:
    problems = _request_id_problems(request_id)
    if len(pseud) != 16:  # noqa: PLR2004 - the spec's pseudonym size
        problems.append(FieldViolation("pseudonym", "exactly 16 bytes"))
    if not evidence:
        problems.append(FieldViolation("evidence", "the evidence's bytes are required"))
    elif len(evidence) > MAX_EVIDENCE_BYTES:
        problems.append(FieldViolation("evidence", f"at most {MAX_EVIDENCE_BYTES} bytes"))
    return problems


def _check(problems: list[FieldViolation]) -> None:
    if problems:
        raise InvalidRequestError(problems)


def context_caller() -> tuple[str, str]:
    """The caller's principal and role."""
    identity = context.caller()
    return identity.principal, str(identity.role)
