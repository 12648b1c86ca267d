"""``inbox``: the notifications of the notifications service — list, follow live, mark read, delete."""

from __future__ import annotations

import asyncio
import sys
from contextlib import suppress
from typing import Annotated, Any

import typer
from google.protobuf import json_format
from rich.table import Table

from trademesh.cli.shared import (
    CliError,
    async_session_client,
    enum_label,
    format_timestamp,
    out,
    print_json,
    session_client,
)
from trademesh.notifications.v1 import notification_pb2, notifications_service_pb2

__all__ = ["app"]

#: The ``inbox`` group: ``trademesh inbox`` alone lists.
app = typer.Typer(help="Your notifications: list, follow live, mark read, delete.", invoke_without_command=True)

pb = notifications_service_pb2


def _kind(item: notification_pb2.Notification) -> str:
    return enum_label(item.kind, notification_pb2.NotificationKind, "NOTIFICATION_KIND_")


def _line(item: notification_pb2.Notification) -> str:
    mark = " " if item.read else "●"
    body = f" — {item.body}" if item.body else ""
    return f"{mark} {format_timestamp(item.create_time)}  [{_kind(item)}] {item.title}{body}  ({item.id})"


def _table(items: list[notification_pb2.Notification], unread: int) -> Table:
    table = Table(title=f"{len(items)} notification(s), {unread} unread", title_justify="left")
    for column in ("", "time (IST)", "kind", "title", "detail", "id"):
        table.add_column(column)
    for item in items:
        style = "" if item.read else "bold"
        table.add_row(
            "" if item.read else "●",
            format_timestamp(item.create_time),
            _kind(item),
            item.title,
            item.body,
            item.id,
            style=style,
        )
    return table


def _json_line(message: Any) -> None:
    sys.stdout.write(json_format.MessageToJson(message, indent=None) + "\n")
    sys.stdout.flush()


@app.callback()
def inbox(
    context: typer.Context,
    unread: Annotated[bool, typer.Option("--unread", help="Only unread notifications.")] = False,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep streaming new notifications (resumes after a disconnect).")
    ] = False,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Show at most this many.")] = 50,
    count: Annotated[int | None, typer.Option(min=1, help="With --follow: stop after this many new ones.")] = None,
    duration: Annotated[
        float | None, typer.Option(min=0.1, help="With --follow: stop after this many seconds.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (one object per line with --follow).")] = False,
) -> None:
    """List your notifications, newest first (`--follow`: then stream new ones live)."""
    if context.invoked_subcommand is not None:
        return
    if follow:
        with suppress(KeyboardInterrupt):
            asyncio.run(_deadline(_follow(context, unread, min(limit, 100), count, as_json), duration))
        return
    found: list[notification_pb2.Notification] = []
    token = ""
    unread_count = 0
    with session_client(context) as client:
        while len(found) < limit:
            page = client.notifications.ListNotifications(
                pb.ListNotificationsRequest(
                    unread_only=unread, page_size=min(200, limit - len(found)), page_token=token
                )
            )
            found += page.notifications
            unread_count = page.unread_count
            token = page.next_page_token
            if not token:
                break
    if as_json:
        print_json(found)
    else:
        out.print(_table(found, unread_count))


async def _follow(context: typer.Context, unread: bool, snapshot: int, count: int | None, as_json: bool) -> None:
    client = async_session_client(context)  # an asyncio channel belongs to the loop it is created in
    received = 0
    stream = client.watch_notifications(snapshot_size=snapshot, give_up_after=60.0)
    async with client:
        async for message in stream:
            kind = message.WhichOneof("event")
            if as_json:
                _json_line(message)
            elif kind == "snapshot":
                out.print(f"{message.unread_count} unread — following (Ctrl-C to stop)", markup=False)
                for item in reversed(message.snapshot.notifications):  # oldest first, like the live lines after
                    if not (unread and item.read):
                        out.print(_line(item), markup=False)
            elif kind == "notification":
                out.print(_line(message.notification) + f"  [{message.unread_count} unread]", markup=False)
            else:
                out.print(f"{message.unread_count} unread", markup=False)
            if kind == "notification":
                received += 1
                if count is not None and received >= count:
                    return


async def _deadline(work: Any, seconds: float | None) -> None:
    if seconds is None:
        await work
        return
    try:
        async with asyncio.timeout(seconds):
            await work
    except TimeoutError:
        pass


@app.command("read")
def inbox_read(
    context: typer.Context,
    notification_ids: Annotated[
        list[str] | None, typer.Argument(metavar="[ID...]", help="The notifications to mark read.")
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Mark every notification read.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Mark notifications read: `inbox read ID...` or `inbox read --all`."""
    if bool(notification_ids) == all_:
        raise CliError("give notification ids or --all (not both)", 2)
    with session_client(context) as client:
        if all_:
            marked = client.notifications.MarkAllRead(pb.MarkAllReadRequest())
            if as_json:
                print_json(marked)
            else:
                out.print(f"marked {marked.marked_count} notification(s) read", markup=False)
            return
        response = client.notifications.MarkRead(pb.MarkReadRequest(notification_ids=notification_ids))
    if as_json:
        print_json(response)
    else:
        out.print(f"{response.unread_count} unread", markup=False)


@app.command("rm")
def inbox_rm(
    context: typer.Context,
    notification_ids: Annotated[list[str], typer.Argument(metavar="ID...", help="The notifications to delete.")],
) -> None:
    """Delete notifications."""
    with session_client(context) as client:
        for notification_id in notification_ids:
            client.notifications.DeleteNotification(pb.DeleteNotificationRequest(notification_id=notification_id))
            out.print(f"deleted notification {notification_id}", markup=False)
