"""Model ⇄ proto mapping of the analytics service: reports, settings, P&L, quotes and trade events.

Money is saturated to int64, times become Timestamps.
"""

from __future__ import annotations

from google.protobuf import duration_pb2, timestamp_pb2
from google.protobuf.message import DecodeError

from trademesh.analytics.v1 import (
    period_pb2,
    pnl_pb2,
    position_pb2,
    report_pb2,
    settings_pb2,
    trade_category_pb2,
)
from trademesh.common.v1 import instrument_pb2
from trademesh.kernel import trade_documents
from trademesh.kernel.events import EventEnvelope
from trademesh.marketdata.v1 import quote_pb2
from trademesh.services.analytics.excursion_mapping import excursion_stats_to_proto
from trademesh.services.analytics.model import (
    Category,
    ChangeKind,
    Instrument,
    JournalChange,
    JournalFill,
    Mark,
    OpenPosition,
    Period,
    PnlTotals,
    Report,
    RMultipleStats,
    RoundTripStats,
    UserSettings,
    saturate,
)
from trademesh.services.analytics.model.fills import profile_of
from trademesh.services.analytics.watch import PnlHeartbeat, PnlUpdate
from trademesh.trade.v1 import trade_event_pb2, trade_pb2

PERIODS = {
    period_pb2.PERIOD_DAILY: Period.DAILY,
    period_pb2.PERIOD_WEEKLY: Period.WEEKLY,
    period_pb2.PERIOD_MONTHLY: Period.MONTHLY,
    period_pb2.PERIOD_YEARLY: Period.YEARLY,
    period_pb2.PERIOD_FINANCIAL_YEAR: Period.FINANCIAL_YEAR,
    period_pb2.PERIOD_ALL_TIME: Period.ALL_TIME,
    period_pb2.PERIOD_CUSTOM: Period.CUSTOM,
}
PERIOD_VALUES = {period: value for value, period in PERIODS.items()}
_UPSERTS = {
    trade_event_pb2.TRADE_EVENT_TYPE_CREATED,
    trade_event_pb2.TRADE_EVENT_TYPE_UPDATED,
    trade_event_pb2.TRADE_EVENT_TYPE_RESTORED,
}
_REMOVALS = {trade_event_pb2.TRADE_EVENT_TYPE_DELETED, trade_event_pb2.TRADE_EVENT_TYPE_PURGED}
_TRADE_CATEGORIES = {
    trade_pb2.TRADE_CATEGORY_INTRADAY: Category.INTRADAY,
    trade_pb2.TRADE_CATEGORY_SWING: Category.SWING,
    trade_pb2.TRADE_CATEGORY_LONG_TERM: Category.LONG_TERM,
}
CATEGORIES = {
    Category.INTRADAY: trade_category_pb2.TRADE_CATEGORY_INTRADAY,
    Category.SWING: trade_category_pb2.TRADE_CATEGORY_SWING,
    Category.LONG_TERM: trade_category_pb2.TRADE_CATEGORY_LONG_TERM,
    Category.UNCATEGORIZED: trade_category_pb2.TRADE_CATEGORY_UNCATEGORIZED,
}


def timestamp(micros: int) -> timestamp_pb2.Timestamp:
    """Return epoch microseconds as a Timestamp."""
    stamp = timestamp_pb2.Timestamp()
    stamp.FromMicroseconds(micros)
    return stamp


def settings_to_proto(settings: UserSettings) -> settings_pb2.AnalyticsSettings:
    """Map settings to their proto."""
    message = settings_pb2.AnalyticsSettings(
        risk_free_rate_bps=settings.risk_free_rate_bps,
        break_even_tolerance_micros=settings.break_even_tolerance_micros,
        etag=settings.etag,
    )
    if settings.capital_base_micros is not None:
        message.capital_base_micros = settings.capital_base_micros
    if settings.update_time_us is not None:
        message.update_time.CopyFrom(timestamp(settings.update_time_us))
    return message


def settings_from_proto(message: settings_pb2.AnalyticsSettings) -> UserSettings:
    """Map a settings proto (unset optional = no capital base)."""
    return UserSettings(
        capital_base_micros=message.capital_base_micros if message.HasField("capital_base_micros") else None,
        risk_free_rate_bps=message.risk_free_rate_bps,
        break_even_tolerance_micros=message.break_even_tolerance_micros,
        etag=message.etag,
    )


def stats_to_proto(stats: RoundTripStats) -> report_pb2.RoundTripStats:
    """Map round-trip statistics."""
    message = report_pb2.RoundTripStats(
        round_trip_count=stats.round_trip_count,
        win_count=stats.win_count,
        loss_count=stats.loss_count,
        break_even_count=stats.break_even_count,
        realized_pnl_micros=saturate(stats.realized_pnl_micros),
        fees_micros=saturate(stats.fees_micros),
        net_pnl_micros=saturate(stats.net_pnl_micros),
        gross_profit_micros=saturate(stats.gross_profit_micros),
        gross_loss_micros=saturate(stats.gross_loss_micros),
        profit_factor_unbounded=stats.profit_factor_unbounded,
        max_consecutive_wins=stats.max_consecutive_wins,
        max_consecutive_losses=stats.max_consecutive_losses,
    )
    if stats.win_rate_percent is not None:
        message.win_rate_percent = stats.win_rate_percent
    if stats.profit_factor is not None:
        message.profit_factor = stats.profit_factor
    for name in (
        "expectancy_micros",
        "average_win_micros",
        "average_loss_micros",
        "largest_win_micros",
        "largest_loss_micros",
    ):
        value = getattr(stats, name)
        if value is not None:
            setattr(message, name, saturate(value))
    if stats.average_hold_us is not None:
        hold = duration_pb2.Duration()
        hold.FromMicroseconds(stats.average_hold_us)
        message.average_hold_duration.CopyFrom(hold)
    return message


def position_to_proto(position: OpenPosition) -> position_pb2.OpenPosition:
    """Map an open position."""
    message = position_pb2.OpenPosition(
        instrument=instrument_to_proto(position.instrument),
        net_quantity=saturate(position.net_quantity),
        average_open_price_micros=saturate(position.average_open_price_micros),
        open_time=timestamp(position.open_time_us),
        category=CATEGORIES[position.category],
        fees_micros=saturate(position.fees_micros),
        realized_pnl_micros=saturate(position.realized_pnl_micros),
        last_price_micros=position.last_price_micros,
        mark_stale=position.mark_stale,
        open_fees_micros=saturate(position.open_fees_micros),
        position_realized_pnl_micros=saturate(position.position_realized_pnl_micros),
    )
    for name in ("break_even_price_micros", "estimated_exit_charges_micros", "net_unrealized_pnl_micros"):
        value = getattr(position, name)
        if value is not None:
            setattr(message, name, saturate(value))
    if position.mark_time_us is not None:
        message.mark_time.CopyFrom(timestamp(position.mark_time_us))
    if position.unrealized_pnl_micros is not None:
        message.unrealized_pnl_micros = saturate(position.unrealized_pnl_micros)
    if position.day_change_micros is not None:
        message.day_change_micros = saturate(position.day_change_micros)
    return message


def r_multiples_to_proto(stats: RMultipleStats) -> report_pb2.RMultipleStats:
    """Map the R figures of a period (decision 0230); unset optionals stay unset."""
    message = report_pb2.RMultipleStats(
        planned_round_trip_count=stats.planned_round_trip_count,
        unplanned_round_trip_count=stats.unplanned_round_trip_count,
        planned_risk_micros=stats.planned_risk_micros,
        net_pnl_micros=stats.net_pnl_micros,
        average_r_milli=stats.average_r_milli,
        expectancy_r_milli=stats.expectancy_r_milli,
        win_rate_percent=stats.win_rate_percent,
    )
    for bucket in stats.buckets:
        message.buckets.add(
            min_r_milli=bucket.min_r_milli,
            max_r_milli=bucket.max_r_milli,
            round_trip_count=bucket.round_trip_count,
            win_count=bucket.win_count,
            win_rate_percent=bucket.win_rate_percent,
            share_percent=bucket.share_percent,
        )
    return message


def report_to_proto(report: Report) -> report_pb2.AnalyticsReport:
    """Map a report."""
    query = report.query
    message = report_pb2.AnalyticsReport(
        period=PERIOD_VALUES[query.period],
        computed_time=timestamp(report.computed_time_us),
        journal_version=report.journal_version,
        settings=settings_to_proto(report.settings),
        performance=stats_to_proto(report.performance),
        open_positions=[position_to_proto(p) for p in report.open_positions],
        unrealized_pnl_micros=report.unrealized_pnl_micros,
        unmarked_position_count=report.unmarked_position_count,
        net_unrealized_pnl_micros=report.net_unrealized_pnl_micros,
        estimated_exit_charges_micros=report.estimated_exit_charges_micros,
        open_fees_micros=report.open_fees_micros,
    )
    if report.r_multiples is not None:
        message.r_multiples.CopyFrom(r_multiples_to_proto(report.r_multiples))
    if report.excursions is not None:
        message.excursions.CopyFrom(excursion_stats_to_proto(report.excursions))
    if query.start_us is not None:
        message.range.start_time.CopyFrom(timestamp(query.start_us))
    if query.end_us is not None:
        message.range.end_time.CopyFrom(timestamp(query.end_us))
    risk = report.risk
    message.risk.max_drawdown_micros = risk.max_drawdown_micros
    message.risk.calmar_ratio_unbounded = risk.calmar_ratio_unbounded
    message.risk.recovery_factor_unbounded = risk.recovery_factor_unbounded
    for name in (
        "max_drawdown_percent",
        "return_percent",
        "annualized_return_percent",
        "sharpe_ratio",
        "calmar_ratio",
        "recovery_factor",
    ):
        value = getattr(risk, name)
        if value is not None:
            setattr(message.risk, name, value)
    if risk.max_drawdown_peak_time_us is not None:
        message.risk.max_drawdown_peak_time.CopyFrom(timestamp(risk.max_drawdown_peak_time_us))
    if risk.max_drawdown_trough_time_us is not None:
        message.risk.max_drawdown_trough_time.CopyFrom(timestamp(risk.max_drawdown_trough_time_us))
    activity = report.activity
    out = message.activity
    out.fill_count = activity.fill_count
    out.trading_day_count = activity.trading_day_count
    if activity.average_fills_per_trading_day is not None:
        out.average_fills_per_trading_day = activity.average_fills_per_trading_day
    if activity.average_round_trips_per_trading_day is not None:
        out.average_round_trips_per_trading_day = activity.average_round_trips_per_trading_day
    out.total_fees_micros = activity.total_fees_micros
    out.turnover_micros = activity.turnover_micros
    out.symbols_traded.extend(instrument_to_proto(i) for i in activity.symbols_traded)
    out.symbols_traded_count = len(activity.symbols_traded)
    if activity.most_traded_instrument is not None:
        out.most_traded_instrument.CopyFrom(instrument_to_proto(activity.most_traded_instrument))
    out.most_traded_instrument_fill_count = activity.most_traded_instrument_fill_count
    message.by_category.extend(
        report_pb2.CategoryPerformance(category=CATEGORIES[category], stats=stats_to_proto(stats))
        for category, stats in report.by_category
    )
    for target, source in (
        (message.top_instruments, report.top_instruments),
        (message.worst_instruments, report.worst_instruments),
    ):
        target.extend(
            report_pb2.InstrumentPerformance(
                instrument=instrument_to_proto(item.instrument),
                stats=stats_to_proto(item.stats),
                fill_count=item.fill_count,
            )
            for item in source
        )
    message.by_hour_of_day.extend(
        report_pb2.HourOfDayPerformance(hour=hour, stats=stats_to_proto(stats))
        for hour, stats in enumerate(report.by_hour_of_day)
    )
    message.by_weekday.extend(
        report_pb2.WeekdayPerformance(weekday=day, stats=stats_to_proto(stats))  # type: ignore[arg-type]
        for day, stats in enumerate(report.by_weekday, 1)
    )
    message.by_month.extend(
        report_pb2.MonthPerformance(month=month, stats=stats_to_proto(stats))
        for month, stats in enumerate(report.by_month, 1)
    )
    for day in report.daily_pnl:
        entry = message.daily_pnl.add(
            date=day.date,
            net_pnl_micros=day.net_pnl_micros,
            round_trip_count=day.round_trip_count,
            win_count=day.win_count,
            loss_count=day.loss_count,
            fill_count=day.fill_count,
            fees_micros=day.fees_micros,
        )
        if day.return_percent is not None:
            entry.return_percent = day.return_percent
    if report.equity_curve is not None:
        curve = report.equity_curve
        message.equity_curve.total_point_count = curve.total_point_count
        message.equity_curve.downsampled = curve.downsampled
        message.equity_curve.points.extend(
            report_pb2.EquityPoint(
                round_trip_index=point.round_trip_index,
                close_time=timestamp(point.close_time_us),
                instrument=instrument_to_proto(point.instrument),
                round_trip_net_pnl_micros=point.round_trip_net_pnl_micros,
                cumulative_net_pnl_micros=point.cumulative_net_pnl_micros,
                drawdown_micros=point.drawdown_micros,
            )
            for point in curve.points
        )
    return message


def totals_to_proto(totals: PnlTotals) -> pnl_pb2.PnlTotals:
    """Map live totals."""
    return pnl_pb2.PnlTotals(
        trading_date=totals.trading_date,
        realized_pnl_today_micros=totals.realized_pnl_today_micros,
        round_trips_closed_today=totals.round_trips_closed_today,
        fees_today_micros=totals.fees_today_micros,
        realized_pnl_all_time_micros=totals.realized_pnl_all_time_micros,
        unrealized_pnl_micros=totals.unrealized_pnl_micros,
        partially_realized_pnl_micros=totals.partially_realized_pnl_micros,
        day_change_micros=totals.day_change_micros,
        open_position_count=totals.open_position_count,
        unmarked_position_count=totals.unmarked_position_count,
        net_unrealized_pnl_micros=totals.net_unrealized_pnl_micros,
        estimated_exit_charges_micros=totals.estimated_exit_charges_micros,
        open_fees_micros=totals.open_fees_micros,
    )


def update_to_proto(update: PnlUpdate) -> pnl_pb2.PnlUpdate:
    """Map a WatchPnl update."""
    return pnl_pb2.PnlUpdate(
        snapshot=update.snapshot,
        totals=totals_to_proto(update.totals),
        positions=[position_to_proto(p) for p in update.positions],
        closed_instruments=[instrument_to_proto(i) for i in update.closed_instruments],
        server_time=timestamp(update.server_time_us),
        journal_version=update.journal_version,
        effective_max_updates_per_second=update.effective_max_updates_per_second,
    )


def heartbeat_to_proto(heartbeat: PnlHeartbeat) -> pnl_pb2.Heartbeat:
    """Map a heartbeat."""
    return pnl_pb2.Heartbeat(server_time=timestamp(heartbeat.server_time_us), journal_version=heartbeat.journal_version)


def instrument_to_proto(instrument: Instrument) -> instrument_pb2.Instrument:
    """Return the proto form of an instrument key."""
    return instrument_pb2.Instrument(
        symbol=instrument[0],
        exchange=instrument_pb2.Exchange.Value("EXCHANGE_" + instrument[1]),
    )


def instrument_from_proto(instrument: instrument_pb2.Instrument) -> Instrument:
    """Return the key of a proto instrument."""
    return instrument.symbol, instrument_pb2.Exchange.Name(instrument.exchange).removeprefix("EXCHANGE_")


def mark_from_quote(quote: quote_pb2.Quote) -> Mark | None:
    """Return a quote as a mark, or None when it has no price yet."""
    if quote.sequence == 0 or quote.last_price_micros <= 0:
        return None
    stamp = quote.exchange_time if quote.HasField("exchange_time") else quote.receive_time
    has_time = quote.HasField("exchange_time") or quote.HasField("receive_time")
    return Mark(
        last_price_micros=quote.last_price_micros,
        previous_close_micros=quote.close_micros,
        time_us=stamp.ToMicroseconds() if has_time else None,
        stale=quote.stale,
    )


def fill_from_trade(trade: trade_pb2.Trade) -> JournalFill:
    """Turn a trade message into a fill."""
    return JournalFill(
        trade_id=trade.id,
        symbol=trade.instrument.symbol,
        exchange=instrument_pb2.Exchange.Name(trade.instrument.exchange).removeprefix("EXCHANGE_"),
        buy=trade.side == trade_pb2.SIDE_BUY,
        quantity_micros=trade.quantity_micros,
        price_micros=trade.price_micros,
        fees_micros=trade.fees_micros,
        time_us=trade.trade_time.ToMicroseconds(),
        create_time_us=trade.create_time.ToMicroseconds(),
        category=_TRADE_CATEGORIES.get(trade.category, Category.UNCATEGORIZED),
        trade_version=trade.version,
        exec_seq=trade.exec_seq,
        planned_risk_micros=trade_documents.planned_risk(
            trade.quantity_micros, trade.price_micros, trade.stop_loss_price_micros, trade.planned_risk_micros
        ),
        profile=profile_of(
            instrument_pb2.Broker.Name(trade.broker).removeprefix("BROKER_") if trade.broker else None,
            trade.broker_account_id,
            trade_pb2.Segment.Name(trade.segment).removeprefix("SEGMENT_") if trade.segment else None,
            trade.strategy,
            trade.tags,
        ),
    )


def change_from_event(envelope: EventEnvelope) -> JournalChange | None:
    """Decode one trade event; None when it is not a journal change (or its payload is malformed)."""
    try:
        event = trade_event_pb2.TradeEvent.FromString(envelope.payload)
    except DecodeError:
        return None
    trade = event.trade
    user_id, version = envelope.user_id, envelope.user_sequence
    if event.type in _UPSERTS:
        if trade.status == trade_pb2.TRADE_STATUS_ACTIVE:
            return JournalChange(user_id, version, ChangeKind.UPSERT, trade.id, trade.version, fill_from_trade(trade))
    elif event.type not in _REMOVALS:
        return None
    return JournalChange(user_id, version, ChangeKind.REMOVE, trade.id, trade.version)
