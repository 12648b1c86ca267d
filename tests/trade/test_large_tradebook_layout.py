"""The generated large tradebook (`trademesh.devstack.tradebooks`) is in Console's layout: the trade service's own
sample file starts with the same header, and the rows are distinct fills."""

from __future__ import annotations

from pathlib import Path

from tests.large_tradebook import ZERODHA_HEADER, zerodha_tradebook


def test_the_generated_tradebook_has_the_samples_header_and_distinct_trade_ids() -> None:
    sample = Path(__file__).parent / "data" / "zerodha_tradebook_eq.csv"
    assert sample.read_text().splitlines()[0] == ZERODHA_HEADER
    lines = zerodha_tradebook(2_000).decode().splitlines()
    assert lines[0] == ZERODHA_HEADER
    trade_ids = [line.split(",")[10] for line in lines[1:]]
    assert len(trade_ids) == len(set(trade_ids)) == 2_000
