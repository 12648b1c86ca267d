"""Quote fan-out, side by side: the market-data service vs a bare grpc.aio server vs the Socket.IO design.

Run `.venv/bin/python -m bench.marketdata_fanout` (`--help` for the knobs). The script orchestrates
itself: it starts a private Redis and FerretDB, the auth service (in this process, for tokens), then,
one variant at a time, the server side as child processes and the load as client processes (this
same script with `--role ...`), and prints one table. It is a report, not a test: exit code 0.

Every variant gets the same tick sequence: the simulated NSE market (`SimulatedMarket`, same seed,
rate and burstiness, 10 ms emission batches) over a generated universe of `--symbols` instruments.
Each of `--streams` streams watches `--symbols-per-stream` instruments (a seeded random sample per
stream, the same for every variant). Ticks before the window are warm-up; the feed stops at the end
of the window; clients then drain for `--drain` seconds and report their final state.

Variants:
- `service`: the market-data service as deployed: one replica process
  (`python -m trademesh.services.marketdata`, interceptors, auth with a real token) plus the
  dedicated ingest process (`python -m trademesh.services.marketdata.ingest`), through Redis. Its
  defaults: QUOTE mode, 8 updates/s per instrument, batches every 125 ms with per-instrument
  conflation.
- `bare`: the limit: `grpc.aio.server()` without interceptors, auth or Redis; the feed in-process;
  the same stream code (`QuoteStream`), so the same messages and framing.
- `socketio`: the seed's design: python-socketio (aiohttp) with `AsyncRedisManager`, one room per
  symbol, a 200 ms per-symbol server-side throttle (trailing edge, so the last price is always sent),
  one JSON message per symbol update per client; clients join their symbols' rooms.

Tick-to-client latency = client receive wall time - the tick's exchange timestamp (set by the feed
when it generated the tick), over every quote in a sample of messages (1 in `--sample-every`).
"Latest" = every stream ends holding the last tick (sequence and price) of each of its symbols.
CPU is user+system of the server-side processes (replica + ingest + Redis for `service`; server +
Redis for `socketio`; the server for `bare`) over the window, in % of one core; RSS at the end.
"""

from bench.marketdata_fanout.cli import main

__all__ = [
    "main",
]
