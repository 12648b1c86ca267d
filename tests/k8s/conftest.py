"""Session fixtures: the pinned tools, the local Kubernetes schemas and the chart rendered once per values set."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.k8s import cluster, render
from trademesh.devstack.kube import KubeControlPlane

Objects = list[dict[str, Any]]


@pytest.fixture(scope="session")
def k8s_tools() -> None:
    """Build helm and kubeconform into .tools/bin on a clean clone (scripts/install-k8s-tools.sh)."""
    render.ensure_tools()


@pytest.fixture(scope="session")
def schemas() -> Path:
    """kubernetes-validate's strict schemas in kubeconform's layout."""
    return render.prepare_schemas()


@pytest.fixture(scope="session")
def default_manifests(k8s_tools: None) -> str:
    """The chart rendered with its default values."""
    return render.helm_template()


@pytest.fixture(scope="session")
def production_manifests(k8s_tools: None) -> str:
    """The chart rendered with the documented production-like values file."""
    return render.helm_template("-f", render.PRODUCTION_VALUES)


@pytest.fixture(scope="session")
def default_objects(default_manifests: str) -> Objects:
    """Objects of the default render."""
    return render.load_objects(default_manifests)


@pytest.fixture(scope="session")
def production_objects(production_manifests: str) -> Objects:
    """Objects of the production-like render."""
    return render.load_objects(production_manifests)


@pytest.fixture(scope="session")
def trial_manifests(k8s_tools: None, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The chart with every secret inline, the in-chart trial databases and the sync CronJob."""
    from trademesh.services.auth.keys import write_new_key

    key = tmp_path_factory.mktemp("jwt") / "key.pem"
    write_new_key(key)
    return render.helm_template(
        "--set-file",
        f"secrets.jwt.keys.signing-key\\.pem={key}",
        "--set",
        "secrets.brokerCredentials.key=broker-key-for-tests-0123456789abcdef",
        "--set",
        "secrets.tradeTokens.secret=0123456789abcdef0123456789abcdef",
        "--set",
        "secrets.syncServiceToken.token=service-token-for-tests",
        "--set",
        "mongodb.inCluster.enabled=true,redis.inCluster.enabled=true",
        "--set",
        "cronJobs.syncSchedule.enabled=true",
    )


@pytest.fixture(scope="session", params=["default", "production"])
def rendered(request: pytest.FixtureRequest, k8s_tools: None) -> tuple[str, Objects]:
    """(name, objects) of each values set, for checks that hold for both."""
    name: str = request.param
    manifests = request.getfixturevalue(f"{name}_manifests")
    return name, render.load_objects(manifests)


@pytest.fixture(scope="session")
def kube(k8s_tools: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeControlPlane]:
    """A real control plane (etcd, kube-apiserver, controller-manager, scheduler) with three kwok fake nodes in
    three zones; built into .tools by scripts/install-kube.sh (docs/decisions/0041)."""
    cluster.ensure_control_plane_tools()
    with KubeControlPlane(
        tmp_path_factory.mktemp("kube"), zones=cluster.ZONES, extra_stages=cluster.STAGES
    ) as control_plane:
        yield control_plane
