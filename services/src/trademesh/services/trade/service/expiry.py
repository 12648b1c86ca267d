"""Expiry: close derivative positions left open at expiry with a settlement fill (decisions 0160, 0310).

Per user and broker account, an expired NFO/BFO, CDS/BCD or MCX contract (past its session close on its
expiry day) whose ACTIVE trades net to a non-zero quantity gets one closing fill from
`trademesh.kernel.settlement`: source SETTLEMENT, charges COMPUTED by the settlement rules (STT on exercise
for a long option settled in the money, else 0), id derived from (user, account, exchange, symbol, expiry),
so a second run writes nothing. A contract with no known settlement price, or an MCX option in the money
(it devolves into futures), is reported and left open.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from trademesh.kernel.instruments import ContractType, Side
from trademesh.kernel.settlement import SETTLED_EXCHANGES, SettlementPrices, Unsettled, expired, expiry_of, settle
from trademesh.services.trade.charging import settlement_charges
from trademesh.services.trade.model import (
    Broker,
    EventType,
    Source,
    Status,
    Trade,
    TradeFields,
    bucket_of,
    derive_id,
    infer_category,
    journal_order,
    new_event,
)
from trademesh.services.trade.ports import IdTaken
from trademesh.services.trade.service.inference import InferenceUseCases

logger = logging.getLogger(__name__)

#: (broker account, exchange, symbol) of one user's contract.
ContractKey = tuple[str, str, str]


@dataclass(frozen=True, slots=True)
class UnpricedContract:
    """An expired contract left open because its settlement price is not known."""

    user_id: str
    exchange: str
    symbol: str
    expiry_date: str
    #: The symbol whose price is missing (the underlying's for options; the contract's or underlying's for futures).
    price_symbol: str
    #: Why it was left open: NO_PRICE, or DEVOLVES (an MCX option in the money: it becomes a futures position
    #: or a delivery, which the journal does not model).
    reason: Unsettled = Unsettled.NO_PRICE


@dataclass(slots=True)
class ExpiryResult:
    """What an expiry run did."""

    users_count: int = 0
    #: Open positions in expired contracts found (per user and broker account).
    open_expired_count: int = 0
    settled_count: int = 0
    #: Settlement fills already written by an earlier run (the position was reopened by a deleted fill).
    already_settled_count: int = 0
    unpriced: list[UnpricedContract] = field(default_factory=list)
    #: In-the-money MCX options left open (reason DEVOLVES).
    devolving: list[UnpricedContract] = field(default_factory=list)
    settled: list[Trade] = field(default_factory=list)


def settlement_id(user_id: str, key: ContractKey, expiry_date: str) -> str:
    """Return the deterministic id of a contract's settlement fill."""
    account, exchange, symbol = key
    return derive_id("settlement", user_id, account, exchange, symbol, expiry_date)


class ExpiryUseCases(InferenceUseCases):
    """Settle expired derivative positions."""

    async def settle_expired(self, prices: SettlementPrices, user_id: str = "") -> ExpiryResult:
        """Write the settlement fill of every open position in an expired derivative contract (one user or all)."""
        now = self.clock()
        result = ExpiryResult()
        users = [user_id] if user_id else await self.store.user_ids_between(None, None)
        result.users_count = len(users)
        for user in users:
            groups: dict[ContractKey, list[Trade]] = defaultdict(list)
            for trade in await self.store.active_trades(user):
                fields = trade.fields
                if (
                    fields.exchange in SETTLED_EXCHANGES
                    and fields.derivative is not None
                    and fields.derivative.contract_type is not None
                ):
                    assert fields.exchange is not None
                    if not expired(fields.derivative, now, fields.exchange):
                        continue
                    groups[(fields.broker_account_id, fields.exchange.value, fields.symbol)].append(trade)
            for key in sorted(groups):
                await self._settle_one(user, key, sorted(groups[key], key=journal_order), prices, now, result)
        return result

    async def _settle_one(
        self,
        user_id: str,
        key: ContractKey,
        trades: list[Trade],
        prices: SettlementPrices,
        now: datetime,
        result: ExpiryResult,
    ) -> None:
        net = sum(t.fields.quantity_micros if t.fields.side is Side.BUY else -t.fields.quantity_micros for t in trades)
        if net == 0:
            return
        result.open_expired_count += 1
        latest = trades[-1].fields
        derivative = latest.derivative
        assert derivative is not None
        assert latest.exchange is not None
        fill = settle(latest.symbol, derivative, net, prices, latest.exchange)
        if fill is None:
            return
        if fill is Unsettled.DEVOLVES:
            result.devolving.append(
                UnpricedContract(
                    user_id, key[1], latest.symbol, derivative.expiry_date, derivative.underlying, Unsettled.DEVOLVES
                )
            )
            logger.warning(
                "%s %s expired %s in the money: an MCX option devolves into futures (not modelled), left open",
                key[1],
                latest.symbol,
                derivative.expiry_date,
            )
            return
        if fill is Unsettled.NO_PRICE:
            is_future = derivative.contract_type is ContractType.FUTURE
            missing = f"{latest.symbol} or {derivative.underlying}" if is_future else derivative.underlying
            result.unpriced.append(
                UnpricedContract(user_id, key[1], latest.symbol, derivative.expiry_date, missing or latest.symbol)
            )
            logger.warning(
                "no settlement price for %s on %s (%s %s expired %s): position left open",
                missing,
                derivative.expiry_date,
                key[1],
                latest.symbol,
                derivative.expiry_date,
            )
            return
        expiry = expiry_of(derivative)
        same_day = [t.fields.side for t in trades if t.trading_day == expiry and t.fields.side is not None]
        fields = settlement_charges(
            TradeFields(
                symbol=latest.symbol,
                exchange=latest.exchange,
                segment=latest.segment,
                derivative=derivative,
                side=fill.side,
                quantity_micros=fill.quantity_micros,
                price_micros=fill.price_micros,
                fees_micros=0,
                trade_time=fill.trade_time,
                category=infer_category(fill.side, same_day),
                notes=f"Expiry settlement: {fill.basis.value.lower().replace('_', ' ')}, "
                f"reference price {Decimal(fill.reference_price_micros) / 1_000_000}",
                broker=latest.broker or Broker.MANUAL,
                broker_account_id=key[0],
            )
        )
        trade = Trade(
            id=settlement_id(user_id, key, derivative.expiry_date),
            user_id=user_id,
            fields=fields,
            category_inferred=True,
            source=Source.SETTLEMENT,
            status=Status.ACTIVE,
            version=1,
            create_time=now,
            update_time=now,
        )
        await self._reserve(user_id, 1)
        try:
            await self.store.insert(trade, new_event(EventType.CREATED, trade, now))
        except IdTaken:
            await self.store.release_quota(user_id, 1)
            result.already_settled_count += 1
            return
        await self.events.committed([trade])
        changed = await self._reinfer({bucket_of(trade)})
        result.settled.append(changed.get(trade.id, trade))
        result.settled_count += 1
