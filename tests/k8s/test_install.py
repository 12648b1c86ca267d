"""`helm upgrade --install` of the chart onto a real control plane with kwok fake nodes in three zones.

The release is installed once (module fixture) the way docs/kubernetes.md says: the namespace from
`k8s/namespace.yaml` (restricted Pod Security Standard enforced, so a pod that breaks it is never
created), the Secrets the pods read created with `kubectl`, then `helm upgrade --install --wait`. The
real controller-manager and scheduler turn Deployments into pods and place them; kwok plays the kubelets
(pods become Running and Ready; no container runs). Every wait is on observable state (`kubectl wait`,
`helm --wait`, `kubectl drain --timeout`, or polling the API with a deadline), never a fixed sleep.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import pytest

from tests.eventually import eventually_sync
from tests.k8s import cluster, render
from tests.k8s.conftest import Objects
from trademesh.devstack.kube import KubeControlPlane

pytestmark = pytest.mark.timeout(3600)  # see test_apiserver.py: only a build in the first test takes long

NAMESPACE = render.NAMESPACE
RELEASE = render.RELEASE
WAIT = "180s"


def running_and_ready(pod: dict[str, Any]) -> bool:
    """Running, Ready and not being deleted."""
    conditions = {c["type"]: c["status"] for c in pod.get("status", {}).get("conditions", [])}
    return (
        pod.get("status", {}).get("phase") == "Running"
        and conditions.get("Ready") == "True"
        and "deletionTimestamp" not in pod["metadata"]
    )


@pytest.fixture(scope="module")
def release(kube: KubeControlPlane) -> Objects:
    """The chart installed with its default values; the objects helm applied."""
    kube.kubectl("apply", "-f", str(cluster.NAMESPACE_FILE))
    rendered = render.load_objects(render.helm_template(namespace=NAMESPACE))
    cluster.create_secrets(kube, NAMESPACE, cluster.referenced_secrets(rendered))
    result = cluster.helm(
        kube, "upgrade", "--install", RELEASE, render.CHART, "-n", NAMESPACE, "--wait", "--timeout", "5m"
    )
    assert result.returncode == 0, result.stdout + result.stderr + kube.log_tails()
    manifest = cluster.helm(kube, "get", "manifest", RELEASE, "-n", NAMESPACE)
    assert manifest.returncode == 0, manifest.stderr
    return render.load_objects(manifest.stdout)


@pytest.fixture
def deployments(kube: KubeControlPlane, release: Objects) -> list[dict[str, Any]]:
    """The release's Deployments as the API server has them, once all are Available."""
    kube.kubectl("wait", "-n", NAMESPACE, "--for=condition=Available", "deployment", "--all", f"--timeout={WAIT}")
    names = {obj["metadata"]["name"] for obj in release if obj["kind"] == "Deployment"}
    assert names, "the release has no Deployment"
    items: list[dict[str, Any]] = kube.get_json("deployments", "-n", NAMESPACE)["items"]
    return [item for item in items if item["metadata"]["name"] in names]


def settled(kube: KubeControlPlane, deployment: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The Deployment's pods when exactly `replicas` exist and all are Running and Ready, else None."""
    pods = cluster.pods_of(kube, NAMESPACE, deployment)
    if len(pods) == deployment["spec"]["replicas"] and all(running_and_ready(pod) for pod in pods):
        return pods
    return None


def wait_settled(kube: KubeControlPlane, deployment: dict[str, Any]) -> list[dict[str, Any]]:
    """Poll (with a deadline) until the Deployment has exactly its replicas, all Running and Ready."""
    name = deployment["metadata"]["name"]
    pods: list[dict[str, Any]] = eventually_sync(
        functools.partial(settled, kube, deployment),
        within=120,
        interval=0.5,
        what=f"{name}: every pod Running and Ready",
    )
    return pods


@pytest.fixture
def uncordon_afterwards(kube: KubeControlPlane) -> Iterator[None]:
    """Leave every node schedulable whatever the test did."""
    yield
    for node in kube.node_names:
        kube.kubectl("uncordon", node)


def test_every_deployment_runs_spread_over_zones(kube: KubeControlPlane, deployments: list[dict[str, Any]]) -> None:
    zones = cluster.node_zones(kube)
    assert len(set(zones.values())) == len(cluster.ZONES)
    for deployment in deployments:
        name = deployment["metadata"]["name"]
        pods = wait_settled(kube, deployment)
        used = [zones[pod["spec"]["nodeName"]] for pod in pods]
        replicas = deployment["spec"]["replicas"]
        assert len(set(used)) == min(replicas, len(cluster.ZONES)), f"{name}: pods in zones {used}"


def test_every_deployment_has_a_live_hpa(kube: KubeControlPlane, deployments: list[dict[str, Any]]) -> None:
    hpas = kube.get_json("horizontalpodautoscalers.v2.autoscaling", "-n", NAMESPACE)["items"]
    targets = {(hpa["spec"]["scaleTargetRef"]["kind"], hpa["spec"]["scaleTargetRef"]["name"]) for hpa in hpas}
    for deployment in deployments:
        assert ("Deployment", deployment["metadata"]["name"]) in targets


def test_helm_test_pod_is_admitted_and_run(kube: KubeControlPlane, release: Objects) -> None:
    """The API server admits the `helm test` pod (restricted Pod Security included), the scheduler places it,
    and helm sees it succeed (a kwok Stage of ours, tests/k8s/kwok/, completes it: no container runs)."""
    hooks = [obj for obj in release if obj["kind"] == "Pod"]
    assert not hooks, "helm get manifest lists no hooks"
    result = cluster.helm(kube, "test", RELEASE, "-n", NAMESPACE, "--timeout", "3m")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Phase:          Succeeded" in result.stdout, result.stdout


def test_pdb_lets_one_pod_go_at_a_time(
    kube: KubeControlPlane, deployments: list[dict[str, Any]], uncordon_afterwards: None
) -> None:
    """With every node cordoned (no replacement can start), each PDB admits exactly the evictions its
    disruptionsAllowed grants and the API server refuses the next (429): a drain waits, one pod at a time."""
    for node in kube.node_names:
        kube.kubectl("cordon", node)
    pdbs = {pdb["metadata"]["name"]: pdb for pdb in kube.get_json("pdb", "-n", NAMESPACE)["items"]}
    for deployment in deployments:
        name = deployment["metadata"]["name"]
        assert name in pdbs, f"{name} has no PodDisruptionBudget"

        def current(name: str = name, deployment: dict[str, Any] = deployment) -> dict[str, Any] | None:
            pdb: dict[str, Any] = kube.get_json("pdb", name, "-n", NAMESPACE)
            status = pdb.get("status", {})
            replicas = deployment["spec"]["replicas"]
            healthy = status.get("currentHealthy") == replicas == status.get("expectedPods")
            return pdb if healthy and status.get("observedGeneration") == pdb["metadata"]["generation"] else None

        allowed = eventually_sync(current, within=60, interval=0.5, what=f"PDB {name} sees every pod")["status"][
            "disruptionsAllowed"
        ]
        assert allowed >= 1, f"{name}: its PDB allows no voluntary disruption, a node drain would hang"
        pods = sorted(pod["metadata"]["name"] for pod in cluster.pods_of(kube, NAMESPACE, deployment))
        for pod in pods[:allowed]:
            accepted = cluster.evict(kube, NAMESPACE, pod)
            assert accepted.returncode == 0, f"{name}: eviction of {pod} refused: {accepted.stderr}"
        refused = cluster.evict(kube, NAMESPACE, pods[allowed])
        assert refused.returncode != 0, f"{name}: evicted more pods than its PDB allows"
        assert "disruption budget" in refused.stderr, refused.stderr
    for node in kube.node_names:
        kube.kubectl("uncordon", node)
    kube.kubectl("wait", "-n", NAMESPACE, "--for=condition=Available", "deployment", "--all", f"--timeout={WAIT}")
    for deployment in deployments:
        wait_settled(kube, deployment)


def test_a_node_drains(kube: KubeControlPlane, deployments: list[dict[str, Any]], uncordon_afterwards: None) -> None:
    """`kubectl drain` of the busiest node finishes (the PDBs let it through) and every Deployment comes back
    at full strength on the other zones."""
    for deployment in deployments:
        wait_settled(kube, deployment)
    counts: dict[str, int] = {}
    for deployment in deployments:
        for pod in cluster.pods_of(kube, NAMESPACE, deployment):
            counts[pod["spec"]["nodeName"]] = counts.get(pod["spec"]["nodeName"], 0) + 1
    node = max(counts, key=lambda name: counts[name])
    drained = kube.kubectl_run(
        "drain", node, "--ignore-daemonsets", "--delete-emptydir-data", f"--timeout={WAIT}", timeout=240
    )
    assert drained.returncode == 0, drained.stdout + drained.stderr
    zones = cluster.node_zones(kube)
    for deployment in deployments:
        name = deployment["metadata"]["name"]
        pods = wait_settled(kube, deployment)
        assert node not in {pod["spec"]["nodeName"] for pod in pods}
        used = {zones[pod["spec"]["nodeName"]] for pod in pods}
        assert len(used) == min(deployment["spec"]["replicas"], len(cluster.ZONES) - 1), f"{name}: {used}"
