"""The Helm chart's gateway: the Envoy config it ships is the generator's, valid, with headless upstreams."""

from __future__ import annotations

import pytest

from tests.k8s import render
from tests.k8s.conftest import Objects
from tests.k8s.objects import _shipped_bootstrap, named, of_kind

# On a clean clone the first test here builds helm and kubeconform (scripts/install-k8s-tools.sh, minutes);
# every tool call below has its own subprocess timeout, so the module-wide limit only covers that build.
pytestmark = pytest.mark.timeout(1800)


def test_envoy_configmap_is_the_generators_output(default_objects: Objects) -> None:
    assert render.ENVOY_FILE.read_text() == render.envoy_config_text(), "run scripts/render-k8s.sh"
    assert render.ENVOY_TLS_FILE.read_text() == render.envoy_config_text(tls=True), "run scripts/render-k8s.sh"
    expected = render.kubernetes_bootstrap()
    # The default values deploy no rate-limit service (it has no Redis address): its filter and cluster go.
    manager = expected["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    manager["http_filters"] = [f for f in manager["http_filters"] if f["name"] != "envoy.filters.http.ratelimit"]
    clusters = expected["static_resources"]["clusters"]
    expected["static_resources"]["clusters"] = [c for c in clusters if c["name"] != "ratelimit"]
    assert _shipped_bootstrap(default_objects) == expected


def test_envoy_accepts_the_kubernetes_config() -> None:
    from trademesh.gateway.runner import validate

    validate(render.ENVOY_FILE)


def test_envoy_upstreams_are_headless_services(default_objects: Objects) -> None:
    bootstrap = _shipped_bootstrap(default_objects)
    gateway = named(default_objects, "Deployment", "trademesh-gateway")
    (container,) = gateway["spec"]["template"]["spec"]["containers"]
    listener = bootstrap["static_resources"]["listeners"][0]["address"]["socket_address"]
    assert listener["port_value"] == container["ports"][0]["containerPort"]
    headless = {
        (svc["metadata"]["name"], port["port"])
        for svc in of_kind(default_objects, "Service")
        if svc["spec"].get("clusterIP") == "None"
        for port in svc["spec"]["ports"]
    }
    for cluster in bootstrap["static_resources"]["clusters"]:
        for group in cluster["load_assignment"]["endpoints"]:
            for endpoint in group["lb_endpoints"]:
                address = endpoint["endpoint"]["address"]["socket_address"]
                assert (address["address"], address["port_value"]) in headless, cluster["name"]
        assert cluster["type"] == "STRICT_DNS", cluster["name"]
