"""Call any RPC of the mesh by its full name, from the proto descriptors (no per-RPC stub code)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf import descriptor_pool, message_factory
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc import aio
from grpc_status import rpc_status

# Imported for their descriptors: every service of the mesh is in the default pool after this.
from trademesh.analytics.v1 import analytics_service_pb2
from trademesh.auth.v1 import auth_service_pb2
from trademesh.marketdata.v1 import marketdata_service_pb2
from trademesh.sync.v1 import sync_service_pb2
from trademesh.trade.v1 import trade_service_pb2

SERVICE_MODULES = (auth_service_pb2, trade_service_pb2, sync_service_pb2, marketdata_service_pb2, analytics_service_pb2)
#: Short name of each service (its key in the mesh) by full name.
SHORT_NAMES = {
    "trademesh.auth.v1.AuthService": "auth",
    "trademesh.trade.v1.TradeService": "trade",
    "trademesh.sync.v1.SyncService": "sync",
    "trademesh.marketdata.v1.MarketDataService": "marketdata",
    "trademesh.analytics.v1.AnalyticsService": "analytics",
}


def services() -> list[ServiceDescriptor]:
    """Return the descriptor of every service of the mesh."""
    pool = descriptor_pool.Default()
    return [pool.FindServiceByName(name) for name in SHORT_NAMES]


def method(full_name: str) -> MethodDescriptor:
    """Return the descriptor of `package.Service/Method`."""
    service, _, name = full_name.partition("/")
    return descriptor_pool.Default().FindServiceByName(service).methods_by_name[name]


def request_class(full_name: str) -> type[Message]:
    """Return the request message class of an RPC."""
    return message_factory.GetMessageClass(method(full_name).input_type)


@dataclass
class Outcome:
    """How a call ended: its code, and the google.rpc details of a failure."""

    code: grpc.StatusCode
    message: str = ""
    reason: str = ""
    violations: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)
    trailer_bytes: int = 0
    responses: list[Message] = field(default_factory=list)


def _outcome(error: aio.AioRpcError) -> Outcome:
    outcome = Outcome(error.code(), error.details() or "")
    trailers = error.trailing_metadata() or ()
    outcome.trailer_bytes = sum(len(key) + len(value) for key, value in trailers)
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    for detail in status.details if status else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            outcome.reason = info.reason
            outcome.metadata = dict(info.metadata)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            outcome.violations = {v.field: v.description for v in bad.field_violations}
    return outcome


async def call(
    channel: aio.Channel,
    full_name: str,
    request: Message,
    *,
    token: str | None = None,
    deadline_seconds: float = 10.0,
    stream_messages: int = 1,
) -> Outcome:
    """Call an RPC (a server stream: read up to `stream_messages` messages) and return how it ended."""
    descriptor = method(full_name)
    response_class = message_factory.GetMessageClass(descriptor.output_type)
    metadata: Sequence[tuple[str, str]] = (("authorization", f"Bearer {token}"),) if token is not None else ()
    path = f"/{full_name}"
    try:
        if descriptor.server_streaming:
            stream: Any = channel.unary_stream(
                path,
                request_serializer=type(request).SerializeToString,
                response_deserializer=response_class.FromString,
            )(request, metadata=metadata, timeout=deadline_seconds)
            responses: list[Message] = []
            async for response in stream:
                responses.append(response)
                if len(responses) >= stream_messages:
                    stream.cancel()
                    break
            return Outcome(grpc.StatusCode.OK, responses=responses)
        unary: Any = channel.unary_unary(
            path, request_serializer=type(request).SerializeToString, response_deserializer=response_class.FromString
        )
        response = await unary(request, metadata=metadata, timeout=deadline_seconds)
        return Outcome(grpc.StatusCode.OK, responses=[response])
    except aio.AioRpcError as error:
        return _outcome(error)
