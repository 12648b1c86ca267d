"""The local mail server of `make up`: what the notifications service sends lands in a Maildir and on a page."""

from __future__ import annotations

import mailbox
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.eventually import eventually
from trademesh.devstack.processes import find_free_port
from trademesh.services.notifications.mail import SmtpMailSender
from trademesh.services.notifications.model import MailMessage


@pytest.fixture
def mail_server(tmp_path: Path) -> Iterator[tuple[int, int, Path]]:
    http_port, smtp_port = find_free_port(), find_free_port()
    maildir = tmp_path / "maildir"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "trademesh.devstack.mailserver",
            "--http-port",
            str(http_port),
            "--smtp-port",
            str(smtp_port),
            "--maildir",
            str(maildir),
        ]
    )
    yield http_port, smtp_port, maildir
    process.terminate()
    process.wait(timeout=10)


async def test_sent_mail_is_in_the_maildir_and_on_the_page(mail_server: tuple[int, int, Path]) -> None:
    http_port, smtp_port, maildir = mail_server
    async with aiohttp.ClientSession() as session:

        async def ready() -> int:
            async with session.get(f"http://127.0.0.1:{http_port}/ready") as response:
                return response.status

        await eventually(ready, until=lambda status: status == 200, ignoring=(aiohttp.ClientError,), what="ready")
        sender = SmtpMailSender(
            host="127.0.0.1", port=smtp_port, sender="trademesh <n@trademesh.local>", security="none"
        )
        await sender.send(
            MailMessage("<n1.1@trademesh.local>", "dev@example.com", "INFY crossed 1600.00", "At 1601.00")
        )
        [message] = [message for _, message in mailbox.Maildir(maildir).iteritems()]
        assert message["Subject"] == "INFY crossed 1600.00"
        assert message["Message-ID"] == "<n1.1@trademesh.local>"
        async with session.get(f"http://127.0.0.1:{http_port}/") as response:
            page = await response.text()
        assert "INFY crossed 1600.00" in page
        assert "dev@example.com" in page
