"""Host names no resolver takes ("a..b", an over-long label) are refused as INVALID_ARGUMENT, never INTERNAL."""

from __future__ import annotations

import uuid

import pytest

from tests.notifications.webhook_harness import ALICE, build
from trademesh.kernel.errors import InvalidArgument
from trademesh.services.notifications.model import WebhookDraft
from trademesh.services.notifications.webhook_http import SystemResolver

BAD_HOSTS = ["a..b", "x" * 64 + ".example.com"]


@pytest.mark.parametrize("host", BAD_HOSTS)
async def test_the_system_resolver_reports_an_invalid_host_name_as_not_resolving(host: str) -> None:
    with pytest.raises(OSError, match="not a valid host name"):
        await SystemResolver().resolve(host, 443)


@pytest.mark.parametrize("host", BAD_HOSTS)
async def test_creating_a_webhook_on_an_invalid_host_name_is_invalid_argument(host: str) -> None:
    hooks = build(resolver=SystemResolver())  # the real resolver, as the server wires it
    with pytest.raises(InvalidArgument) as caught:
        await hooks.service.create(ALICE, str(uuid.uuid4()), WebhookDraft(f"https://{host}/hook"))
    assert caught.value.reason in ("WEBHOOK_ADDRESS_REFUSED", "INVALID_WEBHOOK_URL")
