"""Errors of the audit-log library; verification raises, it never returns a bool."""

from __future__ import annotations


class AuditLogError(Exception):
    """Root of the library's errors."""


class CanonicalError(AuditLogError):
    """Bytes or a value outside the aud1 canonical JSON profile."""


class ProofError(AuditLogError):
    """A Merkle inclusion or consistency proof does not verify."""


class NoteError(AuditLogError):
    """A signed note, checkpoint or receipt is malformed or its signature fails."""


class KeyFormatError(AuditLogError):
    """A key or verifier key string is malformed."""
