"""The analytics service wired on the in-memory fakes of its ports (tests/analytics/fakes.py), for use-case tests.

`Fakes(now)` holds one fake per port (the clock at `now`, micros) and wires the service over them with
`analytics(settings)`; `wired(now, ...)` is the one-line form for a test that brings its own trade source or quotes.
"""

from __future__ import annotations

from tests.analytics.fakes import (
    InMemoryAnalyticsCache,
    InMemoryQuotes,
    InMemorySettingsStore,
    InMemoryTradeSource,
    ManualClock,
)
from trademesh.services.analytics.server import Analytics, bootstrap
from trademesh.services.analytics.settings import AnalyticsSettings


class Fakes:
    """A fake for every port of the analytics service, the clock at `now`."""

    def __init__(self, now: int) -> None:
        self.trades = InMemoryTradeSource()
        self.settings = InMemorySettingsStore()
        self.cache = InMemoryAnalyticsCache()
        self.quotes = InMemoryQuotes()
        self.clock = ManualClock(now)

    def analytics(self, settings: AnalyticsSettings | None = None) -> Analytics:
        """The service wired on these fakes (default settings unless given)."""
        return bootstrap(
            settings if settings is not None else AnalyticsSettings(),
            trades=self.trades,
            settings_store=self.settings,
            cache=self.cache,
            quotes=self.quotes,
            clock=self.clock,
        )


def wired(
    now: int,
    settings: AnalyticsSettings | None = None,
    *,
    trades: InMemoryTradeSource | None = None,
    quotes: InMemoryQuotes | None = None,
) -> Analytics:
    """The service on fresh fakes with the clock at `now`, over `trades` and `quotes` when given."""
    fakes = Fakes(now)
    if trades is not None:
        fakes.trades = trades
    if quotes is not None:
        fakes.quotes = quotes
    return fakes.analytics(settings)
