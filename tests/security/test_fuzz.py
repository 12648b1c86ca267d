# ruff: noqa: E501
"""Every unary RPC of every service, fuzzed from its proto descriptor: never INTERNAL, UNKNOWN or a hang.

Each RPC gets random requests, and — where a random request would stop at the first check — a valid
request of its own with random fields merged over it, so the fuzz reaches the domain code behind the
validation (times, money arithmetic, page tokens, CSV parsing). Requests are drawn up front (hypothesis,
derandomized, a fixed number per RPC, no example database) and then sent straight to the running services
with a deadline each, so the pass takes the same bounded time on every run and a failure names the exact
request. The seed table is one line per RPC (hence no line-length rule in this file).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import grpc
import pytest
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.field_mask_pb2 import FieldMask
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.security.calls import call, services
from tests.security.conftest import Person, World, register, with_trades
from tests.security.fuzz import messages
from trademesh.analytics.v1 import analytics_service_pb2, period_pb2, settings_pb2
from trademesh.auth.v1 import auth_service_pb2
from trademesh.common.v1 import instrument_pb2
from trademesh.marketdata.v1 import bar_pb2, marketdata_service_pb2
from trademesh.trade.v1 import import_pb2, trade_pb2, trade_service_pb2

#: Random requests per RPC (31 RPCs; with the seeded ones ~800 calls, ~20 s here, under a minute when loaded).
EXAMPLES_PER_RPC = 16
#: A call still running after this is a hang.
DEADLINE_SECONDS = 8.0
#: What a caller can never be allowed to cause.
FORBIDDEN = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.DEADLINE_EXCEEDED}
#: RPCs only a service (or admin) may call: fuzzed with a service token, so they get past the role check.
SERVICE_RPCS = {
    "trademesh.trade.v1.TradeService/ReconcileTrades",
    "trademesh.trade.v1.TradeService/RechargeTrades",
}

#: Random requests per RPC with a seed (a valid request that random fields are merged over).
SEEDED_EXAMPLES_PER_RPC = 24
INFY = instrument_pb2.Instrument(exchange=instrument_pb2.EXCHANGE_NSE, symbol="INFY")


def _trade() -> trade_pb2.Trade:
    trade = trade_pb2.Trade(
        instrument=INFY, side=trade_pb2.SIDE_BUY, quantity_micros=1_000_000, price_micros=1_500_000_000
    )
    trade.trade_time.FromDatetime(datetime(2024, 12, 20, 5, 0, tzinfo=UTC))
    return trade


GENERIC_CSV = b"symbol,exchange,side,quantity,price,trade_time,notes\nINFY,NSE,BUY,10,1500.5,2024-12-20 10:15:00,=1+1\n"

#: A valid request per RPC, as a function of the fuzzing user.
SEEDS: dict[str, Callable[[Person], Message]] = {
    "trademesh.auth.v1.AuthService/Login": lambda p: auth_service_pb2.LoginRequest(login=p.username, password="Correct-Horse-42"),
    "trademesh.trade.v1.TradeService/CreateTrade": lambda p: trade_service_pb2.CreateTradeRequest(request_id=str(uuid.uuid4()), trade=_trade()),
    "trademesh.trade.v1.TradeService/UpdateTrade": lambda p: trade_service_pb2.UpdateTradeRequest(trade=trade_pb2.Trade(id=p.trade_ids[0], notes="n"), update_mask=FieldMask(paths=["notes"]), etag=p.etags[p.trade_ids[0]]),
    "trademesh.trade.v1.TradeService/GetTrade": lambda p: trade_service_pb2.GetTradeRequest(id=p.trade_ids[0]),
    "trademesh.trade.v1.TradeService/ListTrades": lambda p: trade_service_pb2.ListTradesRequest(page_size=1, page_token=p.page_token),
    "trademesh.trade.v1.TradeService/ImportTrades": lambda p: trade_service_pb2.ImportTradesRequest(request_id=str(uuid.uuid4()), format=import_pb2.IMPORT_FORMAT_GENERIC_CSV, content=GENERIC_CSV, dry_run=True),
    "trademesh.trade.v1.TradeService/ReconcileTrades": lambda p: trade_service_pb2.ReconcileTradesRequest(user_id=p.user_id, broker=instrument_pb2.BROKER_ZERODHA, broker_account_id="acct-1", sync_log_id="log-1", trades=[import_pb2.BrokerTrade(broker_trade_id="t1", instrument=INFY, side=trade_pb2.SIDE_BUY, quantity_micros=1_000_000, price_micros=1_000_000, trade_time=_trade().trade_time)]),
    "trademesh.marketdata.v1.MarketDataService/GetQuote": lambda p: marketdata_service_pb2.GetQuoteRequest(instrument=INFY),
    "trademesh.marketdata.v1.MarketDataService/GetQuotes": lambda p: marketdata_service_pb2.GetQuotesRequest(instruments=[INFY]),
    "trademesh.marketdata.v1.MarketDataService/GetBars": lambda p: marketdata_service_pb2.GetBarsRequest(instrument=INFY, interval=bar_pb2.BAR_INTERVAL_ONE_MINUTE, start_time=Timestamp(seconds=int(time.time()) - 3600)),
    "trademesh.analytics.v1.AnalyticsService/GetAnalytics": lambda p: analytics_service_pb2.GetAnalyticsRequest(period=period_pb2.PERIOD_DAILY),
    "trademesh.analytics.v1.AnalyticsService/UpdateAnalyticsSettings": lambda p: analytics_service_pb2.UpdateAnalyticsSettingsRequest(settings=settings_pb2.AnalyticsSettings(capital_base_micros=1_000_000), update_mask=FieldMask(paths=["capital_base_micros"])),
}  # fmt: skip


def _merged(seed: Message, noise: Message) -> Message:
    request = type(seed)()
    request.CopyFrom(seed)
    request.MergeFrom(noise)
    return request


UNARY: list[tuple[str, MethodDescriptor]] = [
    (f"{service.full_name}/{method.name}", method)
    for service in services()
    for method in service.methods
    if not method.client_streaming and not method.server_streaming
]


def draw(strategy: st.SearchStrategy[Message], count: int) -> list[Message]:
    """Return `count` examples of `strategy`, the same ones on every run."""
    drawn: list[Message] = []

    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(message: Message) -> None:
        drawn.append(message)

    collect()
    return drawn


def test_every_unary_rpc_is_fuzzed() -> None:
    names = {name for name, _ in UNARY}
    assert len(names) >= 30
    assert {
        "trademesh.analytics.v1.AnalyticsService/GetAnalytics",
        "trademesh.sync.v1.SyncService/ListSyncLogs",
    } <= names


@pytest.mark.parametrize(("rpc", "method"), UNARY, ids=[name for name, _ in UNARY])
async def test_fuzzed_requests_never_reach_internal(world: World, rpc: str, method: MethodDescriptor) -> None:
    # A user of its own per RPC: a fuzzed Logout or ResetPassword must not end the other RPCs' session.
    person = await register(world.channel("direct", "auth"))
    await with_trades(world.channel("direct", "trade"), person)
    token = world.service_token if rpc in SERVICE_RPCS else person.access_token
    channel = world.channel("direct", method.containing_service.full_name)
    requests = draw(messages(method.input_type), EXAMPLES_PER_RPC)
    seeded = 0
    if rpc in SEEDS:
        seed = SEEDS[rpc](person)
        # The seed alone must pass, or the merged requests would only test the first check again.
        alone = await call(channel, rpc, seed, token=token, deadline_seconds=DEADLINE_SECONDS)
        assert alone.code == grpc.StatusCode.OK, f"seed of {rpc} fails: {alone}"
        noisy = draw(st.builds(_merged, st.just(seed), messages(method.input_type)), SEEDED_EXAMPLES_PER_RPC)
        seeded = len(noisy)
        requests += noisy

    failures = []
    codes: dict[str, int] = {}
    for request in requests:
        started = time.monotonic()
        outcome = await call(channel, rpc, request, token=token, deadline_seconds=DEADLINE_SECONDS)
        codes[outcome.code.name] = codes.get(outcome.code.name, 0) + 1
        if outcome.code in FORBIDDEN:
            failures.append((outcome.code.name, round(time.monotonic() - started, 2), outcome.message, request))

    assert not failures, f"{rpc} outcomes {codes}:\n" + "\n".join(
        f"{code} after {seconds}s ({message}): {request!r}" for code, seconds, message, request in failures
    )
    # A request type without fields has one possible value; every other gets its full share.
    assert len(requests) == (EXAMPLES_PER_RPC if method.input_type.fields else 1) + seeded
