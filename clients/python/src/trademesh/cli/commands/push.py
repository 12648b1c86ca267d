"""``push``: Web Push subscriptions of the notifications service — the server's key, register, list, remove.

A browser registers itself from the web client ("Enable push on this device"); ``push register`` takes the same
three values of a ``PushSubscription.toJSON()`` (endpoint, keys.p256dh, keys.auth) for scripts and other clients.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from trademesh.cli.shared import format_timestamp, out, print_json, session_client
from trademesh.notifications.v1 import push_pb2

__all__ = ["app"]

#: The ``push`` group: ``trademesh push`` alone lists.
app = typer.Typer(
    help="Web Push subscriptions: the server's VAPID key, register, list, remove.", invoke_without_command=True
)


@app.callback()
def push(
    context: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List your push subscriptions, newest first."""
    if context.invoked_subcommand is not None:
        return
    with session_client(context) as client:
        listed = client.notifications.ListPushSubscriptions(push_pb2.ListPushSubscriptionsRequest())
    if as_json:
        print_json(list(listed.subscriptions))
        return
    table = Table(title=f"{len(listed.subscriptions)} push subscription(s)", title_justify="left")
    for column in ("id", "device", "endpoint", "registered (IST)"):
        table.add_column(column)
    for item in listed.subscriptions:
        table.add_row(item.id, item.user_agent, item.endpoint, format_timestamp(item.create_time))
    out.print(table)


@app.command("config")
def push_config(
    context: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show whether the server sends push and SMS, and its VAPID public key (the applicationServerKey)."""
    with session_client(context) as client:
        config = client.notifications.GetPushConfig(push_pb2.GetPushConfigRequest())
    if as_json:
        print_json(config)
        return
    out.print(f"push: {'on' if config.push_enabled else 'off'}   sms: {'on' if config.sms_enabled else 'off'}")
    if config.vapid_public_key:
        out.print(f"VAPID public key: {config.vapid_public_key}", markup=False)


@app.command("register")
def push_register(
    context: typer.Context,
    endpoint: Annotated[str, typer.Option("--endpoint", help="The subscription's push service URL.")],
    p256dh: Annotated[str, typer.Option("--p256dh", help="keys.p256dh: the P-256 public key, base64url.")],
    auth: Annotated[str, typer.Option("--auth", help="keys.auth: the 16-byte secret, base64url.")],
    device: Annotated[str, typer.Option("--device", help="A label to tell devices apart.")] = "trademesh CLI",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Register a push subscription (the same endpoint again replaces its keys)."""
    subscription = push_pb2.PushSubscription(endpoint=endpoint, p256dh=p256dh, auth=auth, user_agent=device)
    with session_client(context) as client:
        registered = client.notifications.RegisterPushSubscription(
            push_pb2.RegisterPushSubscriptionRequest(subscription=subscription)
        ).subscription
    if as_json:
        print_json(registered)
    else:
        out.print(f"registered push subscription {registered.id}", markup=False)


@app.command("rm")
def push_rm(
    context: typer.Context,
    subscription_ids: Annotated[list[str], typer.Argument(metavar="ID...", help="The subscriptions to remove.")],
) -> None:
    """Remove push subscriptions."""
    with session_client(context) as client:
        for subscription_id in subscription_ids:
            client.notifications.DeletePushSubscription(
                push_pb2.DeletePushSubscriptionRequest(subscription_id=subscription_id)
            )
            out.print(f"removed push subscription {subscription_id}", markup=False)
