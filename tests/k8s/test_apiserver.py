"""The chart and `k8s/` applied to a real kube-apiserver with a server-side dry run.

The offline checks (test_chart_render.py: helm lint, kubeconform -strict) validate against JSON schemas, which
state some of the API server's rules only in descriptions; issue 21's NetworkPolicy (`In` with no values)
passed them all and was rejected at install. Here the API server itself (v1.37, built by
scripts/install-kube.sh) validates every object: defaulting, validation, strict field validation and
admission (Pod Security warnings on workloads are failures too). Nothing is stored.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped]

from tests.k8s import cluster, render
from tests.k8s.conftest import Objects
from trademesh.devstack.kube import KubeControlPlane

# The first test of a session on a machine without the control plane builds it (~20 min on 2 cores);
# `make setup` does that beforehand, so this limit only matters when the tests run alone on a fresh clone.
pytestmark = pytest.mark.timeout(3600)


def slug(name: str) -> str:
    """A namespace-safe name."""
    return re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")


def assert_accepted(kube: KubeControlPlane, manifests: str, namespace: str) -> None:
    """The API server accepts every object in a dry run, with no warning (deprecated API, Pod Security, …)."""
    result = cluster.dry_run(kube, manifests, namespace)
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("Warning:")]
    assert not warnings, "\n".join(warnings)
    applied = [line for line in result.stdout.splitlines() if line.endswith("(server dry run)")]
    assert len(applied) == len(render.load_objects(manifests)), result.stdout


def values_sets() -> list[tuple[str, list[str]]]:
    """(name, helm arguments): the defaults and every shipped values file."""
    return [("default", [])] + [(path.stem, ["-f", str(path)]) for path in cluster.values_files()]


@pytest.mark.parametrize(("name", "arguments"), values_sets(), ids=[name for name, _ in values_sets()])
def test_api_server_accepts_the_chart(kube: KubeControlPlane, name: str, arguments: list[str]) -> None:
    namespace = slug(f"dry-run-{name}")
    cluster.create_namespace(kube, namespace)
    assert_accepted(kube, render.helm_template(*arguments, namespace=namespace), namespace)


def test_api_server_accepts_the_trial_values(kube: KubeControlPlane, trial_manifests: str) -> None:
    """Every secret inline, the in-chart trial databases and the sync CronJob (conftest's trial set)."""
    cluster.create_namespace(kube, "dry-run-trial")
    assert_accepted(kube, trial_manifests, "dry-run-trial")


def test_api_server_accepts_k8s_manifests(kube: KubeControlPlane) -> None:
    """`kubectl apply -f k8s/namespace.yaml`, then `kubectl apply -n trademesh -f k8s/trademesh.yaml` (dry run)."""
    kube.kubectl("apply", "-f", str(cluster.NAMESPACE_FILE))
    namespace = yaml.safe_load(cluster.NAMESPACE_FILE.read_text())["metadata"]["name"]
    assert namespace == render.NAMESPACE
    assert_accepted(kube, render.K8S_MANIFEST.read_text(), namespace)


def test_api_server_catches_what_the_offline_checks_miss(
    kube: KubeControlPlane, default_objects: Objects, schemas: Path, tmp_path: Path
) -> None:
    """Issue 21: an egress rule whose `In` selector lists no service. kubeconform -strict accepts it (the
    schema says `values` must be non-empty for `In` only in a description); the API server refuses it."""
    policy = cluster.with_empty_in_selector(default_objects, "trademesh-auth")
    manifest = tmp_path / "policy.yaml"
    manifest.write_text(json.dumps(policy))
    offline = render.kubeconform(manifest, render.KUBERNETES_VERSIONS[-1], schemas)
    assert offline.returncode == 0, offline.stdout + offline.stderr
    cluster.create_namespace(kube, "dry-run-issue-21")
    result = cluster.dry_run(kube, json.dumps(policy), "dry-run-issue-21")
    assert result.returncode != 0, result.stdout
    assert 'NetworkPolicy "trademesh-auth" is invalid' in result.stderr, result.stderr
    assert "matchExpressions[0].values: Required value" in result.stderr, result.stderr
