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
    ClientBusyError,
    ConcurrentChangeError,
    ConfigurationError,
    Error,
    InvalidRequestError,
    NotFoundError,
    PreconditionError,
    StorageFullError,
    TooLargeError,
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
    (TooLargeError, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (UnauthenticatedError, grpc.StatusCode.UNAUTHENTICATED),
    (AccessDeniedError, grpc.StatusCode.PERMISSION_DENIED),
    (UnavailableError, grpc.StatusCode.UNAVAILABLE),
    (StorageFullError, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (ClientBusyError, grpc.StatusCode.RESOURCE_EXHAUSTED),
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


# A status travels in the response trailers, which receivers cap (gRPC's default
# max_metadata_size is 8 KiB): a status with hundreds of violations would reach the
# client as a transport error instead. The first violations are sent; the message
# says how many there were.
MAX_SENT_VIOLATIONS = 20
MAX_MESSAGE_CHARS = 480
MAX_DESCRIPTION_CHARS = 160


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _message(error: Error) -> str:
    if isinstance(error, InvalidRequestError) and len(error.violations) > MAX_SENT_VIOLATIONS:
        shown = "; ".join(f"{v.field}: {v.description}" for v in error.violations[:3])
        total = len(error.violations)
        head = f"invalid request: {total} problems, the first {MAX_SENT_VIOLATIONS} in the details"
        return _clip(f"{head}: {shown}", MAX_MESSAGE_CHARS)
    return _clip(error.message, MAX_MESSAGE_CHARS)


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
                        field=_clip(v.field, MAX_DESCRIPTION_CHARS),
                        description=_clip(v.description, MAX_DESCRIPTION_CHARS),
                        reason=error.reason,
                    )
                    for v in error.violations[:MAX_SENT_VIOLATIONS]
                ]
            )
        )
        metadata = {"violations": str(len(error.violations))}
    if isinstance(error, PreconditionError) and error.violations:
        details.append(
            error_details_pb2.PreconditionFailure(
                violations=[
                    error_details_pb2.PreconditionFailure.Violation(
                        type=v.type,
                        subject=_clip(v.subject, MAX_DESCRIPTION_CHARS),
                        description=_clip(v.description, MAX_DESCRIPTION_CHARS),
                    )
                    for v in error.violations[:MAX_SENT_VIOLATIONS]
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
    metadata.update(error.info)
    info = error_details_pb2.ErrorInfo(reason=error.reason, domain=ERROR_DOMAIN, metadata=metadata)
    return _to_grpc(
        status_pb2.Status(
            code=code.value[0],
            message=_message(error),
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


def error_info(error: grpc.RpcError) -> error_details_pb2.ErrorInfo | None:
    """The ``google.rpc.ErrorInfo`` a failed call carries, if any (the client's side)."""
    status = rpc_status.from_call(cast("grpc.Call", error))
    info = error_details_pb2.ErrorInfo()
    for detail in status.details if status else ():
        if detail.Unpack(info):
            return info
    return None
