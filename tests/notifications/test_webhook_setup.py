"""Webhook use cases on in-memory fakes: creating one (sealed secret, SSRF refusals, limits), other channels."""

from __future__ import annotations

import ipaddress
import uuid

import pytest

from tests.notifications.webhook_fakes import (
    FakeResolver,
)
from tests.notifications.webhook_harness import ALICE, BOB, HOOK, PUBLIC, build
from trademesh.kernel.errors import FailedPrecondition, InvalidArgument, NotFound, ResourceExhausted
from trademesh.services.core.page_tokens import Codec
from trademesh.services.core.sealing import KeyConfigError, Sealer, new_key_text, parse_keys
from trademesh.services.notifications.model import (
    Channel,
    NotificationKind,
    Preferences,
    WebhookDraft,
)
from trademesh.services.notifications.model.webhooks import (
    address_refusal,
    webhook_context,
)
from trademesh.services.notifications.service import AddressPolicy, WebhookService


def test_sealed_secrets_open_only_with_their_context_and_a_listed_key() -> None:
    old, new = new_key_text("old"), new_key_text("new")
    sealer = Sealer.from_setting(old)
    sealed = sealer.seal(b"whsec_x", b"webhook:a:1")
    assert b"whsec_x" not in sealed.ciphertext
    assert sealer.open(sealed, b"webhook:a:1") == b"whsec_x"
    with pytest.raises(ValueError, match="cannot be decrypted"):
        sealer.open(sealed, b"webhook:b:1")
    rotating = Sealer.from_setting(f"{new},{old}")
    resealed = rotating.reseal(sealed, b"webhook:a:1")
    assert resealed is not None
    assert resealed.key_id == "new"
    assert Sealer.from_setting(new).open(resealed, b"webhook:a:1") == b"whsec_x"
    with pytest.raises(ValueError, match="no key with id 'old'"):
        Sealer.from_setting(new).open(sealed, b"webhook:a:1")
    with pytest.raises(KeyConfigError) as caught:
        parse_keys("k:not-base64-of-32-bytes")
    assert "not-base64" not in str(caught.value)


async def test_the_secret_is_returned_once_and_stored_sealed_and_a_retry_returns_it_again() -> None:
    hooks = build()
    request = str(uuid.uuid4())
    webhook, secret = await hooks.service.create(ALICE, request, WebhookDraft(HOOK))
    assert secret.startswith("whsec_")
    assert webhook.secret_hint == secret[-4:]
    stored = hooks.store.webhooks[webhook.id]
    assert secret.encode() not in stored.secret.ciphertext
    assert hooks.sealer.open(stored.secret, webhook_context(ALICE, webhook.id)) == secret.encode()
    again, same = await hooks.service.create(ALICE, request, WebhookDraft(HOOK))
    assert (again.id, same) == (webhook.id, secret)


async def test_every_webhook_use_case_answers_not_configured_without_a_key() -> None:
    hooks = build()
    service = WebhookService(
        store=hooks.store,
        deliveries=hooks.deliveries,
        sealer=None,
        policy=AddressPolicy(FakeResolver(PUBLIC)),
        tokens=Codec(b"x"),
        clock=hooks.clock,
    )
    for call in (
        service.create(ALICE, str(uuid.uuid4()), WebhookDraft(HOOK)),
        service.list_webhooks(ALICE),
        service.delete(ALICE, "wh_1"),
        service.list_deliveries(ALICE, "", None, 0, ""),
    ):
        with pytest.raises(FailedPrecondition) as caught:
            await call
        assert caught.value.reason == "WEBHOOKS_NOT_CONFIGURED"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("", "is required"),
        ("http://hooks.example.com/x", "must use https"),
        ("ftp://hooks.example.com/x", "must use https"),
        ("https://user:pw@hooks.example.com/x", "must not carry credentials"),
        ("https:///nohost", "must name a host"),
        ("https://hooks.example.com/" + "a" * 2048, "at most 2048"),
        ("https://hooks.example.com:99999/x", "valid port"),
        ("https://hooks.example.com/a b", "spaces"),
    ],
)
async def test_malformed_urls_are_invalid(url: str, problem: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        await build().service.create(ALICE, str(uuid.uuid4()), WebhookDraft(url))
    [violation] = caught.value.violations
    assert violation.field == "webhook.url"
    assert problem in violation.description


async def test_http_is_accepted_only_in_dev_mode() -> None:
    hooks = build(allow_http=True)
    await hooks.create(url="http://hooks.example.com/x")
    assert len(hooks.store.webhooks) == 1


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/x",
        "https://localhost.invalid/x",
        "https://10.1.2.3/x",
        "https://192.168.1.10/x",
        "https://172.16.0.5/x",
        "https://169.254.169.254/latest/meta-data/",
        "https://100.100.100.200/",
        "https://[::1]/x",
        "https://[fd00:ec2::254]/x",
        "https://[::ffff:127.0.0.1]/x",
        "https://0.0.0.0/x",
        "https://224.0.0.1/x",
        "https://rebind.example.com/x",
    ],
)
async def test_private_loopback_link_local_and_metadata_addresses_are_refused(url: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        await build().service.create(ALICE, str(uuid.uuid4()), WebhookDraft(url))
    assert caught.value.reason == "WEBHOOK_ADDRESS_REFUSED"


def test_the_dev_allowlist_lets_a_local_receiver_through() -> None:
    loopback = ipaddress.ip_address("127.0.0.1")
    assert address_refusal(loopback) == "127.0.0.1 is a loopback address"
    assert address_refusal(loopback, [ipaddress.ip_network("127.0.0.1/32")]) == ""
    assert address_refusal(ipaddress.ip_address("93.184.216.34")) == ""


async def test_a_user_may_have_a_limited_number_of_webhooks_and_sees_only_their_own() -> None:
    hooks = build()
    await hooks.create()
    await hooks.create()
    with pytest.raises(ResourceExhausted) as caught:
        await hooks.create()
    assert caught.value.reason == "WEBHOOK_LIMIT_REACHED"
    assert await hooks.service.list_webhooks(BOB) == []
    [mine, *_] = await hooks.service.list_webhooks(ALICE)
    with pytest.raises(NotFound):
        await hooks.service.delete(BOB, mine.id)
    with pytest.raises(NotFound):
        await hooks.service.list_deliveries(BOB, mine.id, None, 0, "")
    await hooks.service.delete(ALICE, mine.id)
    assert len(await hooks.service.list_webhooks(ALICE)) == 1


def test_push_and_sms_are_refused_as_not_configured() -> None:
    for channel in (Channel.PUSH, Channel.SMS):
        with pytest.raises(FailedPrecondition) as caught:
            Preferences(channels={NotificationKind.SYSTEM: frozenset({channel})}).validate()
        assert caught.value.reason == "CHANNEL_NOT_CONFIGURED"
