"""The domain error hierarchy every service raises; one interceptor maps it to gRPC statuses.

Domain and use-case code raise these (never grpc exceptions), so they stay transport-free.
Each error carries a stable machine-readable `reason` (sent as google.rpc.ErrorInfo) and, for
invalid input, one violation per bad field (sent as google.rpc.BadRequest).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldViolation:
    """One bad field in a request: its path (e.g. `trade.quantity`) and why it is bad."""

    field: str
    description: str


class DomainError(Exception):
    """Base of every error a service reports to its callers."""

    default_reason = "ERROR"

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason or self.default_reason
        self.metadata = dict(metadata or {})


class InvalidArgument(DomainError):
    """Raise when a request is malformed; lists every bad field."""

    default_reason = "INVALID_ARGUMENT"

    def __init__(
        self,
        message: str,
        violations: Iterable[FieldViolation] = (),
        *,
        reason: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message, reason=reason, metadata=metadata)
        self.violations = list(violations)


class NotFound(DomainError):
    """Raise when the resource does not exist or belongs to someone else (no existence leak)."""

    default_reason = "NOT_FOUND"


class AlreadyExists(DomainError):
    """Raise when a create collides with an existing resource."""

    default_reason = "ALREADY_EXISTS"


class FailedPrecondition(DomainError):
    """Raise when the system is not in a state that allows the operation."""

    default_reason = "FAILED_PRECONDITION"


class Aborted(DomainError):
    """Raise on a concurrency conflict (stale etag); the caller may re-read and retry."""

    default_reason = "ABORTED"


class Unauthenticated(DomainError):
    """Raise when the caller's credentials are missing or invalid."""

    default_reason = "UNAUTHENTICATED"


class PermissionDenied(DomainError):
    """Raise when an authenticated caller may not perform the operation."""

    default_reason = "PERMISSION_DENIED"


class ResourceExhausted(DomainError):
    """Raise when a quota or rate limit is hit; `retry_after_seconds` tells when to come back."""

    default_reason = "RESOURCE_EXHAUSTED"

    def __init__(
        self,
        message: str,
        *,
        retry_after_seconds: float | None = None,
        reason: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message, reason=reason, metadata=metadata)
        self.retry_after_seconds = retry_after_seconds


class Unavailable(DomainError):
    """Raise when a dependency (database, Redis, another service) cannot be reached."""

    default_reason = "DEPENDENCY_UNAVAILABLE"


def check_fields(violations: list[FieldViolation], message: str = "invalid request") -> None:
    """Raise InvalidArgument listing every violation, if there are any."""
    if violations:
        raise InvalidArgument(message, violations)
