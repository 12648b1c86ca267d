"""The Python SDK against the real mesh: errors, tokens, sync client, deadlines."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from tests.client_mesh import PASSWORD, RunningMesh, new_username
from trademesh.auth.v1 import auth_service_pb2
from trademesh.common.v1 import instrument_pb2
from trademesh.sdk import AsyncTrademesh, Tokens, TrademeshError, connect, connect_sync, parse_instrument, parse_target
from trademesh.trade.v1 import trade_pb2, trade_service_pb2


def manual_trade(symbol: str = "INFY", quantity: int = 10, price_rupees: int = 1500) -> trade_pb2.Trade:
    """A valid manual equity trade an hour ago."""
    when = Timestamp()
    when.FromDatetime(datetime.now(UTC) - timedelta(hours=1))
    return trade_pb2.Trade(
        instrument=instrument_pb2.Instrument(symbol=symbol, exchange=instrument_pb2.EXCHANGE_NSE),
        side=trade_pb2.SIDE_BUY,
        quantity_micros=quantity * 1_000_000,
        price_micros=price_rupees * 1_000_000,
        trade_time=when,
    )


async def registered(target: str, **kwargs: object) -> AsyncTrademesh:
    """A client of ``target`` logged in as a new user."""
    client = connect(target, **kwargs)  # type: ignore[arg-type]
    name = new_username()
    await client.register(email=f"{name}@example.com", username=name, password=PASSWORD)
    return client


async def test_errors_carry_the_code_reason_domain_and_field_violations(mesh: RunningMesh) -> None:
    async with connect(mesh.gateway) as client:
        with pytest.raises(TrademeshError) as invalid:
            await client.register(email="not-an-email", username="x", password="short")
        assert invalid.value.code == grpc.StatusCode.INVALID_ARGUMENT
        assert invalid.value.domain == "auth.trademesh.dev"
        assert {violation.field for violation in invalid.value.field_violations} == {"email", "username", "password"}

        with pytest.raises(TrademeshError) as denied:
            await client.login(new_username(), "Wrong-Password-99")
        assert denied.value.code == grpc.StatusCode.UNAUTHENTICATED
        assert denied.value.reason == "INVALID_CREDENTIALS"
        assert client.tokens is None

    client = await registered(mesh.gateway)
    async with client:
        with pytest.raises(TrademeshError) as missing:
            await client.trade.GetTrade(trade_service_pb2.GetTradeRequest(id="no-such-trade"))
        assert missing.value.code == grpc.StatusCode.NOT_FOUND
        assert missing.value.reason == "TRADE_NOT_FOUND"
        assert missing.value.domain == "trade.trademesh.dev"

        with pytest.raises(TrademeshError) as unknown:
            await anext(aiter(client.subscribe_quotes(["NOSUCHSYMBOL"])))
        assert unknown.value.code == grpc.StatusCode.INVALID_ARGUMENT
        assert unknown.value.reason == "UNKNOWN_INSTRUMENTS"
        assert [violation.field for violation in unknown.value.field_violations] == ["instruments[0]"]


async def test_async_client_creates_lists_and_streams_directly_against_each_service(mesh: RunningMesh) -> None:
    # One channel per service address: the SDK also works without the gateway.
    async with connect(mesh.auth) as auth_client:
        name = new_username()
        user = await auth_client.register(email=f"{name}@example.com", username=name, password=PASSWORD)
        tokens = auth_client.tokens
    assert tokens is not None
    async with connect(mesh.trade, tokens=tokens) as trade_client:
        request_id = str(uuid.uuid4())
        created = await trade_client.trade.CreateTrade(
            trade_service_pb2.CreateTradeRequest(request_id=request_id, trade=manual_trade("TCS"))
        )
        assert created.trade.user_id == user.id
        listed = await trade_client.trade.ListTrades(trade_service_pb2.ListTradesRequest())
        assert [trade.id for trade in listed.trades] == [created.trade.id]
    async with connect(mesh.marketdata, tokens=tokens) as quotes_client:
        async for batch in quotes_client.subscribe_quotes(["INFY", "NSE:TCS"]):
            assert batch.snapshot
            assert {quote.instrument.symbol for quote in batch.quotes} == {"INFY", "TCS"}
            break


def test_blocking_client_does_the_same_and_raises_the_same_error(mesh: RunningMesh) -> None:
    with connect_sync(mesh.gateway) as client:
        name = new_username()
        client.register(email=f"{name}@example.com", username=name, password=PASSWORD)
        me = client.auth.GetMe(auth_service_pb2.GetMeRequest())
        assert me.user.username == name
        created = client.trade.CreateTrade(
            trade_service_pb2.CreateTradeRequest(request_id=str(uuid.uuid4()), trade=manual_trade())
        )
        assert created.trade.version == 1
        with pytest.raises(TrademeshError) as invalid:
            client.trade.CreateTrade(
                trade_service_pb2.CreateTradeRequest(request_id=str(uuid.uuid4()), trade=manual_trade(quantity=0))
            )
        assert invalid.value.code == grpc.StatusCode.INVALID_ARGUMENT
        assert "trade.quantity_micros" in [violation.field for violation in invalid.value.field_violations]

        batches = client.subscribe_quotes(["RELIANCE"])
        first = next(iter(batches))
        assert first.snapshot
        assert first.quotes[0].instrument.symbol == "RELIANCE"


async def test_an_expired_access_token_is_refreshed_before_the_call(mesh: RunningMesh) -> None:
    first = await registered(mesh.gateway)
    async with first:
        assert first.tokens is not None
        # A garbage access token whose expiry has passed: the call can only succeed if the SDK refreshes
        # it first (the server would reject the garbage).
        stale = Tokens(
            access_token="expired",
            access_expires_at=datetime.now(UTC) - timedelta(seconds=1),
            refresh_token=first.tokens.refresh_token,
            refresh_expires_at=first.tokens.refresh_expires_at,
            issued_at=datetime.now(UTC) - timedelta(minutes=15),
        )
    saved: list[Tokens | None] = []
    async with connect(mesh.gateway, tokens=stale, on_tokens=saved.append) as client:
        # Concurrent calls share one refresh (a second Refresh with the same token would revoke the session).
        answers = await asyncio.gather(*(client.auth.GetMe(auth_service_pb2.GetMeRequest()) for _ in range(6)))
        assert len({answer.user.id for answer in answers}) == 1
        assert len(saved) == 1
        renewed = saved[0]
        assert renewed is not None
        assert renewed.refresh_token != stale.refresh_token
        assert renewed.access_expires_at > datetime.now(UTC) + timedelta(minutes=10)
        assert client.tokens == renewed


async def test_a_rejected_access_token_is_refreshed_once_and_the_call_sent_again(mesh: RunningMesh) -> None:
    first = await registered(mesh.gateway)
    async with first:
        assert first.tokens is not None
        rejected = Tokens(
            access_token="tampered",
            access_expires_at=datetime.now(UTC) + timedelta(minutes=10),
            refresh_token=first.tokens.refresh_token,
            refresh_expires_at=first.tokens.refresh_expires_at,
            issued_at=datetime.now(UTC),
        )
    saved: list[Tokens | None] = []
    async with connect(mesh.gateway, tokens=rejected, on_tokens=saved.append) as client:
        listed = await client.trade.ListTrades(trade_service_pb2.ListTradesRequest())
        assert list(listed.trades) == []
        assert len(saved) == 1


async def test_tokens_never_appear_in_reprs_or_logs(mesh: RunningMesh, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client = await registered(mesh.gateway)
    async with client:
        tokens = client.tokens
        assert tokens is not None
        await client.session.refresh(seen=tokens.access_token)
        current = client.tokens
        assert current is not None
        assert current.refresh_token != tokens.refresh_token
        for text in (repr(client), repr(current), str(current), repr(client.session), caplog.text):
            for secret in (tokens.refresh_token, current.refresh_token, current.access_token):
                assert secret not in text


def test_targets_and_instruments_parse_and_connect_needs_a_loop() -> None:
    assert parse_target("127.0.0.1:8080") == parse_target("http://127.0.0.1:8080")
    assert not parse_target("localhost:8080").tls
    assert parse_target("mesh.example.com:443").tls
    assert parse_target("https://mesh.example.com").address == "mesh.example.com:443"
    assert not parse_target("mesh.internal:8080", tls=False).tls
    with pytest.raises(ValueError, match="needs a port"):
        parse_target("mesh.example.com")
    assert parse_instrument("nfo:nifty24decfut") == instrument_pb2.Instrument(
        symbol="NIFTY24DECFUT", exchange=instrument_pb2.EXCHANGE_NFO
    )
    with pytest.raises(ValueError, match="unknown exchange"):
        parse_instrument("XYZ:INFY")
    with pytest.raises(RuntimeError, match="inside a coroutine"):
        connect("127.0.0.1:8080")  # an asyncio channel needs the loop it will run on


async def test_throttled_logins_carry_the_retry_delay(mesh: RunningMesh) -> None:
    name = new_username()
    async with connect(mesh.auth) as client:
        await client.register(email=f"{name}@example.com", username=name, password=PASSWORD)
        codes = []
        for _ in range(8):
            with pytest.raises(TrademeshError) as failed:
                await client.login(name, "Wrong-Password-99")
            codes.append(failed.value.code)
            if failed.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED:
                break
    assert codes[0] == grpc.StatusCode.UNAUTHENTICATED
    assert codes[-1] == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert failed.value.reason == "LOGIN_THROTTLED"
    assert failed.value.retry_delay is not None
    assert failed.value.retry_delay > 0
