"""The fake brokers answer like the real APIs; the operator tools (service token, keys) work."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import jwt
import pytest
from kiteconnect import KiteConnect
from kiteconnect import exceptions as kite_errors

from tests.sync.conftest import DATA
from trademesh.services.auth.keys import KeyRing
from trademesh.services.brokers.zerodha.fake import FakeKite, kite_order_of, kite_trade
from trademesh.services.core.settings import SettingsError
from trademesh.services.sync.credentials import KeyConfigError, parse_keys
from trademesh.services.sync.server import build_cipher
from trademesh.services.sync.settings import SyncSettings
from trademesh.services.sync.trades import ServiceToken


def sample(name: str) -> object:
    """Return the `data` of a kiteconnect-mocks sample response."""
    return json.loads((DATA / f"kite_{name}.json").read_text())["data"]


def test_fake_kite_rows_have_the_real_shapes() -> None:
    trades, orders = sample("trades"), sample("orders")
    assert isinstance(trades, list)
    assert isinstance(orders, list)
    fill = kite_trade()
    assert set(fill) == set(trades[0])
    assert set(kite_order_of(fill)) == set(orders[0])


async def test_fake_kite_works_with_the_real_client_and_checks_the_checksum(fake_kite: FakeKite) -> None:
    app = fake_kite.add_app("fakekey1", "fakesecret1", "AB1234", "Asha Rao")
    app.trades = [kite_trade(symbol="SBIN", price=420.65)]

    def session_and_trades() -> tuple[dict[str, object], list[dict[str, object]]]:
        client = KiteConnect("fakekey1", root=fake_kite.base_url)
        session = client.generate_session("request-1", api_secret="fakesecret1")
        return session, client.trades()

    session, trades = await asyncio.to_thread(session_and_trades)
    expected = sample("generate_session")
    assert isinstance(expected, dict)
    assert set(session) == set(expected)
    assert session["user_id"] == "AB1234"
    assert [t["tradingsymbol"] for t in trades] == ["SBIN"]

    def bad_checksum() -> None:
        KiteConnect("fakekey1", root=fake_kite.base_url).generate_session("request-2", api_secret="wrong")

    with pytest.raises(kite_errors.TokenException):
        await asyncio.to_thread(bad_checksum)

    def reused_token() -> None:
        KiteConnect("fakekey1", root=fake_kite.base_url).generate_session("request-1", api_secret="fakesecret1")

    with pytest.raises(kite_errors.TokenException):
        await asyncio.to_thread(reused_token)


async def test_fake_kite_rate_limits_past_ten_requests_a_second(fake_kite: FakeKite) -> None:
    app = fake_kite.add_app("fakekey2", "fakesecret2", "AB9999")
    token = app.new_access_token()
    fake_kite.clock = lambda: 1000.0  # every request lands in the same second, however slow the machine
    headers = {"X-Kite-Version": "3", "Authorization": f"token fakekey2:{token}"}
    async with aiohttp.ClientSession() as http:

        async def get() -> tuple[int, dict[str, object]]:
            async with http.get(fake_kite.base_url + "/trades", headers=headers) as response:
                return response.status, await response.json()

        answers = await asyncio.gather(*(get() for _ in range(15)))
    statuses = sorted(status for status, _ in answers)
    assert statuses == [200] * 10 + [429] * 5
    assert {body["error_type"] for status, body in answers if status == 429} == {"NetworkException"}
    assert app.rate_limited == 5


def test_issue_service_token_command_writes_a_service_token(key_dir: Path, tmp_path: Path) -> None:
    output = tmp_path / "sync.token"
    env = {**os.environ, "TRADEMESH_SIGNING_KEY_FILES": str(key_dir / "active.pem")}
    subprocess.run(
        [sys.executable, "-m", "trademesh.services.auth.admin", "issue-service-token", "--name", "sync",
         "--ttl-days", "2", "--output", str(output)],
        env=env, check=True, timeout=60,
    )  # fmt: skip
    assert output.stat().st_mode & 0o777 == 0o600
    keys = KeyRing.from_files([key_dir / "active.pem"])
    header = jwt.get_unverified_header(output.read_text().strip())
    claims = jwt.decode(
        output.read_text().strip(),
        keys.public_keys()[header["kid"]],
        algorithms=["EdDSA"],
        audience="trademesh",
        issuer="trademesh-auth",
    )
    assert claims["sub"] == "service:sync"
    assert claims["roles"] == ["service"]
    assert claims["jti"]
    assert abs(claims["exp"] - time.time() - 2 * 86400) < 120


def test_service_token_file_is_reread_when_it_changes(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("first\n")
    token = ServiceToken(path=path)
    assert token.current() == "first"
    path.write_text("second\n")
    os.utime(path, (time.time() + 5, time.time() + 5))
    assert token.current() == "second"
    with pytest.raises(ValueError, match="TRADEMESH_SERVICE_TOKEN"):
        ServiceToken()


def test_credentials_key_setting_is_checked_without_echoing_it() -> None:
    with pytest.raises(SettingsError, match="TRADEMESH_BROKER_CREDENTIALS_KEY is required"):
        build_cipher(SyncSettings(broker_credentials_key=""))
    secret_looking = "k1:c2VjcmV0LWJ1dC10b28tc2hvcnQ"
    with pytest.raises(SettingsError) as raised:
        build_cipher(SyncSettings(broker_credentials_key=secret_looking))
    assert "c2VjcmV0" not in str(raised.value)
    with pytest.raises(KeyConfigError, match="listed twice"):
        parse_keys("a:" + "A" * 43 + ",a:" + "B" * 43)
