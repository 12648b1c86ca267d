"""Fixtures of the trade use-case tests: the use cases over in-memory fakes of their ports and a manual clock."""

from __future__ import annotations

import pytest

from tests.trade.fakes import CountingRateLimiter, InMemoryTradeStore, ManualClock, RecordingEventSink
from trademesh.services.trade.server import bootstrap
from trademesh.services.trade.service import TradeService
from trademesh.services.trade.settings import TradeSettings


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def store() -> InMemoryTradeStore:
    return InMemoryTradeStore()


@pytest.fixture
def sink() -> RecordingEventSink:
    return RecordingEventSink()


@pytest.fixture
def service(store: InMemoryTradeStore, sink: RecordingEventSink, clock: ManualClock) -> TradeService:
    settings = TradeSettings(
        token_secret="use-case-tests-secret-0123456789abcdef", trade_quota=10, import_limit_per_minute=3
    )
    return bootstrap(settings, store=store, events=sink, limiter=CountingRateLimiter(), clock=clock)
