"""The use-case fixtures (``fixtures.py``, which other trade tests import too) for every test here."""

from tests.trade.use_cases.fixtures import clock, service, sink, store

__all__ = ["clock", "service", "sink", "store"]
