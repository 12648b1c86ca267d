"""The market-data tick payload (kernel.ticks): the bytes market data publishes and notifications reads."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trademesh.kernel.ticks import TICK_CHANNEL_PREFIX, encode_tick_payload, tick_body, tick_header


def test_payload_layout_is_the_published_one() -> None:
    payload = encode_tick_payload(0b101, 7, 1_700_000_000_000_000_000, (b"L", b"QQ", b"FFF"))
    # flags (1 byte), sequence (u64), receive time (i64), three u32 lengths, all big-endian; then the bodies.
    assert payload == (
        b"\x05"
        + (7).to_bytes(8, "big")
        + (1_700_000_000_000_000_000).to_bytes(8, "big", signed=True)
        + (1).to_bytes(4, "big")
        + (2).to_bytes(4, "big")
        + (3).to_bytes(4, "big")
        + b"LQQFFF"
    )
    assert TICK_CHANNEL_PREFIX == "md:tick:"


@given(
    flags=st.integers(0, 7),
    sequence=st.integers(0, 2**64 - 1),
    received=st.integers(-(2**63), 2**63 - 1),
    bodies=st.tuples(st.binary(max_size=64), st.binary(max_size=64), st.binary(max_size=64)),
)
def test_payload_round_trips(flags: int, sequence: int, received: int, bodies: tuple[bytes, bytes, bytes]) -> None:
    payload = encode_tick_payload(flags, sequence, received, bodies)
    assert tick_header(payload) == (flags, sequence, received)
    assert tuple(tick_body(payload, index) for index in range(3)) == bodies


def test_a_short_payload_is_refused() -> None:
    with pytest.raises(struct.error):
        tick_header(b"\x01\x02")
    with pytest.raises(struct.error):
        tick_body(b"", 0)
