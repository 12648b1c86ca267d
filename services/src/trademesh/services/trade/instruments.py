"""Adapters that read operator-provided reference data over HTTP(S) or from a file: the instrument master
(Kite's instruments CSV) and settlement prices (`symbol,date,price`)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from urllib.parse import unquote, urlparse

import aiohttp

from trademesh.kernel.instrument_master import InstrumentMaster, parse_instruments
from trademesh.kernel.settlement import SettlementPrices, parse_settlement_prices

logger = logging.getLogger(__name__)

#: The largest reference file read (Kite's full dump is about 10 MB).
MAX_REFERENCE_BYTES = 64 * 1024 * 1024


class ReferenceDataError(Exception):
    """A reference file could not be read (the message says which and why)."""


async def fetch_text(url: str, timeout_seconds: float) -> str:
    """Return the text at an http(s):// or file:// URL (or a plain path)."""
    parsed = urlparse(url)
    if parsed.scheme in ("http", "https"):
        try:
            timeout = aiohttp.ClientTimeout(total=timeout_seconds)
            async with aiohttp.ClientSession(timeout=timeout) as session, session.get(url) as response:
                if response.status != 200:
                    raise ReferenceDataError(f"GET {url} answered HTTP {response.status}")
                body = await response.content.read(MAX_REFERENCE_BYTES + 1)
        except (aiohttp.ClientError, TimeoutError) as error:
            raise ReferenceDataError(f"GET {url} failed: {error!r}") from None
    elif parsed.scheme in ("file", ""):
        path = Path(unquote(parsed.path) if parsed.scheme else url)
        try:
            body = await asyncio.to_thread(path.read_bytes)
        except OSError as error:
            raise ReferenceDataError(f"cannot read {path}: {error}") from None
    else:
        raise ReferenceDataError(f"unsupported URL scheme {parsed.scheme!r} in {url}")
    if len(body) > MAX_REFERENCE_BYTES:
        raise ReferenceDataError(f"{url} is larger than {MAX_REFERENCE_BYTES} bytes")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise ReferenceDataError(f"{url} is not UTF-8 text") from None


async def load_instruments(url: str, timeout_seconds: float) -> InstrumentMaster:
    """Fetch and parse an instrument master."""
    text = await fetch_text(url, timeout_seconds)
    try:
        return parse_instruments(text)
    except ValueError as error:
        raise ReferenceDataError(f"{url}: {error}") from None


async def load_settlement_prices(url: str, timeout_seconds: float) -> SettlementPrices:
    """Fetch and parse the operator's settlement prices."""
    text = await fetch_text(url, timeout_seconds)
    try:
        return parse_settlement_prices(text)
    except ValueError as error:
        raise ReferenceDataError(f"{url}: {error}") from None


class HttpInstrumentMaster:
    """The instrument master behind `InstrumentLookup`: fetched at start and refreshed in the background.

    Lookups read the last good copy in memory; until one is loaded nothing is listed (no lot size checks).
    """

    def __init__(self, url: str, *, timeout_seconds: float, refresh_seconds: float) -> None:
        self.url = url
        self.timeout_seconds = timeout_seconds
        self.refresh_seconds = refresh_seconds
        self.master: InstrumentMaster | None = None

    def lot_size(self, exchange: str, symbol: str) -> int | None:
        """Return the contract's lot size from the last loaded master."""
        return self.master.lot_size(exchange, symbol) if self.master is not None else None

    async def refresh(self) -> bool:
        """Load the master again; keep the last good copy (and log) when that fails."""
        try:
            self.master = await load_instruments(self.url, self.timeout_seconds)
        except ReferenceDataError as error:
            logger.warning("instrument master not refreshed: %s", error)
            return False
        logger.info("instrument master loaded: %d instruments", len(self.master))
        return True

    async def run(self) -> None:
        """Refresh on the configured interval until cancelled."""
        while True:
            await asyncio.sleep(self.refresh_seconds)
            await self.refresh()
