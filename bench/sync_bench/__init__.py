"""Sync benchmark: the sync service as built vs the seed's per-trade loop, side by side in one run.

Against a fake Kite Connect (its own process, 10 requests/s per app like the real API) and a real trade
service (its own process) on private Redis and FerretDB, two scenarios:

* **solo** — one account with `--solo-trades` (10,000) fills today;
* **sweep** — `--accounts` (1,000) accounts x `--trades-per-account` (20) fills, i.e. one schedule period.

and for each, two ways to get the broker's trades into the journal:

* **(a) service** — the sync service as built: the scheduler queues one run per account on the Redis job
  stream, 64 concurrent worker runs per replica, kiteconnect in a bounded thread pool, requests paced per
  API key, ReconcileTrades in batches of 1,000;
* **(b) baseline** — the seed's loop: accounts one after the other, kiteconnect's `trades()`, then one
  ReconcileTrades call per trade. It is slow, so by default it runs on a sample (`--baseline-solo-trades`,
  `--baseline-accounts`) and its wall time is extrapolated linearly — generous to the baseline, whose
  per-call cost grows with the journal's size.

(a) also runs the sweep with ReconcileTrades answered at once — **(a*)**, the sync service's own share:
scheduling, queue, workers, kiteconnect, pacing, its own database writes. `--sweep-real-accounts`
(default: all) limits how many sweep accounts go into the real trade service; with fewer, the full
sweep's duration is projected from them.

Each measurement starts the trade service on an empty journal and uses fresh users, so every way
creates every trade. Printed per row: wall time, trades/s, broker requests/s; then the speed-up of (a)
over (b) in trades/s, the busiest second of any one app at the fake Kite and the 429s it served.

    .venv/bin/python -m bench.sync_bench                      # the full run (a few minutes)
    .venv/bin/python -m bench.sync_bench --small              # 1 x 1,000 and 100 x 20, for a quick look
"""

from bench.sync_bench.cli import main

__all__ = [
    "main",
]
