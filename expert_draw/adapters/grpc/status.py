"""The one table that maps service errors to gRPC status codes with rich details.

Every error gets a ``google.rpc.ErrorInfo`` (AIP-193: domain ``expertdraw.api`` and the
error's stable ``reason``); invalid requests add ``google.rpc.BadRequest`` field
violations and missing resources a ``google.rpc.ResourceInfo``. Unknown exceptions
become ``INTERNAL`` with a generic message that names an incident id and nothing else.
"""

from __future__ import annotations

from typing import cast

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from expert_draw.errors import (
    AccessDeniedError,
    AlreadyExistsError,
    ConcurrentChangeError,
    ConfigurationError,
    Error,
    InvalidRequestError,
    NotFoundError,
    PreconditionError,
    UnauthenticatedError,
    UnavailableError,
    UnimplementedError,
)

ERROR_DOMAIN = "expertdraw.api"

STATUS_TABLE: tuple[tuple[type[Error], grpc.StatusCode], ...] = (
    (InvalidRequestError, grpc.StatusCode.INVALID_ARGUMENT),
    (NotFoundError, grpc.StatusCode.NOT_FOUND),
    (PreconditionError, grpc.StatusCode.FAILED_PRECONDITION),
    (AlreadyExistsError, grpc.StatusCode.ALREADY_EXISTS),
    (ConcurrentChangeError, grpc.StatusCode.ABORTED),
    (UnauthenticatedError, grpc.StatusCode.UNAUTHENTICATED),
    (AccessDeniedError, grpc.StatusCode.PERMISSION_DENIED),
    (UnavailableError, grpc.StatusCode.UNAVAILABLE),
    (UnimplementedError, grpc.StatusCode.UNIMPLEMENTED),
    (ConfigurationError, grpc.StatusCode.FAILED_PRECONDITION),
)
"""Error class → status code; the most specific class in an error's MRO wins."""


def status_code_for(error: Error) -> grpc.StatusCode:
    """Return the status code of ``error`` (INTERNAL for an unlisted subclass)."""
    table = dict(STATUS_TABLE)
    for cls in type(error).__mro__:
        if cls in table:
            return table[cls]
    return grpc.StatusCode.INTERNAL


def _pack(message: object) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)  # type: ignore[arg-type]
    return packed


def _to_grpc(status: status_pb2.Status) -> grpc.Status:
    return cast("grpc.Status", rpc_status.to_status(status))


def to_status(error: Error) -> grpc.Status:
    """Build the rich status for a service error."""
    code = status_code_for(error)
    metadata: dict[str, str] = {}
    details = []
    if isinstance(error, InvalidRequestError):
        details.append(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(
                        field=v.field, description=v.description, reason=error.reason
                    )
                    for v in error.violations
                ]
            )
        )
    if isinstance(error, NotFoundError):
        metadata = {"resource_type": error.resource_type, "resource_name": error.resource_name}
        details.append(
            error_details_pb2.ResourceInfo(
                resource_type=error.resource_type,
                resource_name=error.resource_name,
                description=error.message,
            )
        )
    info = error_details_pb2.ErrorInfo(reason=error.reason, domain=ERROR_DOMAIN, metadata=metadata)
    return _to_grpc(
        status_pb2.Status(
            code=code.value[0],
            message=error.message,
            details=[_pack(info), *(_pack(d) for d in details)],
        )
    )


def internal_status(incident_id: str) -> grpc.Status:
    """Build the generic INTERNAL status for an unexpected failure."""
    info = error_details_pb2.ErrorInfo(
        reason="INTERNAL", domain=ERROR_DOMAIN, metadata={"incident_id": incident_id}
    )
    return _to_grpc(
        status_pb2.Status(
            code=code_pb2.INTERNAL,
            message=f"internal error; incident {incident_id} is logged",
            details=[_pack(info)],
        )
    )
