"""The Helm chart, proven without a cluster: lint, render, schema validation and checks over the objects."""

from __future__ import annotations

import json
import math
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]
from pydantic_settings import BaseSettings

from tests.k8s import render
from tests.k8s.conftest import Objects
from trademesh.devstack.settings_doc import SETTINGS
from trademesh.services.core.settings import ENV_PREFIX, CoreSettings

# On a clean clone the first test here builds helm and kubeconform (scripts/install-k8s-tools.sh, minutes);
# every tool call below has its own subprocess timeout, so the module-wide limit only covers that build.
pytestmark = pytest.mark.timeout(1800)

SERVICES = ("auth", "trade", "sync", "marketdata", "analytics", "notifications")
COMPONENTS = (*SERVICES, "gateway")
#: CronJobs run with their service's settings.
METRICS_PORT = 9464
JOB_SERVICE = {"analytics-recompute": "analytics", "sync-schedule": "sync"}


def of_kind(objects: Objects, kind: str) -> list[dict[str, Any]]:
    """Objects of one kind."""
    return [obj for obj in objects if obj["kind"] == kind]


def named(objects: Objects, kind: str, name: str) -> dict[str, Any]:
    """The object of a kind with a name."""
    matches = [obj for obj in of_kind(objects, kind) if obj["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind} {name}, found {len(matches)}"
    return matches[0]


def component(obj: dict[str, Any]) -> str:
    """The app.kubernetes.io/component label."""
    label: str = obj["metadata"]["labels"]["app.kubernetes.io/component"]
    return label


def pod_specs(objects: Objects) -> Iterator[tuple[str, dict[str, Any]]]:
    """(component, pod spec) of every Deployment and CronJob."""
    for deployment in of_kind(objects, "Deployment"):
        yield component(deployment), deployment["spec"]["template"]["spec"]
    for cron in of_kind(objects, "CronJob"):
        yield component(cron), cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def settings_class(service: str) -> type[BaseSettings]:
    """The settings class a service registered in trademesh.devstack.settings_doc; CoreSettings until it does."""
    for scope, settings_type in SETTINGS.items():
        if settings_type is CoreSettings:
            continue
        field = settings_type.model_fields.get("service_name")
        names = {scope.replace("-", "").replace("_", "").replace(" ", "").lower()}
        if field is not None and isinstance(field.default, str):
            names.add(field.default.replace("-", "").lower())
        if service in names:
            return settings_type
    return CoreSettings


def environment(objects: Objects, container: dict[str, Any]) -> dict[str, Any]:
    """Every variable a container gets: its env entries and the data of the ConfigMaps in its envFrom."""
    variables: dict[str, Any] = {}
    for source in container.get("envFrom", []):
        assert "configMapRef" in source, f"only ConfigMaps in envFrom (secrets go by name): {source}"
        variables.update(named(objects, "ConfigMap", source["configMapRef"]["name"])["data"])
    for entry in container.get("env", []):
        assert entry["name"] not in variables, f"{entry['name']} set twice"
        variables[entry["name"]] = entry.get("value", entry.get("valueFrom"))
    return variables


# -- lint and schema validation ---------------------------------------------------------------------------


@pytest.mark.parametrize("values", [None, render.PRODUCTION_VALUES], ids=["default", "production"])
def test_helm_lint_strict(k8s_tools: None, values: Path | None) -> None:
    extra = ["-f", str(values)] if values else []
    result = render.run([render.HELM, "lint", "--strict", render.CHART, *extra], check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("kubernetes_version", render.KUBERNETES_VERSIONS)
def test_rendered_objects_match_kubernetes_schemas(
    default_manifests: str,
    production_manifests: str,
    trial_manifests: str,
    kubernetes_version: str,
    schemas: Path,
    tmp_path: Path,
) -> None:
    count = 0
    sets = {"default": default_manifests, "production": production_manifests, "trial": trial_manifests}
    for name, manifests in sets.items():
        (tmp_path / f"{name}.yaml").write_text(manifests)
        count += len(render.load_objects(manifests))
    result = render.kubeconform(tmp_path, kubernetes_version, schemas)
    summary = json.loads(result.stdout)["summary"]
    assert result.returncode == 0, result.stdout + result.stderr
    assert summary == {"valid": count, "invalid": 0, "errors": 0, "skipped": 0}


def test_kubeconform_rejects_what_kubernetes_rejects(k8s_tools: None, schemas: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n"
        "spec: {replicas: two, selector: {matchLabels: {a: b}}, template: {metadata: {labels: {a: b}},"
        " spec: {containers: [{name: x, image: x, unknownField: 1}]}}}\n"
    )
    result = render.kubeconform(bad, render.KUBERNETES_VERSIONS[0], schemas)
    assert result.returncode != 0
    assert json.loads(result.stdout)["summary"]["invalid"] == 1


# -- workloads --------------------------------------------------------------------------------------------


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


# -- settings: chart against code ---------------------------------------------------------------------------


def test_chart_sets_every_setting_the_code_requires(rendered: tuple[str, Objects]) -> None:
    _, objects = rendered
    checked = set()
    for name, spec in pod_specs(objects):
        service = JOB_SERVICE.get(name, name)
        if service not in SERVICES:
            continue
        settings_type = settings_class(service)
        (container,) = spec["containers"]
        variables = environment(objects, container)
        fields = {ENV_PREFIX + field.upper(): info for field, info in settings_type.model_fields.items()}
        for variable, info in fields.items():
            assert variable in variables or not info.is_required(), (
                f"{name}: {variable} is required by {settings_type.__name__} but the chart does not set it"
            )
        if settings_type is not CoreSettings:
            # Registered services: every variable the chart sets is one the code reads (no typos, no drift).
            unknown = sorted(set(variables) - set(fields))
            assert not unknown, f"{name}: the chart sets {unknown}, which {settings_type.__name__} does not read"
        else:
            core = {ENV_PREFIX + field.upper() for field in CoreSettings.model_fields}
            assert core & set(variables) >= {"TRADEMESH_GRPC_PORT", "TRADEMESH_MONGO_URL", "TRADEMESH_REDIS_URL"}
        assert variables["TRADEMESH_GRPC_PORT"] == str(render.GRPC_PORT)
        checked.add(service)
    assert checked == set(SERVICES)


def test_auth_gets_its_signing_keys_as_files(rendered: tuple[str, Objects]) -> None:
    _, objects = rendered
    deployment = named(objects, "Deployment", "trademesh-auth")
    spec = deployment["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    files = environment(objects, container)["TRADEMESH_SIGNING_KEY_FILES"].split(",")
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == "jwt-keys"]
    assert files
    assert all(Path(path).parent == Path(mount["mountPath"]) for path in files)
    (volume,) = [v for v in spec["volumes"] if v["name"] == "jwt-keys"]
    assert volume["secret"]["secretName"] == "trademesh-jwt"


def test_settings_values_are_the_codes_defaults_or_valid(default_objects: Objects) -> None:
    for name in SERVICES:
        settings_type = settings_class(name)
        if settings_type is CoreSettings:
            continue
        deployment = named(default_objects, "Deployment", f"trademesh-{name}")
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        plain = {k: v for k, v in environment(default_objects, container).items() if isinstance(v, str)}
        fields = {ENV_PREFIX + field.upper(): field for field in settings_type.model_fields}
        overrides: dict[str, Any] = {fields[k]: v for k, v in plain.items() if k in fields}
        overrides.setdefault("signing_key_files", "/dev/null")
        overrides.setdefault("token_secret", "a-secret-from-a-kubernetes-secret-0123")  # valueFrom, not plain
        settings_type(**overrides)  # raises if the chart's value does not validate


# -- gateway ----------------------------------------------------------------------------------------------


def _shipped_bootstrap(objects: Objects) -> dict[str, Any]:
    configmap = named(objects, "ConfigMap", "trademesh-gateway-envoy")
    bootstrap: dict[str, Any] = yaml.safe_load(configmap["data"]["envoy.yaml"])
    return bootstrap


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


# -- network policies ----------------------------------------------------------------------------------------


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


# -- k8s/ and bad values --------------------------------------------------------------------------------------


def test_k8s_manifests_match_a_fresh_render(k8s_tools: None) -> None:
    assert render.K8S_MANIFEST.read_text() == render.k8s_manifest_text(), "k8s/ drifted: run scripts/render-k8s.sh"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--set", "trade.autoscaling.maxReplicas=1"], "trade.autoscaling: maxReplicas (1) must be >= minReplicas (2)"),
        (["--set", "secrets.jwt.existingSecret="], "secrets.jwt: the auth service needs its signing keys"),
        (["--set", "secrets.brokerCredentials.existingSecret="], "secrets.brokerCredentials"),
        (["--set", "secrets.tradeTokens.existingSecret="], "secrets.tradeTokens"),
        (["--set", "secrets.syncServiceToken.existingSecret="], "secrets.syncServiceToken"),
        (["--set", "mongodb.existingSecret="], "mongodb: set mongodb.existingSecret"),
        (["--set", "redis.existingSecret="], "redis: set redis.existingSecret"),
        (["--set", "auth.autoscaling.minReplicas=0"], "minimum: got 0, want 1"),
        (["--set", "config.logLevel=LOUD"], "logLevel"),
        (["--set", "gateway.service.type=Magic"], "type"),
        (["--set", "secrets.tradeTokens.secret=short"], "tradeTokens"),
    ],
    ids=[
        "max-below-min",
        "no-jwt-keys",
        "no-broker-key",
        "no-trade-token-key",
        "no-sync-service-token",
        "no-mongodb",
        "no-redis",
        "zero-min-replicas",
        "bad-log-level",
        "bad-service-type",
        "short-token-secret",
    ],
)
def test_bad_values_are_rejected(k8s_tools: None, arguments: list[str], message: str) -> None:
    with pytest.raises(subprocess.CalledProcessError) as failure:
        render.helm_template(*arguments)
    assert message in failure.value.stderr


def test_inline_secrets_and_trial_databases(trial_manifests: str) -> None:
    objects = render.load_objects(trial_manifests)
    secrets = {obj["metadata"]["name"] for obj in of_kind(objects, "Secret")}
    assert secrets == {
        "trademesh-jwt",
        "trademesh-broker-credentials",
        "trademesh-trade-tokens",
        "trademesh-sync-service-token",
    }
    assert "BEGIN PRIVATE KEY" in named(objects, "Secret", "trademesh-jwt")["stringData"]["signing-key.pem"]
    for store in ("mongodb", "redis"):
        statefulset = named(objects, "StatefulSet", f"trademesh-{store}")
        assert statefulset["spec"]["replicas"] == 1
        assert statefulset["metadata"]["labels"]["trademesh.dev/trial-only"] == "true"
        named(objects, "NetworkPolicy", f"trademesh-{store}")
    auth = named(objects, "Deployment", "trademesh-auth")
    variables = environment(objects, auth["spec"]["template"]["spec"]["containers"][0])
    assert variables["TRADEMESH_MONGO_URL"] == "mongodb://trademesh-mongodb:27017/"
    assert variables["TRADEMESH_REDIS_URL"] == "redis://trademesh-redis:6379/0"
    named(objects, "CronJob", "trademesh-sync-schedule")
    # sync reads its service token from the mounted Secret; with the CronJob scheduling, replicas only work.
    sync = named(objects, "Deployment", "trademesh-sync")["spec"]["template"]["spec"]
    (container,) = sync["containers"]
    sync_variables = environment(objects, container)
    assert sync_variables["TRADEMESH_SERVICE_TOKEN_FILE"] == "/var/run/secrets/trademesh/service-token/token"
    assert sync_variables["TRADEMESH_SCHEDULER_ENABLED"] == "false"
    (volume,) = [v for v in sync["volumes"] if v["name"] == "service-token"]
    assert volume["secret"]["secretName"] == "trademesh-sync-service-token"
    assert named(objects, "Secret", "trademesh-sync-service-token")["stringData"]["token"] == "service-token-for-tests"


# -- image and entry points -----------------------------------------------------------------------------------


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


def test_every_value_is_documented() -> None:
    """A comment above every key of values.yaml, except inside Kubernetes-native blocks (resources, lists)."""
    lines = (render.CHART / "values.yaml").read_text().splitlines()
    native_indent: int | None = None
    undocumented = []
    for number, line in enumerate(lines, start=1):
        key = re.match(r"^(\s*)(- )?([A-Za-z_][\w.-]*):", line)
        if key is None:
            continue
        indent = len(key.group(1))
        if native_indent is not None and indent > native_indent:
            continue
        if key.group(2):
            # A list item: its keys and everything under it are Kubernetes objects (e.g. egress rules).
            native_indent = indent - 1
            continue
        native_indent = indent if key.group(3) == "resources" else None
        if not lines[number - 2].strip().startswith("#"):
            undocumented.append(f"{number}: {line.strip()}")
    assert not undocumented, "values.yaml keys without a comment above:\n" + "\n".join(undocumented)


def test_shared_settings_are_core_settings(default_objects: Objects) -> None:
    shared = named(default_objects, "ConfigMap", "trademesh-config")["data"]
    core = {ENV_PREFIX + field.upper() for field in CoreSettings.model_fields}
    assert set(shared) <= core, sorted(set(shared) - core)


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


@pytest.mark.parametrize(
    ("deployment", "variable", "secret"),
    [
        ("trademesh-trade", "TRADEMESH_TOKEN_SECRET", "trademesh-trade-tokens"),
        ("trademesh-sync", "TRADEMESH_BROKER_CREDENTIALS_KEY", "trademesh-broker-credentials"),
        ("trademesh-auth", "TRADEMESH_MONGO_URL", "trademesh-mongodb-url"),
        ("trademesh-analytics", "TRADEMESH_REDIS_URL", "trademesh-redis-url"),
    ],
)
def test_secret_settings_come_from_secrets(
    default_objects: Objects, deployment: str, variable: str, secret: str
) -> None:
    (container,) = named(default_objects, "Deployment", deployment)["spec"]["template"]["spec"]["containers"]
    value = environment(default_objects, container)[variable]
    assert isinstance(value, dict), f"{variable} must not be a plain value"
    assert value["secretKeyRef"]["name"] == secret


def test_gateway_pre_stop_is_python(default_objects: Objects) -> None:
    (container,) = named(default_objects, "Deployment", "trademesh-gateway")["spec"]["template"]["spec"]["containers"]
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    assert command[:2] == ["python", "-c"]
    compile(command[2], "pre-stop", "exec")
    assert "drain_listeners" in command[2]


def test_optional_parts_can_be_turned_off(k8s_tools: None, schemas: Path, tmp_path: Path) -> None:
    manifests = render.helm_template(
        "--set",
        ",".join(
            [
                "sync.create=false",
                "analytics.create=false",
                "notifications.create=false",
                "cronJobs.tradeExpiry.enabled=false",
                "networkPolicy.enabled=false",
                "tests.enabled=false",
                "trade.autoscaling.enabled=false",
                "trade.replicas=3",
                "gateway.autoscaling.enabled=false",
                "auth.pdb.minAvailable=null",
                "auth.pdb.maxUnavailable=1",
                "secrets.brokerCredentials.existingSecret=",
                "secrets.syncServiceToken.existingSecret=",
            ]
        ),
    )
    objects = render.load_objects(manifests)
    assert {component(obj) for obj in of_kind(objects, "Deployment")} == {"auth", "trade", "marketdata", "gateway"}
    assert not of_kind(objects, "NetworkPolicy")
    assert not of_kind(objects, "CronJob")
    assert named(objects, "Deployment", "trademesh-trade")["spec"]["replicas"] == 3
    assert {hpa["metadata"]["name"] for hpa in of_kind(objects, "HorizontalPodAutoscaler")} == {
        "trademesh-auth",
        "trademesh-marketdata",
    }
    assert named(objects, "PodDisruptionBudget", "trademesh-auth")["spec"] == {
        "maxUnavailable": 1,
        "selector": named(objects, "Deployment", "trademesh-auth")["spec"]["selector"],
    }
    path = tmp_path / "minimal.yaml"
    path.write_text(manifests)
    result = render.kubeconform(path, render.KUBERNETES_VERSIONS[-1], schemas)
    assert result.returncode == 0, result.stdout + result.stderr
