"""The domain error hierarchy every service raises; one interceptor maps it to gRPC statuses.

Domain and use-case code raise these (never grpc exceptions), so they stay transport-free.
Each error carries a stable machine-readable `reason` (sent as google.rpc.ErrorInfo) and, for
invalid input, one violation per bad field (sent as google.rpc.BadRequest).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
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


#: At most this many field violations are reported; the rest are counted. A request with 10,000 bad items
#: must not produce a ~900 KB trailer (UNAVAILABLE through Envoy, RESOURCE_EXHAUSTED at clients' 8 KiB limit).
MAX_REPORTED_VIOLATIONS = 10
#: Longest field path, description or metadata value reported (they may echo what the caller sent).
MAX_DETAIL_CHARS = 160
#: Longest error message reported.
MAX_MESSAGE_CHARS = 400
#: At most this many ErrorInfo metadata entries are reported.
MAX_METADATA_ENTRIES = 10


def bounded_text(text: str, limit: int = MAX_DETAIL_CHARS) -> str:
    """Return `text` cut to `limit` characters, marked with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True, slots=True)
class BoundedViolations:
    """The violations to report (the first few, each cut to size) and how many there were in all."""

    reported: list[FieldViolation]
    total: int

    @property
    def omitted(self) -> int:
        """Return how many violations are not reported."""
        return self.total - len(self.reported)


def bound_violations(violations: Sequence[FieldViolation], limit: int = MAX_REPORTED_VIOLATIONS) -> BoundedViolations:
    """Return the first `limit` violations, cut to size, with the total count."""
    reported = [
        FieldViolation(bounded_text(violation.field), bounded_text(violation.description))
        for violation in violations[:limit]
    ]
    return BoundedViolations(reported, len(violations))


def bound_metadata(metadata: Mapping[str, str]) -> dict[str, str]:
    """Return at most MAX_METADATA_ENTRIES metadata entries, keys and values cut to size."""
    items = list(metadata.items())[:MAX_METADATA_ENTRIES]
    return {bounded_text(key): bounded_text(value) for key, value in items}


def check_fields(violations: list[FieldViolation], message: str = "invalid request") -> None:
    """Raise InvalidArgument listing every violation, if there are any."""
    if violations:
        raise InvalidArgument(message, violations)
