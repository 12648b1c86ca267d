"""Login throttling: one counter per account (whatever login names it), per client address as the gateway says.

The gateway's side (Envoy establishing and overwriting the address) is in tests/gateway/test_hardening.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import grpc
import pytest

from tests.rpc import expect_failure
from trademesh.auth.v1 import auth_service_pb2
from trademesh.services.auth.client_address import TrustedProxies, peer_host

PASSWORD = "Correct-Horse-42"


async def test_email_and_username_share_one_account_counter(start_auth: Callable[..., Any]) -> None:
    _, auth = await start_auth(login_max_failures_per_account=4, login_max_failures_per_address=100)
    name = f"user_{uuid.uuid4().hex[:10]}"
    email = f"{name}@Example.com"
    await auth.Register(auth_service_pb2.RegisterRequest(email=email, username=name, password=PASSWORD))
    # Two guesses by email (in another case), two by username: four failures of one account.
    for login in (email.upper(), email, name, name.upper()):
        failure = await expect_failure(auth.Login(auth_service_pb2.LoginRequest(login=login, password="Wrong-1234-x")))
        assert failure.code == grpc.StatusCode.UNAUTHENTICATED
    for login in (email, name):
        throttled = await expect_failure(auth.Login(auth_service_pb2.LoginRequest(login=login, password=PASSWORD)))
        assert (throttled.code, throttled.reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "LOGIN_THROTTLED")


async def test_a_forwarded_address_from_an_untrusted_peer_is_ignored(start_auth: Callable[..., Any]) -> None:
    # Trusted: some other address, not this test's 127.0.0.1.
    _, auth = await start_auth(
        trusted_proxies="127.0.0.2", login_max_failures_per_address=2, login_max_failures_per_account=100
    )
    for index in range(2):
        failure = await expect_failure(
            auth.Login(
                auth_service_pb2.LoginRequest(login=f"nobody_{uuid.uuid4().hex[:8]}", password="Wrong-1234-x"),
                metadata=(("x-envoy-external-address", f"192.0.2.{index}"),),
            )
        )
        assert failure.code == grpc.StatusCode.UNAUTHENTICATED
    throttled = await expect_failure(
        auth.Login(
            auth_service_pb2.LoginRequest(login=f"nobody_{uuid.uuid4().hex[:8]}", password="Wrong-1234-x"),
            metadata=(("x-envoy-external-address", "192.0.2.77"),),
        )
    )
    assert throttled.code == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_a_forwarded_address_from_a_trusted_peer_is_the_client(start_auth: Callable[..., Any]) -> None:
    _, auth = await start_auth(
        trusted_proxies="127.0.0.0/8", login_max_failures_per_address=2, login_max_failures_per_account=100
    )

    async def fail(address: str) -> grpc.StatusCode:
        failure = await expect_failure(
            auth.Login(
                auth_service_pb2.LoginRequest(login=f"nobody_{uuid.uuid4().hex[:8]}", password="Wrong-1234-x"),
                metadata=(("x-envoy-external-address", address),),
            )
        )
        return failure.code

    assert [await fail("198.51.100.1") for _ in range(3)] == [
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    ]
    # Another client (as the gateway says) is not affected.
    assert await fail("198.51.100.2") == grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("ipv4:127.0.0.2:4000", "203.0.113.5", "203.0.113.5"),
        ("ipv4:127.0.0.1:4000", "203.0.113.5", "127.0.0.1"),
        ("ipv6:[::1]:4000", "203.0.113.5", "::1"),
        ("ipv4:10.1.2.3:4000", " 2001:db8::1 ", "2001:db8::1"),
        ("ipv4:10.1.2.3:4000", "not-an-address", "10.1.2.3"),
        ("ipv4:10.1.2.3:4000", None, "10.1.2.3"),
        ("unix:/tmp/socket", "203.0.113.5", "unix:/tmp/socket"),
    ],
)
def test_client_address(peer: str, forwarded: str | None, expected: str) -> None:
    proxies = TrustedProxies.parse("127.0.0.2, 10.0.0.0/8")
    assert proxies.client_address(peer, forwarded) == expected


def test_trusted_proxies_parse() -> None:
    assert TrustedProxies.parse("").networks == ()
    assert peer_host("ipv6:[2001:db8::5]:443") == "2001:db8::5"
    with pytest.raises(ValueError, match="not an IP address"):
        TrustedProxies.parse("gateway.local")
