"""The SMS adapter (`SmsSender` port) on Twilio's Messages API through the official `twilio` client:
`POST /2010-04-01/Accounts/{AccountSid}/Messages.json` with the form fields To, From (or MessagingServiceSid) and
Body, HTTP basic auth with the Account SID and Auth Token.

The client's documented extension point for its transport is a custom HTTP client; `ApiBaseHttpClient` is its
asynchronous one with the scheme and host of every URL replaced by `TRADEMESH_TWILIO_API_BASE_URL` when set
(tests and `make up` point it at the local fake, `trademesh.devstack.twilio_fake`). Unset, nothing is rewritten.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from opentelemetry import metrics
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from trademesh.services.notifications.model.push import SendOutcome

logger = logging.getLogger(__name__)
#: Twilio errors of the message itself (invalid or unreachable "To", opted out, …): retrying cannot help.
PERMANENT_STATUSES = frozenset({400, 404})
_MESSAGES = metrics.get_meter(__name__).create_counter(
    "trademesh.notifications.sms_messages",
    unit="{message}",
    description="SMS sent through the provider by outcome: 2xx, 4xx, 5xx or error (network).",
)


class ApiBaseHttpClient(AsyncTwilioHttpClient):  # type: ignore[misc]  # the twilio package has no type hints
    """Twilio's asynchronous HTTP client, sending to `api_base_url` instead of `https://api.twilio.com` when set."""

    def __init__(self, api_base_url: str = "", *, timeout: float = 10.0) -> None:
        super().__init__(timeout=timeout)
        self._base = api_base_url.rstrip("/")

    async def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        """Send the request, to the configured base URL if any (same path and query)."""
        if self._base:
            parts = urlsplit(url)
            url = self._base + parts.path + (f"?{parts.query}" if parts.query else "")
        return await super().request(method, url, *args, **kwargs)


class TwilioSmsSender:
    """Send SMS with Twilio (the client and its aiohttp session are made on first use, in the running loop)."""

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        from_number: str = "",
        messaging_service_sid: str = "",
        api_base_url: str = "",
        timeout_seconds: float = 10.0,
    ) -> None:
        self._account_sid = account_sid
        self._auth_token = auth_token
        self._from = from_number
        self._service = messaging_service_sid
        self._base = api_base_url
        self._timeout = timeout_seconds
        self._http: ApiBaseHttpClient | None = None
        self._client: Any = None

    def _messages(self) -> Any:
        if self._client is None:
            self._http = ApiBaseHttpClient(self._base, timeout=self._timeout)
            self._client = Client(self._account_sid, self._auth_token, http_client=self._http)
        return self._client.messages

    async def send(self, to: str, body: str) -> SendOutcome:
        """Create the message once; a provider error or a network failure is the outcome, never raised."""
        sender: dict[str, str] = {"from_": self._from} if self._from else {"messaging_service_sid": self._service}
        try:
            message = await self._messages().create_async(to=to, body=body, **sender)
        except TwilioRestException as refused:
            outcome = SendOutcome(
                refused.status,
                f"Twilio answered HTTP {refused.status} (error {refused.code}): {refused.msg}"[:300],
                permanent=refused.status in PERMANENT_STATUSES,
            )
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            outcome = SendOutcome(0, f"{type(error).__name__}: {error}")
        else:
            logger.info("SMS %s queued by Twilio", message.sid)
            outcome = SendOutcome(201)
        _MESSAGES.add(1, {"outcome": f"{outcome.status_code // 100}xx" if outcome.status_code else "error"})
        return outcome

    async def close(self) -> None:
        """Close the client's session."""
        if self._http is not None:
            await self._http.close()
