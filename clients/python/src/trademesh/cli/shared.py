"""What every command shares: the exit codes, the state the global options set, the SDK client of the
saved session, the two consoles and the small formatters of protobuf values."""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC
from typing import Any

import typer
from google.protobuf import json_format
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from rich.console import Console

from trademesh.cli.config import CliConfig, Credentials
from trademesh.cli.render import IST
from trademesh.sdk import AsyncTrademesh, Tokens, Trademesh, connect, connect_sync

__all__ = [
    "EXIT_NOT_LOGGED_IN",
    "EXIT_REFUSED",
    "EXIT_UNREACHABLE",
    "CliError",
    "State",
    "async_session_client",
    "cli_state",
    "enum_label",
    "err",
    "format_timestamp",
    "out",
    "print_json",
    "read_password",
    "session_client",
    "token_saver",
]

EXIT_REFUSED = 1
EXIT_NOT_LOGGED_IN = 3
EXIT_UNREACHABLE = 4

#: Results go to stdout; progress, row failures and errors to stderr.
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


class CliError(Exception):
    """A problem the CLI reports itself (not a server error)."""

    def __init__(self, message: str, exit_code: int = EXIT_REFUSED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class State:
    """What the global options decided."""

    target: str
    config: CliConfig


def cli_state(context: typer.Context) -> State:
    """Return the state the global options callback stored on the root context."""
    found = context.find_root().obj
    if not isinstance(found, State):  # pragma: no cover - the callback always sets it
        raise CliError("internal error: no CLI state")
    return found


# ------------------------------------------------------------------ clients


def token_saver(current: State, username: str) -> Callable[[Tokens | None], None]:
    """Return the SDK's ``on_tokens`` callback that saves each refresh (or deletes the login on None)."""

    def save(tokens: Tokens | None) -> None:
        current.config.save_credentials(Credentials(current.target, username, tokens) if tokens else None)

    return save


def _credentials(current: State) -> Credentials:
    credentials = current.config.load_credentials(current.target)
    if credentials is None:
        raise CliError(f"not logged in to {current.target}; run `trademesh login`", EXIT_NOT_LOGGED_IN)
    return credentials


@contextmanager
def session_client(context: typer.Context) -> Iterator[Trademesh]:
    """Open a blocking client with the saved session of the target."""
    current = cli_state(context)
    credentials = _credentials(current)
    with connect_sync(
        current.target, tokens=credentials.tokens, on_tokens=token_saver(current, credentials.username)
    ) as opened:
        yield opened


def async_session_client(context: typer.Context) -> AsyncTrademesh:
    """Return an asyncio client with the saved session of the target (create it inside the running loop)."""
    current = cli_state(context)
    credentials = _credentials(current)
    return connect(current.target, tokens=credentials.tokens, on_tokens=token_saver(current, credentials.username))


def read_password(value: str | None, prompt: str = "Password: ") -> str:
    """Return ``value``, else ``$TRADEMESH_PASSWORD``, else what the user types at a prompt."""
    if value:
        return value
    from_env = os.environ.get("TRADEMESH_PASSWORD")
    if from_env:
        return from_env
    if not sys.stdin.isatty():
        raise CliError("no password: pass --password, set TRADEMESH_PASSWORD or run in a terminal", 2)
    return getpass.getpass(prompt)


# ------------------------------------------------------------------ output


def print_json(message: Message | Sequence[Message]) -> None:
    """Print a message (or a list of them) as protobuf's canonical JSON."""
    if not isinstance(message, Message):
        out.print_json(data=[json_format.MessageToDict(item) for item in message])
    else:
        out.print_json(json_format.MessageToJson(message))


def format_timestamp(stamp: Timestamp, *, seconds: bool = True) -> str:
    """Format a timestamp in IST (empty for an unset one)."""
    if not stamp.seconds and not stamp.nanos:
        return ""
    return stamp.ToDatetime(tzinfo=UTC).astimezone(IST).strftime("%Y-%m-%d %H:%M" + (":%S" if seconds else ""))


def enum_label(value: int, enum: Any, prefix: str) -> str:
    """Name an enum value for people: ``SIDE_BUY`` → ``buy``, ``TRADE_CATEGORY_LONG_TERM`` → ``long term``."""
    return str(enum.Name(value)).removeprefix(prefix).replace("_", " ").lower()
