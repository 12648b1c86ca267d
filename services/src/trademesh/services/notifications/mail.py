"""The SMTP adapter of the MailSender port (aiosmtplib): TLS or STARTTLS and login by settings."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate

import aiosmtplib

from trademesh.services.notifications.model import MailMessage


class SmtpMailSender:
    """Send mail through one SMTP server (a connection per message: notification mail is sparse)."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        username: str = "",
        password: str = "",
        security: str = "starttls",
        timeout_seconds: float = 10.0,
    ) -> None:
        self._host = host
        self._port = port
        self._sender = sender
        self._username = username or None
        self._password = password or None
        self._security = security
        self._timeout = timeout_seconds

    async def send(self, message: MailMessage) -> None:
        """Send `message`; raise aiosmtplib.SMTPException or OSError when the server does not take it."""
        email = EmailMessage()
        email["From"] = self._sender
        email["To"] = message.to
        email["Subject"] = message.subject
        email["Message-ID"] = message.message_id
        email["Date"] = formatdate(localtime=False)
        email.set_content(message.body)
        await aiosmtplib.send(
            email,
            hostname=self._host,
            port=self._port,
            username=self._username,
            password=self._password,
            use_tls=self._security == "tls",
            start_tls=self._security == "starttls",
            timeout=self._timeout,
        )


class NoMailSender:
    """No SMTP server configured: email deliveries fail and stay queued (retried with backoff)."""

    async def send(self, message: MailMessage) -> None:
        """Refuse: there is no server."""
        raise ConnectionError("no SMTP server is configured (TRADEMESH_SMTP_HOST)")
