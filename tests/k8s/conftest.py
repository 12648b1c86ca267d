"""Session fixtures: the pinned tools, the local Kubernetes schemas and the chart rendered once per values set."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.k8s import render

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
