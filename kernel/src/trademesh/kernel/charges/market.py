"""Where a journal trade is charged: the journal's exchange and segment onto the schedules' (exchange, segment).

The journal knows exchanges as brokers name them (NSE/BSE cash, NFO/BFO derivatives, MCX, CDS/BCD) and a
segment (equity, futures, options, currency, commodity); the schedules know NSE/BSE/MCX and delivery,
intraday, futures, options. Equity is intraday when the trade is filed as intraday (its category, which a
broker's MIS/CO/BO product sets), else delivery. Currency derivatives are not in the schedules (None).
"""

from __future__ import annotations

from trademesh.kernel.charges.schedule import Exchange as ChargesExchange
from trademesh.kernel.charges.schedule import Segment as ChargesSegment
from trademesh.kernel.instruments import ContractType, Exchange, Segment

_EXCHANGES = {
    Exchange.NSE: ChargesExchange.NSE,
    Exchange.NFO: ChargesExchange.NSE,
    Exchange.BSE: ChargesExchange.BSE,
    Exchange.BFO: ChargesExchange.BSE,
    Exchange.MCX: ChargesExchange.MCX,
}


def charges_market(
    exchange: Exchange, segment: Segment, contract_type: ContractType | None, *, intraday: bool
) -> tuple[ChargesExchange, ChargesSegment] | None:
    """Return the schedules' (exchange, segment) of a journal trade, or None when no schedule covers it."""
    charged = _EXCHANGES.get(exchange)
    if charged is None:
        return None
    if segment is Segment.EQUITY:
        if charged is ChargesExchange.MCX:
            return None
        return charged, ChargesSegment.INTRADAY if intraday else ChargesSegment.DELIVERY
    if segment is Segment.FUTURES or (segment is Segment.COMMODITY and contract_type is ContractType.FUTURE):
        return charged, ChargesSegment.FUTURES
    if segment is Segment.OPTIONS or (
        segment is Segment.COMMODITY and contract_type in (ContractType.CALL, ContractType.PUT)
    ):
        return charged, ChargesSegment.OPTIONS
    return None
