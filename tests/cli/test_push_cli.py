"""``trademesh push`` against the running mesh (`make up`'s, with a VAPID key): the server's key, register a
subscription, list it, a bad one explained from the server's field violations, remove it."""

from __future__ import annotations

import base64
import json
import secrets
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.cli.conftest import Run, ok

#: A public address literal: registration resolves nothing and the address policy lets it through.
ENDPOINT = "https://93.184.216.34/push/cli-test"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _keys() -> tuple[str, str]:
    point = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    return _b64(point), _b64(secrets.token_bytes(16))


def as_json(text: str) -> Any:
    return json.loads(text)


def test_a_subscription_is_registered_listed_and_removed(cli: Run, logged_in: str) -> None:
    config = as_json(ok(cli("push", "config", "--json")))
    assert config["pushEnabled"] is True
    assert len(base64.urlsafe_b64decode(config["vapidPublicKey"] + "==")) == 65
    p256dh, auth = _keys()
    registered = as_json(
        ok(cli("push", "register", "--endpoint", ENDPOINT, "--p256dh", p256dh, "--auth", auth, "--json"))
    )
    assert (registered["endpoint"], registered["p256dh"], registered["userAgent"]) == (
        ENDPOINT,
        p256dh,
        "trademesh CLI",
    )
    listed = as_json(ok(cli("push", "--json")))
    assert [item["id"] for item in listed] == [registered["id"]]
    assert "1 push subscription(s)" in ok(cli("push"))
    assert f"removed push subscription {registered['id']}" in ok(cli("push", "rm", registered["id"]))
    assert as_json(ok(cli("push", "--json"))) == []


def test_a_bad_subscription_is_explained_field_by_field(cli: Run, logged_in: str) -> None:
    refused = cli("push", "register", "--endpoint", "http://93.184.216.34/x", "--p256dh", "AAAA", "--auth", "AAAA")
    assert refused.returncode == 1
    assert "INVALID_ARGUMENT" in refused.stderr
    for field in ("subscription.endpoint", "subscription.p256dh", "subscription.auth"):
        assert field in refused.stderr
