"""Helpers for tests: call RPCs expecting failure and read google.rpc error details."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2
from grpc_status import rpc_status


@dataclass
class RpcFailure:
    """A failed call's status code, message and parsed google.rpc details."""

    code: grpc.StatusCode
    message: str
    reason: str = ""
    violations: dict[str, str] = field(default_factory=dict)
    retry_delay_seconds: float | None = None


async def expect_failure(call: Awaitable[object]) -> RpcFailure:
    """Await `call`, which must fail, and return its parsed status."""
    try:
        await call
    except grpc.aio.AioRpcError as error:
        failure = RpcFailure(code=error.code(), message=error.details() or "")
        status = rpc_status.from_call(error)  # type: ignore[arg-type]
        for detail in status.details if status else ():
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                failure.reason = info.reason
            elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad = error_details_pb2.BadRequest()
                detail.Unpack(bad)
                failure.violations = {v.field: v.description for v in bad.field_violations}
            elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
                retry = error_details_pb2.RetryInfo()
                detail.Unpack(retry)
                failure.retry_delay_seconds = retry.retry_delay.ToNanoseconds() / 1e9
        return failure
    raise AssertionError("the call succeeded but was expected to fail")


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    """Return call metadata carrying an access token."""
    return (("authorization", f"Bearer {token}"),)


async def health_status(channel: grpc.aio.Channel, service: str = "", **kwargs: Any) -> int:
    """Return the standard health status of `service` (the typed stubs of grpc-health are sync-only)."""
    check = channel.unary_unary(
        "/grpc.health.v1.Health/Check",
        request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
        response_deserializer=health_pb2.HealthCheckResponse.FromString,
    )
    response = await check(health_pb2.HealthCheckRequest(service=service), **kwargs)
    return int(response.status)
