"""The chart's delivery parts: balanced service-to-service targets, per-component images, scaling signals,
monitors, rollouts on Secret changes, token rotation and the production databases."""

from __future__ import annotations

from typing import Any

import pytest

from tests.k8s import render
from tests.k8s.conftest import Objects
from tests.k8s.test_chart import SERVICES, environment, named

pytestmark = pytest.mark.timeout(1800)

#: Who calls whom over gRPC, and through which variable (auth: every service verifies tokens with its JWKS).
TARGETS = {
    "TRADEMESH_AUTH_TARGET": "auth",
    "TRADEMESH_TRADE_TARGET": "trade",
    "TRADEMESH_MARKETDATA_TARGET": "marketdata",
}


def container_of(objects: Objects, kind: str, name: str) -> dict[str, Any]:
    """The single container of a Deployment or CronJob."""
    obj = named(objects, kind, name)
    spec = obj["spec"]["jobTemplate"]["spec"] if kind == "CronJob" else obj["spec"]
    (container,) = spec["template"]["spec"]["containers"]
    result: dict[str, Any] = container
    return result


# -- (4) balanced service-to-service calls ---------------------------------------------------------------


def test_services_call_each_other_through_headless_services(rendered: tuple[str, Objects]) -> None:
    _, objects = rendered
    seen = set()
    for name in SERVICES:
        variables = environment(objects, container_of(objects, "Deployment", f"trademesh-{name}"))
        for variable, callee in TARGETS.items():
            if variable not in variables:
                continue
            seen.add(variable)
            # gRPC's DNS resolver over the headless Service: one address per ready pod, balanced by the
            # channel's round_robin policy (services/core/channels.py); not the ClusterIP (one pod per caller).
            assert variables[variable] == f"dns:///trademesh-{callee}-headless:{render.GRPC_PORT}", (name, variable)
            headless = named(objects, "Service", f"trademesh-{callee}-headless")
            assert headless["spec"]["clusterIP"] == "None"
            assert headless["spec"]["publishNotReadyAddresses"] is False
    assert seen == set(TARGETS)
