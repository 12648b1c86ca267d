"""Retries come from the channel's service config; every unary call has a deadline.

A hand-written fake AuthService (in-process, port 0) fails on purpose and counts the attempts it sees;
gRPC marks each retry with the ``grpc-previous-rpc-attempts`` header, which no hand-written loop sends.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
from grpc import aio

from trademesh.auth.v1 import auth_service_pb2
from trademesh.sdk import IDEMPOTENT_METHODS, ClientOptions, TrademeshError, connect, service_config_json


@dataclass
class FlakyAuth:
    """A fake AuthService: fails GetJwks with UNAVAILABLE ``failures`` times, Login always; sleeps in GetMe."""

    failures: int = 2
    attempts: dict[str, list[str]] = field(default_factory=dict)

    def _record(self, method: str, context: aio.ServicerContext[object, object]) -> None:
        previous = dict(context.invocation_metadata() or ()).get("grpc-previous-rpc-attempts", "0")
        self.attempts.setdefault(method, []).append(str(previous))

    async def GetJwks(
        self, request: auth_service_pb2.GetJwksRequest, context: aio.ServicerContext[object, object]
    ) -> auth_service_pb2.GetJwksResponse:
        self._record("GetJwks", context)
        if len(self.attempts["GetJwks"]) <= self.failures:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "try again")
        return auth_service_pb2.GetJwksResponse()

    async def Login(
        self, request: auth_service_pb2.LoginRequest, context: aio.ServicerContext[object, object]
    ) -> auth_service_pb2.LoginResponse:
        self._record("Login", context)
        await context.abort(grpc.StatusCode.UNAVAILABLE, "down")

    async def GetMe(
        self, request: auth_service_pb2.GetMeRequest, context: aio.ServicerContext[object, object]
    ) -> auth_service_pb2.GetMeResponse:
        self._record("GetMe", context)
        await asyncio.sleep(5)
        return auth_service_pb2.GetMeResponse()


@pytest.fixture
async def flaky() -> AsyncIterator[tuple[FlakyAuth, str]]:
    servicer = FlakyAuth()
    server = aio.server()
    methods: dict[str, grpc.RpcMethodHandler[Any, Any]] = {
        name: grpc.unary_unary_rpc_method_handler(
            getattr(servicer, name),
            request_deserializer=getattr(auth_service_pb2, f"{name}Request").FromString,
            response_serializer=lambda message: message.SerializeToString(),
        )
        for name in ("GetJwks", "Login", "GetMe")
    }
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("trademesh.auth.v1.AuthService", methods)])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield servicer, f"127.0.0.1:{port}"
    await server.stop(0)


async def test_an_idempotent_call_is_retried_by_grpc_until_it_succeeds(flaky: tuple[FlakyAuth, str]) -> None:
    servicer, target = flaky
    async with connect(target) as client:
        await client.auth.GetJwks(auth_service_pb2.GetJwksRequest())
    assert servicer.attempts["GetJwks"] == ["0", "1", "2"]


async def test_a_non_idempotent_call_is_sent_once(flaky: tuple[FlakyAuth, str]) -> None:
    servicer, target = flaky
    async with connect(target) as client:
        with pytest.raises(TrademeshError) as failed:
            await client.login("someone", "Wrong-Password-1")
    assert failed.value.code == grpc.StatusCode.UNAVAILABLE
    assert servicer.attempts["Login"] == ["0"]


async def test_retries_stop_after_max_attempts(flaky: tuple[FlakyAuth, str]) -> None:
    servicer, target = flaky
    servicer.failures = 10
    async with connect(target, options=ClientOptions(retry_max_attempts=3)) as client:
        with pytest.raises(TrademeshError) as failed:
            await client.auth.GetJwks(auth_service_pb2.GetJwksRequest())
    assert failed.value.code == grpc.StatusCode.UNAVAILABLE
    assert servicer.attempts["GetJwks"] == ["0", "1", "2"]


async def test_every_unary_call_gets_the_default_deadline(flaky: tuple[FlakyAuth, str]) -> None:
    _, target = flaky
    loop = asyncio.get_running_loop()
    async with connect(target, options=ClientOptions(default_timeout=0.3)) as client:
        started = loop.time()
        with pytest.raises(TrademeshError) as late:
            await client.auth.GetMe(auth_service_pb2.GetMeRequest())
        assert late.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
        assert loop.time() - started < 2
        # An explicit timeout wins over the default.
        with pytest.raises(TrademeshError) as later:
            await client.auth.GetMe(auth_service_pb2.GetMeRequest(), timeout=0.6)
        assert later.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
        assert loop.time() - started >= 0.9


def test_the_service_config_names_only_idempotent_methods() -> None:
    config = json.loads(service_config_json(ClientOptions()))
    named = {(name["service"], name["method"]) for entry in config["methodConfig"] for name in entry["name"]}
    assert ("trademesh.auth.v1.AuthService", "GetMe") in named
    assert ("trademesh.trade.v1.TradeService", "CreateTrade") in named  # idempotent by request_id
    for service, method in [
        ("trademesh.auth.v1.AuthService", "Login"),
        ("trademesh.auth.v1.AuthService", "Refresh"),
        ("trademesh.trade.v1.TradeService", "UpdateTrade"),
    ]:
        assert (service, method) not in named
    assert len(named) == sum(len(methods) for methods in IDEMPOTENT_METHODS.values())
    policy = config["methodConfig"][0]["retryPolicy"]
    assert policy["retryableStatusCodes"] == ["UNAVAILABLE"]
