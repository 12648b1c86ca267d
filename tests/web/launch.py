"""Run the ``make up`` launcher for the browser tests: the same service table, on the ports and data
directory the test chooses (``python -m tests.web.launch`` takes ``trademesh.devstack.up``'s flags).

While the trade and market-data services are being added to :data:`trademesh.devstack.stack.SERVICES`,
a service whose module exists but which the table does not list yet is started too, with the shared
environment only (:data:`FALLBACK`); once the table lists it, the table's own entry is used.
"""

from __future__ import annotations

import signal
from collections.abc import Sequence

from trademesh.devstack import stack, up
from trademesh.devstack.stack import ServiceSpec

__all__ = ["FALLBACK", "main", "running_services", "service_table"]

FALLBACK: tuple[ServiceSpec, ...] = (
    ServiceSpec(name="trade", module="trademesh.services.trade", default_port=50052, depends_on=("auth",)),
    ServiceSpec(name="marketdata", module="trademesh.services.marketdata", default_port=50054, depends_on=("auth",)),
)


def service_table() -> tuple[ServiceSpec, ...]:
    """``SERVICES`` plus the :data:`FALLBACK` entries it lacks (by name or module), gateway kept last."""
    listed = stack.SERVICES
    names = {spec.name for spec in listed}
    modules = {spec.module for spec in listed}
    ports = {spec.default_port for spec in listed}
    extra = [
        spec
        for spec in FALLBACK
        if spec.name not in names
        and spec.module not in modules
        and spec.default_port not in ports
        and not stack.missing_module(spec)
    ]
    services = [spec for spec in listed if spec is not stack.GATEWAY]
    gateway = [spec for spec in listed if spec is stack.GATEWAY]
    return (*services, *extra, *gateway)


def running_services() -> set[str]:
    """Names of the services the launcher will start (the others are skipped with a note)."""
    selected, _notes = stack.select_services(service_table())
    return {spec.name for spec in selected}


def main(argv: Sequence[str] | None = None) -> int:
    """Start, supervise until SIGINT/SIGTERM, stop; the exit status of the launcher."""
    options = up.parse_args(argv)
    stop = up._StopRequest()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stop.handle)
    return up.Launcher(options, stop, service_table()).run()


if __name__ == "__main__":
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    raise SystemExit(main())
