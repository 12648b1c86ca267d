"""The local mail server of `make up`: what auth and notifications send lands in a Maildir and on a page."""

from __future__ import annotations

import mailbox

import aiohttp

from tests.conftest import MailServer
from trademesh.services.core.smtp import SmtpSender
from trademesh.services.notifications.mail import SmtpMailSender
from trademesh.services.notifications.model import MailMessage


async def test_sent_mail_is_in_the_maildir_and_on_the_page(mail_server: MailServer) -> None:
    async with aiohttp.ClientSession() as session:
        sender = SmtpMailSender(
            SmtpSender(
                host="127.0.0.1", port=mail_server.smtp_port, sender="trademesh <n@trademesh.local>", security="none"
            )
        )
        await sender.send(
            MailMessage("<n1.1@trademesh.local>", "dev@example.com", "INFY crossed 1600.00", "At 1601.00")
        )
        [message] = [message for _, message in mailbox.Maildir(mail_server.maildir).iteritems()]
        assert message["Subject"] == "INFY crossed 1600.00"
        assert message["Message-ID"] == "<n1.1@trademesh.local>"
        async with session.get(f"http://127.0.0.1:{mail_server.http_port}/") as response:
            page = await response.text()
        assert "INFY crossed 1600.00" in page
        assert "dev@example.com" in page
