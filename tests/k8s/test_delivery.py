"""The chart's delivery parts: balanced service-to-service targets, per-component images, scaling signals,
monitors, rollouts on Secret changes, token rotation and the production databases."""

from __future__ import annotations

import asyncio
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from tests.eventually import eventually
from tests.k8s import render
from tests.k8s.conftest import Objects
from tests.k8s.objects import SERVICES, environment, named, of_kind

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
            # channel's round_robin policy (trademesh.services.core.channels); not the ClusterIP (one pod per caller).
            assert variables[variable] == f"dns:///trademesh-{callee}-headless:{render.GRPC_PORT}", (name, variable)
            headless = named(objects, "Service", f"trademesh-{callee}-headless")
            assert headless["spec"]["clusterIP"] == "None"
            assert headless["spec"]["publishNotReadyAddresses"] is False
    assert seen == set(TARGETS)


# -- (5) scaling on the right signal, monitors, Envoy's stats ---------------------------------------------


def pods_metrics(hpa: dict[str, Any]) -> set[str]:
    """Names of an HPA's per-pod custom metrics."""
    return {metric["pods"]["metric"]["name"] for metric in hpa["spec"]["metrics"] if metric["type"] == "Pods"}


def test_every_hpa_scales_on_cpu_not_memory(rendered: tuple[str, Objects]) -> None:
    _, objects = rendered
    for hpa in of_kind(objects, "HorizontalPodAutoscaler"):
        resources = {m["resource"]["name"] for m in hpa["spec"]["metrics"] if m["type"] == "Resource"}
        assert resources == {"cpu"}, hpa["metadata"]["name"]


def test_production_scales_market_data_on_streams_and_the_gateway_on_connections(
    default_objects: Objects, production_objects: Objects
) -> None:
    for hpa in of_kind(default_objects, "HorizontalPodAutoscaler"):
        assert not pods_metrics(hpa), "custom metrics need an adapter: off by default"
    custom = {
        hpa["metadata"]["name"]: pods_metrics(hpa) for hpa in of_kind(production_objects, "HorizontalPodAutoscaler")
    }
    assert custom == {
        "trademesh-auth": set(),
        "trademesh-trade": set(),
        "trademesh-sync": set(),
        "trademesh-analytics": set(),
        "trademesh-notifications": set(),
        "trademesh-marketdata": {"trademesh_marketdata_active_streams"},
        "trademesh-gateway": {"trademesh_gateway_downstream_cx_active"},
        "trademesh-ratelimit": set(),
    }


@pytest.fixture(scope="session")
def monitored_objects(k8s_tools: None) -> Objects:
    """The production render with the PodMonitors and the prometheus-adapter rules."""
    return render.load_objects(
        render.helm_template(
            "-f",
            render.PRODUCTION_VALUES,
            "--set",
            "monitoring.podMonitor.enabled=true,monitoring.podMonitor.labels.release=kube-prometheus-stack",
            "--set",
            "monitoring.prometheusAdapter.enabled=true",
        )
    )


def test_pod_monitors_scrape_ports_the_pods_have(monitored_objects: Objects) -> None:
    monitors = {monitor["metadata"]["name"]: monitor for monitor in of_kind(monitored_objects, "PodMonitor")}
    assert set(monitors) == {f"trademesh-{name}" for name in (*SERVICES, "gateway")}
    for name, monitor in monitors.items():
        assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
        assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
        deployment = named(monitored_objects, "Deployment", name)
        assert monitor["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        ports = {port["name"] for port in container["ports"]}
        for endpoint in monitor["spec"]["podMetricsEndpoints"]:
            assert endpoint["port"] in ports, (name, endpoint)
            expected = "/stats/prometheus" if name == "trademesh-gateway" else "/metrics"
            assert endpoint["path"] == expected


def test_monitored_render_is_valid_apart_from_the_operators_kinds(
    k8s_tools: None, schemas: Path, tmp_path: Path, monitored_objects: Objects
) -> None:
    path = tmp_path / "monitored.yaml"
    path.write_text(yaml.safe_dump_all(monitored_objects))
    # The PodMonitor schema is the Prometheus Operator's CRD, which is not available offline.
    location = f"{schemas}/{render.SCHEMA_LAYOUT}"
    result = render.run(
        [
            render.KUBECONFORM,
            "-strict",
            "-summary",
            "-skip",
            "PodMonitor",
            "-kubernetes-version",
            render.KUBERNETES_VERSIONS[-1],
            "-schema-location",
            location,
            path,
        ],
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_prometheus_adapter_serves_every_custom_metric_an_hpa_reads(monitored_objects: Objects) -> None:
    configmap = named(monitored_objects, "ConfigMap", "trademesh-prometheus-adapter")
    assert configmap["metadata"]["namespace"] == "monitoring"
    rules = yaml.safe_load(configmap["data"]["config.yaml"])["rules"]
    served = {rule["name"]["as"] for rule in rules}
    wanted = set().union(*(pods_metrics(hpa) for hpa in of_kind(monitored_objects, "HorizontalPodAutoscaler")))
    assert wanted
    assert wanted <= served
    for rule in rules:
        assert rule["resources"]["overrides"]["pod"] == {"resource": "pod"}, "the metrics are per pod"
        series = re.match(r"[a-z_]+", rule["seriesQuery"])
        assert series is not None, rule
        assert re.fullmatch(rule["name"]["matches"], series.group(0)), rule
    # The gateway's rule counts the gRPC listener's connections: its stat prefix in the generated config.
    listener = render.kubernetes_bootstrap()["static_resources"]["listeners"][0]
    assert listener["filter_chains"][0]["filters"][0]["typed_config"]["stat_prefix"] == "ingress"
    assert 'envoy_http_conn_manager_prefix="ingress"' in configmap["data"]["config.yaml"]


def fetch(url: str, method: str = "GET") -> tuple[int, str]:
    """Status and body of one plain HTTP request (errors included)."""
    assert url.startswith("http://127.0.0.1:")
    request = urllib.request.Request(url, method=method)  # noqa: S310 - a local Envoy
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - a local Envoy
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


async def test_envoy_serves_its_prometheus_stats_and_nothing_else_of_the_admin_api(
    k8s_tools: None, tmp_path: Path
) -> None:
    from trademesh.devstack.processes import find_free_port
    from trademesh.gateway.runner import envoy_command

    listen, admin, stats = find_free_port(), find_free_port(), find_free_port()
    objects = render.load_objects(render.helm_template("--set", f"gateway.adminPort={admin},gateway.statsPort={stats}"))
    args = container_of(objects, "Deployment", "trademesh-gateway")["args"]
    overlay = args[args.index("--config-yaml") + 1]
    # The shipped bootstrap with this test's ports (the pod's are fixed; tests run side by side).
    bootstrap = yaml.safe_load(render.ENVOY_FILE.read_text())
    bootstrap["admin"]["address"]["socket_address"]["port_value"] = admin
    bootstrap["static_resources"]["listeners"][0]["address"]["socket_address"].update(
        address="127.0.0.1", port_value=listen
    )
    config = tmp_path / "envoy.yaml"
    config.write_text(yaml.safe_dump(bootstrap))
    envoy = await asyncio.create_subprocess_exec(
        *envoy_command(config, "--config-yaml", overlay),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        page = f"http://127.0.0.1:{stats}/stats/prometheus"

        async def scraped() -> bool:
            assert envoy.returncode is None, "envoy exited"
            try:
                status, _ = await asyncio.to_thread(fetch, page)
            except OSError:
                return False
            return status == 200

        await eventually(scraped, within=60)
        _, body = await asyncio.to_thread(fetch, page)
        # The series the prometheus-adapter rule turns into the gateway's connections metric.
        assert re.search(
            r'^envoy_http_downstream_cx_active\{envoy_http_conn_manager_prefix="ingress"\} \d+$', body, re.M
        )
        for path, method in [
            ("/quitquitquit", "POST"),
            ("/drain_listeners", "POST"),
            ("/config_dump", "GET"),
            ("/stats", "GET"),
            ("/stats/prometheus", "POST"),
        ]:
            assert (await asyncio.to_thread(fetch, f"http://127.0.0.1:{stats}{path}", method))[0] == 404, path
        assert envoy.returncode is None, "the admin API's mutations must not be reachable"
    finally:
        envoy.terminate()
        await asyncio.wait_for(envoy.wait(), timeout=30)


# -- (6) operations ---------------------------------------------------------------------------------------


def pod_annotations(objects: Objects, name: str) -> dict[str, str]:
    """The pod template annotations of a Deployment."""
    annotations: dict[str, str] = named(objects, "Deployment", name)["spec"]["template"]["metadata"]["annotations"]
    return annotations


def test_a_changed_secret_rolls_the_pods_that_read_it(k8s_tools: None) -> None:
    base = ["--set", "secrets.tradeTokens.secret=" + "a" * 32, "--set", "secrets.brokerCredentials.key=" + "b" * 32]
    before = render.load_objects(render.helm_template(*base))
    after = render.load_objects(render.helm_template(*base, "--set", "secrets.tradeTokens.secret=" + "c" * 32))

    def checksum(objects: Objects, name: str) -> str:
        return pod_annotations(objects, f"trademesh-{name}")["checksum/secrets"]

    assert checksum(before, "trade") != checksum(after, "trade")
    assert checksum(before, "notifications") != checksum(after, "notifications")  # its tokens are signed with it
    for name in ("auth", "sync", "marketdata", "analytics"):
        assert checksum(before, name) == checksum(after, name), name
    # The sync service token is re-read by the pods: rotating it must not roll them.
    rotated = render.load_objects(render.helm_template(*base, "--set", "secrets.syncServiceToken.token=new"))
    assert checksum(rotated, "sync") == checksum(before, "sync")


def test_the_sync_token_is_rotated_by_a_cronjob_that_may_touch_only_its_secret(default_objects: Objects) -> None:
    cron = named(default_objects, "CronJob", "trademesh-sync-token-rotation")
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == "ghcr.io/trademesh/trademesh-auth:0.1.0"
    args = container["args"]
    assert args[:2] == ["trademesh.services.auth.admin", "rotate-service-token"]
    assert args[args.index("--secret") + 1] == "trademesh-sync-service-token"
    assert args[args.index("--key") + 1] == "token"
    assert float(args[args.index("--ttl-days") + 1]) >= 14, "weekly runs need a lifetime of several weeks"
    assert pod["serviceAccountName"] == "trademesh-sync-token-rotation"
    # Its API token: a projected, short-lived one, where in-cluster clients look for it.
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == "kube-api-access"]
    assert mount["mountPath"] == "/var/run/secrets/kubernetes.io/serviceaccount"
    (volume,) = [v for v in pod["volumes"] if v["name"] == "kube-api-access"]
    sources = {next(iter(source)) for source in volume["projected"]["sources"]}
    assert sources == {"serviceAccountToken", "configMap", "downwardAPI"}
    assert environment(default_objects, container)["TRADEMESH_SIGNING_KEY_FILES"].startswith("/var/run/secrets/")
    (rule,) = named(default_objects, "Role", "trademesh-sync-token-rotation")["rules"]
    assert rule == {
        "apiGroups": [""],
        "resources": ["secrets"],
        "resourceNames": ["trademesh-sync-service-token"],
        "verbs": ["get", "patch"],
    }
    binding = named(default_objects, "RoleBinding", "trademesh-sync-token-rotation")
    assert binding["subjects"][0]["name"] == "trademesh-sync-token-rotation"
    # No other pod talks to the API server.
    for obj in of_kind(default_objects, "Deployment") + of_kind(default_objects, "CronJob"):
        text = str(obj)
        assert ("kube-api-access" in text) == (obj is cron), obj["metadata"]["name"]


def test_no_rotation_of_a_chart_made_token(trial_manifests: str) -> None:
    assert not [o for o in render.load_objects(trial_manifests) if "token-rotation" in o["metadata"]["name"]]


def test_production_spreads_hard_across_zones(default_objects: Objects, production_objects: Objects) -> None:
    for objects, zones in ((default_objects, "ScheduleAnyway"), (production_objects, "DoNotSchedule")):
        for deployment in of_kind(objects, "Deployment"):
            constraints = {
                c["topologyKey"]: c["whenUnsatisfiable"]
                for c in deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]
            }
            assert constraints["topology.kubernetes.io/zone"] == zones, deployment["metadata"]["name"]


def test_service_accounts_take_cloud_identity_annotations(k8s_tools: None) -> None:
    role = "arn:aws:iam::123456789012:role/trademesh-sync"
    objects = render.load_objects(
        render.helm_template("--set", f"sync.serviceAccount.annotations.eks\\.amazonaws\\.com/role-arn={role}")
    )
    assert named(objects, "ServiceAccount", "trademesh-sync")["metadata"]["annotations"] == {
        "eks.amazonaws.com/role-arn": role
    }
    assert "annotations" not in named(objects, "ServiceAccount", "trademesh-trade")["metadata"]


def test_shutdown_margins_cover_dns_refresh_and_drain(rendered: tuple[str, Objects]) -> None:
    _, objects = rendered
    # Envoy re-resolves its STRICT_DNS upstreams every dns_refresh_rate (5 s unless set); the cluster DNS
    # answers headless names with a 5 s TTL. A service pod must serve at least that long after it is removed.
    refresh = 5.0
    for cluster in render.kubernetes_bootstrap()["static_resources"]["clusters"]:
        if "dns_refresh_rate" in cluster:
            refresh = max(refresh, float(str(cluster["dns_refresh_rate"]).rstrip("s")))
    for name in SERVICES:
        container = container_of(objects, "Deployment", f"trademesh-{name}")
        assert float(container["lifecycle"]["preStop"]["exec"]["command"][1]) >= refresh + 5, name
    gateway = named(objects, "Deployment", "trademesh-gateway")["spec"]["template"]["spec"]
    (envoy,) = gateway["containers"]
    script = envoy["lifecycle"]["preStop"]["exec"]["command"][2]
    compile(script, "pre-stop", "exec")
    pause, drain = (float(value) for value in re.findall(r"time\.sleep\((\d+)\)", script))
    assert script.index("/healthcheck/fail") < script.index("time.sleep") < script.index("/drain_listeners")
    assert drain == float(envoy["args"][envoy["args"].index("--drain-time-s") + 1])
    assert pause >= refresh
    assert gateway["terminationGracePeriodSeconds"] > pause + drain


# -- (7) databases for production -------------------------------------------------------------------------

DATABASES = render.REPO / "helm" / "trademesh-databases"


def test_production_databases_come_from_optional_maintained_subcharts() -> None:
    chart = yaml.safe_load((DATABASES / "Chart.yaml").read_text())
    values = yaml.safe_load((DATABASES / "values.yaml").read_text())
    dependencies = {dependency["name"]: dependency for dependency in chart["dependencies"]}
    assert set(dependencies) == {"mongodb", "redis"}
    for name, dependency in dependencies.items():
        assert dependency["condition"] == f"{name}.enabled"
        assert values[name]["enabled"] is False, f"{name} must be opt-in"
        assert dependency["repository"].startswith("oci://")
        assert re.fullmatch(r"~\d+\.\d+\.\d+", dependency["version"]), "pin the minor version"
        assert values[name]["auth"]["enabled"] is True
        assert values[name]["auth"]["existingSecret"], "passwords come from a Secret, never from values"
    mongodb, redis = values["mongodb"], values["redis"]
    assert mongodb["architecture"] == "replicaset"
    assert mongodb["replicaCount"] >= 3
    assert mongodb["persistence"]["enabled"] is True
    assert mongodb["backup"]["enabled"] is True
    assert redis["architecture"] == "replication"
    assert redis["master"]["persistence"]["enabled"] is True
    # Not vendored: `helm dependency build` fetches them (documented), so no charts/ folder is committed.
    assert not (DATABASES / "charts").exists()
    assert "helm dependency build helm/trademesh-databases" in (DATABASES / "README.md").read_text()


def test_trial_databases_say_they_are_trial_only(trial_manifests: str) -> None:
    objects = render.load_objects(trial_manifests)
    for name in ("trademesh-mongodb", "trademesh-redis"):
        statefulset = named(objects, "StatefulSet", name)
        assert statefulset["metadata"]["labels"]["trademesh.dev/trial-only"] == "true"
        assert statefulset["spec"]["replicas"] == 1
    notes = (render.CHART / "templates" / "NOTES.txt").read_text()
    assert "TRIALS ONLY" in notes
    assert "helm/trademesh-databases" in notes
