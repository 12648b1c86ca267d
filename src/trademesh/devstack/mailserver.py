"""The local mail server of `make up`: SMTP in (aiosmtpd), a Maildir and a small page out.

Email that auth (verification and reset codes) and the notifications service send lands in
``<data>/mail/maildir`` (read it with any Maildir reader, e.g. ``mutt -f .data/mail/maildir``) and is listed,
newest first, at ``http://127.0.0.1:<port>/``.
``/ready`` answers 200 once both listeners are up (the stack's readiness check).

    python -m trademesh.devstack.mailserver --host 127.0.0.1 --http-port 50062 --smtp-port 51062 --maildir DIR
"""

from __future__ import annotations

import argparse
import asyncio
import html
import mailbox
from email.message import Message
from pathlib import Path

from aiohttp import web
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import SMTP

from trademesh.devstack.serving import serve_until_stopped


def _page(maildir: mailbox.Maildir) -> str:
    messages: list[Message] = [message for _, message in maildir.iteritems()]
    messages.sort(key=lambda message: str(message.get("Date", "")), reverse=True)
    rows = "".join(
        f"<tr><td>{html.escape(str(m.get('Date', '')))}</td><td>{html.escape(str(m.get('To', '')))}</td>"
        f"<td>{html.escape(str(m.get('Subject', '')))}</td>"
        f"<td><pre>{_body(m)}</pre></td></tr>"
        for m in messages[:200]
    )
    return (
        "<!doctype html><meta charset=utf-8><title>trademesh dev mail</title>"
        f"<h1>Mail received ({len(messages)})</h1><table border=1 cellpadding=4>"
        f"<tr><th>Date</th><th>To</th><th>Subject</th><th>Body</th></tr>{rows}</table>"
    )


def _body(message: Message) -> str:
    payload = message.get_payload(decode=True)
    text = payload.decode(errors="replace") if isinstance(payload, bytes) else str(message.get_payload())
    return html.escape(text)


async def run(host: str, http_port: int, smtp_port: int, maildir_path: Path) -> None:
    """Serve SMTP and the page until SIGTERM/SIGINT (the Maildir's folder must exist)."""
    handler = Mailbox(maildir_path)
    loop = asyncio.get_running_loop()
    smtp = await loop.create_server(lambda: SMTP(handler, hostname="trademesh.local"), host, smtp_port)
    maildir = mailbox.Maildir(str(maildir_path))

    async def index(request: web.Request) -> web.Response:
        return web.Response(text=_page(maildir), content_type="text/html")

    async def ready(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.add_routes([web.get("/", index), web.get("/ready", ready)])
    try:
        await serve_until_stopped(app, host, http_port)
    finally:
        smtp.close()


def main() -> None:
    """Entry point: parse the flags and serve."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--smtp-port", type=int, required=True)
    parser.add_argument("--maildir", type=Path, required=True)
    arguments = parser.parse_args()
    for folder in ("tmp", "new", "cur"):  # a Maildir's three folders
        (arguments.maildir / folder).mkdir(parents=True, exist_ok=True)
    asyncio.run(run(arguments.host, arguments.http_port, arguments.smtp_port, arguments.maildir))


if __name__ == "__main__":
    main()
