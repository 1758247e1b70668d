"""Draws over gRPC on SQLite and PostgreSQL: commit, execute, replace, lifecycle, bundle.

One library of 24 experts serves the module: 12 in A010101 and 12 in A010102 (both
under A0101), all eligible unless a test names a conflict.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from audit_log import canonical, receipt
from audit_log.entry import Entry
from audit_log.note import Verifier
from expert_draw.api.v1 import audit_service_pb2 as audit_pb
from expert_draw.api.v1 import audit_service_pb2_grpc as audit_grpc
from expert_draw.api.v1 import draw_service_pb2 as pb
from expert_draw.api.v1 import draw_service_pb2_grpc as pb_grpc
from expert_draw.api.v1 import expert_service_pb2 as expert_pb
from expert_draw.api.v1 import expert_service_pb2_grpc as expert_grpc
from expert_draw.core import eds1, escrow
from expert_draw.core.verify_draw import Check, DrawTrust, DrawVerificationError, verify_bundle
from tests.integration.grpc.helpers import error_info, field_violations, twins
from tests.support import experts as sample
from tests.support.service import ORIGIN, SUPERVISOR_ESCROW_KEY

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from cli.server import RunningService

DAY_MS = 86_400_000
A0101 = "editions/2018/disciplines/A0101"
A010102 = "editions/2018/disciplines/A010102"
LIBRARY = 24
_counter = iter(range(10**6))


def unique(prefix: str) -> str:
    """A fresh id for this module's run."""
    return f"{prefix}-{next(_counter)}-{os.getpid()}"


@pytest.fixture(scope="module")
def library(service: RunningService, pki: Any) -> RunningService:
    """The module's experts, created once per database."""
    from tests.support.service import client_channel

    with client_channel(pki, service.port, "admin") as channel:
        admin = expert_grpc.ExpertServiceStub(channel)
        for n in range(100, 100 + LIBRARY):
            admin.CreateExpert(
                expert_pb.CreateExpertRequest(expert=sample.expert(n), request_id=f"lib-{n}"),
                timeout=10,
            )
    return service


@pytest.fixture
def requester(
    library: RunningService, connect: Callable[[int, str | None], grpc.Channel]
) -> pb_grpc.DrawServiceStub:
    return pb_grpc.DrawServiceStub(connect(library.port, "trading_system"))


@pytest.fixture
def other(
    library: RunningService, connect: Callable[[int, str | None], grpc.Channel]
) -> pb_grpc.DrawServiceStub:
    return pb_grpc.DrawServiceStub(connect(library.port, "trading_system_b"))


@pytest.fixture
def supervisor(
    library: RunningService, connect: Callable[[int, str | None], grpc.Channel]
) -> pb_grpc.DrawServiceStub:
    return pb_grpc.DrawServiceStub(connect(library.port, "supervisor"))


@pytest.fixture
def audit(
    library: RunningService, connect: Callable[[int, str | None], grpc.Channel]
) -> audit_grpc.AuditServiceStub:
    return audit_grpc.AuditServiceStub(connect(library.port, "supervisor"))


def stamp(ms: int) -> Timestamp:
    value = Timestamp()
    value.FromMilliseconds(ms)
    return value


def request(
    *,
    discipline: str = A0101,
    seats: int = 5,
    reserves: int = 2,
    tenderer: int = 9000,
    start_days: int | None = None,
    supersedes: str = "",
    override_seq: int = 0,
    representatives: int = 0,
    **changes: Any,
) -> pb.CreateDrawRequest:
    """A valid CreateDraw request for a fresh tender-lot."""
    # Each request gets its own day unless told: seats in overlapping windows exclude.
    days = 3 + next(_counter) if start_days is None else start_days
    start = int(time.time() * 1000) + days * DAY_MS
    message = pb.CreateDrawRequest(
        tender_id=unique("T"), lot_id="1", project_code=unique("P"), project_name="某道路工程",
        supersedes=supersedes,
        disciplines=[pb.DisciplineQuota(discipline=discipline, seats=seats, reserves=reserves)],
        tenderer_representatives=representatives,
        conflicts=pb.ConflictInputs(tenderer=sample.uscc(tenderer)),
        evaluation_start_time=stamp(start), evaluation_end_time=stamp(start + DAY_MS // 2),
        venue_region="120101", override_seq=override_seq, request_id=unique("create"),
    )  # fmt: skip
    return sample.with_changes(message, changes)


def entries_of(audit: audit_grpc.AuditServiceStub, subject: str) -> list[Entry]:
    found = audit.ListEntries(
        audit_pb.ListEntriesRequest(subject=subject, page_size=1000), timeout=10
    )
    return [Entry.decode(e.body) for e in found.entries]


def precondition(error: grpc.RpcError) -> list[error_details_pb2.PreconditionFailure.Violation]:
    status = rpc_status.from_call(error)
    assert status is not None
    for detail in status.details:
        failure = error_details_pb2.PreconditionFailure()
        if detail.Unpack(failure):
            return list(failure.violations)
    return []


def vkey(audit: audit_grpc.AuditServiceStub) -> Verifier:
    info = audit.GetServiceInfo(audit_pb.GetServiceInfoRequest(), timeout=5)
    return Verifier.parse(info.log_vkey)


def test_commit_receipt_lets_the_requester_check_everything(
    requester: pb_grpc.DrawServiceStub, audit: audit_grpc.AuditServiceStub
) -> None:
    """The requester's checks before its nonce: receipt, params_hash, commit_digest."""
    created = requester.CreateDraw(request(tenderer=100), timeout=30)
    draw = created.draw
    assert draw.state == pb.Draw.STATE_COMMITTED
    receipt.verify(created.commit_receipt, created.commit_entry, ORIGIN, [vkey(audit)])
    entry = Entry.decode(created.commit_entry)
    assert entry.kind == "draw.commit"
    assert entry.subj == draw.name
    data = entry.data
    params = eds1.Params.decode(bytes.fromhex(data["params"]))
    assert params.hash().hex() == data["params_hash"] == draw.params_hash.hex()
    assert params.draw_id.decode() == draw.name.removeprefix("draws/")
    envelopes = [bytes.fromhex(e) for e in data["envelopes"]]
    digest = eds1.sha256(eds1.commitment(
        params.draw_id, pool_root=bytes.fromhex(data["pool_root"]), n_elig=data["n_elig"],
        excluded_root=bytes.fromhex(data["excluded_root"]), n_excl=data["n_excl"],
        params_hash=params.hash(), c_s=bytes.fromhex(data["c_s"]), r=data["r"],
        escrow=eds1.escrow_digest(envelopes),
    ))  # fmt: skip
    assert digest.hex() == data["commit_digest"] == draw.commit_digest.hex()
    # Expert 100 works for the tenderer (uscc(100)): excluded as A7, counted, never drawn.
    assert [(c.code, c.count) for c in draw.counts] == [("A0101", LIBRARY - 1)]
    assert [(c.reason, c.count) for c in draw.excluded_counts] == [("A7", 1)]
    kinds = [e.kind for e in entries_of(audit, draw.name)]
    assert kinds == ["draw.request", "pool.freeze", "draw.commit"]
    # A supervisor can open the escrowed secret offline; it matches C_s.
    s = escrow.open_envelope(SUPERVISOR_ESCROW_KEY, envelopes[0], params.draw_id,
                             bytes.fromhex(data["c_s"]))  # fmt: skip
    assert eds1.secret_commitment(s).hex() == data["c_s"]


def test_execute_draws_discloses_and_logs(
    requester: pb_grpc.DrawServiceStub,
    other: pb_grpc.DrawServiceStub,
    audit: audit_grpc.AuditServiceStub,
) -> None:
    """The nonce resolves the draw at once; the panel comes back and its disclosure is
    logged; retries and second nonces behave; other trading systems see nothing."""
    draw = requester.CreateDraw(request(), timeout=30).draw
    nonce = os.urandom(32)
    execute = pb.ExecuteDrawRequest(name=draw.name, nonce=nonce, request_id=unique("ex"))
    done = requester.ExecuteDraw(execute, timeout=30)
    assert done.draw.state == pb.Draw.STATE_EXECUTED
    assert len(done.panel) == 5
    assert len({m.expert for m in done.panel}) == 5
    assert all(m.full_name and m.phone.startswith("139") for m in done.panel)
    # Each member's name and phone are its own record's (expert n has phone 139<n>).
    assert all(m.full_name == sample.expert(int(m.phone[3:])).full_name for m in done.panel)
    seated = [p for seats in done.draw.seats for p in seats.pseudonyms]
    assert sorted(seated) == sorted(m.pseudonym for m in done.panel)
    log = entries_of(audit, draw.name)
    kinds = [e.kind for e in log]
    assert kinds[3:] == ["draw.nonce", "draw.execute", "confidential.grant",
                         "confidential.access"]  # fmt: skip
    assert log[3].data["nonce"] == nonce.hex()
    assert sorted(log[-1].data["pseuds"]) == sorted(p.hex() for p in seated)
    assert all(e.who.role == "requester" for e in log)
    # A retry returns the draw without disclosing again; the same id with another
    # nonce is refused; a second nonce is refused and logged.
    again = requester.ExecuteDraw(execute, timeout=30)
    assert again.draw.state == pb.Draw.STATE_EXECUTED
    assert list(again.panel) == []
    with pytest.raises(grpc.RpcError) as caught:
        requester.ExecuteDraw(
            pb.ExecuteDrawRequest(
                name=draw.name, nonce=os.urandom(32), request_id=execute.request_id
            ),
            timeout=30,
        )
    assert error_info(caught.value).reason == "REQUEST_ID_REUSED"
    with pytest.raises(grpc.RpcError) as caught:
        requester.ExecuteDraw(
            pb.ExecuteDrawRequest(name=draw.name, nonce=os.urandom(32), request_id=unique("ex")),
            timeout=30,
        )
    assert caught.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert error_info(caught.value).reason == "NONCE_ALREADY_GIVEN"
    rejected = entries_of(audit, draw.name)[-1]
    assert (rejected.kind, rejected.data["reason"]) == ("draw.nonce_reject", "SECOND")
    # A retry of the rejected call gets the same answer, and appends nothing.
    count = len(entries_of(audit, draw.name))
    second = pb.ExecuteDrawRequest(name=draw.name, nonce=os.urandom(32), request_id=unique("ex"))
    for _ in range(2):
        with pytest.raises(grpc.RpcError) as caught:
            requester.ExecuteDraw(second, timeout=30)
        assert error_info(caught.value).reason == "NONCE_ALREADY_GIVEN"
    assert len(entries_of(audit, draw.name)) == count + 1
    for call in (
        lambda: other.GetDraw(pb.GetDrawRequest(name=draw.name), timeout=10),
        lambda: other.GetPanel(pb.GetPanelRequest(name=draw.name), timeout=10),
        lambda: other.ExecuteDraw(
            pb.ExecuteDrawRequest(name=draw.name, nonce=bytes(32), request_id=unique("x")),
            timeout=10,
        ),
    ):
        with pytest.raises(grpc.RpcError) as caught:
            call()
        assert caught.value.code() is grpc.StatusCode.NOT_FOUND
    panel = requester.GetPanel(pb.GetPanelRequest(name=draw.name), timeout=10).panel
    assert sorted(m.expert for m in panel) == sorted(m.expert for m in done.panel)
    assert entries_of(audit, draw.name)[-1].kind == "confidential.access"


def test_a_draws_pool_kept_at_its_commit_is_what_its_rows_read(
    library: RunningService, requester: pb_grpc.DrawServiceStub
) -> None:
    """ExecuteDraw and declines take the params and members CreateDraw kept (draws._Pools);
    they equal a read of the committed rows, and a rolled-back commit's key is never met."""
    from expert_draw.adapters import draws as draws_module  # the memo under test
    from expert_draw.adapters.db.engine import read_snapshot

    service = library.draws
    assert service is not None
    created = requester.CreateDraw(request(), timeout=30).draw
    draw_id = created.name.removeprefix("draws/")
    with read_snapshot(library.engine) as conn:
        row = service._row(conn, draw_id)
        kept = service._pools.get((draw_id, bytes(row.commit_digest)))
        fresh = draws_module._Executing(conn, row, draws_module._Pools())
    assert kept is not None
    assert kept == (fresh.params, tuple(fresh.members), fresh.expert_of)
    assert len(fresh.members) == int(row.n_elig) + int(row.n_excl) > 0


def test_member_rows_hold_each_seat_and_leave_as_written(
    library: RunningService, requester: pb_grpc.DrawServiceStub
) -> None:
    """A commit writes every member unseated; the execution seats the panel; a decline
    unseats the decliner (left) and seats the replacement. On PostgreSQL each of these
    writes is one statement of arrays (draws._insert_draw, draws._update_draw)."""
    from sqlalchemy import select

    from expert_draw.adapters.db.engine import read_snapshot
    from expert_draw.adapters.db.models import draw_member_table as m
    from expert_draw.adapters.db.models import draw_table as t

    def rows(name: str) -> dict[bytes, tuple[str | None, bool]]:
        with read_snapshot(library.engine) as conn:
            pool = conn.execute(
                select(t.c.n_elig + t.c.n_excl).where(t.c.draw_id == name.removeprefix("draws/"))
            ).scalar_one()
            found = conn.execute(
                select(m.c.pseud, m.c.seat, m.c.left, m.c.salt_enc)
                .join(t, t.c.id == m.c.draw_id)
                .where(t.c.draw_id == name.removeprefix("draws/"))
            ).all()
        assert len(found) == pool > 0
        assert all(r.salt_enc is None for r in found)
        return {bytes(r.pseud): (r.seat, bool(r.left)) for r in found}

    code = A0101.rsplit("/", 1)[1]
    draw = requester.CreateDraw(request(tenderer=9002), timeout=30).draw
    committed = rows(draw.name)
    assert set(committed.values()) == {(None, False)}
    done = requester.ExecuteDraw(pb.ExecuteDrawRequest(
        name=draw.name, nonce=os.urandom(32), request_id=unique("ex")), timeout=30)  # fmt: skip
    panel = {member.pseudonym for member in done.panel}
    assert len(panel) == 5
    expected = {p: ((code, False) if p in panel else (None, False)) for p in committed}
    assert rows(draw.name) == expected
    out = done.panel[0].pseudonym
    declined = requester.RecordDecline(pb.RecordDeclineRequest(
        name=draw.name, pseudonym=out, reason="HEALTH", evidence=b"call record",
        request_id=unique("dec")), timeout=30)  # fmt: skip
    expected |= {out: (None, True), declined.replacement.pseudonym: (code, False)}
    assert rows(draw.name) == expected


def test_identities_that_cannot_be_read_after_the_commit_are_read_with_getpanel(
    library: RunningService, requester: pb_grpc.DrawServiceStub, audit: audit_grpc.AuditServiceStub
) -> None:
    """ExecuteDraw reads the panel's names once its access entry has committed. If that
    read fails, the answer is UNAVAILABLE saying the draw was executed (never "nothing
    was written"); the retry returns it without identities, and GetPanel reads them."""
    import sqlite3

    import psycopg
    from sqlalchemy import event

    draw = requester.CreateDraw(request(tenderer=9003), timeout=30).draw
    failing = [True]

    def fail(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if failing[0] and "expert.full_name_enc" in statement and "audit_head" not in statement:
            failing[0] = False
            # A refusal, which elsewhere means "nothing was written".
            if library.engine.dialect.name == "sqlite":
                raise sqlite3.OperationalError("database is locked")
            raise psycopg.errors.lookup("53300")("sorry, too many clients already")

    event.listen(library.engine, "before_cursor_execute", fail)
    execute = pb.ExecuteDrawRequest(
        name=draw.name, nonce=os.urandom(32), request_id=unique("ex-unread")
    )
    try:
        with pytest.raises(grpc.RpcError) as caught:
            requester.ExecuteDraw(execute, timeout=30)
    finally:
        event.remove(library.engine, "before_cursor_execute", fail)
    assert caught.value.code() is grpc.StatusCode.UNAVAILABLE
    assert error_info(caught.value).reason == "IDENTITIES_NOT_READ"
    assert "applied" in str(caught.value.details())
    assert "nothing was written" not in str(caught.value.details())
    assert [e.kind for e in entries_of(audit, draw.name)][-1] == "confidential.access"
    retried = requester.ExecuteDraw(execute, timeout=30)
    assert retried.draw.state == pb.Draw.STATE_EXECUTED
    assert list(retried.panel) == []
    panel = requester.GetPanel(pb.GetPanelRequest(name=draw.name), timeout=10).panel
    assert len(panel) == 5
    assert all(m.full_name for m in panel)


def test_insufficient_pool_is_refused_logged_and_superseded(
    requester: pb_grpc.DrawServiceStub,
    supervisor: pb_grpc.DrawServiceStub,
    audit: audit_grpc.AuditServiceStub,
) -> None:
    """12 experts < 3 x 5 seats: refused and logged; a supervisor's prior override
    lets a superseding attempt through."""
    first = request(discipline=A010102)
    with pytest.raises(grpc.RpcError) as caught:
        requester.CreateDraw(first, timeout=30)
    assert caught.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert error_info(caught.value).reason == "INSUFFICIENT_POOL"
    [violation] = precondition(caught.value)
    assert (violation.type, violation.subject) == ("INSUFFICIENT_POOL", "A010102")
    assert "eligible experts 12" in violation.description
    with pytest.raises(grpc.RpcError) as again:
        requester.CreateDraw(first, timeout=30)
    assert error_info(again.value).reason == "INSUFFICIENT_POOL"
    listed = requester.ListDraws(pb.ListDrawsRequest(state=pb.Draw.STATE_CANCELLED), timeout=10)
    refused = next(d for d in listed.draws if d.end_reason == "INSUFFICIENT_POOL")
    kinds = [e.kind for e in entries_of(audit, refused.name)]
    assert kinds == ["draw.request", "draw.cancel"]
    cancel = entries_of(audit, refused.name)[1].data
    assert cancel == {"reason": "INSUFFICIENT_POOL",
                      "counts": [{"d": "A010102", "n": 12, "short": True}]}  # fmt: skip
    # A new attempt must name the refused one.
    second = request(discipline=A010102, tender_id=first.tender_id)
    with pytest.raises(grpc.RpcError) as caught:
        requester.CreateDraw(second, timeout=30)
    assert error_info(caught.value).reason == "SUPERSEDES_MISMATCH"
    approval = supervisor.ApprovePoolOverride(pb.ApprovePoolOverrideRequest(
        tender_id=first.tender_id, lot_id=first.lot_id, codes=["A010102"],
        reason="本地专家不足, 经监督部门批准", request_id=unique("ov"),
    ), timeout=10)  # fmt: skip
    assert approval.tender_ref == refused.tender_ref
    with pytest.raises(grpc.RpcError) as caught:
        requester.CreateDraw(request(discipline=A010102, tender_id=first.tender_id,
                                     supersedes=refused.name, override_seq=approval.override_seq + 1),
                             timeout=30)  # fmt: skip
    assert error_info(caught.value).reason == "BAD_OVERRIDE"
    third = request(discipline=A010102, tender_id=first.tender_id, supersedes=refused.name,
                    override_seq=approval.override_seq)  # fmt: skip
    created = requester.CreateDraw(third, timeout=30).draw
    assert created.state == pb.Draw.STATE_COMMITTED
    assert created.supersedes == refused.name
    # One live draw per tender-lot.
    with pytest.raises(grpc.RpcError) as caught:
        requester.CreateDraw(request(discipline=A010102, tender_id=first.tender_id,
                                     supersedes=created.name), timeout=30)  # fmt: skip
    assert error_info(caught.value).reason == "LIVE_DRAW_EXISTS"


def test_invalid_requests_name_every_field(requester: pb_grpc.DrawServiceStub) -> None:
    """Bad credit codes, codes under one another, a reversed window: one response."""
    bad = request(
        disciplines=[pb.DisciplineQuota(discipline=A0101, seats=5),
                     pb.DisciplineQuota(discipline=A010102, seats=0)],
        conflicts=pb.ConflictInputs(tenderer="not-a-code", bidders=["91110000000000000X"]),
        evaluation_end_time=stamp(1_000), venue_region="12",
    )  # fmt: skip
    with pytest.raises(grpc.RpcError) as caught:
        requester.CreateDraw(bad, timeout=10)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    fields = set(field_violations(caught.value))
    assert {"conflicts.tenderer", "conflicts.bidders[0]", "disciplines[1].seats", "disciplines",
            "evaluation_end_time", "venue_region"} <= fields  # fmt: skip
    with pytest.raises(grpc.RpcError) as caught:
        requester.CreateDraw(request(seats=4), timeout=10)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "committee" in (caught.value.details() or "")


def test_decline_strike_lifecycle_and_bundle(  # noqa: PLR0915 - one draw, start to end
    requester: pb_grpc.DrawServiceStub,
    supervisor: pb_grpc.DrawServiceStub,
    audit: audit_grpc.AuditServiceStub,
) -> None:
    """Mode-A replacements, the lifecycle in order, and the public bundle after award."""
    draw = requester.CreateDraw(request(tenderer=9001), timeout=30).draw
    done = requester.ExecuteDraw(pb.ExecuteDrawRequest(
        name=draw.name, nonce=os.urandom(32), request_id=unique("ex")), timeout=30)  # fmt: skip
    execute = next(e for e in entries_of(audit, draw.name) if e.kind == "draw.execute")
    [row] = execute.data["panels"]
    reserve = [bytes.fromhex(p) for p in row["reserve"]]
    out = done.panel[0].pseudonym
    declined = requester.RecordDecline(pb.RecordDeclineRequest(
        name=draw.name, pseudonym=out, reason="HEALTH", evidence=b"call record 1",
        request_id=unique("dec")), timeout=30)  # fmt: skip
    assert declined.replacement.pseudonym == reserve[0]
    assert declined.replacement.full_name
    with pytest.raises(grpc.RpcError) as caught:
        requester.RecordDecline(pb.RecordDeclineRequest(
            name=draw.name, pseudonym=out, reason="HEALTH", evidence=b"again",
            request_id=unique("dec")), timeout=30)  # fmt: skip
    assert error_info(caught.value).reason == "ALREADY_LEFT"
    with pytest.raises(grpc.RpcError) as caught:
        requester.StrikeMember(pb.StrikeMemberRequest(
            name=draw.name, pseudonym=reserve[0], evidence=b"x", request_id=unique("st")),
            timeout=30)  # fmt: skip
    assert error_info(caught.value).reason == "NOT_OPENED"
    with pytest.raises(grpc.RpcError) as caught:
        requester.CloseCommittee(pb.CloseCommitteeRequest(
            name=draw.name, request_id=unique("cl")), timeout=30)  # fmt: skip
    assert error_info(caught.value).reason == "NOT_OPENED"
    requester.RecordOpening(pb.RecordOpeningRequest(
        name=draw.name, open_time=stamp(int(time.time() * 1000)), request_id=unique("op")),
        timeout=30)  # fmt: skip
    struck = requester.StrikeMember(pb.StrikeMemberRequest(
        name=draw.name, pseudonym=reserve[0], evidence=b"48-3 finding",
        request_id=unique("st")), timeout=30)  # fmt: skip
    assert struck.replacement.pseudonym == reserve[1]
    accepted = requester.RecordAcceptance(pb.RecordAcceptanceRequest(
        name=draw.name, pseudonym=reserve[1], evidence=b"signed", request_id=unique("ac")),
        timeout=30)  # fmt: skip
    assert accepted.draw.state == pb.Draw.STATE_OPENED
    closed = requester.CloseCommittee(pb.CloseCommitteeRequest(
        name=draw.name, request_id=unique("cl")), timeout=30).draw  # fmt: skip
    assert closed.state == pb.Draw.STATE_CLOSED
    with pytest.raises(grpc.RpcError) as caught:
        requester.RecordDecline(pb.RecordDeclineRequest(
            name=draw.name, pseudonym=reserve[1], reason="HEALTH", evidence=b"late",
            request_id=unique("dec")), timeout=30)  # fmt: skip
    assert error_info(caught.value).reason == "COMMITTEE_CLOSED"
    with pytest.raises(grpc.RpcError) as caught:
        b"".join(c.chunk for c in requester.GetProofBundle(
            pb.GetProofBundleRequest(name=draw.name), timeout=30))  # fmt: skip
    assert error_info(caught.value).reason == "NOT_AWARDED"
    supervised = b"".join(c.chunk for c in supervisor.GetProofBundle(
        pb.GetProofBundleRequest(name=draw.name), timeout=30))  # fmt: skip
    requester.RecordAward(pb.RecordAwardRequest(
        name=draw.name, evidence=b"notice", request_id=unique("aw")), timeout=30)  # fmt: skip
    chunks = list(requester.GetProofBundle(pb.GetProofBundleRequest(name=draw.name), timeout=30))
    body = b"".join(c.chunk for c in chunks)
    assert chunks[0].bundle_sha256 == hashlib.sha256(body).digest()
    log = entries_of(audit, draw.name)
    publishes = [e.data for e in log if e.kind == "draw.publish"]
    assert publishes == [
        {"audience": "supervisors", "bundle_sha256": hashlib.sha256(supervised).hexdigest()},
        {"audience": "public", "bundle_sha256": hashlib.sha256(body).hexdigest()},
    ]
    bundle = json.loads(body)
    assert [r["reason"] for r in bundle["replacements"]] == ["HEALTH", "STRUCK_48_3"]
    assert [r["void"] for r in bundle["replacements"]] == [False, True]
    close = next(e for e in log if e.kind == "draw.close").data["panels"][0]["panel"]
    assert reserve[1].hex() in close
    assert out.hex() not in close
    assert reserve[0].hex() not in close
    kinds = [e.kind for e in log if e.kind.startswith("draw.")]
    assert kinds.index("draw.open") < kinds.index("draw.close") < kinds.index("draw.award")
    assert {"draw.request", "pool.freeze", "draw.commit", "draw.nonce", "draw.execute",
            "draw.decline", "draw.replace", "draw.open", "draw.accept", "draw.close",
            "draw.award"} <= {e["body"] and Entry.decode(e["body"].encode()).kind
                              for e in bundle["entries"]}  # fmt: skip
    assert not any("full_name" in e["body"] for e in bundle["entries"])
    trust = DrawTrust(ORIGIN, (vkey(audit),))
    report = verify_bundle(body, trust, escrow_private=SUPERVISOR_ESCROW_KEY)
    assert report.state == "AWARDED"
    assert report.seats == {"A0101": close}
    assert any("pool change" in f for f in report.findings)  # the library is minutes old
    assert verify_bundle(supervised, trust).state == "CLOSED"
    # The secret changed in the bundle only, or in the logged entry as well.
    with pytest.raises(DrawVerificationError) as failed:
        verify_bundle(canonical.dumps({**bundle, "s": bundle["s"][::-1]}), trust)
    assert failed.value.check is Check.BINDING
    with pytest.raises(DrawVerificationError) as failed:
        verify_bundle(body.replace(bundle["s"].encode(), bundle["s"][::-1].encode()), trust)
    assert failed.value.check is Check.LOG


def test_cancel_and_expiry(
    library: RunningService,
    requester: pb_grpc.DrawServiceStub,
    audit: audit_grpc.AuditServiceStub,
) -> None:
    """A cancelled draw ends; an unexecuted draw past its deadline expires (sweeper)."""
    draw = requester.CreateDraw(request(), timeout=30).draw
    cancelled = requester.CancelDraw(
        pb.CancelDrawRequest(name=draw.name, reason="TENDER_CANCELLED", request_id=unique("cx")),
        timeout=30,
    ).draw
    assert (cancelled.state, cancelled.end_reason) == (pb.Draw.STATE_CANCELLED,
                                                        "TENDER_CANCELLED")  # fmt: skip
    with pytest.raises(grpc.RpcError) as caught:
        requester.ExecuteDraw(pb.ExecuteDrawRequest(
            name=draw.name, nonce=bytes(32), request_id=unique("ex")), timeout=30)  # fmt: skip
    assert error_info(caught.value).reason == "DRAW_NOT_COMMITTED"
    stale = requester.CreateDraw(request(), timeout=30).draw
    draws = library.draws
    assert draws is not None
    later = int(time.time() * 1000) + 3_600_000
    assert stale.name.removeprefix("draws/") in draws.sweep(later)
    assert draws.sweep(later) == []  # idempotent
    with pytest.raises(grpc.RpcError) as caught:
        requester.ExecuteDraw(
            pb.ExecuteDrawRequest(name=stale.name, nonce=bytes(32), request_id=unique("ex")),
            timeout=30,
        )
    assert error_info(caught.value).reason == "LATE_NONCE"  # and logged as rejected
    expired, rejected = entries_of(audit, stale.name)[-2:]
    assert (expired.kind, expired.data, expired.who.role) == (
        "draw.expire",
        {"reason": "NO_NONCE"},
        "service",
    )
    assert (rejected.kind, rejected.data["reason"]) == ("draw.nonce_reject", "LATE")


def test_the_whole_log_passes_the_domain_rules(
    library: RunningService,
    requester: pb_grpc.DrawServiceStub,
    supervisor: pb_grpc.DrawServiceStub,
    audit: audit_grpc.AuditServiceStub,
    tmp_path: Path,
) -> None:
    """After a whole draw story (and whatever ran before in this module), `verify log`
    finds no DOMAIN VIOLATION in the service's own log (T-25 false positives)."""
    test_decline_strike_lifecycle_and_bundle(requester, supervisor, audit)
    from audit_log import trust as trust_module
    from audit_log.verify import Options, verify_log
    from tests.support.tamper import export

    folder = export(library.engine, tmp_path / "export")
    pinned = trust_module.parse(f'version = 1\nlog_vkey = "{vkey(audit)}"\n')
    report = verify_log(folder, pinned, Options(workers=1))
    assert report.exit_code in {0, 3}, report.findings


def test_expert_receipts(
    library: RunningService,
    requester: pb_grpc.DrawServiceStub,
    supervisor: pb_grpc.DrawServiceStub,
    audit: audit_grpc.AuditServiceStub,
    connect: Callable[[int, str | None], grpc.Channel],
) -> None:
    """An admin delivers an expert's receipt (logged); it verifies offline, and after the
    award its positions match the public bundle; an excluded expert's shows the reason."""
    from expert_draw.core.receipts import ReceiptError, verify_receipt

    draw = requester.CreateDraw(request(tenderer=100), timeout=30).draw  # expert 100: A7
    done = requester.ExecuteDraw(pb.ExecuteDrawRequest(
        name=draw.name, nonce=os.urandom(32), request_id=unique("ex")), timeout=30)  # fmt: skip
    admin = pb_grpc.DrawServiceStub(connect(library.port, "admin"))
    seated = done.panel[0].expert
    got = admin.GetExpertReceipt(
        pb.GetExpertReceiptRequest(name=draw.name, expert=seated, purpose="专家本人书面申请"),
        timeout=30,
    ).receipt
    key = vkey(audit)
    result = verify_receipt(got, ORIGIN, [key])
    assert (result["kind"], result["positions"]) == ("leaf", [])  # no positions before award
    log = entries_of(audit, draw.name)
    assert [e.kind for e in log[-2:]] == ["confidential.grant", "confidential.access"]
    assert log[-1].data == {"purpose": "receipt", "pseuds": [json.loads(got)["pseud"]]}
    assert seated.removeprefix("experts/") not in json.dumps(log[-1].to_json())
    # The excluded expert (employed by the tenderer) gets a receipt with the reason.
    experts_stub = expert_grpc.ExpertServiceStub(connect(library.port, "admin"))
    listed = experts_stub.ListExperts(expert_pb.ListExpertsRequest(page_size=100), timeout=10)
    employee = next(e.name for e in listed.experts if any(
        a.organization_code == sample.uscc(100) and a.kind == expert_pb.Affiliation.KIND_EMPLOYER
        for a in e.affiliations))  # fmt: skip
    excluded = admin.GetExpertReceipt(pb.GetExpertReceiptRequest(
        name=draw.name, expert=employee, purpose="申诉"), timeout=30).receipt  # fmt: skip
    result = verify_receipt(excluded, ORIGIN, [key])
    assert (result["kind"], result["reasons"]) == ("xleaf", ["A7"])
    tampered = json.loads(excluded)
    tampered["leaf"]["reasons"] = []
    tampered["leaf"]["kind"] = "leaf"
    with pytest.raises(ReceiptError):
        verify_receipt(canonical.dumps(tampered), ORIGIN, [key])
    # After the award: positions, checked against the public bundle.
    requester.RecordOpening(pb.RecordOpeningRequest(
        name=draw.name, open_time=stamp(int(time.time() * 1000)), request_id=unique("o")),
        timeout=30)  # fmt: skip
    requester.CloseCommittee(pb.CloseCommitteeRequest(name=draw.name, request_id=unique("c")),
                             timeout=30)  # fmt: skip
    requester.RecordAward(pb.RecordAwardRequest(name=draw.name, evidence=b"n",
                                                request_id=unique("a")), timeout=30)  # fmt: skip
    after = admin.GetExpertReceipt(pb.GetExpertReceiptRequest(
        name=draw.name, expert=seated, purpose="复核"), timeout=30).receipt  # fmt: skip
    body = b"".join(c.chunk for c in requester.GetProofBundle(
        pb.GetProofBundleRequest(name=draw.name), timeout=30))  # fmt: skip
    order = {row["d"]: row["order"] for row in json.loads(body)["draw"]}
    result = verify_receipt(after, ORIGIN, [key], bundle_order=order)
    assert result["positions_checked"]
    assert result["positions"][0]["position"] < 5  # a seated member is among the first
    for bad in ({"name": draw.name, "expert": "experts/00000000-0000-4000-8000-000000000000"},):
        with pytest.raises(grpc.RpcError) as caught:
            admin.GetExpertReceipt(pb.GetExpertReceiptRequest(**bad, purpose="x"), timeout=10)
        assert error_info(caught.value).reason == "NOT_IN_DRAW"
    with pytest.raises(grpc.RpcError) as caught:
        requester.GetExpertReceipt(pb.GetExpertReceiptRequest(
            name=draw.name, expert=seated, purpose="x"), timeout=10)  # fmt: skip
    assert caught.value.code() is grpc.StatusCode.PERMISSION_DENIED


def test_receipts_of_draws_whose_salts_are_sealed_one_by_one(
    library: RunningService,
    requester: pb_grpc.DrawServiceStub,
    audit: audit_grpc.AuditServiceStub,
    connect: Callable[[int, str | None], grpc.Channel],
) -> None:
    """Draws committed before migration 0007 sealed each member's salt in its own row:
    their receipts still open the right salt (and one from the blob would differ)."""
    from sqlalchemy import select, update

    from expert_draw.adapters.db.models import draw_member_table, draw_table
    from expert_draw.core.receipts import verify_receipt

    draw = requester.CreateDraw(request(tenderer=8800), timeout=30).draw
    done = requester.ExecuteDraw(pb.ExecuteDrawRequest(
        name=draw.name, nonce=os.urandom(32), request_id=unique("ex")), timeout=30)  # fmt: skip
    draw_id = draw.name.removeprefix("draws/")
    draws = library.draws
    assert draws is not None
    with library.engine.begin() as conn:
        row = conn.execute(select(draw_table).where(draw_table.c.draw_id == draw_id)).one()
        salts = json.loads(draws.open_secret(bytes(row.salts_enc), draw_id, "salts_enc"))
        for pseud, salt in salts.items():
            sealed = draws._seal(salt, draw_id, "salt:" + pseud)  # as before 0007
            conn.execute(update(draw_member_table).where(
                draw_member_table.c.draw_id == row.id,
                draw_member_table.c.pseud == bytes.fromhex(pseud),
            ).values(salt_enc=sealed))  # fmt: skip
        conn.execute(update(draw_table).where(draw_table.c.id == row.id).values(salts_enc=None))
    admin = pb_grpc.DrawServiceStub(connect(library.port, "admin"))
    got = admin.GetExpertReceipt(pb.GetExpertReceiptRequest(
        name=draw.name, expert=done.panel[0].expert, purpose="复核"), timeout=30).receipt  # fmt: skip
    assert verify_receipt(got, ORIGIN, [vkey(audit)])["kind"] == "leaf"
    assert json.loads(got)["salt"] == salts[json.loads(got)["pseud"]]


def test_rekey_moves_every_draw_secret_to_the_new_data_key(
    library: RunningService,
    requester: pb_grpc.DrawServiceStub,
    pki: Any,
) -> None:
    """`db rekey` re-encrypts the draws' sealed cells (a member's own salt cell too), so the
    old data key can be retired; a second pass changes nothing. (The module's draws are
    then moved back under the service's key.)"""
    from sqlalchemy import select, update

    from expert_draw.adapters.db.models import draw_member_table, draw_table
    from expert_draw.adapters.draws import SEALED_COLUMNS, TABLE, rekey_draws
    from expert_draw.adapters.protection import DataKeys, FieldCipher, KeySet, load_data_keys
    from tests.support.service import data_keys_file

    draw = requester.CreateDraw(request(tenderer=8900), timeout=30).draw
    draw_id = draw.name.removeprefix("draws/")
    old = load_data_keys(data_keys_file(pki))
    before = FieldCipher(old)
    with library.engine.begin() as conn:  # one member's salt as draws before 0007 kept it
        member = conn.execute(select(draw_member_table.c.pseud).join(
            draw_table, draw_table.c.id == draw_member_table.c.draw_id,
        ).where(draw_table.c.draw_id == draw_id)).first()  # fmt: skip
        assert member is not None
        legacy = "salt:" + bytes(member.pseud).hex()
        conn.execute(update(draw_member_table).where(
            draw_member_table.c.pseud == member.pseud,
        ).values(salt_enc=before.encrypt("00" * 32, table=TABLE, column=legacy,
                                         record_id=draw_id)))  # fmt: skip
    new_key = os.urandom(32)
    rotated = DataKeys(KeySet("k-new", {**old.encryption.keys, "k-new": new_key}),
                       old.identity_hash)  # fmt: skip
    changed = rekey_draws(library.engine, FieldCipher(rotated), batch=2)
    with library.engine.connect() as conn:
        rows = conn.execute(select(draw_table)).all()
        cells = [(str(r.draw_id), c, bytes(getattr(r, c))) for r in rows for c in SEALED_COLUMNS
                 if getattr(r, c) is not None]  # fmt: skip
        member_cell = conn.execute(select(draw_member_table.c.salt_enc).where(
            draw_member_table.c.pseud == member.pseud)).scalar_one()  # fmt: skip
        member_cells = conn.execute(select(draw_member_table.c.pseud).where(
            draw_member_table.c.salt_enc.is_not(None))).all()  # fmt: skip
    assert changed == len(cells) + len(member_cells) > len(cells)
    only_new = FieldCipher(DataKeys(KeySet("k-new", {"k-new": new_key}), old.identity_hash))
    for owner, column, blob in cells:
        only_new.decrypt(blob, table=TABLE, column=column, record_id=owner)
    assert only_new.decrypt(bytes(member_cell), table=TABLE, column=legacy,
                            record_id=draw_id) == "00" * 32  # fmt: skip
    assert rekey_draws(library.engine, FieldCipher(rotated)) == 0  # idempotent
    back = DataKeys(KeySet(old.encryption.current, rotated.encryption.keys), old.identity_hash)
    assert rekey_draws(library.engine, FieldCipher(back)) == changed
    with library.engine.begin() as conn:
        conn.execute(update(draw_member_table).where(
            draw_member_table.c.pseud == member.pseud).values(salt_enc=None))  # fmt: skip


def test_supervisors_read_identities_under_a_grant_and_after_the_close(
    requester: pb_grpc.DrawServiceStub,
    supervisor: pb_grpc.DrawServiceStub,
    audit: audit_grpc.AuditServiceStub,
    connect: Callable[[int, str | None], grpc.Channel],
    library: RunningService,
) -> None:
    """Before draw.close a supervisor reads the panel only after RequestAccess (a logged,
    reasoned grant); from the close on without one; every read is logged by pseudonym;
    admins never read it; the log's domain rules accept every disclosure."""
    draw = requester.CreateDraw(request(tenderer=9300), timeout=30).draw
    done = requester.ExecuteDraw(pb.ExecuteDrawRequest(
        name=draw.name, nonce=os.urandom(32), request_id=unique("ex")), timeout=30)  # fmt: skip
    with pytest.raises(grpc.RpcError) as caught:
        supervisor.GetPanel(pb.GetPanelRequest(name=draw.name), timeout=10)
    assert caught.value.code() is grpc.StatusCode.PERMISSION_DENIED
    assert error_info(caught.value).reason == "GRANT_REQUIRED"
    with pytest.raises(grpc.RpcError) as caught:
        supervisor.RequestAccess(pb.RequestAccessRequest(
            name=draw.name, purpose=" ", request_id=unique("ra")), timeout=10)  # fmt: skip
    assert field_violations(caught.value) == ["purpose"]
    ask = pb.RequestAccessRequest(name=draw.name, purpose="举报核查：评委回避情况",
                                  request_id=unique("ra"))  # fmt: skip
    granted = supervisor.RequestAccess(ask, timeout=10)
    assert supervisor.RequestAccess(ask, timeout=10).grant_seq == granted.grant_seq  # a retry
    assert receipt.Receipt.parse(granted.receipt).index == granted.grant_seq
    panel = supervisor.GetPanel(pb.GetPanelRequest(name=draw.name), timeout=10).panel
    assert {m.expert for m in panel} == {m.expert for m in done.panel}
    log = entries_of(audit, draw.name)
    grant, access = log[-2], log[-1]
    assert (grant.kind, grant.who.role, grant.data["purpose"]) == (
        "confidential.grant",
        "supervisor",
        "举报核查：评委回避情况",
    )
    assert (access.kind, access.who.sub) == ("confidential.access", grant.data["grantee"])
    assert all(m.expert.removeprefix("experts/") not in json.dumps(access.to_json())
               for m in panel)  # fmt: skip
    admin = pb_grpc.DrawServiceStub(connect(library.port, "admin"))
    for call in (lambda: admin.GetPanel(pb.GetPanelRequest(name=draw.name), timeout=10),
                 lambda: requester.RequestAccess(ask, timeout=10)):  # fmt: skip
        with pytest.raises(grpc.RpcError) as caught:
            call()
        assert caught.value.code() is grpc.StatusCode.PERMISSION_DENIED
    # Another draw: closed, so the supervisor reads without a grant (still logged).
    closed = requester.CreateDraw(request(tenderer=9301), timeout=30).draw
    requester.ExecuteDraw(pb.ExecuteDrawRequest(
        name=closed.name, nonce=os.urandom(32), request_id=unique("ex")), timeout=30)  # fmt: skip
    requester.RecordOpening(pb.RecordOpeningRequest(
        name=closed.name, open_time=stamp(int(time.time() * 1000)), request_id=unique("o")),
        timeout=30)  # fmt: skip
    with pytest.raises(grpc.RpcError) as caught:
        supervisor.GetPanel(pb.GetPanelRequest(name=closed.name), timeout=10)
    assert error_info(caught.value).reason == "GRANT_REQUIRED"  # opened, not yet closed
    requester.CloseCommittee(pb.CloseCommitteeRequest(name=closed.name,
                                                      request_id=unique("c")), timeout=30)  # fmt: skip
    assert len(supervisor.GetPanel(pb.GetPanelRequest(name=closed.name), timeout=10).panel) == 5
    assert entries_of(audit, closed.name)[-1].kind == "confidential.access"
    with pytest.raises(grpc.RpcError) as caught:
        supervisor.RequestAccess(pb.RequestAccessRequest(
            name="draws/d-missing", purpose="x", request_id=unique("ra")), timeout=10)  # fmt: skip
    assert caught.value.code() is grpc.StatusCode.NOT_FOUND


def test_the_avoid_list_matches_records_hashed_under_a_key_this_replica_lacks(
    library: RunningService, requester: pb_grpc.DrawServiceStub, pki: Any
) -> None:
    """During a rolling key rotation a record may carry an identity hash under a key this
    replica does not hold: the avoided expert is still excluded (A11), found in review."""
    from sqlalchemy import select, update

    from expert_draw.adapters.db.models import expert_table
    from expert_draw.adapters.protection import FieldCipher, load_data_keys
    from tests.support.service import data_keys_file

    number = sample.resident_id(105)
    stored = FieldCipher(load_data_keys(data_keys_file(pki))).identity_hash(number)
    with library.engine.begin() as conn:
        row = conn.execute(select(expert_table.c.id, expert_table.c.id_hash)
                           .where(expert_table.c.id_hash == stored)).one()  # fmt: skip
        conn.execute(update(expert_table).where(expert_table.c.id == row.id)
                     .values(id_hash="h-elsewhere:" + "ab" * 32))  # fmt: skip
    try:
        asked = request(tenderer=9600)
        asked.conflicts.avoid_resident_id_numbers.append(number)
        draw = requester.CreateDraw(asked, timeout=30).draw
    finally:
        with library.engine.begin() as conn:
            conn.execute(update(expert_table).where(expert_table.c.id == row.id)
                         .values(id_hash=row.id_hash))  # fmt: skip
    assert {c.reason: c.count for c in draw.excluded_counts}.get("A11") == 1


def test_tender_lots_and_projects_are_guarded(
    requester: pb_grpc.DrawServiceStub,
    other: pb_grpc.DrawServiceStub,
    audit: audit_grpc.AuditServiceStub,
) -> None:
    """Another trading system cannot draw (or learn the draw of) a tender-lot; lots of
    one project are drawn one after the other, each excluding the earlier seats."""
    first = request(tenderer=9100)
    mine = requester.CreateDraw(first, timeout=30).draw
    with pytest.raises(grpc.RpcError) as caught:
        other.CreateDraw(request(tender_id=first.tender_id, tenderer=9100), timeout=30)
    assert error_info(caught.value).reason == "TENDER_LOT_OF_ANOTHER_REQUESTER"
    assert mine.name.removeprefix("draws/") not in (caught.value.details() or "")
    lot2 = request(tenderer=9100, project_code=first.project_code)
    with pytest.raises(grpc.RpcError) as caught:
        requester.CreateDraw(lot2, timeout=30)
    assert error_info(caught.value).reason == "PROJECT_DRAW_PENDING"
    done = requester.ExecuteDraw(pb.ExecuteDrawRequest(
        name=mine.name, nonce=os.urandom(32), request_id=unique("ex")), timeout=30)  # fmt: skip
    second = requester.CreateDraw(lot2, timeout=30)
    excluded = {c.reason: c.count for c in second.draw.excluded_counts}
    assert excluded.get("SAME_PROJECT") == len(done.panel)


def test_bad_list_and_override_values_are_invalid(
    requester: pb_grpc.DrawServiceStub,
    supervisor: pb_grpc.DrawServiceStub,
) -> None:
    """An unknown state or an override seq beyond the log's range: INVALID_ARGUMENT."""
    with pytest.raises(grpc.RpcError) as caught:
        requester.ListDraws(pb.ListDrawsRequest(state=42), timeout=10)  # type: ignore[arg-type]
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as caught:
        requester.CreateDraw(request(override_seq=2**63), timeout=10)
    assert "override_seq" in field_violations(caught.value)


def test_supervisors_get_the_bundle_of_a_draw_cancelled_after_execution(
    requester: pb_grpc.DrawServiceStub,
    supervisor: pb_grpc.DrawServiceStub,
    audit: audit_grpc.AuditServiceStub,
) -> None:
    """Cancelling after seeing the panel cannot hide the draw from supervisors."""
    draw = requester.CreateDraw(request(tenderer=9200), timeout=30).draw
    requester.ExecuteDraw(pb.ExecuteDrawRequest(
        name=draw.name, nonce=os.urandom(32), request_id=unique("ex")), timeout=30)  # fmt: skip
    requester.CancelDraw(
        pb.CancelDrawRequest(name=draw.name, reason="TENDER_CANCELLED", request_id=unique("cx")),
        timeout=30,
    )
    body = b"".join(c.chunk for c in supervisor.GetProofBundle(
        pb.GetProofBundleRequest(name=draw.name), timeout=30))  # fmt: skip
    report = verify_bundle(body, DrawTrust(ORIGIN, (vkey(audit),)))
    assert report.state == "CANCELLED"
    assert "the draw was cancelled (TENDER_CANCELLED)" in report.findings


def test_a_decline_without_replacement_cancels_and_its_retry_says_so(
    requester: pb_grpc.DrawServiceStub, audit: audit_grpc.AuditServiceStub
) -> None:
    """max_replacements 0: the first seated decline cancels the draw (REPL_EXHAUSTED,
    logged); the same request again gets the same error and appends nothing."""
    quota = pb.DisciplineQuota(discipline=A0101, seats=5, reserves=0, max_replacements=0)
    draw = requester.CreateDraw(request(disciplines=[quota]), timeout=30).draw
    done = requester.ExecuteDraw(pb.ExecuteDrawRequest(
        name=draw.name, nonce=os.urandom(32), request_id=unique("ex")), timeout=30)  # fmt: skip
    decline = pb.RecordDeclineRequest(name=draw.name, pseudonym=done.panel[0].pseudonym,
                                      reason="SIGNED_DECLINE", evidence=b"signed",
                                      request_id=unique("dec"))  # fmt: skip
    for attempt in range(2):
        with pytest.raises(grpc.RpcError) as caught:
            requester.RecordDecline(decline, timeout=30)
        assert error_info(caught.value).reason == "REPL_EXHAUSTED", attempt
        if attempt == 0:
            count = len(entries_of(audit, draw.name))
    assert len(entries_of(audit, draw.name)) == count
    kinds = [e.kind for e in entries_of(audit, draw.name)][-2:]
    assert kinds == ["draw.decline", "draw.cancel"]
    got = requester.GetDraw(pb.GetDrawRequest(name=draw.name), timeout=10).draw
    assert (got.state, got.end_reason, list(got.seats)) == (
        pb.Draw.STATE_CANCELLED,
        "REPL_EXHAUSTED",
        [],
    )


def test_a_create_retried_on_a_replica_with_other_identity_keys_is_the_same_request(
    library: RunningService, requester: pb_grpc.DrawServiceStub, pki: Any, tmp_path: Path
) -> None:
    """The avoid hashes depend on a replica's identity keys (a rolling rotation adds one);
    the request's idempotency digest must not, or a retry on the other replica is refused
    REQUEST_ID_REUSED instead of returning the draw (found in review)."""
    from expert_draw.adapters.devpki import write_private
    from expert_draw.adapters.protection import DataKeys, KeySet, load_data_keys
    from tests.support.service import client_channel, data_keys_file, start

    old = load_data_keys(data_keys_file(pki))
    rotated = DataKeys(old.encryption, KeySet("h-new", {**old.identity_hash.keys,
                                                         "h-new": os.urandom(32)}))  # fmt: skip
    keys = tmp_path / "rotated-keys.json"
    write_private(keys, rotated.to_json().encode())
    other = start(pki, library.settings.database_url, library={"data_keys": str(keys)})
    try:
        asked = request(tenderer=9700)
        asked.conflicts.avoid_resident_id_numbers.append(sample.resident_id(106))
        first = requester.CreateDraw(asked, timeout=30).draw
        with client_channel(pki, other.port, "trading_system") as channel:
            again = pb_grpc.DrawServiceStub(channel).CreateDraw(asked, timeout=30).draw
        assert again.name == first.name
        assert again.commit_digest == first.commit_digest
        # Another avoid list under the same request id is another request.
        asked.conflicts.avoid_resident_id_numbers.append(sample.resident_id(107))
        with pytest.raises(grpc.RpcError) as caught:
            requester.CreateDraw(asked, timeout=30)
        assert error_info(caught.value).reason == "REQUEST_ID_REUSED"
    finally:
        other.stop(grace=0)


def test_every_write_returns_the_draw_as_stored(requester: pb_grpc.DrawServiceStub) -> None:
    """CreateDraw, ExecuteDraw, RecordDecline and CancelDraw build the draw they return
    from what they wrote (no read-back under the head lock): it must be GetDraw's draw,
    seats of two codes and their order included. GetDraw and ListDraws, which memoize
    each draw's message by version, serve every write's draw at the next read."""
    quotas = [pb.DisciplineQuota(discipline=f"editions/2018/disciplines/{code}", seats=seats,
                                 reserves=2)
              for code, seats in (("A010102", 3), ("A010101", 2))]  # fmt: skip
    draw = requester.CreateDraw(request(disciplines=quotas), timeout=30).draw

    def stored() -> pb.Draw:
        got = requester.GetDraw(pb.GetDrawRequest(name=draw.name), timeout=10).draw
        newest = requester.ListDraws(pb.ListDrawsRequest(page_size=1), timeout=10).draws
        assert list(newest) == [got]
        return got

    assert draw == stored()
    done = requester.ExecuteDraw(pb.ExecuteDrawRequest(
        name=draw.name, nonce=os.urandom(32), request_id=unique("ex")), timeout=30)  # fmt: skip
    assert len(done.draw.seats) == 2
    assert done.draw == stored()
    declined = requester.RecordDecline(pb.RecordDeclineRequest(
        name=draw.name, pseudonym=done.panel[-1].pseudonym, reason="HEALTH",
        evidence=b"call record", request_id=unique("dec")), timeout=30)  # fmt: skip
    assert declined.draw != done.draw
    assert declined.draw == stored()
    cancelled = requester.CancelDraw(pb.CancelDrawRequest(
        name=draw.name, reason="TENDER_CANCELLED", request_id=unique("cx")),
        timeout=30).draw  # fmt: skip
    assert cancelled == stored()
    assert list(cancelled.seats) == []


def test_draw_writes_are_refused_on_a_skewed_replica(
    library: RunningService, requester: pb_grpc.DrawServiceStub
) -> None:
    """Draw writes check the clock with the head lock (one round trip): CreateDraw,
    ExecuteDraw and a decline are refused CLOCK_SKEW on PostgreSQL, writing nothing."""
    draw = requester.CreateDraw(request(), timeout=30).draw
    done = requester.ExecuteDraw(pb.ExecuteDrawRequest(
        name=draw.name, nonce=os.urandom(32), request_id=unique("ex")), timeout=30)  # fmt: skip
    second = requester.CreateDraw(request(), timeout=30).draw
    calls: list[Callable[[], object]] = [
        lambda: requester.CreateDraw(request(), timeout=30),
        lambda: requester.ExecuteDraw(pb.ExecuteDrawRequest(
            name=second.name, nonce=os.urandom(32), request_id=unique("ex")), timeout=30),
        lambda: requester.RecordDecline(pb.RecordDeclineRequest(
            name=draw.name, pseudonym=done.panel[0].pseudonym, reason="HEALTH",
            evidence=b"call", request_id=unique("dec")), timeout=30),
    ]  # fmt: skip
    right = library.audit.clock_ms
    with library.engine.connect() as conn:
        before = library.audit.store.head(conn).size
    library.audit.clock_ms = lambda: int(time.time() * 1000) + 6_000  # the bound: 5 s
    try:
        for call in calls:
            if library.engine.dialect.name != "postgresql":
                call()  # one machine, one clock
                continue
            with pytest.raises(grpc.RpcError) as caught:
                call()
            assert caught.value.code() is grpc.StatusCode.UNAVAILABLE
            assert error_info(caught.value).reason == "CLOCK_SKEW"
    finally:
        library.audit.clock_ms = right
    if library.engine.dialect.name == "postgresql":
        with library.engine.connect() as conn:
            assert library.audit.store.head(conn).size == before


def test_the_lookback_read_before_the_lock_is_the_one_read_under_it(
    requester: pb_grpc.DrawServiceStub,
    audit: audit_grpc.AuditServiceStub,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """CreateDraw reads the look-back before the head lock; when the clock has stepped
    back past the slack it reads it again under the lock. Both list the same entries
    (here the members' expert.create entries: the library is minutes old)."""
    from expert_draw.adapters import draws

    def lookback() -> list[int]:
        draw = requester.CreateDraw(request(), timeout=30).draw
        [freeze] = [e for e in entries_of(audit, draw.name) if e.kind == "pool.freeze"]
        requester.CancelDraw(pb.CancelDrawRequest(
            name=draw.name, reason="TENDER_CANCELLED", request_id=unique("cx")), timeout=30)  # fmt: skip
        assert freeze.data["lookback_n"] == len(freeze.data["lookback_seqs"])
        return list(freeze.data["lookback_seqs"])

    ahead = lookback()
    assert len(ahead) >= LIBRARY
    monkeypatch.setattr(draws, "LOOKBACK_SLACK_MS", -(10**13))  # read ahead never suffices
    assert lookback() == ahead


def test_a_draw_id_in_use_is_refused_already_exists(
    requester: pb_grpc.DrawServiceStub, audit: audit_grpc.AuditServiceStub
) -> None:
    """A caller-chosen draw id that names an existing draw: ALREADY_EXISTS, nothing logged."""
    draw_id = unique("own-id").lower()
    first = requester.CreateDraw(request(draw_id=draw_id), timeout=30).draw
    assert first.name == f"draws/{draw_id}"
    logged = len(entries_of(audit, first.name))
    with pytest.raises(grpc.RpcError) as caught:
        requester.CreateDraw(request(draw_id=draw_id), timeout=30)
    assert caught.value.code() is grpc.StatusCode.ALREADY_EXISTS
    assert error_info(caught.value).reason == "DRAW_ALREADY_EXISTS"
    assert len(entries_of(audit, first.name)) == logged


def test_concurrent_retries_of_each_draw_write_apply_it_once(
    requester: pb_grpc.DrawServiceStub, audit: audit_grpc.AuditServiceStub
) -> None:
    """A client that retries before its first call returned (four copies at once, one
    request id): every copy gets the one outcome, never an error, and the log holds
    each write once."""
    create = request(tenderer=9003)
    made = twins(lambda: requester.CreateDraw(create, timeout=30))
    assert all(isinstance(m, pb.CreateDrawResponse) for m in made), made
    # The same draw and commit entry (a replay's receipt proves into a newer checkpoint).
    assert len({(m.draw.SerializeToString(), m.commit_entry) for m in made}) == 1
    name = made[0].draw.name
    execute = pb.ExecuteDrawRequest(name=name, nonce=os.urandom(32), request_id=unique("ex"))
    done = twins(lambda: requester.ExecuteDraw(execute, timeout=30))
    assert all(isinstance(d, pb.ExecuteDrawResponse) for d in done), done
    assert len({d.draw.SerializeToString() for d in done}) == 1
    [disclosed] = [d for d in done if d.panel]  # a retry does not disclose again
    out = disclosed.panel[0].pseudonym
    decline = pb.RecordDeclineRequest(name=name, pseudonym=out, reason="HEALTH",
                                      evidence=b"call", request_id=unique("dec"))  # fmt: skip
    declined = twins(lambda: requester.RecordDecline(decline, timeout=30))
    assert all(isinstance(d, pb.RecordDeclineResponse) for d in declined), declined
    assert len({d.draw.SerializeToString() for d in declined}) == 1
    assert len([d for d in declined if d.replacement.full_name]) == 1  # disclosed once
    kinds = Counter(e.kind for e in entries_of(audit, name))
    assert kinds["draw.commit"] == kinds["draw.execute"] == kinds["draw.decline"] == 1, kinds


def test_concurrent_retries_of_a_supervisor_approval_get_its_one_entry(
    supervisor: pb_grpc.DrawServiceStub, audit: audit_grpc.AuditServiceStub
) -> None:
    """Writes that no row lock serializes look their request up under the head lock:
    a twin that committed first is found, not refused as REQUEST_ID_REUSED."""
    approve = pb.ApprovePoolOverrideRequest(
        tender_id=unique("T"), lot_id="1", codes=["A010102"], reason="本地专家不足",
        request_id=unique("ov"),
    )  # fmt: skip
    approvals = twins(lambda: supervisor.ApprovePoolOverride(approve, timeout=30))
    assert all(isinstance(a, pb.ApprovePoolOverrideResponse) for a in approvals), approvals
    assert len({a.override_seq for a in approvals}) == 1
    [entry] = entries_of(audit, f"tenders/{approvals[0].tender_ref.hex()}")
    assert entry.kind == "draw.override"
