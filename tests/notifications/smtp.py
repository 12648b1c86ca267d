"""A real SMTP server (aiosmtpd) on a free port that keeps what it receives, for delivery tests."""

from __future__ import annotations

import asyncio
import email
from email.message import Message

from aiosmtpd.smtp import SMTP, Envelope, Session


class Inbox:
    """The messages the server accepted, parsed."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content if isinstance(envelope.content, bytes) else str(envelope.content).encode()
        self.messages.append(email.message_from_bytes(content))
        return "250 Message accepted for delivery"


async def start_smtp_server() -> tuple[asyncio.Server, int, Inbox]:
    """Start an SMTP server on 127.0.0.1 and a free port; return it, its port and its inbox."""
    inbox = Inbox()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(inbox, hostname="mail.test"), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, port, inbox
