"""The Helm chart's workloads: every component's objects, hardened pods, probes, scaling, network policies."""

from __future__ import annotations

import math

import pytest

from tests.k8s import render
from tests.k8s.conftest import Objects
from tests.k8s.objects import (
    COMPONENTS,
    JOB_SERVICE,
    METRICS_PORT,
    SERVICES,
    component,
    environment,
    named,
    of_kind,
    pod_specs,
)

# On a clean clone the first test here builds helm and kubeconform (scripts/install-k8s-tools.sh, minutes);
# every tool call below has its own subprocess timeout, so the module-wide limit only covers that build.
pytestmark = pytest.mark.timeout(1800)


def test_every_component_has_its_objects(rendered: tuple[str, Objects]) -> None:
    _, objects = rendered
    for name in COMPONENTS:
        full = f"trademesh-{name}"
        for kind in ("Deployment", "Service", "ServiceAccount", "HorizontalPodAutoscaler", "PodDisruptionBudget"):
            named(objects, kind, full)
        assert named(objects, "ServiceAccount", full)["automountServiceAccountToken"] is False
    for name in SERVICES:
        headless = named(objects, "Service", f"trademesh-{name}-headless")
        assert headless["spec"]["clusterIP"] == "None"
        assert headless["spec"]["selector"] == named(objects, "Service", f"trademesh-{name}")["spec"]["selector"]


def test_pods_are_hardened(rendered: tuple[str, Objects]) -> None:
    _, objects = rendered
    for name, spec in pod_specs(objects):
        assert spec["automountServiceAccountToken"] is False, name
        pod_security = spec["securityContext"]
        assert pod_security["runAsNonRoot"] is True, name
        assert pod_security["seccompProfile"] == {"type": "RuntimeDefault"}, name
        tmp_volumes = {v["name"] for v in spec["volumes"] if "emptyDir" in v}
        for container in spec["containers"]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, name
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["runAsNonRoot"] is True, name
            assert security["capabilities"] == {"drop": ["ALL"]}, name
            assert security["seccompProfile"] == {"type": "RuntimeDefault"}, name
            resources = container["resources"]
            assert set(resources["requests"]) >= {"cpu", "memory"}, name
            assert set(resources["limits"]) >= {"cpu", "memory"}, name
            tmp = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
            assert tmp, f"{name}: no /tmp mount"
            assert tmp[0]["name"] in tmp_volumes, f"{name}: /tmp must be a writable emptyDir"


def test_deployments_probe_drain_and_spread(rendered: tuple[str, Objects]) -> None:
    _, objects = rendered
    for deployment in of_kind(objects, "Deployment"):
        name = component(deployment)
        spec = deployment["spec"]["template"]["spec"]
        (container,) = spec["containers"]
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert probe in container, f"{name} has no {probe}"
            if name in SERVICES:
                assert container[probe]["grpc"]["port"] == render.GRPC_PORT, f"{name}: {probe} must be native gRPC"
        pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
        if name in SERVICES:
            variables = environment(objects, container)
            grace = float(variables["TRADEMESH_SHUTDOWN_GRACE_SECONDS"])
            assert pre_stop[0] == "sleep"
            pause = float(pre_stop[1])
            assert spec["terminationGracePeriodSeconds"] > pause + math.ceil(grace), name
            assert pause > 0, name
        elif name == "ratelimit":
            assert pre_stop[0] == "sleep"
            assert spec["terminationGracePeriodSeconds"] > float(pre_stop[1]) > 0
        else:
            drain = float(container["args"][container["args"].index("--drain-time-s") + 1])
            assert spec["terminationGracePeriodSeconds"] > drain
        keys = {constraint["topologyKey"] for constraint in spec["topologySpreadConstraints"]}
        assert keys == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}, name
        assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0, name


def test_every_deployment_has_an_hpa_and_a_pdb(rendered: tuple[str, Objects]) -> None:
    _, objects = rendered
    for deployment in of_kind(objects, "Deployment"):
        name = deployment["metadata"]["name"]
        assert "replicas" not in deployment["spec"], f"{name}: the HPA owns the replica count"
        hpa = named(objects, "HorizontalPodAutoscaler", name)
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
        resources = {m["resource"]["name"] for m in hpa["spec"]["metrics"] if m["type"] == "Resource"}
        assert "cpu" in resources, name
        assert hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] > 0, name
        pdb = named(objects, "PodDisruptionBudget", name)
        assert pdb["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
        assert pdb["spec"].get("minAvailable", 1) < hpa["spec"]["minReplicas"], f"{name}: a drain must be possible"


def test_marketdata_can_scale_on_streams(default_objects: Objects, production_objects: Objects) -> None:
    def metric_types(objects: Objects) -> set[str]:
        hpa = named(objects, "HorizontalPodAutoscaler", "trademesh-marketdata")
        return {metric["type"] for metric in hpa["spec"]["metrics"]}

    assert metric_types(default_objects) == {"Resource"}
    assert metric_types(production_objects) == {"Resource", "Pods"}


def test_services_expose_the_metrics_the_streams_metric_needs(
    default_objects: Objects, production_objects: Objects
) -> None:
    for deployment in of_kind(default_objects, "Deployment"):
        name = component(deployment)
        if name not in SERVICES:
            continue
        template = deployment["spec"]["template"]
        (container,) = template["spec"]["containers"]
        assert {"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"} in container["ports"], name
        assert environment(default_objects, container)["TRADEMESH_METRICS_PORT"] == str(METRICS_PORT), name
        annotations = template["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true", name
        assert annotations["prometheus.io/port"] == str(METRICS_PORT), name
    # The HPA's optional Pods metric is the gauge the market-data replicas export
    # (trademesh.services.marketdata.streams).
    hpa = named(production_objects, "HorizontalPodAutoscaler", "trademesh-marketdata")
    (pods,) = [metric["pods"] for metric in hpa["spec"]["metrics"] if metric["type"] == "Pods"]
    assert pods["metric"]["name"] == "trademesh_marketdata_active_streams"


def test_network_policies_isolate_the_services(rendered: tuple[str, Objects]) -> None:
    _, objects = rendered
    policies = {policy["metadata"]["name"]: policy for policy in of_kind(objects, "NetworkPolicy")}
    for name in COMPONENTS:
        policy = policies[f"trademesh-{name}"]
        assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
        if name == "gateway":
            continue
        for rule in policy["spec"]["ingress"]:
            if [port["port"] for port in rule["ports"]] == [METRICS_PORT]:
                assert "from" not in rule  # default metricsFrom: the scrape port only, from anywhere
                continue
            sources = rule["from"]
            allowed: set[str] = set()
            for source in sources:
                selector = source["podSelector"]
                allowed |= set(selector.get("matchLabels", {}).get("app.kubernetes.io/component", "").split()) - {""}
                for expression in selector.get("matchExpressions", []):
                    allowed |= set(expression["values"])
            assert "gateway" in allowed, name
            assert allowed <= {*SERVICES, *JOB_SERVICE, "gateway", "helm-test"}, name
    trade_from = policies["trademesh-trade"]["spec"]["ingress"][0]["from"][0]["podSelector"]["matchExpressions"][0]
    assert "sync" in trade_from["values"]
    assert "auth" not in trade_from["values"]


def test_pods_run_the_entry_points_make_up_runs(default_objects: Objects) -> None:
    from trademesh.devstack.stack import SERVICES as DEV_STACK

    dev_modules = {spec.name: spec.module for spec in DEV_STACK if spec.name != "gateway"}
    for name in SERVICES:
        deployment = named(default_objects, "Deployment", f"trademesh-{name}")
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["args"] == [f"trademesh.services.{name}"]
        assert dev_modules.get(name, container["args"][0]) == container["args"][0], name
    dockerfile = (render.REPO / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["python", "-m"]' in dockerfile
    assert "USER 10001:10001" in dockerfile
    security = named(default_objects, "Deployment", "trademesh-auth")["spec"]["template"]["spec"]["securityContext"]
    assert (security["runAsUser"], security["runAsGroup"]) == (10001, 10001)


def test_helm_test_script_is_python(default_objects: Objects) -> None:
    (pod,) = [obj for obj in of_kind(default_objects, "Pod") if "helm.sh/hook" in obj["metadata"]["annotations"]]
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    (container,) = pod["spec"]["containers"]
    assert container["command"] == ["python", "-c"]
    compile(container["args"][0], "helm-test", "exec")
    for name in SERVICES:
        assert f'"{name}"' in container["args"][0], f"helm test does not check {name}"


def test_dockerfile_copies_only_what_exists_and_is_not_ignored() -> None:
    dockerfile = (render.REPO / "Dockerfile").read_text()
    ignored = [
        line.strip()
        for line in (render.REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    sources = [
        line.split()[1]
        for line in dockerfile.splitlines()
        if line.startswith("COPY ") and not line.startswith("COPY --from")
    ]
    assert sources
    if not (render.REPO / "clients" / "web" / "package.json").exists():
        # Only the `web` target needs the browser client; the services' image builds without it.
        sources = [source for source in sources if not source.startswith("clients/web")]
    for source in sources:
        assert (render.REPO / source).exists(), f"Dockerfile copies {source}, which does not exist"
        assert not any(source == pattern or source.startswith(pattern + "/") for pattern in ignored), source


def test_gateway_pre_stop_is_python(default_objects: Objects) -> None:
    (container,) = named(default_objects, "Deployment", "trademesh-gateway")["spec"]["template"]["spec"]["containers"]
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    assert command[:2] == ["python", "-c"]
    compile(command[2], "pre-stop", "exec")
    assert "drain_listeners" in command[2]
