"""``register``, ``login``, ``logout`` and ``whoami``: the saved session."""

from __future__ import annotations

from typing import Annotated

import typer

from trademesh.auth.v1 import auth_service_pb2
from trademesh.cli.config import Credentials
from trademesh.cli.shared import CliError, cli_state, out, read_password, session_client, token_saver
from trademesh.sdk import connect_sync

__all__ = ["app"]

#: Top-level commands (added to the root without a group name).
app = typer.Typer()


@app.command()
def register(
    context: typer.Context,
    email: Annotated[str, typer.Option(help="Your email address.")],
    username: Annotated[str, typer.Option(help="3-30 characters of a-z, 0-9, _ and .")],
    password: Annotated[str | None, typer.Option(help="Default: $TRADEMESH_PASSWORD or a prompt.")] = None,
) -> None:
    """Create an account and log in as it."""
    state = cli_state(context)
    secret = read_password(password, "Choose a password (10+ characters): ")
    with connect_sync(state.target, on_tokens=token_saver(state, username)) as client:
        user = client.register(email=email, username=username, password=secret)
    state.config.save_target(state.target)
    out.print(f"Registered and logged in as [bold]{user.username}[/] on {state.target}.")


@app.command()
def login(
    context: typer.Context,
    user: Annotated[str, typer.Argument(help="Username or email.", metavar="LOGIN")],
    password: Annotated[str | None, typer.Option(help="Default: $TRADEMESH_PASSWORD or a prompt.")] = None,
) -> None:
    """Log in; the session is saved (owner-only file) and refreshed by itself."""
    state = cli_state(context)
    secret = read_password(password)
    with connect_sync(state.target) as client:
        me = client.login(user, secret)
        tokens = client.tokens
    if tokens is None:  # pragma: no cover - login either sets tokens or raises
        raise CliError("login returned no tokens")
    state.config.save_credentials(Credentials(state.target, me.username, tokens))
    state.config.save_target(state.target)
    out.print(f"Logged in as [bold]{me.username}[/] on {state.target}.")


@app.command()
def logout(context: typer.Context) -> None:
    """Revoke the session on the server and delete the saved tokens."""
    with session_client(context) as client:
        client.logout()
    out.print("Logged out.")


@app.command()
def whoami(context: typer.Context) -> None:
    """Show the logged-in user."""
    with session_client(context) as client:
        user = client.auth.GetMe(auth_service_pb2.GetMeRequest()).user
    out.print(f"{user.username} <{user.email}> (id {user.id})")
