"""``sync``: link broker accounts (``sync link zerodha|upstox``), list them and run a sync now."""

from __future__ import annotations

import os
import uuid
from typing import Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from trademesh.cli.shared import (
    EXIT_REFUSED,
    EXIT_UNREACHABLE,
    CliError,
    enum_label,
    err,
    format_timestamp,
    out,
    print_json,
    read_password,
    session_client,
)
from trademesh.common.v1 import instrument_pb2
from trademesh.sdk import Trademesh
from trademesh.sync.v1 import broker_account_pb2, sync_log_pb2, sync_service_pb2

__all__ = ["app"]

#: The ``sync`` group.
app = typer.Typer(help="Link broker accounts and sync their trades.", no_args_is_help=True)
#: ``sync link``.
link_app = typer.Typer(help="Link (or re-link) a broker account.", no_args_is_help=True)
app.add_typer(link_app, name="link")


def _account_table(accounts: list[broker_account_pb2.BrokerAccount]) -> Table:
    table = Table(title=f"{len(accounts)} broker account(s)", title_justify="left")
    table.add_column("id", no_wrap=True, min_width=max((len(account.id) for account in accounts), default=2))
    for column in ("broker", "user", "name", "status", "last sync", "next sync"):
        table.add_column(column)
    for account in accounts:
        table.add_row(
            account.id,
            enum_label(account.broker, instrument_pb2.Broker, "BROKER_"),
            account.broker_user_id,
            account.nickname or account.display_name,
            enum_label(account.status, broker_account_pb2.BrokerAccountStatus, "BROKER_ACCOUNT_STATUS_")
            + (f" ({account.error_reason})" if account.error_reason else ""),
            format_timestamp(account.last_sync_time, seconds=False),
            format_timestamp(account.next_sync_time, seconds=False),
        )
    return table


def _link(context: typer.Context, request: sync_service_pb2.LinkBrokerAccountRequest) -> None:
    with session_client(context) as client:
        response = client.sync.LinkBrokerAccount(request)
    out.print(("Linked" if response.created else "Re-linked") + " account:")
    out.print(_account_table([response.broker_account]))


@link_app.command("zerodha")
def link_zerodha(
    context: typer.Context,
    api_key: Annotated[str, typer.Option(help="Your Kite Connect app's API key.")],
    request_token: Annotated[str, typer.Option(help="The request_token from Kite's login redirect.")],
    api_secret: Annotated[str | None, typer.Option(help="Default: $KITE_API_SECRET or a prompt.")] = None,
    nickname: Annotated[str, typer.Option(help="A label for the account.")] = "",
) -> None:
    """Link a Zerodha account through your Kite Connect app."""
    secret = api_secret or os.environ.get("KITE_API_SECRET") or read_password(None, "Kite API secret: ")
    credentials = broker_account_pb2.ZerodhaCredentials(api_key=api_key, api_secret=secret, request_token=request_token)
    _link(
        context,
        sync_service_pb2.LinkBrokerAccountRequest(request_id=str(uuid.uuid4()), zerodha=credentials, nickname=nickname),
    )


@link_app.command("upstox")
def link_upstox(
    context: typer.Context,
    client_id: Annotated[str, typer.Option(help="Your Upstox app's API key.")],
    redirect_uri: Annotated[str, typer.Option(help="The app's registered redirect URI.")],
    code: Annotated[str, typer.Option(help="The authorization code from Upstox's login redirect.")],
    client_secret: Annotated[str | None, typer.Option(help="Default: $UPSTOX_CLIENT_SECRET or a prompt.")] = None,
    nickname: Annotated[str, typer.Option(help="A label for the account.")] = "",
) -> None:
    """Link an Upstox account through your Upstox API app."""
    secret = client_secret or os.environ.get("UPSTOX_CLIENT_SECRET") or read_password(None, "Upstox API secret: ")
    credentials = broker_account_pb2.UpstoxCredentials(
        client_id=client_id, client_secret=secret, redirect_uri=redirect_uri, authorization_code=code
    )
    _link(
        context,
        sync_service_pb2.LinkBrokerAccountRequest(request_id=str(uuid.uuid4()), upstox=credentials, nickname=nickname),
    )


def _accounts(client: Trademesh) -> list[broker_account_pb2.BrokerAccount]:
    response = client.sync.ListBrokerAccounts(sync_service_pb2.ListBrokerAccountsRequest(page_size=100))
    return list(response.broker_accounts)


@app.command("accounts")
def sync_accounts(
    context: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List your linked broker accounts."""
    with session_client(context) as client:
        accounts = _accounts(client)
    if as_json:
        print_json(accounts)
    else:
        out.print(_account_table(accounts))


@app.command("now")
def sync_now(
    context: typer.Context,
    account: Annotated[
        str | None, typer.Argument(help="The broker account id (default: your only account; see `sync accounts`).")
    ] = None,
) -> None:
    """Sync an account now, streaming its progress, and show the summary."""
    summary: sync_log_pb2.SyncLog | None = None
    progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err)
    with session_client(context) as client:
        if account is None:
            linked = [item.id for item in _accounts(client)]
            if len(linked) != 1:
                raise CliError(f"you have {len(linked)} linked accounts: name one (see `trademesh sync accounts`)", 2)
            account = linked[0]
        request = sync_service_pb2.SyncNowRequest(broker_account_id=account, request_id=str(uuid.uuid4()))
        with progress:
            summary = _follow_sync(client, request, progress)
    if summary is None:
        raise CliError("the sync stream ended without a summary", EXIT_UNREACHABLE)
    counters = summary.counters
    status = enum_label(summary.status, sync_log_pb2.SyncStatus, "SYNC_STATUS_")
    out.print(
        f"Sync {summary.id}: {status} — {counters.fetched} fetched, {counters.created} new, "
        f"{counters.updated} updated, {counters.unchanged} unchanged, {counters.failed} failed"
        + (f"; {summary.error.reason}: {summary.error.message}" if summary.HasField("error") else "")
    )
    if summary.status not in (sync_log_pb2.SYNC_STATUS_SUCCEEDED, sync_log_pb2.SYNC_STATUS_PARTIAL):
        raise typer.Exit(EXIT_REFUSED)


def _follow_sync(
    client: Trademesh, request: sync_service_pb2.SyncNowRequest, progress: Progress
) -> sync_log_pb2.SyncLog | None:
    summary: sync_log_pb2.SyncLog | None = None
    task = progress.add_task("queued", total=None)
    for message in client.sync.SyncNow(request):
        if message.WhichOneof("item") == "progress":
            update = message.progress
            counters = update.counters
            progress.update(
                task,
                description=f"{enum_label(update.phase, sync_log_pb2.SyncPhase, 'SYNC_PHASE_')}: "
                f"{counters.fetched} fetched, {counters.created} new, {counters.updated} updated, "
                f"{counters.failed} failed",
            )
            for failure in update.row_failures:
                err.print(f"  row {failure.row_ref} {failure.symbol}: {failure.reason} {failure.message}")
        else:
            summary = message.summary
    return summary
