"""The size limits of an import, through the real Envoy into the real trade service (issue 15 item 7).

trade_service.proto lets ImportTrades carry up to 15 MiB of content and 100,000 data rows in a request of at most
the server's maximum message size (16 MiB). The gateway must not cut a large request short — neither over native
gRPC (the CLI, the SDKs) nor over grpc-web, which the browser sends uncompressed — so on both transports content
of exactly 15 MiB imports and each limit is answered by the service with its reason: content just over 15 MiB is
CONTENT_TOO_LARGE, a request over 16 MiB is the gRPC transport's RESOURCE_EXHAUSTED, and 100,001 rows (11 MiB)
are TOO_MANY_ROWS, none of them writing anything. (The 50,000-row imports that succeed are
tests/cli/test_cli_large_import.py's and tests/web/test_browser_large_import.py's.)
"""

from __future__ import annotations

import base64

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from grpc import aio

from tests.conftest import MeshUser
from tests.gateway.conftest import Gateway, grpc_endpoint
from tests.gateway.trade_gateway import NewUser, import_gateway, import_request, trade_host, web_import
from tests.large_tradebook import zerodha_tradebook
from tests.rpc import bearer, expect_failure
from trademesh.services.core.server import ServiceHost
from trademesh.trade.v1 import trade_service_pb2, trade_service_pb2_grpc

__all__ = ["import_gateway", "trade_host"]

pytestmark = [pytest.mark.timeout(240)]

#: The contract's limits (trade_service.proto: ImportTradesRequest.content, TRADEMESH_GRPC_MAX_MESSAGE_BYTES).
MAX_CONTENT_BYTES = 15 * 1024 * 1024
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
MAX_ROWS = 100_000


def padded_tradebook(size: int) -> bytes:
    """A small valid Zerodha tradebook followed by blank lines up to ``size`` bytes (blank lines are not rows)."""
    content = zerodha_tradebook(10)
    return content + b"\n" * (size - len(content))


async def native(gateway: Gateway, user: MeshUser, content: bytes) -> tuple[grpc.StatusCode, str]:
    """Import ``content`` over native gRPC through the gateway (a client allowed to send it); the failure."""
    async with aio.insecure_channel(gateway.address, options=[("grpc.max_send_message_length", -1)]) as channel:
        failure = await expect_failure(
            trade_service_pb2_grpc.TradeServiceStub(channel).ImportTrades(
                import_request(content), metadata=bearer(user.access_token), timeout=120
            )
        )
    return failure.code, failure.reason


async def web(gateway: Gateway, user: MeshUser, content: bytes) -> tuple[grpc.StatusCode, str]:
    """Import ``content`` over grpc-web through the gateway, as the browser sends it (uncompressed); the failure."""
    response = await web_import(gateway, user.access_token, content)
    code = {c.value[0]: c for c in grpc.StatusCode}[response.grpc_status]
    reason = ""
    details = response.trailers.get("grpc-status-details-bin", "")
    if details:
        status = status_pb2.Status.FromString(base64.b64decode(details + "=" * (-len(details) % 4)))
        for detail in status.details:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                reason = info.reason
    return code, reason


async def journal_is_empty(trade: ServiceHost, user: MeshUser) -> bool:
    """True when the user has no trade (asked at the service: every other route of this gateway is 0.1 s)."""
    async with aio.insecure_channel(str(grpc_endpoint(trade))) as channel:
        page = await trade_service_pb2_grpc.TradeServiceStub(channel).ListTrades(
            trade_service_pb2.ListTradesRequest(page_size=1), metadata=bearer(user.access_token)
        )
    return not page.trades


async def test_content_of_exactly_15_mib_imports_on_both_transports(import_gateway: Gateway, new_user: NewUser) -> None:
    user = await new_user()
    content = padded_tradebook(MAX_CONTENT_BYTES)

    async with aio.insecure_channel(import_gateway.address) as channel:
        first = await trade_service_pb2_grpc.TradeServiceStub(channel).ImportTrades(
            import_request(content), metadata=bearer(user.access_token), timeout=120
        )
    response = await web_import(import_gateway, user.access_token, content)
    assert response.grpc_status == 0, response.trailers
    again = trade_service_pb2.ImportTradesResponse.FromString(response.messages[0])

    assert (first.rows_total, first.rows_created, first.rows_failed) == (10, 10, 0)
    assert (again.rows_total, again.rows_created, again.rows_duplicate) == (10, 0, 10)


async def test_content_just_over_15_mib_is_content_too_large_on_both_transports(
    import_gateway: Gateway, trade_host: ServiceHost, new_user: NewUser
) -> None:
    user = await new_user()
    content = padded_tradebook(MAX_CONTENT_BYTES + 1)

    expected = (grpc.StatusCode.INVALID_ARGUMENT, "CONTENT_TOO_LARGE")
    assert await native(import_gateway, user, content) == expected
    assert await web(import_gateway, user, content) == expected
    assert await journal_is_empty(trade_host, user)


async def test_a_request_over_the_16_mib_message_limit_is_resource_exhausted_on_both_transports(
    import_gateway: Gateway, trade_host: ServiceHost, new_user: NewUser
) -> None:
    user = await new_user()
    content = padded_tradebook(MAX_MESSAGE_BYTES + 1024)

    # The service's gRPC transport refuses the message before any code of the service sees it: no reason.
    assert await native(import_gateway, user, content) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "")
    assert await web(import_gateway, user, content) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "")
    assert await journal_is_empty(trade_host, user)


async def test_one_row_over_the_100000_row_limit_is_too_many_rows_on_both_transports(
    import_gateway: Gateway, trade_host: ServiceHost, new_user: NewUser
) -> None:
    user = await new_user()
    content = zerodha_tradebook(MAX_ROWS + 1)
    assert len(content) < MAX_CONTENT_BYTES  # the row limit, not the byte limit

    expected = (grpc.StatusCode.INVALID_ARGUMENT, "TOO_MANY_ROWS")
    assert await native(import_gateway, user, content) == expected
    assert await web(import_gateway, user, content) == expected
    assert await journal_is_empty(trade_host, user)
