"""A local stand-in for Twilio's Messages API (a third party) for `make up` and tests, speaking its documented shape
so the real `twilio` client is exercised:

* ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` — form fields ``To`` (E.164), ``From`` or
  ``MessagingServiceSid``, ``Body`` (≤ 1600 characters); HTTP basic auth with the Account SID and Auth Token. Answers
  201 with a Message resource (``sid`` SM…, ``status`` queued, ``num_segments``…), or Twilio's error document
  (``code``, ``message``, ``more_info``, ``status``): 401/20003 for bad credentials, 400/21211 for an invalid ``To``,
  400/21603 without a sender, 400/21602 without a body, 400/21617 for a body over 1600 characters.
* ``GET /2010-04-01/Accounts/{AccountSid}/Messages.json`` — the messages received, newest first (Twilio's page shape).
* ``POST /__fake/script`` — ``{"statuses": [500, …]}``: answer the next creates with these statuses (tests).
* ``GET /__fake/ready`` answers 200; ``GET /`` lists the messages.

    python -m trademesh.devstack.smsserver --host 127.0.0.1 --port 50064 --account-sid AC… --auth-token …
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import html
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from aiohttp import web

from trademesh.devstack.serving import serve_until_stopped

DEV_ACCOUNT_SID = "AC" + "0" * 31 + "1"
DEV_AUTH_TOKEN = "trademesh-dev-twilio-token"
DEV_FROM_NUMBER = "+15005550006"
_E164 = re.compile(r"^\+[1-9]\d{1,14}$")
MAX_BODY = 1600


def _error(status: int, code: int, message: str) -> web.Response:
    return web.json_response(
        {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status},
        status=status,
    )


@dataclass
class TwilioFake:
    """The fake's state and routes."""

    account_sid: str = DEV_ACCOUNT_SID
    auth_token: str = DEV_AUTH_TOKEN
    messages: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)

    def application(self) -> web.Application:
        """Return the aiohttp application serving every route."""
        app = web.Application()
        path = "/2010-04-01/Accounts/{account}/Messages.json"
        app.add_routes(
            [
                web.post(path, self.create),
                web.get(path, self.list_messages),
                web.post("/__fake/script", self.script),
                web.get("/__fake/ready", self.ready),
                web.get("/", self.index),
            ]
        )
        return app

    def _authenticated(self, request: web.Request) -> bool:
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded).decode().partition(":")
        except ValueError:
            return False
        return (
            secrets.compare_digest(user, self.account_sid)
            and secrets.compare_digest(password, self.auth_token)
            and request.match_info["account"] == self.account_sid
        )

    async def create(self, request: web.Request) -> web.Response:
        if not self._authenticated(request):
            return _error(401, 20003, "Authenticate")
        form = await request.post()
        to, sender = str(form.get("To", "")), str(form.get("From", ""))
        service, body = str(form.get("MessagingServiceSid", "")), str(form.get("Body", ""))
        if not _E164.fullmatch(to):
            return _error(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if not sender and not service:
            return _error(400, 21603, "A 'From' phone number is required.")
        if not body:
            return _error(400, 21602, "Message body is required.")
        if len(body) > MAX_BODY:
            return _error(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
        if self.statuses:
            status = self.statuses.pop(0)
            return _error(status, 20500 if status >= 500 else 20429, "scripted failure")
        now = format_datetime(datetime.now(UTC), usegmt=True)
        sid = "SM" + secrets.token_hex(16)
        message = {
            "sid": sid,
            "account_sid": self.account_sid,
            "to": to,
            "from": sender or None,
            "messaging_service_sid": service or None,
            "body": body,
            "status": "queued",
            "num_segments": str(max(1, -(-len(body) // 160))),
            "num_media": "0",
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "price": None,
            "price_unit": "USD",
            "error_code": None,
            "error_message": None,
            "date_created": now,
            "date_updated": now,
            "date_sent": None,
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
            "subresource_uris": {"media": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}/Media.json"},
        }
        self.messages.append(message)
        return web.json_response(message, status=201)

    async def list_messages(self, request: web.Request) -> web.Response:
        if not self._authenticated(request):
            return _error(401, 20003, "Authenticate")
        uri = f"/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        return web.json_response(
            {
                "messages": list(reversed(self.messages)),
                "page": 0,
                "page_size": len(self.messages),
                "first_page_uri": uri,
                "next_page_uri": None,
                "previous_page_uri": None,
                "uri": uri,
                "start": 0,
                "end": max(0, len(self.messages) - 1),
            }
        )

    async def script(self, request: web.Request) -> web.Response:
        self.statuses = [int(status) for status in (await request.json()).get("statuses", [])]
        return web.json_response({"ok": True})

    async def ready(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def index(self, request: web.Request) -> web.Response:
        rows = "".join(
            f"<tr><td>{html.escape(m['date_created'])}</td><td>{html.escape(m['to'])}</td>"
            f"<td>{html.escape(m['body'])}</td></tr>"
            for m in reversed(self.messages[-200:])
        )
        page = (
            "<!doctype html><meta charset=utf-8><title>trademesh dev SMS</title>"
            f"<h1>SMS received ({len(self.messages)})</h1><table border=1 cellpadding=4>"
            f"<tr><th>Date</th><th>To</th><th>Body</th></tr>{rows}</table>"
        )
        return web.Response(text=page, content_type="text/html")


async def run(host: str, port: int, account_sid: str, auth_token: str) -> None:
    """Serve until SIGTERM/SIGINT."""
    await serve_until_stopped(TwilioFake(account_sid, auth_token).application(), host, port)


def main() -> None:
    """Entry point: parse the flags and serve."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--account-sid", default=DEV_ACCOUNT_SID)
    parser.add_argument("--auth-token", default=DEV_AUTH_TOKEN)
    arguments = parser.parse_args()
    asyncio.run(run(arguments.host, arguments.port, arguments.account_sid, arguments.auth_token))


if __name__ == "__main__":
    main()
