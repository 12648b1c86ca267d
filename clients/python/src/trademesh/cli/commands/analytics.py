"""``analytics``: a period's performance, risk, best and worst instruments and the equity curve."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer
from rich.table import Table

from trademesh.analytics.v1 import analytics_service_pb2, period_pb2, report_pb2
from trademesh.cli.commands.analytics_slice import build_slice, comparison_table
from trademesh.cli.render import equity_chart, format_inr
from trademesh.cli.shared import out, print_json, session_client

__all__ = ["app"]

#: A top-level command (added to the root without a group name).
app = typer.Typer()


class PeriodChoice(StrEnum):
    """Analytics period."""

    daily = "daily"
    weekly = "weekly"
    monthly = "monthly"
    yearly = "yearly"
    financial_year = "financial-year"
    all_time = "all-time"


def format_r(milli: int) -> str:
    """Format milli-R as R with two decimals (truncated) and a sign, e.g. -1250 → "-1.25 R"."""
    sign = "-" if milli < 0 else "+"
    whole, rest = divmod(abs(milli), 1000)
    return f"{sign}{whole}.{rest // 10:02d} R"


def _unrealized_parts(report: report_pb2.AnalyticsReport) -> str:
    """Return how net unrealized P&L is made: gross, minus open fees, minus estimated exit charges (0310)."""
    return " / ".join(
        (
            format_inr(report.unrealized_pnl_micros, sign=True),
            format_inr(report.open_fees_micros),
            format_inr(report.estimated_exit_charges_micros),
        )
    )


def _r_rows(r: report_pb2.RMultipleStats) -> list[tuple[str, str]]:
    """The R-multiple rows (decision 0230): round trips with a plan only."""
    planned = f"{r.planned_round_trip_count} ({r.unplanned_round_trip_count} without a plan, excluded)"
    if not r.planned_round_trip_count:
        return [("round trips with a plan", planned)]
    buckets = "  ".join(
        f"{label} {bucket.round_trip_count}"
        for label, bucket in zip(("<=-1R", "-1..0R", "0..1R", "1..2R", ">=2R"), r.buckets, strict=False)
    )
    return [
        ("round trips with a plan", planned),
        ("expectancy (R)", format_r(r.expectancy_r_milli)),
        ("average R", format_r(r.average_r_milli)),
        ("win rate (planned)", f"{r.win_rate_percent:.1f} %"),
        ("R buckets", buckets),
    ]


@app.command()
def analytics(
    context: typer.Context,
    period: Annotated[PeriodChoice, typer.Option(help="The period to report.")] = PeriodChoice.monthly,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    strategy: Annotated[list[str] | None, typer.Option("--strategy", help="Only this strategy (repeatable).")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="Only round trips with this tag (repeatable).")] = None,
    all_tags: Annotated[bool, typer.Option("--all-tags", help="Round trips need every --tag (default: any).")] = False,
    segment: Annotated[list[str] | None, typer.Option("--segment", help="equity, futures, options, ...")] = None,
    exchange: Annotated[list[str] | None, typer.Option("--exchange", help="nse, bse, nfo, ...")] = None,
    category: Annotated[list[str] | None, typer.Option("--category", help="intraday, swing, long-term")] = None,
    symbol: Annotated[list[str] | None, typer.Option("--symbol", help="Only this symbol (repeatable).")] = None,
    account: Annotated[
        list[str] | None, typer.Option("--account", help="manual, zerodha, or zerodha:ACCOUNT_ID (repeatable).")
    ] = None,
    side: Annotated[str | None, typer.Option("--side", help="buy (longs) or sell (shorts): the opening side.")] = None,
    weekday: Annotated[list[str] | None, typer.Option("--weekday", help="mon..sun of the entry, IST.")] = None,
    hour: Annotated[str | None, typer.Option("--hour", help="Entry hours in IST, e.g. 9-11 or 14.")] = None,
    compare_rest: Annotated[
        bool, typer.Option("--compare-rest", help="Show the slice next to the rest of the period.")
    ] = False,
) -> None:
    """Show performance, risk and the equity curve of a period, or of a slice of it (round trips filtered
    by their entry: strategy, tags, segment, symbol, account, side, weekday, hour)."""
    chosen = build_slice(
        strategy=strategy or [],
        tag=tag or [],
        all_tags=all_tags,
        segment=segment or [],
        exchange=exchange or [],
        category=category or [],
        symbol=symbol or [],
        account=account or [],
        side=side,
        weekday=weekday or [],
        hour=hour,
    )
    request = analytics_service_pb2.GetAnalyticsRequest(
        period=period_pb2.Period.Value(f"PERIOD_{period.name.upper()}"),
        include_equity_curve=True,
        equity_curve_max_points=120,
        slice=chosen,
    )
    if compare_rest:
        with session_client(context) as client:
            compared = client.analytics.CompareAnalytics(
                analytics_service_pb2.CompareAnalyticsRequest(query=request, rest=True)
            )
        if as_json:
            print_json(compared)
        else:
            out.print(comparison_table(f"{period.value}: slice vs the rest", compared.first, compared.second))
        return
    with session_client(context) as client:
        report = client.analytics.GetAnalytics(request).report
    if as_json:
        print_json(report)
        return
    stats, risk = report.performance, report.risk
    summary = Table(title=f"{period.value} performance", title_justify="left", show_header=False)
    summary.add_column("metric")
    summary.add_column("value", justify="right")
    rows = [
        ("round trips", f"{stats.round_trip_count} ({stats.win_count} won, {stats.loss_count} lost)"),
        ("win rate", f"{stats.win_rate_percent:.1f} %" if stats.HasField("win_rate_percent") else "—"),
        ("net P&L", format_inr(stats.net_pnl_micros, sign=True)),
        ("fees", format_inr(stats.fees_micros)),
        (
            "profit factor",
            "∞"
            if stats.profit_factor_unbounded
            else f"{stats.profit_factor:.2f}"
            if stats.HasField("profit_factor")
            else "—",
        ),
        ("expectancy", format_inr(stats.expectancy_micros) if stats.HasField("expectancy_micros") else "—"),
        ("max drawdown", format_inr(risk.max_drawdown_micros)),
        ("sharpe", f"{risk.sharpe_ratio:.2f}" if risk.HasField("sharpe_ratio") else "—"),
        ("unrealized P&L (net)", format_inr(report.net_unrealized_pnl_micros, sign=True)),
        ("  gross / open fees / est. exit charges", _unrealized_parts(report)),
        *_r_rows(report.r_multiples),
    ]
    for name, value in rows:
        summary.add_row(name, value)
    out.print(summary)
    for title, entries in (
        ("Best instruments", report.top_instruments),
        ("Worst instruments", report.worst_instruments),
    ):
        if entries:
            table = Table(title=title, title_justify="left")
            for column in ("symbol", "round trips", "net P&L"):
                table.add_column(column, justify="left" if column == "symbol" else "right")
            for entry in entries:
                table.add_row(
                    entry.instrument.symbol,
                    str(entry.stats.round_trip_count),
                    format_inr(entry.stats.net_pnl_micros, sign=True),
                )
            out.print(table)
    out.print("Equity curve (cumulative net P&L by closed round trip):")
    for line in equity_chart([point.cumulative_net_pnl_micros for point in report.equity_curve.points]):
        out.print(line)
