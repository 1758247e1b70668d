"""Which roles may call which RPC: the one table, deny by default.

A method missing from the table is refused to everyone; a test walks every method of
every registered service against every role.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING

from expert_draw.config import Role
from expert_draw.errors import AccessDeniedError

if TYPE_CHECKING:
    from collections.abc import Mapping

ALL_ROLES = frozenset(Role)
SUPERVISORS = frozenset({Role.SUPERVISOR})
ADMINS = frozenset({Role.ADMIN})
LIBRARY_READERS = frozenset({Role.ADMIN, Role.SUPERVISOR})  # 封闭抽取: no trading systems
REQUESTERS = frozenset({Role.TRADING_SYSTEM})  # a draw's own requester (checked per draw)
DRAW_READERS = frozenset({Role.TRADING_SYSTEM, Role.SUPERVISOR})  # admins see no draws

SERVICE_ROLES: Mapping[str, Mapping[str, frozenset[Role]]] = MappingProxyType(
    {
        "expert_draw.api.v1.ClassificationService": {
            "ListEditions": ALL_ROLES,
            "GetEdition": ALL_ROLES,
            "GetDiscipline": ALL_ROLES,
            "ListDisciplines": ALL_ROLES,
            "SearchDisciplines": ALL_ROLES,
            "SuggestDisciplineMappings": ALL_ROLES,
        },
        "expert_draw.api.v1.AuditService": {
            "GetServiceInfo": ALL_ROLES,
            "GetCheckpoint": ALL_ROLES,
            "GetInclusionProof": ALL_ROLES,
            "GetConsistencyProof": ALL_ROLES,
            "ListCheckpoints": SUPERVISORS,
            "GetEntry": SUPERVISORS,
            "ListEntries": SUPERVISORS,
            "StreamEntries": SUPERVISORS,
        },
        "expert_draw.api.v1.ExpertService": {
            "CreateExpert": ADMINS,
            "GetExpert": LIBRARY_READERS,
            "RevealExpert": ADMINS,
            "UndeleteExpert": ADMINS,
            "ListExperts": LIBRARY_READERS,
            "UpdateExpert": ADMINS,
            "DeleteExpert": ADMINS,
            "EraseExpert": ADMINS,
            "ImportExperts": ADMINS,
            "SuspendExpert": ADMINS,
            "ReinstateExpert": ADMINS,
            "RecordLeave": ADMINS,
            "RecordPenalty": ADMINS,
            "RecordEvaluationScore": ADMINS,
            "RetireExpert": ADMINS,
            "AddAffiliation": ADMINS,
        },
        "expert_draw.api.v1.DrawService": {
            "CreateDraw": REQUESTERS,
            "GetDraw": DRAW_READERS,
            "ListDraws": DRAW_READERS,
            "ExecuteDraw": REQUESTERS,
            "SubmitBeacon": frozenset({Role.TRADING_SYSTEM, Role.SUPERVISOR}),
            "GetPanel": frozenset({Role.TRADING_SYSTEM, Role.SUPERVISOR}),
            "RequestAccess": SUPERVISORS,
            "RecordNotification": REQUESTERS,
            "RecordAcceptance": REQUESTERS,
            "RecordDecline": REQUESTERS,
            "StrikeMember": REQUESTERS,
            "RecordOpening": REQUESTERS,
            "CloseCommittee": REQUESTERS,
            "RecordAward": REQUESTERS,
            "CancelDraw": REQUESTERS,
            "GetProofBundle": ALL_ROLES,
            "ApprovePoolOverride": SUPERVISORS,
            "GetExpertReceipt": ADMINS,
            "ReportEscrowOpening": SUPERVISORS,
            "RecordExport": SUPERVISORS,
        },
        "expert_draw.api.v1.StatsService": {
            "RunFairnessAnalysis": SUPERVISORS,
            "ExportReplayOpenings": SUPERVISORS,
        },
        "grpc.health.v1.Health": {"Check": ALL_ROLES, "Watch": ALL_ROLES, "List": ALL_ROLES},
        "grpc.reflection.v1alpha.ServerReflection": {"ServerReflectionInfo": ALL_ROLES},
        "grpc.reflection.v1.ServerReflection": {"ServerReflectionInfo": ALL_ROLES},
    }
)


def allowed_roles(method: str) -> frozenset[Role]:
    """Return the roles allowed to call ``/package.Service/Method`` (none if unknown)."""
    service, _, name = method.lstrip("/").partition("/")
    return SERVICE_ROLES.get(service, {}).get(name, frozenset())


def authorize(method: str, role: Role) -> None:
    """Check that ``role`` may call ``method``.

    Raises:
        AccessDeniedError: the role is not allowed (``ROLE_NOT_ALLOWED``).
    """
    if role not in allowed_roles(method):
        msg = f"role {role} may not call {method}"
        raise AccessDeniedError(msg)
