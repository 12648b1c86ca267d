"""The tick path's decoding (one header read, no intermediate object): what market data encodes is read back, and
a payload that is short, cut or not a Quote is dropped (None) instead of failing the pub/sub reader."""

from __future__ import annotations

from tests.notifications.test_service import encoded_tick
from trademesh.kernel.ticks import encode_tick_payload, tick_body, tick_header, tick_ltp
from trademesh.marketdata.v1 import quote_pb2
from trademesh.services.core.ticks import last_trade
from trademesh.services.notifications.backplane import decode_tick
from trademesh.services.notifications.model import Tick


def test_the_ltp_body_and_receive_time_are_those_of_the_full_header_reads() -> None:
    payload = encoded_tick("NSE:INFY", 1530.25, 7).payload
    received_ns, body = tick_ltp(payload)
    assert (received_ns, body) == (tick_header(payload)[2], tick_body(payload, 0))


def test_a_decoded_tick_carries_the_ltp_price_the_day_change_and_the_receive_time() -> None:
    ltp = quote_pb2.Quote(last_price_micros=1_600_000_000, change_micros=-12_500_000).SerializeToString()
    other = quote_pb2.Quote(last_price_micros=1, change_micros=2).SerializeToString()
    payload = encode_tick_payload(1, 42, 1_700_000_000_123_456_789, (ltp, other, other))
    assert decode_tick("NSE:INFY", payload) == Tick("NSE:INFY", 1_600_000_000, -12_500_000, 1_700_000_000_123_456_789)
    trade = last_trade(payload)
    assert trade is not None
    assert (trade.price_micros, trade.change_micros, trade.received_ns) == (
        1_600_000_000,
        -12_500_000,
        1_700_000_000_123_456_789,
    )


def test_malformed_payloads_and_ticks_without_a_trade_are_dropped() -> None:
    good = encoded_tick("NSE:INFY", 1530.25, 7).payload
    not_a_quote = b"\xff\xff\xff\xff"
    garbage = encode_tick_payload(1, 1, 1, (not_a_quote, not_a_quote, not_a_quote))
    no_trade = encode_tick_payload(1, 1, 1, (b"", b"", b""))
    for payload in (b"", good[:10], garbage, no_trade):
        assert decode_tick("NSE:INFY", payload) is None
        assert last_trade(payload) is None
