"""The one error root of the service, grouped by origin.

Each subclass carries a stable AIP-193 ``reason``; the gRPC adapter translates them once,
through one table (``expert_draw.adapters.grpc.status``), into a status code with a
``google.rpc.ErrorInfo`` and, for invalid requests, ``google.rpc.BadRequest`` field
violations. Anything that is not an :class:`Error` becomes ``INTERNAL`` with a generic
message and a logged incident id.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldViolation:
    """One invalid field of a request: its path (``page_size``, ``parent``) and why."""

    field: str
    description: str


class Error(Exception):
    """Root of every error the service raises on purpose."""

    reason: str = "ERROR"
    info: tuple[tuple[str, str], ...] = ()  # extra google.rpc.ErrorInfo metadata

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        """Create an error with a client-safe message (never personal data)."""
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason


# Request errors: the caller sent something wrong.


class InvalidRequestError(Error):
    """The request is malformed; ``violations`` name each bad field."""

    reason = "INVALID_REQUEST"

    def __init__(
        self,
        violations: list[FieldViolation] | tuple[FieldViolation, ...],
        *,
        reason: str | None = None,
    ) -> None:
        """Create the error from at least one field violation."""
        if not violations:
            msg = "an invalid request needs at least one field violation"
            raise ValueError(msg)
        self.violations = tuple(violations)
        text = "; ".join(f"{v.field}: {v.description}" for v in self.violations)
        super().__init__(f"invalid request: {text}", reason=reason)

    @classmethod
    def field(
        cls, field: str, description: str, *, reason: str | None = None
    ) -> InvalidRequestError:
        """Create the error for a single bad field."""
        return cls([FieldViolation(field, description)], reason=reason)


class InvalidPageTokenError(InvalidRequestError):
    """The page token is forged, stale or belongs to another query (AIP-158)."""

    reason = "INVALID_PAGE_TOKEN"

    def __init__(self, description: str) -> None:
        """Create the error for the ``page_token`` field."""
        super().__init__([FieldViolation("page_token", description)])


class NotFoundError(Error):
    """The named resource does not exist (or the caller may not know it exists)."""

    reason = "NOT_FOUND"

    def __init__(
        self, resource_type: str, resource_name: str, *, reason: str | None = None
    ) -> None:
        """Create the error for one resource, e.g. ``("Edition", "editions/2030")``."""
        super().__init__(f"{resource_type} {resource_name} not found", reason=reason)
        self.resource_type = resource_type
        self.resource_name = resource_name


@dataclass(frozen=True, slots=True)
class PreconditionViolation:
    """One unmet precondition (google.rpc.PreconditionFailure.Violation)."""

    type: str
    subject: str
    description: str


class PreconditionError(Error):
    """The request is well formed but the system is not in a state that allows it."""

    reason = "FAILED_PRECONDITION"

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        violations: tuple[PreconditionViolation, ...] = (),
    ) -> None:
        """Create the error; ``violations`` name each unmet precondition, if listed."""
        super().__init__(message, reason=reason)
        self.violations = violations


class TooLargeError(Error):
    """The request exceeds a size limit of the service (RESOURCE_EXHAUSTED)."""

    reason = "TOO_LARGE"


class AlreadyExistsError(Error):
    """The resource the request would create exists already (e.g. the same 身份证号)."""

    reason = "ALREADY_EXISTS"


class ConcurrentChangeError(Error):
    """The request named a version (etag) that is no longer current (AIP-154)."""

    reason = "ETAG_MISMATCH"


# Caller identity errors: raised by the authorization layer.


class UnauthenticatedError(Error):
    """The caller's certificate maps to no configured principal."""

    reason = "CERTIFICATE_NOT_MAPPED"


class AccessDeniedError(Error):
    """The caller's role may not call this method or see this resource."""

    reason = "ROLE_NOT_ALLOWED"


# Service-side errors: configuration and infrastructure.


class UnimplementedError(Error):
    """The server does not implement this method (a servicer base class raised)."""

    reason = "UNIMPLEMENTED"


class ConfigurationError(Error):
    """The settings are invalid or a configured file is missing or unreadable."""

    reason = "CONFIGURATION"


class UnavailableError(Error):
    """A dependency (the database) is unreachable; the caller may retry."""

    reason = "UNAVAILABLE"


class ClientBusyError(Error):
    """The client already has as many calls in progress as it may (RESOURCE_EXHAUSTED)."""

    reason = "TOO_MANY_CALLS"


class StorageFullError(Error):
    """The database has no space left for the write (RESOURCE_EXHAUSTED).

    Nothing was written; the caller may retry once an operator has made room.
    """

    reason = "DATABASE_FULL"
