"""Mail transports: where a message with its clear code goes (never the database, never the log).

`SmtpMailTransport` sends through the SMTP server of the settings (`make up` runs a local one whose Maildir
is `<data>/mail/maildir`); `FileMailDrop` writes each message to an owner-only file (tests, like Django's
file e-mail backend); without either the message is recorded (code-less) in the outbox and dropped with a
warning. A transport that cannot deliver raises `MailNotSent`; the outbox records the failure, never the code.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from pathlib import Path

from trademesh.services.auth.model import Mail
from trademesh.services.core.smtp import SmtpSender

logger = logging.getLogger(__name__)


class SmtpMailTransport:
    """Send each message (with its clear code) through the SMTP server; raise MailNotSent when it fails."""

    def __init__(self, sender: SmtpSender) -> None:
        self._sender = sender

    async def deliver(self, mail: Mail) -> None:
        await self._sender.send(to=mail.to, subject=mail.subject, body=mail.body)
        logger.info("mail (%s) handed to the SMTP server", mail.kind)


class FileMailDrop:
    """Write each message to an owner-only file `<kind>-<uuid>.txt` in a directory (development)."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory

    async def deliver(self, mail: Mail) -> None:
        await asyncio.to_thread(self._write, mail)

    def _write(self, mail: Mail) -> None:
        self._directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self._directory / f"{mail.kind}-{uuid.uuid4().hex}.txt"
        text = f"To: {mail.to}\nSubject: {mail.subject}\nKind: {mail.kind}\n\n{mail.body}\n"
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(text)
        logger.info("mail (%s) dropped into %s", mail.kind, self._directory)


class NoMailTransport:
    """Deliver nothing: the outbox keeps the code-less record; the code is lost (say so, without it)."""

    async def deliver(self, mail: Mail) -> None:
        logger.warning("no mail transport is configured: a %s message was not delivered", mail.kind)
