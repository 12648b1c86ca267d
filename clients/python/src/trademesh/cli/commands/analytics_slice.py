"""Slice flags of ``trademesh analytics`` (decision 0250): build an AnalyticsSlice, print a comparison."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import typer
from rich.table import Table

from trademesh.analytics.v1 import period_pb2, report_pb2, slice_pb2, trade_category_pb2
from trademesh.cli.render import format_inr
from trademesh.common.v1 import instrument_pb2

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _enum(enum: Any, prefix: str, text: str, flag: str) -> Any:
    try:
        return int(enum.Value(prefix + text.strip().upper().replace("-", "_")))
    except ValueError:
        names = [
            v.name.removeprefix(prefix).lower() for v in enum.DESCRIPTOR.values if not v.name.endswith("UNSPECIFIED")
        ]
        raise typer.BadParameter(f"{text!r}: one of {', '.join(names)}", param_hint=flag) from None


def _account(text: str) -> slice_pb2.SliceAccount:
    # "manual", "zerodha" (every Zerodha account) or "zerodha:ACCOUNT_ID".
    broker, _, account = text.partition(":")
    return slice_pb2.SliceAccount(
        broker=_enum(instrument_pb2.Broker, "BROKER_", broker, "--account"),
        broker_account_id=account,
    )


def _hours(text: str) -> slice_pb2.HourRange:
    # "9-11" keeps 09:00 to 10:59 IST; "9" keeps 09:00 to 09:59.
    start, _, end = text.partition("-")
    try:
        first = int(start)
        return slice_pb2.HourRange(start_hour=first, end_hour=int(end) if end else first + 1)
    except ValueError:
        raise typer.BadParameter(f"{text!r}: HOUR or START-END in IST, e.g. 9-11", param_hint="--hour") from None


def build_slice(
    *,
    strategy: Sequence[str],
    tag: Sequence[str],
    all_tags: bool,
    segment: Sequence[str],
    exchange: Sequence[str],
    category: Sequence[str],
    symbol: Sequence[str],
    account: Sequence[str],
    side: str | None,
    weekday: Sequence[str],
    hour: str | None,
) -> slice_pb2.AnalyticsSlice | None:
    """Return the slice the flags name, or None when no slice flag is given."""
    chosen = slice_pb2.AnalyticsSlice(
        accounts=[_account(text) for text in account],
        segments=[_enum(slice_pb2.SliceSegment, "SLICE_SEGMENT_", s, "--segment") for s in segment],
        exchanges=[_enum(instrument_pb2.Exchange, "EXCHANGE_", e, "--exchange") for e in exchange],
        categories=[_enum(trade_category_pb2.TradeCategory, "TRADE_CATEGORY_", c, "--category") for c in category],
        strategies=list(strategy),
        tags=list(tag),
        tag_match=slice_pb2.TAG_MATCH_ALL if all_tags else slice_pb2.TAG_MATCH_UNSPECIFIED,
        symbols=list(symbol),
        side=_enum(slice_pb2.OpeningSide, "OPENING_SIDE_", side, "--side") if side else 0,  # type: ignore[arg-type]
    )
    for day in weekday:
        if day.lower()[:3] not in WEEKDAYS:
            raise typer.BadParameter(f"{day!r}: one of {', '.join(WEEKDAYS)}", param_hint="--weekday")
        chosen.weekdays.append(period_pb2.Weekday.Value("WEEKDAY_MONDAY") + WEEKDAYS.index(day.lower()[:3]))  # type: ignore[arg-type]
    if hour:
        chosen.hours.CopyFrom(_hours(hour))
    return chosen if chosen.ByteSize() else None


def comparison_table(title: str, first: report_pb2.AnalyticsReport, second: report_pb2.AnalyticsReport) -> Table:
    """Return the key figures of two reports side by side."""
    table = Table(title=title, title_justify="left")
    table.add_column("metric")
    table.add_column("slice", justify="right")
    table.add_column("rest", justify="right")

    def win_rate(report: report_pb2.AnalyticsReport) -> str:
        stats = report.performance
        return f"{stats.win_rate_percent:.1f} %" if stats.HasField("win_rate_percent") else "—"

    def expectancy(report: report_pb2.AnalyticsReport) -> str:
        stats = report.performance
        return format_inr(stats.expectancy_micros) if stats.HasField("expectancy_micros") else "—"

    rows = (
        ("round trips", lambda r: str(r.performance.round_trip_count)),
        ("win rate", win_rate),
        ("net P&L", lambda r: format_inr(r.performance.net_pnl_micros, sign=True)),
        ("expectancy", expectancy),
        ("fees", lambda r: format_inr(r.performance.fees_micros)),
        ("max drawdown", lambda r: format_inr(r.risk.max_drawdown_micros)),
        ("fills", lambda r: str(r.activity.fill_count)),
    )
    for name, value in rows:
        table.add_row(name, value(first), value(second))
    return table
