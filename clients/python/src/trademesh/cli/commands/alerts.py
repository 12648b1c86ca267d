"""``alerts``: price and day-change alerts and P&L guardrails kept by the notifications service
(``alerts add INFY above 1600``, ``alerts add --daily-loss 5000``, ``alerts add --drawdown 3000``)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Annotated

import typer
from google.protobuf.duration_pb2 import Duration
from google.protobuf.field_mask_pb2 import FieldMask
from google.protobuf.timestamp_pb2 import Timestamp
from rich.table import Table

from trademesh.cli.render import format_inr, parse_micros, parse_time
from trademesh.cli.shared import enum_label, format_timestamp, out, print_json, session_client
from trademesh.common.v1 import instrument_pb2
from trademesh.notifications.v1 import alert_pb2, notifications_service_pb2
from trademesh.sdk import parse_instrument

__all__ = ["app", "describe_condition", "parse_duration"]

#: The ``alerts`` group.
app = typer.Typer(
    help="Price alerts (above, below or crossing a level, a day change beyond a %) and P&L guardrails (a day's "
    "loss beyond a limit, a drawdown from the day's peak).",
    no_args_is_help=True,
)

pb = notifications_service_pb2


class ConditionChoice(StrEnum):
    """When an alert fires."""

    above = "above"
    below = "below"
    crossing = "crossing"
    change = "change"


class StateChoice(StrEnum):
    """Which alerts to list."""

    all = "all"
    armed = "armed"
    cooling_down = "cooling-down"
    triggered = "triggered"
    expired = "expired"


_CONDITIONS = {
    ConditionChoice.above: alert_pb2.ALERT_CONDITION_PRICE_ABOVE,
    ConditionChoice.below: alert_pb2.ALERT_CONDITION_PRICE_BELOW,
    ConditionChoice.crossing: alert_pb2.ALERT_CONDITION_PRICE_CROSSING,
    ConditionChoice.change: alert_pb2.ALERT_CONDITION_DAY_CHANGE_BEYOND,
}
_STATES = {
    StateChoice.all: alert_pb2.ALERT_STATE_UNSPECIFIED,
    StateChoice.armed: alert_pb2.ALERT_STATE_ARMED,
    StateChoice.cooling_down: alert_pb2.ALERT_STATE_COOLING_DOWN,
    StateChoice.triggered: alert_pb2.ALERT_STATE_TRIGGERED,
    StateChoice.expired: alert_pb2.ALERT_STATE_EXPIRED,
}
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^(?:\d+[smhd])+$")


def parse_duration(text: str) -> timedelta:
    """Parse ``90s``, ``15m``, ``1h30m``, ``2d`` into a timedelta.

    Raises:
        typer.BadParameter: Not such a duration.
    """
    compact = text.strip().lower().replace(" ", "")
    if not _DURATION.match(compact):
        raise typer.BadParameter(f"not a duration: {text!r} (use e.g. 90s, 15m, 1h30m, 2d)")
    seconds = sum(int(amount) * _UNIT_SECONDS[unit] for amount, unit in re.findall(r"(\d+)([smhd])", compact))
    return timedelta(seconds=seconds)


def _format_duration(seconds: int) -> str:
    parts = []
    for unit in ("d", "h", "m", "s"):
        amount, seconds = divmod(seconds, _UNIT_SECONDS[unit])
        if amount:
            parts.append(f"{amount}{unit}")
    return "".join(parts) or "0s"


def _basis_points(text: str) -> int:
    try:
        value = Decimal(text.strip().removesuffix("%").strip()) * 100
    except InvalidOperation:
        raise typer.BadParameter(f"the change is not a percentage: {text!r} (use e.g. 2.5 or 2.5%)") from None
    if value != value.to_integral_value():
        raise typer.BadParameter(f"the change has more than 2 decimal places: {text!r}")
    return int(value)


def _expiry(text: str) -> Timestamp:
    """``--expires``: a duration from now (``7d``) or a time (IST when it has no zone)."""
    compact = text.strip().lower().replace(" ", "")
    when = datetime.now(UTC) + parse_duration(compact) if _DURATION.match(compact) else _parsed_time(text)
    stamp = Timestamp()
    stamp.FromDatetime(when.astimezone(UTC))
    return stamp


def _parsed_time(text: str) -> datetime:
    try:
        return parse_time(text)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None


def _cool_down(text: str) -> Duration:
    duration = Duration()
    duration.FromTimedelta(parse_duration(text))
    return duration


def describe_condition(alert: alert_pb2.Alert) -> str:
    """``above ₹1,600.00``, ``crossing ₹1,520.50``, ``change beyond ±2.5%``, ``day's loss ≥ ₹5,000.00``."""
    if alert.condition == alert_pb2.ALERT_CONDITION_DAILY_LOSS_BEYOND:
        return f"day's loss ≥ {format_inr(alert.level_micros)}"
    if alert.condition == alert_pb2.ALERT_CONDITION_DRAWDOWN_FROM_PEAK:
        if alert.change_basis_points:
            return f"drawdown from the day's peak ≥ {Decimal(alert.change_basis_points) / 100}%"
        return f"drawdown from the day's peak ≥ {format_inr(alert.level_micros)}"
    if alert.condition == alert_pb2.ALERT_CONDITION_DAY_CHANGE_BEYOND:
        return f"change beyond ±{Decimal(alert.change_basis_points) / 100}%"
    word = enum_label(alert.condition, alert_pb2.AlertCondition, "ALERT_CONDITION_PRICE_")
    return f"{word} {format_inr(alert.level_micros)}"


def _is_guardrail(alert: alert_pb2.Alert) -> bool:
    return alert.condition in (
        alert_pb2.ALERT_CONDITION_DAILY_LOSS_BEYOND,
        alert_pb2.ALERT_CONDITION_DRAWDOWN_FROM_PEAK,
    )


def _instrument(alert: alert_pb2.Alert) -> str:
    return "your book" if _is_guardrail(alert) else alert.instrument.symbol


def _mode(alert: alert_pb2.Alert) -> str:
    if _is_guardrail(alert) and alert.rearm and not alert.cool_down.seconds:
        return "once a day"
    return f"every {_format_duration(alert.cool_down.seconds)}" if alert.rearm else "once"


def _alert_table(alerts: list[alert_pb2.Alert], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("id", "instrument", "condition", "repeat", "state", "fired", "last fired (IST)", "note"):
        table.add_column(column, justify="right" if column == "fired" else "left")
    for alert in alerts:
        state = enum_label(alert.state, alert_pb2.AlertState, "ALERT_STATE_")
        colour = {"armed": "green", "cooling down": "yellow"}.get(state, "dim")
        table.add_row(
            alert.id,
            _instrument(alert),
            describe_condition(alert),
            _mode(alert),
            f"[{colour}]{state}[/]",
            str(alert.trigger_count),
            format_timestamp(alert.last_trigger_time),
            alert.note,
        )
    return table


def _print_alert(alert: alert_pb2.Alert) -> None:
    exchange = instrument_pb2.Exchange.Name(alert.instrument.exchange).removeprefix("EXCHANGE_")
    lines = [
        ("id", alert.id),
        ("instrument", _instrument(alert) if _is_guardrail(alert) else f"{alert.instrument.symbol} ({exchange})"),
        ("condition", describe_condition(alert)),
        ("repeat", _mode(alert)),
        ("state", enum_label(alert.state, alert_pb2.AlertState, "ALERT_STATE_")),
        ("fired", f"{alert.trigger_count} time(s)"),
        ("last fired", format_timestamp(alert.last_trigger_time)),
        (
            "last price",
            format_inr(alert.last_trigger_price_micros) if alert.trigger_count and not _is_guardrail(alert) else "",
        ),
        ("last P&L", format_inr(alert.last_trigger_pnl_micros) if alert.trigger_count and _is_guardrail(alert) else ""),
        ("re-arms", format_timestamp(alert.rearm_time)),
        ("expires", format_timestamp(alert.expire_time) or "never"),
        ("note", alert.note),
        ("created", format_timestamp(alert.create_time)),
    ]
    for label, value in lines:
        if value:
            out.print(f"{label:>11}: {value}", markup=False)


@app.command("add")
def alerts_add(
    context: typer.Context,
    symbol: Annotated[str | None, typer.Argument(help="SYMBOL (NSE) or EXCHANGE:SYMBOL.")] = None,
    condition: Annotated[
        ConditionChoice | None, typer.Argument(help="above, below, crossing (a price) or change (a %).")
    ] = None,
    value: Annotated[
        str | None, typer.Argument(help="The price level in ₹ (1600, 1,520.50) or, for change, a % (2.5).")
    ] = None,
    daily_loss: Annotated[
        str | None,
        typer.Option("--daily-loss", help="A guardrail instead: today's P&L (net, marked live) is a loss of ₹X."),
    ] = None,
    drawdown: Annotated[
        str | None,
        typer.Option("--drawdown", help="A guardrail instead: today's P&L falls ₹X (or X%) from the day's peak."),
    ] = None,
    rearm: Annotated[
        bool | None,
        typer.Option(
            "--rearm/--once",
            help="Fire again after the cool-down, or only once (default for price alerts; guardrails re-arm daily).",
        ),
    ] = None,
    cool_down: Annotated[
        str | None, typer.Option("--cool-down", help="Silence after firing, e.g. 15m, 1h (implies --rearm).")
    ] = None,
    expires: Annotated[
        str | None, typer.Option("--expires", help="Stop after this: a duration (7d) or a time (IST).")
    ] = None,
    note: Annotated[str, typer.Option(help="Your text, shown in the notification.")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Create an alert: `alerts add INFY above 1600`, `alerts add TCS change 2.5 --cool-down 1h`, or a P&L
    guardrail: `alerts add --daily-loss 5000`, `alerts add --drawdown 3000` (or `--drawdown 40%`)."""
    if daily_loss is not None or drawdown is not None:
        if daily_loss is not None and drawdown is not None:
            raise typer.BadParameter("give one of --daily-loss and --drawdown")
        if symbol is not None or condition is not None or value is not None:
            raise typer.BadParameter("a guardrail watches your whole book: give no SYMBOL, CONDITION or VALUE")
        alert = _guardrail(daily_loss, drawdown)
        alert.rearm = rearm is not False
        alert.note = note
    else:
        if symbol is None or condition is None or value is None:
            raise typer.BadParameter("give SYMBOL CONDITION VALUE (e.g. INFY above 1600), --daily-loss or --drawdown")
        alert = _price_alert(symbol, condition, value)
        alert.rearm = bool(rearm) or cool_down is not None
        alert.note = note
    if cool_down is not None:
        alert.cool_down.CopyFrom(_cool_down(cool_down))
    if expires is not None:
        alert.expire_time.CopyFrom(_expiry(expires))
    with session_client(context) as client:
        created = client.notifications.CreateAlert(pb.CreateAlertRequest(request_id=str(uuid.uuid4()), alert=alert))
    if as_json:
        print_json(created.alert)
        return
    out.print(
        f"alert {created.alert.id}: {_instrument(created.alert)} {describe_condition(created.alert)}, "
        f"{_mode(created.alert)}",
        markup=False,
    )


def _price_alert(symbol: str, condition: ConditionChoice, value: str) -> alert_pb2.Alert:
    try:
        instrument = parse_instrument(symbol)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    alert = alert_pb2.Alert(instrument=instrument, condition=_CONDITIONS[condition])
    if condition is ConditionChoice.change:
        alert.change_basis_points = _basis_points(value)
    else:
        alert.level_micros = _amount(value, "the price level")
    return alert


def _amount(value: str, what: str) -> int:
    try:
        return parse_micros(value, what)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None


def _guardrail(daily_loss: str | None, drawdown: str | None) -> alert_pb2.Alert:
    if daily_loss is not None:
        return alert_pb2.Alert(
            condition=alert_pb2.ALERT_CONDITION_DAILY_LOSS_BEYOND, level_micros=_amount(daily_loss, "the loss limit")
        )
    assert drawdown is not None
    alert = alert_pb2.Alert(condition=alert_pb2.ALERT_CONDITION_DRAWDOWN_FROM_PEAK)
    if drawdown.strip().endswith("%"):
        alert.change_basis_points = _basis_points(drawdown)
    else:
        alert.level_micros = _amount(drawdown, "the drawdown")
    return alert


@app.command("list")
def alerts_list(
    context: typer.Context,
    state: Annotated[StateChoice, typer.Option(help="all, armed, cooling-down, triggered or expired.")] = (
        StateChoice.all
    ),
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List your alerts, newest first."""
    found: list[alert_pb2.Alert] = []
    token = ""
    with session_client(context) as client:
        while True:
            page = client.notifications.ListAlerts(
                pb.ListAlertsRequest(state=_STATES[state], page_size=200, page_token=token)
            )
            found += page.alerts
            token = page.next_page_token
            if not token:
                break
    if as_json:
        print_json(found)
        return
    out.print(_alert_table(found, f"{len(found)} alert(s)" + ("" if state is StateChoice.all else f" {state.value}")))


@app.command("show")
def alerts_show(
    context: typer.Context,
    alert_id: Annotated[str, typer.Argument(metavar="ID", help="The alert's id (from `alerts list`).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show one alert."""
    with session_client(context) as client:
        alert = client.notifications.GetAlert(pb.GetAlertRequest(alert_id=alert_id)).alert
    if as_json:
        print_json(alert)
    else:
        _print_alert(alert)


@app.command("edit")
def alerts_edit(
    context: typer.Context,
    alert_id: Annotated[str, typer.Argument(metavar="ID", help="The alert's id.")],
    value: Annotated[
        str | None, typer.Option("--value", help="The new price level in ₹, or the new % of a change alert.")
    ] = None,
    rearm: Annotated[
        bool | None, typer.Option("--rearm/--once", help="Re-arm after a cool-down, or fire once.")
    ] = None,
    cool_down: Annotated[str | None, typer.Option("--cool-down", help="The new cool-down (implies --rearm).")] = None,
    expires: Annotated[str | None, typer.Option("--expires", help="A duration (7d), a time, or 'never'.")] = None,
    note: Annotated[str | None, typer.Option(help="The new note.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Change an alert (only the options given) and arm it again."""
    alert = alert_pb2.Alert(id=alert_id)
    paths: list[str] = []
    with session_client(context) as client:
        if value is not None:
            current = client.notifications.GetAlert(pb.GetAlertRequest(alert_id=alert_id)).alert
            if current.condition == alert_pb2.ALERT_CONDITION_DAY_CHANGE_BEYOND:
                alert.change_basis_points = _basis_points(value)
                paths.append("change_basis_points")
            elif current.condition == alert_pb2.ALERT_CONDITION_DRAWDOWN_FROM_PEAK:
                # Either an amount or a share of the peak: both fields change together.
                alert.CopyFrom(_guardrail(None, value))
                alert.id = alert_id
                paths += ["level_micros", "change_basis_points"]
            else:
                try:
                    alert.level_micros = parse_micros(value, "the price level")
                except ValueError as error:
                    raise typer.BadParameter(str(error)) from None
                paths.append("level_micros")
        if rearm is not None or cool_down is not None:
            alert.rearm = bool(rearm) or (rearm is None and cool_down is not None)
            paths += ["rearm", "cool_down"]
            if cool_down is not None:
                alert.cool_down.CopyFrom(_cool_down(cool_down))
        if expires is not None:
            if expires.strip().lower() != "never":
                alert.expire_time.CopyFrom(_expiry(expires))
            paths.append("expire_time")
        if note is not None:
            alert.note = note
            paths.append("note")
        if not paths:
            raise typer.BadParameter(
                "nothing to change: give --value, --rearm/--once, --cool-down, --expires or --note"
            )
        updated = client.notifications.UpdateAlert(
            pb.UpdateAlertRequest(alert=alert, update_mask=FieldMask(paths=paths))
        ).alert
    if as_json:
        print_json(updated)
    else:
        _print_alert(updated)


@app.command("rm")
def alerts_rm(
    context: typer.Context,
    alert_ids: Annotated[list[str], typer.Argument(metavar="ID...", help="One or more alert ids.")],
) -> None:
    """Delete alerts."""
    with session_client(context) as client:
        for alert_id in alert_ids:
            client.notifications.DeleteAlert(pb.DeleteAlertRequest(alert_id=alert_id))
            out.print(f"deleted alert {alert_id}", markup=False)
