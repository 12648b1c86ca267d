"""The Helm chart, proven without a cluster: lint, schema validation, bad values, documented values, fresh renders."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.k8s import render
from tests.k8s.objects import component, environment, named, of_kind

# On a clean clone the first test here builds helm and kubeconform (scripts/install-k8s-tools.sh, minutes);
# every tool call below has its own subprocess timeout, so the module-wide limit only covers that build.
pytestmark = pytest.mark.timeout(1800)


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
