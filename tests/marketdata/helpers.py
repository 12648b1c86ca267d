"""Helpers shared by market-data tests."""

from __future__ import annotations

from trademesh.common.v1 import instrument_pb2
from trademesh.marketdata.v1 import marketdata_service_pb2


def nse(*symbols: str) -> list[instrument_pb2.Instrument]:
    """Return NSE instruments."""
    return [instrument_pb2.Instrument(symbol=symbol, exchange=instrument_pb2.EXCHANGE_NSE) for symbol in symbols]


def subscribe_request(*symbols: str, mode: int = 0, rate: int = 0) -> marketdata_service_pb2.SubscribeQuotesRequest:
    """Return a SubscribeQuotes request for NSE symbols."""
    return marketdata_service_pb2.SubscribeQuotesRequest(
        instruments=nse(*symbols),
        mode=mode,  # type: ignore[arg-type]
        max_updates_per_second=rate,
    )
