"""The SMTP adapter of the MailSender port: the shared SMTP sender (core.smtp) with a stable Message-ID."""

from __future__ import annotations

from trademesh.services.core.smtp import SmtpSender
from trademesh.services.notifications.model import MailMessage


class SmtpMailSender:
    """Send mail through one SMTP server (a connection per message: notification mail is sparse)."""

    def __init__(self, sender: SmtpSender) -> None:
        self._sender = sender

    async def send(self, message: MailMessage) -> None:
        """Send `message`; raise core.smtp.MailNotSent when the server does not take it."""
        await self._sender.send(
            to=message.to, subject=message.subject, body=message.body, message_id=message.message_id
        )


class NoMailSender:
    """No SMTP server configured: email deliveries fail and stay queued (retried with backoff)."""

    async def send(self, message: MailMessage) -> None:
        """Refuse: there is no server."""
        raise ConnectionError("no SMTP server is configured (TRADEMESH_SMTP_HOST)")
