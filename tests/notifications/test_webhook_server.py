"""Webhooks on real servers: the notifications service (Redis, the database, auth) posting to a local aiohttp receiver.

The receiver checks signatures the way the README's recipe does. Retries are made due by moving the stored
`next_attempt_at` to now (the schedule itself is tested on a fake clock in test_webhook_delivery.py).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from aiohttp import web
from grpc import aio
from redis.asyncio import Redis

from tests.eventually import eventually
from tests.rpc import expect_failure
from trademesh.notifications.v1 import notifications_service_pb2, notifications_service_pb2_grpc, webhook_pb2
from trademesh.services.core.sealing import new_key_text
from trademesh.services.notifications.budget import RedisSendBudget
from trademesh.services.notifications.model import MAX_ATTEMPTS, Notification, NotificationKind
from trademesh.services.notifications.server import NotificationsRuntime, build_notifications_runtime
from trademesh.services.notifications.settings import NotificationsSettings
from trademesh.services.notifications.webhook_http import HttpWebhookSender

if TYPE_CHECKING:
    from tests.conftest import MeshUser
    from trademesh.notifications.v1.notifications_service_pb2_grpc import NotificationsServiceAsyncStub

pb = notifications_service_pb2


def receiver_verifies(secret: str, headers: dict[str, str], body: bytes, now: float, tolerance: int = 300) -> bool:
    """The README's receiver check, verbatim: a fresh timestamp and a matching v1 signature."""
    timestamp = headers.get("Trademesh-Timestamp", "")
    signature = headers.get("Trademesh-Signature", "")
    if not timestamp.isdigit() or abs(now - int(timestamp)) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(f"v1={expected}", part.strip()) for part in signature.split(","))


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Receiver:
    """A local webhook receiver answering from a script of statuses (then 200)."""

    port: int = 0
    statuses: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append(Received(dict(request.headers), await request.read(), time.time()))
        return web.Response(status=self.statuses.pop(0) if self.statuses else 200, text="ok")


@dataclass
class Running:
    runtime: NotificationsRuntime
    stub: NotificationsServiceAsyncStub
    receiver: Receiver
    settings: NotificationsSettings


@pytest.fixture
async def start(core_settings: Callable[..., dict[str, Any]]) -> AsyncIterator[Callable[..., Awaitable[Running]]]:
    cleanups: list[Callable[[], Awaitable[object]]] = []

    async def run(**overrides: Any) -> Running:
        receiver = Receiver()
        app = web.Application()
        app.router.add_post("/hook", receiver.handle)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        cleanups.append(runner.cleanup)
        receiver.port = runner.addresses[0][1]
        values = {
            "webhook_secrets_key": new_key_text("test"),
            "dev_mode": True,
            "webhook_allowed_networks": "127.0.0.1/32",
            "webhook_dispatch_interval_seconds": 0.2,
            **overrides,
        }
        settings = NotificationsSettings(**core_settings(**values))
        runtime = await build_notifications_runtime(settings)
        cleanups.append(lambda: runtime.host.stop(0))
        channel = aio.insecure_channel(f"127.0.0.1:{runtime.host.port}")
        cleanups.append(channel.close)
        return Running(runtime, notifications_service_pb2_grpc.NotificationsServiceStub(channel), receiver, settings)

    yield run
    for cleanup in reversed(cleanups):
        await cleanup()


def _notice(user_id: str) -> Notification:
    return Notification(
        f"system.{uuid.uuid4().hex}", user_id, NotificationKind.SYSTEM, "Hello", "from the test", datetime.now(UTC)
    )


async def _create(service: Running, user: MeshUser, url: str = "") -> pb.CreateWebhookResponse:
    return await service.stub.CreateWebhook(
        pb.CreateWebhookRequest(
            request_id=str(uuid.uuid4()), webhook=webhook_pb2.Webhook(url=url or service.receiver.url)
        ),
        metadata=user.metadata,
    )


async def _make_retries_due(service: Running) -> None:
    """Move every pending delivery's next attempt to now and wake the dispatcher (time passing)."""
    app = service.runtime.app
    assert app.mongo is not None
    database = app.mongo[service.settings.mongo_database]
    await database.notification_webhook_deliveries.update_many(
        {"state": "pending", "lease_token": ""}, {"$set": {"next_attempt_at": datetime.now(UTC)}}
    )
    app.notifier.webhook_due.set()


async def _deliveries(service: Running, user: MeshUser, **kwargs: Any) -> list[webhook_pb2.WebhookDelivery]:
    response = await service.stub.ListWebhookDeliveries(
        pb.ListWebhookDeliveriesRequest(**kwargs), metadata=user.metadata
    )
    return list(response.deliveries)


async def test_a_notification_is_posted_signed_and_the_receiver_verifies_it_within_the_replay_window(
    start: Callable[..., Awaitable[Running]], new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    service = await start()
    alice = await new_user()
    created = await _create(service, alice)
    assert created.signing_secret.startswith("whsec_")
    listed = await service.stub.ListWebhooks(pb.ListWebhooksRequest(), metadata=alice.metadata)
    assert [hook.id for hook in listed.webhooks] == [created.webhook.id]
    assert listed.webhooks[0].secret_hint == created.signing_secret[-4:]
    notice = _notice(alice.user_id)
    await service.runtime.app.notifier.notify(notice)
    [post] = await eventually(lambda: _now(service.receiver.received), what="the receiver gets the post")
    assert receiver_verifies(created.signing_secret, post.headers, post.body, post.at)
    assert json.loads(post.body)["notification"]["id"] == notice.id
    assert post.headers["Idempotency-Key"] == f"{notice.id}:webhook:{created.webhook.id}"
    # Replayed later than the window, or with the body changed, or with another secret: refused.
    assert not receiver_verifies(created.signing_secret, post.headers, post.body, post.at + 301)
    assert not receiver_verifies(created.signing_secret, post.headers, post.body + b" ", post.at)
    assert not receiver_verifies("whsec_other", post.headers, post.body, post.at)
    [delivery] = await eventually(
        lambda: _deliveries(service, alice),
        until=lambda items: bool(items) and items[0].state == webhook_pb2.WEBHOOK_DELIVERY_STATE_SENT,
        what="the delivery is recorded SENT",
    )
    assert (delivery.attempts, delivery.last_status_code) == (1, 200)


async def _now(value: Any) -> Any:
    return value


async def test_a_post_answered_500_is_retried_until_it_succeeds_with_the_same_idempotency_key(
    start: Callable[..., Awaitable[Running]], new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    service = await start()
    alice = await new_user()
    created = await _create(service, alice)
    service.receiver.statuses = [500, 500]
    await service.runtime.app.notifier.notify(_notice(alice.user_id))
    for attempt in (1, 2):
        await eventually(
            lambda: _deliveries(service, alice),
            until=lambda items, n=attempt: bool(items) and items[0].attempts == n,  # type: ignore[misc]
            what=f"failed attempt {attempt} is recorded",
        )
        [pending] = await _deliveries(service, alice)
        assert pending.state == webhook_pb2.WEBHOOK_DELIVERY_STATE_PENDING
        assert pending.last_status_code == 500
        assert pending.next_attempt_time.ToDatetime(UTC) > datetime.now(UTC)
        await _make_retries_due(service)
    [sent] = await eventually(
        lambda: _deliveries(service, alice),
        until=lambda items: items[0].state == webhook_pb2.WEBHOOK_DELIVERY_STATE_SENT,
        what="the third attempt succeeds",
    )
    assert (sent.attempts, sent.last_status_code, sent.last_error) == (3, 200, "")
    posts = service.receiver.received
    assert len(posts) == 3
    assert len({post.headers["Idempotency-Key"] for post in posts}) == 1
    assert all(receiver_verifies(created.signing_secret, post.headers, post.body, post.at) for post in posts)


async def test_a_post_failing_every_attempt_lands_in_the_dead_letter_list(
    start: Callable[..., Awaitable[Running]], new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    service = await start()
    alice = await new_user()
    await _create(service, alice)
    service.receiver.statuses = [503] * MAX_ATTEMPTS
    await service.runtime.app.notifier.notify(_notice(alice.user_id))
    for attempt in range(1, MAX_ATTEMPTS):
        await eventually(
            lambda: _deliveries(service, alice),
            until=lambda items, n=attempt: bool(items) and items[0].attempts == n,  # type: ignore[misc]
            what=f"failed attempt {attempt} is recorded",
        )
        await _make_retries_due(service)
    dead = webhook_pb2.WEBHOOK_DELIVERY_STATE_DEAD_LETTER
    [letter] = await eventually(lambda: _deliveries(service, alice, state=dead), what="the delivery is dead-lettered")
    assert (letter.attempts, letter.last_status_code) == (MAX_ATTEMPTS, 503)
    assert "503" in letter.last_error
    assert letter.HasField("finish_time")
    assert len(service.receiver.received) == MAX_ATTEMPTS
    assert await _deliveries(service, alice, state=webhook_pb2.WEBHOOK_DELIVERY_STATE_PENDING) == []


async def test_every_webhook_rpc_is_isolated_between_users(
    start: Callable[..., Awaitable[Running]], new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    service = await start()
    alice, bob = await new_user(), await new_user()
    created = await _create(service, alice)
    for _ in range(3):
        await service.runtime.app.notifier.notify(_notice(alice.user_id))
    await eventually(lambda: _now(service.receiver.received), until=lambda got: len(got) >= 1, what="posts arrive")
    hook = created.webhook.id
    assert list((await service.stub.ListWebhooks(pb.ListWebhooksRequest(), metadata=bob.metadata)).webhooks) == []
    assert await _deliveries(service, bob) == []
    for call in (
        service.stub.DeleteWebhook(pb.DeleteWebhookRequest(webhook_id=hook), metadata=bob.metadata),
        service.stub.ListWebhookDeliveries(pb.ListWebhookDeliveriesRequest(webhook_id=hook), metadata=bob.metadata),
    ):
        failure = await expect_failure(call)
        assert failure.code == grpc.StatusCode.NOT_FOUND
        assert failure.reason == "WEBHOOK_NOT_FOUND"
    page = await service.stub.ListWebhookDeliveries(
        pb.ListWebhookDeliveriesRequest(page_size=1), metadata=alice.metadata
    )
    assert page.next_page_token
    stolen = await expect_failure(
        service.stub.ListWebhookDeliveries(
            pb.ListWebhookDeliveriesRequest(page_size=1, page_token=page.next_page_token), metadata=bob.metadata
        )
    )
    assert stolen.code == grpc.StatusCode.INVALID_ARGUMENT
    # Bob's create with Alice's request id makes Bob's own webhook, with another secret.
    request = pb.CreateWebhookRequest(
        request_id=str(uuid.uuid4()), webhook=webhook_pb2.Webhook(url=service.receiver.url)
    )
    alice_again = await service.stub.CreateWebhook(request, metadata=alice.metadata)
    bobs = await service.stub.CreateWebhook(request, metadata=bob.metadata)
    assert bobs.webhook.id != alice_again.webhook.id
    assert bobs.signing_secret != alice_again.signing_secret
    # Alice's webhook is intact after Bob's attempts; she can delete it, then it is gone.
    await service.stub.DeleteWebhook(pb.DeleteWebhookRequest(webhook_id=hook), metadata=alice.metadata)
    gone = await expect_failure(
        service.stub.DeleteWebhook(pb.DeleteWebhookRequest(webhook_id=hook), metadata=alice.metadata)
    )
    assert gone.code == grpc.StatusCode.NOT_FOUND


async def test_private_and_metadata_addresses_are_refused_at_create(
    start: Callable[..., Awaitable[Running]], new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    service = await start(webhook_allowed_networks="")
    alice = await new_user()
    for url in ("http://169.254.169.254/latest/meta-data/", "http://127.0.0.1:9/hook", "http://[::1]/x"):
        failure = await expect_failure(_create(service, alice, url))
        assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
        assert failure.reason == "WEBHOOK_ADDRESS_REFUSED"
        assert "webhook.url" in failure.violations
    missing = await expect_failure(_create(service, alice, "https://no-such-host.invalid/x"))
    assert missing.reason == "WEBHOOK_ADDRESS_REFUSED"


async def test_outside_dev_mode_http_is_refused_and_the_allowlist_is_ignored(
    start: Callable[..., Awaitable[Running]], new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    service = await start(dev_mode=False)
    alice = await new_user()
    plain = await expect_failure(_create(service, alice))
    assert plain.violations == {"webhook.url": "must use https"}
    loopback = await expect_failure(_create(service, alice, f"https://127.0.0.1:{service.receiver.port}/hook"))
    assert loopback.reason == "WEBHOOK_ADDRESS_REFUSED"


async def test_a_server_without_a_key_answers_webhooks_not_configured(
    start: Callable[..., Awaitable[Running]], new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    service = await start(webhook_secrets_key="")
    alice = await new_user()
    for call in (
        _create(service, alice),
        service.stub.ListWebhooks(pb.ListWebhooksRequest(), metadata=alice.metadata),
        service.stub.DeleteWebhook(pb.DeleteWebhookRequest(webhook_id="wh_x"), metadata=alice.metadata),
        service.stub.ListWebhookDeliveries(pb.ListWebhookDeliveriesRequest(), metadata=alice.metadata),
    ):
        failure = await expect_failure(call)
        assert failure.code == grpc.StatusCode.FAILED_PRECONDITION
        assert failure.reason == "WEBHOOKS_NOT_CONFIGURED"


async def test_the_sender_checks_the_address_again_at_connect_time(
    start: Callable[..., Awaitable[Running]],
) -> None:
    service = await start()
    # A name that resolves to loopback (as a DNS answer changed after creation would) is refused at connect.
    sender = HttpWebhookSender()
    try:
        result = await sender.post(f"http://localhost:{service.receiver.port}/hook", b"{}", {})
        literal = await sender.post(f"http://127.0.0.1:{service.receiver.port}/hook", b"{}", {})
    finally:
        await sender.close()
    assert result.status_code == 0
    assert "loopback" in result.error
    assert literal.status_code == 0
    assert "loopback" in literal.error
    assert service.receiver.received == []


async def test_the_readme_recipe_verifies_a_real_post(
    start: Callable[..., Awaitable[Running]], new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    recipe = readme.split("A receiver checks a post like this:\n\n```python\n")[1].split("```")[0]
    namespace: dict[str, Any] = {}
    exec(recipe, namespace)  # noqa: S102 - the documented receiver check, as a user would paste it
    service = await start()
    alice = await new_user()
    created = await _create(service, alice)
    await service.runtime.app.notifier.notify(_notice(alice.user_id))
    [post] = await eventually(lambda: _now(service.receiver.received), what="the receiver gets the post")
    assert namespace["verify"](created.signing_secret, post.headers, post.body)
    assert not namespace["verify"](created.signing_secret, post.headers, post.body[:-1])


async def test_the_send_budget_in_redis_is_shared_by_replicas(redis: Redis, redis_server: Any) -> None:
    user = f"user-{uuid.uuid4().hex}"
    one = RedisSendBudget(redis, redis_server.url, per_minute=2)
    two = RedisSendBudget(redis, redis_server.url, per_minute=2)
    assert await one.take(user, "webhook") is None
    assert await two.take(user, "webhook") is None
    retry_at = await one.take(user, "webhook")
    assert retry_at is not None
    assert datetime.now(UTC) < retry_at <= datetime.now(UTC) + timedelta(seconds=61)
    assert await two.take(user, "email") is None  # budgets are per channel
    assert await two.take(f"other-{user}", "webhook") is None  # and per user


async def test_a_restart_with_a_rotated_key_reseals_stored_secrets(
    start: Callable[..., Awaitable[Running]], new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    old, new = new_key_text("old"), new_key_text("new")
    first = await start(webhook_secrets_key=old)
    alice = await new_user()
    created = await _create(first, alice)
    rotated = await start(webhook_secrets_key=f"{new},{old}")
    assert rotated.runtime.app.mongo is not None
    hooks = rotated.runtime.app.mongo[rotated.settings.mongo_database].notification_webhooks

    async def key_id() -> str:
        document = await hooks.find_one({"_id": created.webhook.id})
        assert document is not None
        return str(document["secret"]["key_id"])

    await eventually(key_id, until=lambda found: found == "new", what="the secret is re-sealed under the new key")
    listed = await rotated.stub.ListWebhooks(pb.ListWebhooksRequest(), metadata=alice.metadata)
    assert [hook.secret_hint for hook in listed.webhooks] == [created.signing_secret[-4:]]


async def test_a_burst_over_the_budget_waits_and_goes_out_as_one_digest(
    start: Callable[..., Awaitable[Running]], new_user: Callable[[], Awaitable[MeshUser]], redis: Redis
) -> None:
    service = await start(webhook_budget_per_minute=1)
    alice = await new_user()
    created = await _create(service, alice)
    notifier = service.runtime.app.notifier
    await notifier.notify(_notice(alice.user_id))
    await eventually(lambda: _now(service.receiver.received), what="the first post spends the minute's budget")
    burst = [_notice(alice.user_id) for _ in range(20)]
    for notice in burst:
        await notifier.notify(notice)
    pending = webhook_pb2.WEBHOOK_DELIVERY_STATE_PENDING
    app = service.runtime.app
    assert app.mongo is not None
    deliveries = app.mongo[service.settings.mongo_database].notification_webhook_deliveries

    async def held() -> int:
        return await deliveries.count_documents(
            {"state": "pending", "lease_token": "", "next_attempt_at": {"$gt": datetime.now(UTC)}}
        )

    await eventually(held, until=lambda count: count == 20, what="the burst is held until the budget refills")
    assert len(service.receiver.received) == 1
    assert len(await _deliveries(service, alice, state=pending)) == 20
    # The minute passes (the budget's window is cleared), and the held deliveries fall due together.
    async for key in redis.scan_iter("notify:budget*"):
        await redis.delete(key)
    await _make_retries_due(service)
    await eventually(lambda: _now(service.receiver.received), until=lambda got: len(got) == 2, what="one digest")
    digest = service.receiver.received[1]
    assert receiver_verifies(created.signing_secret, digest.headers, digest.body, digest.at)
    document = json.loads(digest.body)
    assert document["type"] == "digest"
    assert sorted(item["id"] for item in document["notifications"]) == sorted(notice.id for notice in burst)
    assert digest.headers["Idempotency-Key"].startswith("digest:")
    await eventually(
        lambda: _deliveries(service, alice, state=pending), until=lambda items: items == [], what="all recorded SENT"
    )
