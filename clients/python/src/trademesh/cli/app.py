"""``trademesh``: a trader's command line over the Python SDK.

Every command talks to ``--target`` (or ``$TRADEMESH_TARGET``, the target saved by ``login``, else the
local gateway ``127.0.0.1:8080``) with the tokens saved by ``trademesh login``; token refreshes are
saved as they happen. A failure prints one line on stderr and exits non-zero:

====  ==========================================================
1     the mesh refused the request (the line names the code and reason)
2     the command line is wrong (unknown option, bad value)
3     not logged in, or the session ended: run ``trademesh login``
4     the mesh cannot be reached (UNAVAILABLE, deadline exceeded)
====  ==========================================================

This module only composes the commands (one module per group in :mod:`trademesh.cli.commands`, the helpers
they share in :mod:`trademesh.cli.shared`) and maps failures to those exit codes in :func:`main`.
"""

from __future__ import annotations

import time
from typing import Annotated, NoReturn

import grpc
import typer

from trademesh.cli.commands import (
    alerts,
    analytics,
    auth,
    bars,
    calendar,
    inbox,
    mappings,
    notes,
    positions,
    push,
    quotes,
    sync,
    tax,
    trades,
    watchlists,
)
from trademesh.cli.config import DEFAULT_TARGET, CliConfig, config_dir
from trademesh.cli.shared import EXIT_NOT_LOGGED_IN, EXIT_REFUSED, EXIT_UNREACHABLE, CliError, State, err
from trademesh.sdk import TrademeshError

__all__ = ["app", "main"]

app = typer.Typer(
    name="trademesh",
    help="A trader's command line for the trademesh journal: trades, positions, live quotes, analytics, sync, "
    "alerts and the inbox.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
# The order here is the order of `trademesh --help`: the top-level commands, then the groups.
app.add_typer(auth.app)
app.add_typer(positions.app)
app.add_typer(analytics.app)
app.add_typer(tax.app)
app.add_typer(calendar.app)
app.add_typer(bars.app)
app.add_typer(trades.app, name="trades")
app.add_typer(quotes.app, name="quotes")
app.add_typer(sync.app, name="sync")
app.add_typer(watchlists.app, name="watchlist")
app.add_typer(alerts.app, name="alerts")
app.add_typer(inbox.app, name="inbox")
app.add_typer(push.app, name="push")
app.add_typer(notes.app, name="note")
app.add_typer(notes.mistakes_app, name="mistakes")
app.add_typer(mappings.app, name="mappings")


@app.callback()
def _global_options(
    context: typer.Context,
    target: Annotated[
        str | None,
        typer.Option(
            "--target",
            "-t",
            envvar="TRADEMESH_TARGET",
            help="The mesh's address: host:port, http://host:port or https://host. "
            f"Default: the one saved by login, else {DEFAULT_TARGET}.",
            show_default=False,
        ),
    ] = None,
) -> None:
    config = CliConfig(config_dir())
    context.obj = State(target or config.saved_target() or DEFAULT_TARGET, config)


def _describe(error: TrademeshError) -> str:
    text = f"{error.code.name}" + (f" {error.reason}" if error.reason else "") + f": {error.message}"
    if error.field_violations:
        text += " — " + "; ".join(f"{v.field}: {v.description}" for v in error.field_violations)
    if error.retry_delay:
        text += f" (try again in {error.retry_delay:.0f}s)"
    return text


def _fail(message: str, code: int) -> NoReturn:
    err.print(f"trademesh: error: {message}", markup=False, soft_wrap=True)
    raise SystemExit(code)


def main() -> None:
    """Run the CLI (the ``trademesh`` console script)."""
    started = time.monotonic()
    try:
        app()
    except TrademeshError as error:
        if error.code == grpc.StatusCode.UNAUTHENTICATED and error.reason != "INVALID_CREDENTIALS":
            _fail(f"{_describe(error)} (run `trademesh login`)", EXIT_NOT_LOGGED_IN)
        if error.code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            elapsed = time.monotonic() - started
            _fail(f"{_describe(error)} (after {elapsed:.1f}s; is the mesh running?)", EXIT_UNREACHABLE)
        _fail(_describe(error), EXIT_REFUSED)
    except CliError as error:
        _fail(str(error), error.exit_code)
    except KeyboardInterrupt:
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
