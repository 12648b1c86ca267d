"""One error type for every failed call: the gRPC status code plus the parsed ``google.rpc`` details.

trademesh services put a ``google.rpc.Status`` in the ``grpc-status-details-bin`` trailer: an ``ErrorInfo``
(stable ``reason``, ``domain``, ``metadata``), a ``BadRequest`` (one field violation per bad field) and,
for throttling, a ``RetryInfo``. :class:`TrademeshError` carries all of them, so callers branch on
``code`` and ``reason``, never on message text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import grpc
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

__all__ = ["FieldViolation", "TrademeshError", "error_from_rpc"]

_DETAILS_KEY = "grpc-status-details-bin"


@dataclass(frozen=True, slots=True)
class FieldViolation:
    """One invalid request field, as reported in a ``google.rpc.BadRequest``."""

    #: Path of the field in the request, in proto field names (e.g. ``"trade.quantity_micros"``).
    field: str
    #: Why the value is invalid (human-readable English; do not parse).
    description: str


class TrademeshError(Exception):
    """A trademesh call failed.

    Raised by every call made through :func:`trademesh.sdk.connect` / :func:`trademesh.sdk.connect_sync`
    (unary and streaming), instead of ``grpc.RpcError``.
    """

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        *,
        reason: str = "",
        domain: str = "",
        metadata: Mapping[str, str] | None = None,
        field_violations: tuple[FieldViolation, ...] = (),
        retry_delay: float | None = None,
    ) -> None:
        super().__init__(code, message)
        #: The gRPC status code (``grpc.StatusCode.INVALID_ARGUMENT``, ...).
        self.code = code
        #: The status message (human-readable; do not parse).
        self.message = message
        #: ``ErrorInfo.reason``: a stable UPPER_SNAKE_CASE code such as ``"ETAG_MISMATCH"``; empty if none.
        self.reason = reason
        #: ``ErrorInfo.domain``, e.g. ``"trade.trademesh.dev"``; empty if none.
        self.domain = domain
        #: ``ErrorInfo.metadata`` (e.g. ``{"limit": "200"}``), read-only.
        self.metadata: Mapping[str, str] = MappingProxyType(dict(metadata or {}))
        #: ``BadRequest.field_violations``, in the order the server listed them.
        self.field_violations = field_violations
        #: ``RetryInfo.retry_delay`` in seconds, when the server said when to try again.
        self.retry_delay = retry_delay

    def __str__(self) -> str:
        head = self.code.name + (f" {self.reason}" if self.reason else "")
        text = f"{head}: {self.message}" if self.message else head
        if self.field_violations:
            text += " (" + "; ".join(f"{v.field}: {v.description}" for v in self.field_violations) + ")"
        return text

    def __repr__(self) -> str:
        return f"TrademeshError(code={self.code.name}, reason={self.reason!r}, message={self.message!r})"

    def __reduce__(self) -> tuple[object, ...]:
        # Positional args of __init__ are (code, message); keep the details when pickled (multiprocessing).
        return (_rebuild, (self.code, self.message, self.reason, self.domain, dict(self.metadata),
                           self.field_violations, self.retry_delay))  # fmt: skip


def _rebuild(
    code: grpc.StatusCode,
    message: str,
    reason: str,
    domain: str,
    metadata: dict[str, str],
    field_violations: tuple[FieldViolation, ...],
    retry_delay: float | None,
) -> TrademeshError:
    return TrademeshError(
        code,
        message,
        reason=reason,
        domain=domain,
        metadata=metadata,
        field_violations=field_violations,
        retry_delay=retry_delay,
    )


class _CallLike:
    """Adapts the error objects of both grpc APIs (sync ``RpcError`` calls and ``aio.AioRpcError``)."""

    def __init__(self, error: grpc.RpcError) -> None:
        self._error = error

    def code(self) -> grpc.StatusCode:
        code = getattr(self._error, "code", None)
        value = code() if callable(code) else None
        return value if isinstance(value, grpc.StatusCode) else grpc.StatusCode.UNKNOWN

    def details(self) -> str:
        details = getattr(self._error, "details", None)
        value = details() if callable(details) else None
        return value if isinstance(value, str) else ""

    def trailing_metadata(self) -> tuple[tuple[str, str | bytes], ...]:
        trailing = getattr(self._error, "trailing_metadata", None)
        value = trailing() if callable(trailing) else None
        return tuple((str(key), item) for key, item in value) if value else ()


def _status(call: _CallLike) -> status_pb2.Status | None:
    try:
        return rpc_status.from_call(call)  # type: ignore[arg-type]  # duck-typed: works for aio errors too
    except ValueError:
        # A proxy rewrote code or message but kept the trailer (grpc_status insists they match): trust
        # the trailer's details, keep the code and message the caller actually got.
        for key, value in call.trailing_metadata():
            if key == _DETAILS_KEY and isinstance(value, bytes):
                return status_pb2.Status.FromString(value)
    return None


def error_from_rpc(error: grpc.RpcError) -> TrademeshError:
    """Return the :class:`TrademeshError` for a failed gRPC call (sync or asyncio)."""
    call = _CallLike(error)
    reason = domain = ""
    metadata: dict[str, str] = {}
    violations: list[FieldViolation] = []
    retry_delay: float | None = None
    status = _status(call)
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason, domain, metadata = info.reason, info.domain, dict(info.metadata)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            violations += [FieldViolation(v.field, v.description) for v in bad_request.field_violations]
        elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry = error_details_pb2.RetryInfo()
            detail.Unpack(retry)
            retry_delay = retry.retry_delay.ToTimedelta().total_seconds()
    return TrademeshError(
        call.code(),
        call.details(),
        reason=reason,
        domain=domain,
        metadata=metadata,
        field_violations=tuple(violations),
        retry_delay=retry_delay,
    )
