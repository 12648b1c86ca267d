"""A local Web Push service for `make up` and tests: it stands in for a browser vendor's push service (a third party).

It speaks RFC 8030 to the application server and decrypts what it receives as the browser would, so tests can read
the notification a push carried:

* ``POST /subscriptions`` — what ``PushManager.subscribe()`` does in a browser: makes a P-256 key pair and a 16-byte
  auth secret and answers the ``PushSubscription.toJSON()`` shape (``endpoint``, ``keys.p256dh``, ``keys.auth``) plus
  its ``id``. An ``applicationServerKey`` in the JSON body binds the subscription to that VAPID key (RFC 8292 §4).
* ``POST /push/{id}`` — the push resource (RFC 8030 §5): needs ``TTL`` (400 without), ``Content-Encoding: aes128gcm``
  (415 otherwise), a valid ``Topic`` if any (≤ 32 base64url characters), and ``Authorization: vapid t=<JWT>, k=<key>``
  (RFC 8292): the ES256 JWT must verify against ``k``, name this origin as ``aud``, expire within 24 hours and carry a
  ``sub`` (401 otherwise; 403 when ``k`` is not the subscription's application server key). The body is decrypted
  with the subscription's private key and auth secret (RFC 8291, ``http_ece``; 400 if it does not decrypt) and kept;
  a message with the ``Topic`` of one still held replaces it (RFC 8030 §5.4). Answers 201 with a ``Location``.
  Unknown subscriptions answer 404, expired ones 410.
* ``GET /subscriptions/{id}/messages`` — the decrypted messages and how many pushes were accepted (for tests).
* ``POST /subscriptions/{id}/expire`` — the browser unsubscribed: later pushes answer 410.
* ``POST /subscriptions/{id}/script`` — ``{"statuses": [500, …], "hold": bool}``: answer the next pushes with these
  statuses; ``hold`` keeps the next accepted push unanswered until ``POST /subscriptions/{id}/release`` (tests crash
  the sender mid-request with it).
* ``GET /`` lists subscriptions and messages; ``GET /ready`` answers 200.

    python -m trademesh.devstack.pushserver --host 127.0.0.1 --port 50063
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import html
import json
import re
import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import http_ece
import jwt
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from trademesh.devstack.serving import serve_until_stopped

_TOPIC = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
#: RFC 8292 §2: a JWT valid for longer than this is refused.
MAX_VAPID_LIFETIME_SECONDS = 24 * 3600


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Subscription:
    """One browser's subscription as the push service keeps it (with the browser's private keys, to decrypt)."""

    id: str
    private_key: ec.EllipticCurvePrivateKey
    auth: bytes
    application_server_key: str = ""
    gone: bool = False
    #: Pushes accepted (a Topic replacement counts too).
    pushes: int = 0
    messages: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    hold: bool = False
    released: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def p256dh(self) -> str:
        point = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return _b64(point)


class PushService:
    """The push service's state and its aiohttp routes."""

    def __init__(self) -> None:
        self.subscriptions: dict[str, Subscription] = {}

    def application(self) -> web.Application:
        """Return the aiohttp application serving every route."""
        app = web.Application()
        app.add_routes(
            [
                web.post("/subscriptions", self.subscribe),
                web.post("/push/{id}", self.push),
                web.get("/subscriptions/{id}/messages", self.messages),
                web.post("/subscriptions/{id}/expire", self.expire),
                web.post("/subscriptions/{id}/script", self.script),
                web.post("/subscriptions/{id}/release", self.release),
                web.get("/ready", self.ready),
                web.get("/", self.index),
            ]
        )
        return app

    def subscription(self, request: web.Request) -> Subscription:
        found = self.subscriptions.get(request.match_info["id"])
        if found is None:
            raise web.HTTPNotFound(text="no such subscription")
        return found

    async def subscribe(self, request: web.Request) -> web.Response:
        body = await request.json() if request.can_read_body else {}
        subscription = Subscription(
            id=secrets.token_urlsafe(16),
            private_key=ec.generate_private_key(ec.SECP256R1()),
            auth=secrets.token_bytes(16),
            application_server_key=str(body.get("applicationServerKey", "")),
        )
        self.subscriptions[subscription.id] = subscription
        origin = f"{request.scheme}://{request.host}"
        return web.json_response(
            {
                "id": subscription.id,
                "endpoint": f"{origin}/push/{subscription.id}",
                "expirationTime": None,
                "keys": {"p256dh": subscription.p256dh, "auth": _b64(subscription.auth)},
            },
            status=201,
        )

    def _vapid_problem(self, request: web.Request, subscription: Subscription) -> tuple[int, str]:
        header = request.headers.get("Authorization", "")
        scheme, _, rest = header.partition(" ")
        if scheme.lower() != "vapid":
            return 401, "Authorization must use the vapid scheme (RFC 8292)"
        params = dict(part.strip().split("=", 1) for part in rest.split(",") if "=" in part)
        token, key = params.get("t", ""), params.get("k", "")
        try:
            public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), _unb64(key))
        except ValueError:
            return 401, "k is not a P-256 public key"
        origin = f"{request.scheme}://{request.host}"
        try:
            claims = jwt.decode(
                token, public, algorithms=["ES256"], audience=origin, options={"require": ["exp", "aud", "sub"]}
            )
        except jwt.InvalidTokenError as error:
            return 401, f"the VAPID token is invalid: {error}"
        if float(claims["exp"]) > time.time() + MAX_VAPID_LIFETIME_SECONDS:
            return 401, "the VAPID token lives longer than 24 hours"
        if not str(claims["sub"]).startswith(("mailto:", "https:")):
            return 401, "sub must be a mailto: or https: URI"
        if subscription.application_server_key and key != subscription.application_server_key.rstrip("="):
            return 403, "k is not the application server key of this subscription"
        return 0, ""

    async def push(self, request: web.Request) -> web.Response:
        subscription = self.subscription(request)
        if subscription.gone:
            raise web.HTTPGone(text="the subscription expired")
        if not request.headers.get("TTL", "").isdigit():
            raise web.HTTPBadRequest(text="TTL is required (RFC 8030 §5.2)")
        if request.headers.get("Content-Encoding", "") != "aes128gcm":
            raise web.HTTPUnsupportedMediaType(text="Content-Encoding must be aes128gcm (RFC 8291)")
        topic = request.headers.get("Topic", "")
        if topic and not _TOPIC.fullmatch(topic):
            raise web.HTTPBadRequest(text="Topic must be at most 32 base64url characters (RFC 8030 §5.4)")
        status, problem = self._vapid_problem(request, subscription)
        if status:
            return web.Response(status=status, text=problem)
        if subscription.statuses:
            return web.Response(status=subscription.statuses.pop(0), text="scripted")
        try:
            plaintext = http_ece.decrypt(
                await request.read(), private_key=subscription.private_key, auth_secret=subscription.auth
            )
        except Exception as error:  # http_ece raises its own and cryptography's errors
            raise web.HTTPBadRequest(text=f"the payload does not decrypt: {type(error).__name__}") from None
        self._keep(subscription, plaintext, topic, request)
        if subscription.hold:
            subscription.hold = False
            await subscription.released.wait()
        location = f"/messages/{uuid.uuid4().hex}"
        return web.Response(status=201, headers={"Location": location})

    def _keep(self, subscription: Subscription, plaintext: bytes, topic: str, request: web.Request) -> None:
        try:
            payload: Any = json.loads(plaintext)
        except ValueError:
            payload = plaintext.decode(errors="replace")
        message = {
            "payload": payload,
            "topic": topic,
            "ttl": int(request.headers["TTL"]),
            "urgency": request.headers.get("Urgency", "normal"),
            "received_at": time.time(),
        }
        subscription.pushes += 1
        if topic:
            for index, held in enumerate(subscription.messages):
                if held["topic"] == topic:  # RFC 8030 §5.4: it replaces the message still held
                    subscription.messages[index] = message
                    return
        subscription.messages.append(message)

    async def messages(self, request: web.Request) -> web.Response:
        subscription = self.subscription(request)
        return web.json_response({"messages": subscription.messages, "pushes": subscription.pushes})

    async def expire(self, request: web.Request) -> web.Response:
        self.subscription(request).gone = True
        return web.json_response({"gone": True})

    async def script(self, request: web.Request) -> web.Response:
        subscription = self.subscription(request)
        body = await request.json()
        subscription.statuses = [int(status) for status in body.get("statuses", [])]
        subscription.hold = bool(body.get("hold", False))
        subscription.released.clear()
        return web.json_response({"ok": True})

    async def release(self, request: web.Request) -> web.Response:
        self.subscription(request).released.set()
        return web.json_response({"ok": True})

    async def ready(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def index(self, request: web.Request) -> web.Response:
        rows = "".join(
            f"<tr><td>{html.escape(sub.id)}</td><td>{'gone' if sub.gone else 'active'}</td>"
            f"<td><pre>{html.escape(json.dumps([m['payload'] for m in sub.messages], indent=1))}</pre></td></tr>"
            for sub in self.subscriptions.values()
        )
        page = (
            "<!doctype html><meta charset=utf-8><title>trademesh dev push service</title>"
            f"<h1>Push subscriptions ({len(self.subscriptions)})</h1><table border=1 cellpadding=4>"
            f"<tr><th>Subscription</th><th>State</th><th>Messages (decrypted)</th></tr>{rows}</table>"
        )
        return web.Response(text=page, content_type="text/html")


async def run(host: str, port: int) -> None:
    """Serve until SIGTERM/SIGINT."""
    await serve_until_stopped(PushService().application(), host, port)


def main() -> None:
    """Entry point: parse the flags and serve."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    arguments = parser.parse_args()
    asyncio.run(run(arguments.host, arguments.port))


if __name__ == "__main__":
    main()
