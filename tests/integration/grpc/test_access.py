"""Every RPC × every role: the access table is complete and enforced at the handshake
and in the interceptor."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import grpc
import pytest
from google.protobuf import descriptor_pool, symbol_database
from google.protobuf.field_mask_pb2 import FieldMask
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2

from expert_draw.adapters.grpc import access
from expert_draw.adapters.grpc.server import SERVICE_NAMES
from expert_draw.api.v1 import audit_service_pb2 as audit_pb
from expert_draw.api.v1 import classification_service_pb2 as pb
from expert_draw.api.v1 import draw_service_pb2 as draw_pb
from expert_draw.api.v1 import expert_service_pb2 as expert_pb
from expert_draw.api.v1 import stats_service_pb2 as stats_pb
from expert_draw.config import Role
from tests.integration.grpc.helpers import error_info
from tests.support import experts as sample_experts

if TYPE_CHECKING:
    from collections.abc import Callable

    from cli.server import RunningService

CLIENT_ROLES = {
    "admin": Role.ADMIN,
    "trading_system": Role.TRADING_SYSTEM,
    "supervisor": Role.SUPERVISOR,
    "other_ca_supervisor": Role.SUPERVISOR,
}
UNMAPPED = ("unmapped", "imposter")
NOT_IMPLEMENTED = {"/grpc.health.v1.Health/List"}  # grpcio-health-checking 1.85 lacks it

ABSENT_EXPERT = "experts/00000000-0000-4000-8000-000000000000"
ABSENT_DRAW = "draws/absent-draw"

# One valid request per RPC; the matrix calls each of them as every client.
SAMPLES: dict[str, Any] = {
    "/expert_draw.api.v1.ClassificationService/ListEditions": pb.ListEditionsRequest(),
    "/expert_draw.api.v1.ClassificationService/GetEdition": pb.GetEditionRequest(
        name="editions/2018"
    ),
    "/expert_draw.api.v1.ClassificationService/GetDiscipline": pb.GetDisciplineRequest(
        name="editions/2018/disciplines/A08"
    ),
    "/expert_draw.api.v1.ClassificationService/ListDisciplines": pb.ListDisciplinesRequest(
        parent="editions/2018"
    ),
    "/expert_draw.api.v1.ClassificationService/SearchDisciplines": pb.SearchDisciplinesRequest(
        parent="editions/2018", query="电气"
    ),
    "/expert_draw.api.v1.ClassificationService/SuggestDisciplineMappings": pb.SuggestDisciplineMappingsRequest(
        name="editions/2010-trial/disciplines/A01"
    ),
    "/expert_draw.api.v1.AuditService/GetServiceInfo": audit_pb.GetServiceInfoRequest(),
    "/expert_draw.api.v1.AuditService/GetCheckpoint": audit_pb.GetCheckpointRequest(),
    "/expert_draw.api.v1.AuditService/ListCheckpoints": audit_pb.ListCheckpointsRequest(),
    "/expert_draw.api.v1.AuditService/GetEntry": audit_pb.GetEntryRequest(name="entries/0"),
    "/expert_draw.api.v1.AuditService/ListEntries": audit_pb.ListEntriesRequest(),
    "/expert_draw.api.v1.AuditService/GetInclusionProof": audit_pb.GetInclusionProofRequest(seq=0),
    "/expert_draw.api.v1.AuditService/GetConsistencyProof": audit_pb.GetConsistencyProofRequest(
        first_size=1
    ),
    "/grpc.health.v1.Health/Check": health_pb2.HealthCheckRequest(),
    "/grpc.health.v1.Health/List": health_pb2.HealthListRequest(),
    "/expert_draw.api.v1.ExpertService/CreateExpert": expert_pb.CreateExpertRequest(
        expert=sample_experts.expert(1), request_id="access-matrix-create"
    ),
    "/expert_draw.api.v1.ExpertService/GetExpert": expert_pb.GetExpertRequest(name=ABSENT_EXPERT),
    "/expert_draw.api.v1.ExpertService/ListExperts": expert_pb.ListExpertsRequest(),
    "/expert_draw.api.v1.ExpertService/RevealExpert": expert_pb.RevealExpertRequest(
        name=ABSENT_EXPERT, purpose="access matrix"
    ),
    "/expert_draw.api.v1.ExpertService/UndeleteExpert": expert_pb.UndeleteExpertRequest(
        name=ABSENT_EXPERT, reason="access matrix", request_id="access-matrix-undelete"
    ),
    **{
        f"/expert_draw.api.v1.ExpertService/{method}": request
        for method, request in {
            "UpdateExpert": expert_pb.UpdateExpertRequest(
                expert=expert_pb.Expert(name=ABSENT_EXPERT, region_code="110105"),
                update_mask=FieldMask(paths=["region_code"]),
                request_id="m-0",
            ),
            "EraseExpert": expert_pb.EraseExpertRequest(
                name=ABSENT_EXPERT, reason="m", request_id="m-e"
            ),
            "SuspendExpert": expert_pb.SuspendExpertRequest(
                name=ABSENT_EXPERT, reason="m", request_id="m-1"
            ),
            "ReinstateExpert": expert_pb.ReinstateExpertRequest(
                name=ABSENT_EXPERT, reason="m", request_id="m-2"
            ),
            "RetireExpert": expert_pb.RetireExpertRequest(
                name=ABSENT_EXPERT,
                reason="m",
                kind=expert_pb.RetireExpertRequest.KIND_RETIRED,
                request_id="m-3",
            ),
            "RecordPenalty": expert_pb.RecordPenaltyRequest(
                name=ABSENT_EXPERT,
                reason="m",
                kind=expert_pb.PENALTY_KIND_NO_SHOW,
                evidence_sha256="0" * 64,
                request_id="m-4",
            ),
            "RecordEvaluationScore": expert_pb.RecordEvaluationScoreRequest(
                name=ABSENT_EXPERT,
                score=80,
                evaluation_date=sample_experts.day(2026, 1, 5),
                evidence_sha256="0" * 64,
                request_id="m-5",
            ),
            "RecordLeave": expert_pb.RecordLeaveRequest(
                name=ABSENT_EXPERT,
                reason="m",
                start_time=Timestamp(seconds=2_000_000_000),
                end_time=Timestamp(seconds=2_000_086_400),
                request_id="m-6",
            ),
            "AddAffiliation": expert_pb.AddAffiliationRequest(
                name=ABSENT_EXPERT,
                request_id="m-7",
                affiliation=expert_pb.Affiliation(
                    kind=expert_pb.Affiliation.KIND_EMPLOYER,
                    organization_code=sample_experts.uscc(1),
                    start_date=sample_experts.day(2020),
                ),
            ),
        }.items()
    },
    "/expert_draw.api.v1.ExpertService/DeleteExpert": expert_pb.DeleteExpertRequest(
        name=ABSENT_EXPERT, reason="access matrix", request_id="access-matrix-delete"
    ),
    "/expert_draw.api.v1.DrawService/CreateDraw": draw_pb.CreateDrawRequest(),
    "/expert_draw.api.v1.DrawService/ListDraws": draw_pb.ListDrawsRequest(),
    "/expert_draw.api.v1.DrawService/ApprovePoolOverride": draw_pb.ApprovePoolOverrideRequest(),
    **{
        f"/expert_draw.api.v1.DrawService/{method}": request
        for method, request in {
            "GetDraw": draw_pb.GetDrawRequest(name=ABSENT_DRAW),
            "ExecuteDraw": draw_pb.ExecuteDrawRequest(
                name=ABSENT_DRAW, nonce=bytes(32), request_id="d-1"
            ),
            "SubmitBeacon": draw_pb.SubmitBeaconRequest(
                name=ABSENT_DRAW, round=1, signature=bytes(48), request_id="d-2"
            ),
            "GetPanel": draw_pb.GetPanelRequest(name=ABSENT_DRAW),
            "RecordNotification": draw_pb.RecordNotificationRequest(
                name=ABSENT_DRAW,
                pseudonym=bytes(16),
                channel="sms",
                evidence=b"e",
                request_id="d-3",
            ),
            "RecordAcceptance": draw_pb.RecordAcceptanceRequest(
                name=ABSENT_DRAW, pseudonym=bytes(16), evidence=b"e", request_id="d-4"
            ),
            "RecordDecline": draw_pb.RecordDeclineRequest(
                name=ABSENT_DRAW,
                pseudonym=bytes(16),
                reason="HEALTH",
                evidence=b"e",
                request_id="d-5",
            ),
            "StrikeMember": draw_pb.StrikeMemberRequest(
                name=ABSENT_DRAW, pseudonym=bytes(16), evidence=b"e", request_id="d-6"
            ),
            "RecordOpening": draw_pb.RecordOpeningRequest(
                name=ABSENT_DRAW, open_time=Timestamp(seconds=2_000_000_000), request_id="d-7"
            ),
            "CloseCommittee": draw_pb.CloseCommitteeRequest(name=ABSENT_DRAW, request_id="d-8"),
            "RecordAward": draw_pb.RecordAwardRequest(
                name=ABSENT_DRAW, evidence=b"e", request_id="d-9"
            ),
            "CancelDraw": draw_pb.CancelDrawRequest(
                name=ABSENT_DRAW, reason="TENDER_CANCELLED", request_id="d-10"
            ),
            "GetExpertReceipt": draw_pb.GetExpertReceiptRequest(
                name=ABSENT_DRAW, expert=ABSENT_EXPERT, purpose="the expert asked"
            ),
            "ReportEscrowOpening": draw_pb.ReportEscrowOpeningRequest(
                name=ABSENT_DRAW, key_id=bytes(8), reason="check", request_id="d-11"
            ),
            "RequestAccess": draw_pb.RequestAccessRequest(
                name=ABSENT_DRAW, purpose="check", request_id="d-12"
            ),
            "RecordExport": draw_pb.RecordExportRequest(  # 31 bytes: refused after authz
                what="check", data_sha256=bytes(31), request_id="d-13"
            ),
        }.items()
    },
}
# Calls that pass authorization and then fail on purpose (they name no real resource).
PASSED_AUTHORIZATION = {
    "/expert_draw.api.v1.DrawService/CreateDraw": grpc.StatusCode.INVALID_ARGUMENT,
    "/expert_draw.api.v1.DrawService/ApprovePoolOverride": grpc.StatusCode.INVALID_ARGUMENT,
    "/expert_draw.api.v1.DrawService/RecordExport": grpc.StatusCode.INVALID_ARGUMENT,
    "/expert_draw.api.v1.StatsService/RunFairnessAnalysis": grpc.StatusCode.INVALID_ARGUMENT,
    "/expert_draw.api.v1.StatsService/ExportReplayOpenings": grpc.StatusCode.INVALID_ARGUMENT,
    **{
        f"/expert_draw.api.v1.DrawService/{method}": grpc.StatusCode.NOT_FOUND
        for method in (
            "GetDraw",
            "ExecuteDraw",
            "SubmitBeacon",
            "GetPanel",
            "RecordNotification",
            "RecordAcceptance",
            "RecordDecline",
            "StrikeMember",
            "RecordOpening",
            "CloseCommittee",
            "RecordAward",
            "CancelDraw",
            "ReportEscrowOpening",
            "RequestAccess",
            "GetExpertReceipt",
            "GetProofBundle",
        )
    },
    "/expert_draw.api.v1.ExpertService/GetExpert": grpc.StatusCode.NOT_FOUND,
    "/expert_draw.api.v1.ExpertService/DeleteExpert": grpc.StatusCode.NOT_FOUND,
    "/expert_draw.api.v1.ExpertService/RevealExpert": grpc.StatusCode.NOT_FOUND,
    "/expert_draw.api.v1.ExpertService/UndeleteExpert": grpc.StatusCode.NOT_FOUND,
    **{
        f"/expert_draw.api.v1.ExpertService/{method}": grpc.StatusCode.NOT_FOUND
        for method in (
            "EraseExpert",
            "UpdateExpert",
            "SuspendExpert",
            "ReinstateExpert",
            "RetireExpert",
            "RecordPenalty",
            "RecordEvaluationScore",
            "RecordLeave",
            "AddAffiliation",
        )
    },
}
STREAMING = {
    "/expert_draw.api.v1.ExpertService/ImportExperts": expert_pb.ImportExpertsRequest(
        first_row=2, experts=[sample_experts.expert(2)], validate_only=True
    ),
    "/expert_draw.api.v1.AuditService/StreamEntries": audit_pb.StreamEntriesRequest(),
    "/expert_draw.api.v1.DrawService/GetProofBundle": draw_pb.GetProofBundleRequest(
        name=ABSENT_DRAW
    ),
    # An empty range: refused after authorization (a valid run would log an export).
    "/expert_draw.api.v1.StatsService/RunFairnessAnalysis": stats_pb.RunFairnessAnalysisRequest(
        request_id="s-1", start_time=Timestamp(seconds=2), end_time=Timestamp(seconds=1)
    ),
    # A malformed request id: refused after authorization (a valid one logs an export).
    "/expert_draw.api.v1.StatsService/ExportReplayOpenings": stats_pb.ExportReplayOpeningsRequest(
        request_id="not valid!"
    ),
    "/grpc.health.v1.Health/Watch": health_pb2.HealthCheckRequest(),
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": reflection_pb2.ServerReflectionRequest(
        list_services=""
    ),
}


def registered_methods() -> set[str]:
    pool = descriptor_pool.Default()
    symbol_database.Default()
    methods: set[str] = set()
    for name in SERVICE_NAMES:
        service = pool.FindServiceByName(name)
        methods.update(f"/{name}/{m.name}" for m in service.methods)
    return methods


def table_methods() -> set[str]:
    return {f"/{s}/{m}" for s, ms in access.SERVICE_ROLES.items() for m in ms}


def test_every_registered_method_has_an_access_rule_and_a_sample() -> None:
    registered = registered_methods()
    assert registered <= table_methods()
    assert registered == set(SAMPLES) | set(STREAMING)


def invoke(channel: grpc.Channel, method: str) -> None:
    if method in STREAMING:
        request = STREAMING[method]
        if "ImportExperts" in method:
            upload = channel.stream_unary(method, request_serializer=type(request).SerializeToString,
                                          response_deserializer=expert_pb.ImportExpertsResponse.FromString)  # fmt: skip
            upload(iter([request]), timeout=5)
        elif any(m in method for m in ("StreamEntries", "GetProofBundle", "RunFairnessAnalysis",
                                       "ExportReplayOpenings")):  # fmt: skip
            feed = channel.unary_stream(method, request_serializer=type(request).SerializeToString,
                                        response_deserializer=lambda b: b)  # fmt: skip
            next(iter(feed(request, timeout=5)))
        elif "ServerReflection" in method:
            both = channel.stream_stream(method, request_serializer=type(request).SerializeToString,
                                         response_deserializer=reflection_pb2.ServerReflectionResponse.FromString)  # fmt: skip
            next(iter(both(iter([request]), timeout=5)))
        else:
            watch = channel.unary_stream(method, request_serializer=type(request).SerializeToString,
                                         response_deserializer=health_pb2.HealthCheckResponse.FromString)  # fmt: skip
            next(iter(watch(request, timeout=5)))
        return
    request = SAMPLES[method]
    rpc = channel.unary_unary(method, request_serializer=type(request).SerializeToString,
                              response_deserializer=lambda b: b)  # fmt: skip
    rpc(request, timeout=5)


@pytest.mark.parametrize("method", sorted(set(SAMPLES) | set(STREAMING)))
@pytest.mark.parametrize("client", sorted([*CLIENT_ROLES, *UNMAPPED]))
def test_matrix(
    service: RunningService,
    connect: Callable[[int, str | None], grpc.Channel],
    method: str,
    client: str,
) -> None:
    channel = connect(service.port, client)
    if client in UNMAPPED:
        with pytest.raises(grpc.RpcError) as caught:
            invoke(channel, method)
        assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED
        if method in SAMPLES:
            assert error_info(caught.value).reason == "CERTIFICATE_NOT_MAPPED"
        return
    if CLIENT_ROLES[client] not in access.allowed_roles(method):
        with pytest.raises(grpc.RpcError) as caught:
            invoke(channel, method)
        assert caught.value.code() is grpc.StatusCode.PERMISSION_DENIED
        assert error_info(caught.value).reason == "ROLE_NOT_ALLOWED"
        return
    if method in NOT_IMPLEMENTED:
        with pytest.raises(grpc.RpcError) as caught:
            invoke(channel, method)
        assert caught.value.code() is grpc.StatusCode.UNIMPLEMENTED
        return
    if method in PASSED_AUTHORIZATION:
        with pytest.raises(grpc.RpcError) as caught:
            invoke(channel, method)
        assert caught.value.code() is PASSED_AUTHORIZATION[method]
        return
    invoke(channel, method)


@pytest.mark.parametrize("client", [None, "rogue"])
def test_no_or_untrusted_certificate_fails_the_handshake(
    service: RunningService, connect: Callable[[int, str | None], grpc.Channel], client: str | None
) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        invoke(
            connect(service.port, client), "/expert_draw.api.v1.ClassificationService/ListEditions"
        )
    assert caught.value.code() is grpc.StatusCode.UNAVAILABLE


def test_wrong_role_is_permission_denied(
    service: RunningService,
    connect: Callable[[int, str | None], grpc.Channel],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    restricted = dict(access.SERVICE_ROLES)
    restricted["expert_draw.api.v1.ClassificationService"] = {
        "ListEditions": frozenset({Role.ADMIN})
    }
    monkeypatch.setattr(access, "SERVICE_ROLES", restricted)
    method = "/expert_draw.api.v1.ClassificationService/ListEditions"
    invoke(connect(service.port, "admin"), method)
    with pytest.raises(grpc.RpcError) as caught:
        invoke(connect(service.port, "supervisor"), method)
    assert caught.value.code() is grpc.StatusCode.PERMISSION_DENIED
    assert error_info(caught.value).reason == "ROLE_NOT_ALLOWED"
    with pytest.raises(grpc.RpcError) as caught:  # absent from the table: denied to all
        invoke(
            connect(service.port, "admin"), "/expert_draw.api.v1.ClassificationService/GetEdition"
        )
    assert caught.value.code() is grpc.StatusCode.PERMISSION_DENIED


def test_authorize_denies_unknown_methods() -> None:
    assert access.allowed_roles("/x.Y/Z") == frozenset()
    assert access.allowed_roles("garbage") == frozenset()


def test_glossary_lists_every_rpc() -> None:
    from pathlib import Path

    glossary = (Path(__file__).resolve().parents[3] / "docs" / "spec" / "glossary.md").read_text(
        encoding="utf-8"
    )
    for service, methods in access.SERVICE_ROLES.items():
        if service.startswith("expert_draw."):
            assert f"### {service}" in glossary
            for method in methods:
                assert f"| `{method}` |" in glossary, method
