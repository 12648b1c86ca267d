"""A tax statement of an Indian financial year: income by head from FIFO lots, with the rules cited.

A statement of figures with the rule applied to each, not tax advice (docs/decisions/0120-tax-report.md).
Money is exact until a row is reported: every row is rounded once (half to even) to INR micros, and head
totals are the sums of their rows. Pure: no I/O (the charges schedule is passed in).

Classification of each closed FIFO lot (the rules are in trademesh.analytics.v1.TaxReport):

* equity fills are first matched within their IST day per instrument (a same-day buy and sell is
  intraday, as the exchange settles only the day's net), the day's remainder then FIFO across days;
* intraday equity -> speculative business income (Income-tax Act 1961, s. 43(5));
* futures and options (NSE/BSE F&O, currency, MCX commodity) -> non-speculative business income
  (s. 43(5) proviso clauses (d) and (e): eligible derivative transactions on a recognised exchange);
* delivery equity held <= 12 months -> short-term capital gain (s. 2(42A) proviso, s. 111A), > 12 months ->
  long-term (s. 2(29AA), s. 112A), with s. 55(2)(ac) grandfathering for lots bought before 1 February 2018;
* anything else (an equity short carried overnight) -> unclassified, listed for review.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from fractions import Fraction

from trademesh.kernel.calendar import IST
from trademesh.kernel.charges import Exchange as ChargeExchange
from trademesh.kernel.charges import Schedule, ScheduleError
from trademesh.kernel.charges import Segment as ChargeSegment
from trademesh.kernel.charges import Side as ChargeSide
from trademesh.kernel.charges.schedule import NANO
from trademesh.kernel.derivatives import ContractSymbolError, parse_contract_symbol
from trademesh.kernel.errors import FieldViolation, InvalidArgument
from trademesh.kernel.instruments import SYMBOL_PATTERN, ContractType, Side
from trademesh.kernel.lots import Fill, Match, PositionBook
from trademesh.services.analytics.model.fills import QUANTITY_SCALE, JournalFill

FINANCIAL_YEAR_FIELD = "financial_year"
_FINANCIAL_YEAR = re.compile(r"^(\d{4})-(\d{2})$")
MIN_FINANCIAL_YEAR = 2000
DEFAULT_ROW_LIMIT = 200
MAX_ROW_LIMIT = 10_000
MAX_FAIR_MARKET_VALUES = 5_000
#: s. 55(2)(ac) / s. 112A: lots acquired on or before 31 January 2018 take the higher of actual cost and
#: the lower of the fair market value on 31 January 2018 and the sale consideration.
GRANDFATHERING_CUTOFF = date(2018, 2, 1)

DISCLAIMER = (
    "A statement of figures computed from your recorded trades, with the rule applied to each cited; "
    "not tax advice. Verify with a qualified professional before filing."
)
DIVIDENDS_NOTE = (
    "Dividends are left out: the journal records no dividends (income from other sources, s. 56(2)(i), "
    "taxed at slab rates since 1 April 2020)."
)
CHARGES_NOTE = (
    "Charges are those recorded on the trades. The STT part of a recorded charge is estimated from the "
    "kernel charges schedule (rate in force on the trade date x value, at most the recorded charge)."
)


class TaxHead(StrEnum):
    """Where a closed lot's result is reported."""

    SPECULATIVE_BUSINESS = "SPECULATIVE_BUSINESS"
    NON_SPECULATIVE_BUSINESS = "NON_SPECULATIVE_BUSINESS"
    SHORT_TERM_CAPITAL_GAINS = "SHORT_TERM_CAPITAL_GAINS"
    LONG_TERM_CAPITAL_GAINS = "LONG_TERM_CAPITAL_GAINS"
    UNCLASSIFIED = "UNCLASSIFIED"


HEADS = tuple(TaxHead)
BUSINESS_HEADS = frozenset({TaxHead.SPECULATIVE_BUSINESS, TaxHead.NON_SPECULATIVE_BUSINESS, TaxHead.UNCLASSIFIED})


class LotKind(StrEnum):
    """What was traded in a lot."""

    EQUITY_INTRADAY = "EQUITY_INTRADAY"
    EQUITY_DELIVERY = "EQUITY_DELIVERY"
    FUTURES = "FUTURES"
    OPTIONS = "OPTIONS"


class CostBasis(StrEnum):
    """How a capital-gains lot's cost of acquisition was taken."""

    NOT_APPLICABLE = "NOT_APPLICABLE"
    ACTUAL_COST = "ACTUAL_COST"
    GRANDFATHERED_FAIR_MARKET_VALUE = "GRANDFATHERED_FAIR_MARKET_VALUE"
    GRANDFATHERED_ACTUAL_COST = "GRANDFATHERED_ACTUAL_COST"
    FAIR_MARKET_VALUE_NOT_SUPPLIED = "FAIR_MARKET_VALUE_NOT_SUPPLIED"


class SttBasis(StrEnum):
    """How the STT share of a lot's recorded charges was found."""

    SCHEDULE = "SCHEDULE"
    EARLIEST_SCHEDULE = "EARLIEST_SCHEDULE"
    NONE = "NONE"


@dataclass(frozen=True, slots=True)
class FinancialYear:
    """An Indian financial year: 1 April 00:00 IST to the next 1 April 00:00 IST (exclusive)."""

    start_year: int

    @property
    def label(self) -> str:
        """Return the year as written: "2025-26"."""
        return f"{self.start_year}-{(self.start_year + 1) % 100:02d}"

    @property
    def start_us(self) -> int:
        """Return 1 April 00:00 IST of the start year, epoch microseconds."""
        return _epoch_us(datetime(self.start_year, 4, 1, tzinfo=IST))

    @property
    def end_us(self) -> int:
        """Return 1 April 00:00 IST of the next year (exclusive), epoch microseconds."""
        return _epoch_us(datetime(self.start_year + 1, 4, 1, tzinfo=IST))


def parse_financial_year(text: str, *, now_us: int) -> FinancialYear:
    """Validate "YYYY-YY" (e.g. "2025-26") from 2000-01 to the current financial year; InvalidArgument otherwise."""
    match = _FINANCIAL_YEAR.fullmatch(text)
    if match is None or (int(match[1]) + 1) % 100 != int(match[2]):
        raise _bad_year(f"{text!r} is not a financial year written YYYY-YY, e.g. 2025-26")
    year = FinancialYear(int(match[1]))
    now = _datetime(now_us).astimezone(IST)
    current = now.year if now.month >= 4 else now.year - 1
    if not MIN_FINANCIAL_YEAR <= year.start_year <= current:
        raise _bad_year(f"must be between {FinancialYear(MIN_FINANCIAL_YEAR).label} and {FinancialYear(current).label}")
    return year


def _bad_year(description: str) -> InvalidArgument:
    return InvalidArgument(
        "invalid financial year",
        [FieldViolation(FINANCIAL_YEAR_FIELD, description)],
        reason="INVALID_FINANCIAL_YEAR",
    )


@dataclass(frozen=True, slots=True)
class TaxQuery:
    """A validated tax report request."""

    year: FinancialYear
    #: Fair market value per unit on 31 January 2018 (INR micros), by symbol.
    fair_market_values: Mapping[str, int] = field(default_factory=dict)
    row_limit: int = DEFAULT_ROW_LIMIT


def build_tax_query(
    financial_year: str, fair_market_values: Sequence[tuple[str, int]], row_limit: int, *, now_us: int
) -> TaxQuery:
    """Validate a request: the year, each fair market value (a symbol once, price > 0) and the row limit."""
    violations: list[FieldViolation] = []
    try:
        year: FinancialYear | None = parse_financial_year(financial_year, now_us=now_us)
    except InvalidArgument as error:
        violations += error.violations
        year = None
    values: dict[str, int] = {}
    if len(fair_market_values) > MAX_FAIR_MARKET_VALUES:
        violations.append(FieldViolation("fair_market_values", f"at most {MAX_FAIR_MARKET_VALUES} entries"))
    for index, (symbol, price) in enumerate(fair_market_values[:MAX_FAIR_MARKET_VALUES]):
        where = f"fair_market_values[{index}]"
        if not SYMBOL_PATTERN.fullmatch(symbol):
            violations.append(FieldViolation(f"{where}.symbol", "must be a trading symbol (A-Z 0-9 & _ . -)"))
        elif symbol in values:
            violations.append(FieldViolation(f"{where}.symbol", f"{symbol} is given more than once"))
        if price <= 0:
            violations.append(FieldViolation(f"{where}.price_micros", "must be > 0"))
        values[symbol] = price
    if row_limit < 0 or row_limit > MAX_ROW_LIMIT:
        violations.append(
            FieldViolation("row_limit", f"must be between 0 and {MAX_ROW_LIMIT} (0: {DEFAULT_ROW_LIMIT})")
        )
    if violations or year is None:
        reason = "INVALID_FINANCIAL_YEAR" if violations[0].field == FINANCIAL_YEAR_FIELD else "INVALID_TAX_REQUEST"
        raise InvalidArgument("invalid tax report request", violations, reason=reason)
    return TaxQuery(year, values, row_limit or DEFAULT_ROW_LIMIT)


@dataclass(frozen=True, slots=True)
class TaxLot:
    """One closed FIFO lot (an entry fill's quantity matched by an exit fill) and how it is taxed."""

    head: TaxHead
    kind: LotKind
    symbol: str
    exchange: str
    long: bool
    quantity_micros: int
    open_trade_id: str
    close_trade_id: str
    open_time_us: int
    close_time_us: int
    buy_value_micros: int
    sell_value_micros: int
    #: Sell value - buy value, before any charge.
    gross_micros: int
    #: Every recorded charge of the lot (its share of each fill's charges).
    charges_micros: int
    #: The STT part of `charges_micros` (see SttBasis).
    stt_micros: int
    stt_basis: SttBasis
    #: Charges deducted under this head: all of them for business income, all but STT for capital gains.
    deducted_charges_micros: int
    #: Capital gains: cost of acquisition (with buy-side charges but no STT; grandfathered when it applies).
    cost_of_acquisition_micros: int
    cost_basis: CostBasis
    #: The income (or loss) of the lot under its head.
    net_micros: int
    #: ICAI turnover: |gross| for business heads, 0 for capital gains.
    turnover_micros: int
    holding_days: int


@dataclass(frozen=True, slots=True)
class HeadSummary:
    """One head's totals and its first rows."""

    head: TaxHead
    lot_count: int
    gross_micros: int
    charges_micros: int
    stt_micros: int
    deducted_charges_micros: int
    net_micros: int
    turnover_micros: int
    sale_value_micros: int
    cost_of_acquisition_micros: int
    #: Options only: premium received on the sale legs (already inside `turnover_micros`, ICAI GN 2022).
    option_sale_premium_micros: int
    lots: tuple[TaxLot, ...]


@dataclass(frozen=True, slots=True)
class TaxReport:
    """The tax statement of one financial year."""

    year: FinancialYear
    heads: tuple[HeadSummary, ...]
    #: Symbols with a lot bought before 1 February 2018 sold this year and no fair market value supplied.
    fair_market_value_missing: tuple[str, ...]


@dataclass(slots=True)
class _Context:
    fills: dict[str, JournalFill]
    schedule: Schedule | None
    fair_market_values: Mapping[str, int]


def build_tax_report(fills: Iterable[JournalFill], query: TaxQuery, schedule: Schedule | None) -> TaxReport:
    """Classify every FIFO lot closed in the year by head and total each head (fills in journal order)."""
    by_instrument: dict[tuple[str, str], list[JournalFill]] = {}
    context = _Context({}, schedule, query.fair_market_values)
    for fill in fills:
        by_instrument.setdefault((fill.symbol, fill.exchange), []).append(fill)
        context.fills[fill.trade_id] = fill
    lots: list[TaxLot] = []
    start, end = query.year.start_us, query.year.end_us
    for (symbol, exchange), instrument_fills in by_instrument.items():
        contract = _contract(symbol)
        if contract is not None:
            kind = LotKind.OPTIONS if contract is not ContractType.FUTURE else LotKind.FUTURES
            matches = [(kind, match) for match in _replay(instrument_fills)]
        else:
            matches = _equity_matches(instrument_fills)
        for kind, match in matches:
            closed = _us(match.closed_at)
            if start <= closed < end:
                lots.append(_lot(context, symbol, exchange, kind, match))
    lots.sort(key=lambda lot: (lot.close_time_us, lot.symbol, lot.exchange, lot.open_time_us, lot.close_trade_id))
    missing = sorted({lot.symbol for lot in lots if lot.cost_basis is CostBasis.FAIR_MARKET_VALUE_NOT_SUPPLIED})
    heads = tuple(_summary(head, [lot for lot in lots if lot.head is head], query.row_limit) for head in HEADS)
    return TaxReport(query.year, heads, tuple(missing))


def _contract(symbol: str) -> ContractType | None:
    try:
        return parse_contract_symbol(symbol).contract_type
    except ContractSymbolError:
        return None


def _replay(fills: Iterable[JournalFill | Fill]) -> list[Match]:
    book = PositionBook()
    for fill in fills:
        book.apply(fill if isinstance(fill, Fill) else _kernel_fill(fill))
    return book.matches


def _kernel_fill(fill: JournalFill) -> Fill:
    # Charges are shared out per lot from the journal fills (see `_lot`), so the kernel matches quantities.
    side = Side.BUY if fill.buy else Side.SELL
    return Fill(fill.trade_id, side, fill.quantity_micros, fill.price_micros, 0, _datetime(fill.time_us))


def _equity_matches(fills: Sequence[JournalFill]) -> list[tuple[LotKind, Match]]:
    # Within an IST day first (intraday), then the day's remainder FIFO across days (delivery).
    days: dict[date, list[JournalFill]] = {}
    for fill in fills:
        days.setdefault(_datetime(fill.time_us).astimezone(IST).date(), []).append(fill)
    delivery = PositionBook()
    matched: list[tuple[LotKind, Match]] = []
    for day_fills in days.values():
        intraday = PositionBook()
        for fill in day_fills:
            intraday.apply(_kernel_fill(fill))
        matched += [(LotKind.EQUITY_INTRADAY, match) for match in intraday.matches]
        for lot in intraday.lots:
            side = Side.BUY if lot.long else Side.SELL
            remainder = Fill(lot.trade_id, side, int(lot.quantity), lot.price_micros, 0, lot.opened_at)
            matched += [(LotKind.EQUITY_DELIVERY, match) for match in delivery.apply(remainder)]
    return matched


def _lot(context: _Context, symbol: str, exchange: str, kind: LotKind, match: Match) -> TaxLot:
    entry, exit_ = context.fills[match.entry_trade_id], context.fills[match.exit_trade_id]
    buy, sell = (entry, exit_) if match.long else (exit_, entry)
    quantity = match.quantity
    buy_value = quantity * buy.price_micros / QUANTITY_SCALE
    sell_value = quantity * sell.price_micros / QUANTITY_SCALE
    buy_charges = Fraction(buy.fees_micros) * quantity / buy.quantity_micros
    sell_charges = Fraction(sell.fees_micros) * quantity / sell.quantity_micros
    buy_stt, buy_basis = _stt(context.schedule, buy, kind, buy_value, buy_charges)
    sell_stt, sell_basis = _stt(context.schedule, sell, kind, sell_value, sell_charges)
    open_time, close_time = _us(match.opened_at), _us(match.closed_at)
    opened, closed = _datetime(open_time).astimezone(IST).date(), _datetime(close_time).astimezone(IST).date()
    gross = sell_value - buy_value
    charges = buy_charges + sell_charges
    stt = buy_stt + sell_stt
    cost = Fraction(0)
    basis = CostBasis.NOT_APPLICABLE
    if kind is LotKind.EQUITY_DELIVERY and match.long:
        head = TaxHead.LONG_TERM_CAPITAL_GAINS if _long_term(opened, closed) else TaxHead.SHORT_TERM_CAPITAL_GAINS
        # s. 48: cost of acquisition and transfer expenses are deducted, STT is not (proviso to s. 48).
        deducted = charges - stt
        cost, basis = _cost_of_acquisition(
            buy_value + buy_charges - buy_stt, quantity, sell_value, opened, context.fair_market_values.get(symbol)
        )
        net = sell_value - (sell_charges - sell_stt) - cost
        turnover = Fraction(0)
    else:
        if kind is LotKind.EQUITY_INTRADAY:
            head = TaxHead.SPECULATIVE_BUSINESS
        elif kind is LotKind.EQUITY_DELIVERY:
            head = TaxHead.UNCLASSIFIED
        else:
            head = TaxHead.NON_SPECULATIVE_BUSINESS
        # Business income: every charge, STT included (s. 36(1)(xv)), is an expense.
        deducted = charges
        net = gross - charges
        turnover = abs(gross)
    return TaxLot(
        head=head,
        kind=kind,
        symbol=symbol,
        exchange=exchange,
        long=match.long,
        quantity_micros=int(quantity),
        open_trade_id=match.entry_trade_id,
        close_trade_id=match.exit_trade_id,
        open_time_us=open_time,
        close_time_us=close_time,
        buy_value_micros=round(buy_value),
        sell_value_micros=round(sell_value),
        gross_micros=round(gross),
        charges_micros=round(charges),
        stt_micros=round(stt),
        stt_basis=_combined(buy_basis, sell_basis),
        deducted_charges_micros=round(deducted),
        cost_of_acquisition_micros=round(cost),
        cost_basis=basis,
        net_micros=round(net),
        turnover_micros=round(turnover),
        holding_days=(closed - opened).days,
    )


def _combined(buy: SttBasis, sell: SttBasis) -> SttBasis:
    # The weakest basis of the two sides wins (an estimate from the earliest schedule taints the lot).
    for basis in (SttBasis.EARLIEST_SCHEDULE, SttBasis.SCHEDULE):
        if basis in (buy, sell):
            return basis
    return SttBasis.NONE


def _long_term(opened: date, closed: date) -> bool:
    # s. 2(42A) proviso: listed equity held for not more than twelve months is short-term. Held from `opened`,
    # the twelve months end on the same date a year later; a sale after that date is long-term.
    try:
        anniversary = opened.replace(year=opened.year + 1)
    except ValueError:  # 29 February
        anniversary = date(opened.year + 1, 2, 28)
    return closed > anniversary


def _cost_of_acquisition(
    actual: Fraction, quantity: Fraction, consideration: Fraction, opened: date, fair_market_price: int | None
) -> tuple[Fraction, CostBasis]:
    if opened >= GRANDFATHERING_CUTOFF:
        return actual, CostBasis.ACTUAL_COST
    if fair_market_price is None:
        return actual, CostBasis.FAIR_MARKET_VALUE_NOT_SUPPLIED
    # s. 55(2)(ac): the higher of actual cost and the lower of FMV on 31 January 2018 and the consideration.
    grandfathered = min(quantity * fair_market_price / QUANTITY_SCALE, consideration)
    if grandfathered > actual:
        return grandfathered, CostBasis.GRANDFATHERED_FAIR_MARKET_VALUE
    return actual, CostBasis.GRANDFATHERED_ACTUAL_COST


_CHARGE_EXCHANGES = {
    "NSE": ChargeExchange.NSE,
    "NFO": ChargeExchange.NSE,
    "BSE": ChargeExchange.BSE,
    "BFO": ChargeExchange.BSE,
    "MCX": ChargeExchange.MCX,
}
_CHARGE_SEGMENTS = {
    LotKind.EQUITY_INTRADAY: ChargeSegment.INTRADAY,
    LotKind.EQUITY_DELIVERY: ChargeSegment.DELIVERY,
    LotKind.FUTURES: ChargeSegment.FUTURES,
    LotKind.OPTIONS: ChargeSegment.OPTIONS,
}


def _stt(
    schedule: Schedule | None, fill: JournalFill, kind: LotKind, value: Fraction, charges: Fraction
) -> tuple[Fraction, SttBasis]:
    # The STT (CTT on MCX) of this part of the fill by the schedule, never more than its recorded charges.
    exchange = _CHARGE_EXCHANGES.get(fill.exchange)
    if schedule is None or exchange is None or charges == 0:
        return Fraction(0), SttBasis.NONE
    day = _datetime(fill.time_us).astimezone(IST).date()
    basis = SttBasis.SCHEDULE
    if day < schedule.starts:
        day, basis = schedule.starts, SttBasis.EARLIEST_SCHEDULE
    side = ChargeSide.BUY if fill.buy else ChargeSide.SELL
    try:
        rate = schedule.rate("transaction_tax", exchange, _CHARGE_SEGMENTS[kind], side, day).rate_nanos
    except ScheduleError:
        return Fraction(0), SttBasis.NONE
    return min(value * rate / NANO, charges), basis


def _summary(head: TaxHead, lots: list[TaxLot], row_limit: int) -> HeadSummary:
    return HeadSummary(
        head=head,
        lot_count=len(lots),
        gross_micros=sum(lot.gross_micros for lot in lots),
        charges_micros=sum(lot.charges_micros for lot in lots),
        stt_micros=sum(lot.stt_micros for lot in lots),
        deducted_charges_micros=sum(lot.deducted_charges_micros for lot in lots),
        net_micros=sum(lot.net_micros for lot in lots),
        turnover_micros=sum(lot.turnover_micros for lot in lots),
        sale_value_micros=sum(lot.sell_value_micros for lot in lots),
        cost_of_acquisition_micros=sum(lot.cost_of_acquisition_micros for lot in lots),
        option_sale_premium_micros=sum(lot.sell_value_micros for lot in lots if lot.kind is LotKind.OPTIONS),
        lots=tuple(lots[:row_limit]),
    )


def _datetime(time_us: int) -> datetime:
    return datetime.fromtimestamp(time_us // 1_000_000, UTC).replace(microsecond=time_us % 1_000_000)


def _epoch_us(moment: datetime) -> int:
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _us(moment: datetime | None) -> int:
    assert moment is not None  # every kernel fill here carries its time
    return _epoch_us(moment)
