"""Sending mail over SMTP (aiosmtplib), shared by the services that send mail (auth's codes, notifications).

`SmtpSettings` are the `TRADEMESH_SMTP_*` variables; `SmtpSender` opens one connection per message (mail is
sparse here), with implicit TLS, STARTTLS or none, and a login when a username is set. A message that the
server refuses, or a server that cannot be reached, raises `MailNotSent`, whose text never holds the body.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiosmtplib
from pydantic import Field, SecretStr

from trademesh.services.core.settings import CoreSettings


class MailNotSent(Exception):
    """Raise when the SMTP server could not be reached or refused the message (the text names why, not what)."""


class SmtpSettings(CoreSettings):
    """The SMTP server a service sends mail through (empty host: no server, mail is not sent)."""

    smtp_host: str = Field("", description="SMTP server for email; empty: no server, email is not sent.")
    smtp_port: int = Field(587, ge=1, le=65535, description="SMTP server port.")
    smtp_security: str = Field(
        "starttls", pattern="^(none|starttls|tls)$", description="SMTP transport security: none, starttls or tls."
    )
    smtp_username: str = Field("", description="SMTP login; empty: no authentication.")
    smtp_password: SecretStr = Field(SecretStr(""), description="SMTP password (from a Secret).")
    smtp_timeout_seconds: float = Field(10.0, gt=0, description="Connect and command timeout of the SMTP server.")
    mail_from: str = Field("trademesh <notifications@trademesh.local>", description="From: address of email.")


class SmtpSender:
    """Send plain-text mail through one SMTP server."""

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

    @classmethod
    def from_settings(cls, settings: SmtpSettings) -> SmtpSender | None:
        """Return the sender the settings describe, or None when no SMTP host is set."""
        if not settings.smtp_host:
            return None
        return cls(
            host=settings.smtp_host,
            port=settings.smtp_port,
            sender=settings.mail_from,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value(),
            security=settings.smtp_security,
            timeout_seconds=settings.smtp_timeout_seconds,
        )

    async def send(self, *, to: str, subject: str, body: str, message_id: str | None = None) -> None:
        """Send one message; raise `MailNotSent` when the server cannot be reached or does not take it."""
        email = EmailMessage()
        email["From"] = self._sender
        email["To"] = to
        email["Subject"] = subject
        email["Message-ID"] = message_id or make_msgid(domain="trademesh.local")
        email["Date"] = formatdate(localtime=False)
        email.set_content(body)
        try:
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
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            # aiosmtplib's texts name the server's reply, never the message; keep only the class and reply.
            raise MailNotSent(f"{type(error).__name__}: {error}") from error
