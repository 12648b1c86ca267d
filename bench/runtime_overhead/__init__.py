"""What the shared service runtime costs: a bare grpc.aio Echo against the same Echo behind the full chain.

Run `make bench` (or `.venv/bin/python -m bench.runtime_overhead --help`). The script is its own
orchestrator: it starts Redis and FerretDB (`trademesh.devstack.processes`), then, one variant at a
time, a server process and a client process (this same script with `--role server` / `--role client`),
and prints a table. Everything binds 127.0.0.1, every loop is bounded in time, and every child is
stopped on the way out. It is a report, not a test: the exit code is 0 whatever the verdict.

Variants (each in its own server process; the client is the same for all):
- `bare`: `grpc.aio.server()` without interceptors, Echo on raw bytes.
- `runtime`: the same Echo through `start_server` (tracing → access log → errors → auth), called with a
  real EdDSA bearer token, verified against a real `RevocationList` fed by Redis; JSON access log at
  INFO written to /dev/null; tracing exporter "none" (the production default).
- `runtime+tracing`: as `runtime`, plus an OpenTelemetry SDK tracer provider with a
  `BatchSpanProcessor` around an exporter that drops spans, so span creation is paid for real.
- `login`: the real auth service (`build_auth_server`) on Redis + FerretDB; callers log in as one user.
"""

from bench.runtime_overhead.cli import main

__all__ = [
    "main",
]
