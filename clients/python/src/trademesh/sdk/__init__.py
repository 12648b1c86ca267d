"""The trademesh Python SDK: a thin, typed layer over the generated gRPC stubs.

>>> async with connect("127.0.0.1:8080") as mesh:           # doctest: +SKIP
...     await mesh.login("demo", "Nifty-Fifty-2024")
...     trades = await mesh.trade.ListTrades(ListTradesRequest(page_size=10))
...     async for batch in mesh.subscribe_quotes(["INFY", "TCS"]):
...         print(batch.quotes)

:func:`connect` (asyncio) and :func:`connect_sync` (blocking) open one channel with typed stubs for the
six services; every call gets a default deadline, the access token (refreshed before it expires),
gRPC retries for UNAVAILABLE on idempotent methods (service config), and raises
:class:`TrademeshError`. :meth:`~AsyncTrademesh.subscribe_quotes`, :meth:`~AsyncTrademesh.watch_trades`,
:meth:`~AsyncTrademesh.watch_pnl` and :meth:`~AsyncTrademesh.watch_notifications` are resumable streams.
"""

from trademesh.sdk.client import (
    AsyncTrademesh,
    Target,
    Trademesh,
    connect,
    connect_sync,
    parse_instrument,
    parse_target,
)
from trademesh.sdk.errors import FieldViolation, TrademeshError, error_from_rpc
from trademesh.sdk.options import IDEMPOTENT_METHODS, ClientOptions, service_config_json
from trademesh.sdk.streams import ResumableStream, SyncResumableStream
from trademesh.sdk.tokens import Tokens

__all__ = [
    "IDEMPOTENT_METHODS",
    "AsyncTrademesh",
    "ClientOptions",
    "FieldViolation",
    "ResumableStream",
    "SyncResumableStream",
    "Target",
    "Tokens",
    "Trademesh",
    "TrademeshError",
    "connect",
    "connect_sync",
    "error_from_rpc",
    "parse_instrument",
    "parse_target",
    "service_config_json",
]
