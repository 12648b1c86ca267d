"""Helpers for the tests that talk to a real API server (test_apiserver.py, test_install.py).

The control plane (etcd, kube-apiserver, controller-manager, scheduler, kwok with three fake nodes in
three zones) is :class:`trademesh.devstack.kube.KubeControlPlane`, started once per session by the
``kube`` fixture (conftest.py); its binaries are built by ``scripts/install-kube.sh``.
"""

from __future__ import annotations

import copy
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

from tests.k8s import render
from trademesh.devstack.kube import KubeControlPlane

#: kwok Stages of our own (a `helm test` pod completes).
STAGES = sorted((Path(__file__).parent / "kwok").glob("*.yaml"))
#: Fake nodes' zones.
ZONES = ("zone-a", "zone-b", "zone-c")
NAMESPACE_FILE = render.K8S_DIR / "namespace.yaml"
INSTALL_SCRIPT = render.REPO / "scripts" / "install-kube.sh"


def ensure_control_plane_tools() -> None:
    """Build the control plane into .tools (a no-op when it is there; ~20 min on 2 cores the first time)."""
    subprocess.run(["bash", str(INSTALL_SCRIPT)], check=True, timeout=3600)


def namespace_manifest(name: str) -> str:
    """k8s/namespace.yaml (the restricted Pod Security Standard enforced) under another name."""
    namespace = yaml.safe_load(NAMESPACE_FILE.read_text())
    namespace["metadata"]["name"] = name
    return json.dumps(namespace)


def create_namespace(kube: KubeControlPlane, name: str) -> None:
    """Create (or keep) a namespace labelled as k8s/namespace.yaml labels trademesh's."""
    kube.kubectl("apply", "-f", "-", stdin=namespace_manifest(name))


def dry_run(kube: KubeControlPlane, manifests: str, namespace: str) -> subprocess.CompletedProcess[str]:
    """`kubectl apply --dry-run=server` (strict field validation): the API server validates and admits every
    object (defaulting, validation, Pod Security admission on workloads as warnings) and stores nothing."""
    return kube.kubectl_run(
        "apply", "--dry-run=server", "--validate=strict", "-n", namespace, "-f", "-", stdin=manifests
    )


def helm(kube: KubeControlPlane, *args: str | Path, timeout: float = 300.0) -> subprocess.CompletedProcess[str]:
    """Run the pinned helm against the control plane (its own config and cache under the data dir)."""
    home = kube.data_dir / "helm"
    environment = {
        **kube.environment(),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_DATA_HOME": str(home / "data"),
    }
    return subprocess.run(
        [str(render.HELM), *(str(arg) for arg in args)],
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
        env=environment,
    )


def referenced_secrets(objects: list[dict[str, Any]]) -> dict[str, set[str]]:
    """Secret name -> keys, for every Secret the pods of `objects` mount or read (volumes, env, envFrom)."""
    wanted: dict[str, set[str]] = {}

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            if "secretKeyRef" in node:
                ref = node["secretKeyRef"]
                wanted.setdefault(ref["name"], set()).add(ref["key"])
            if isinstance(node.get("secret"), dict) and "secretName" in node["secret"]:
                keys = {item["key"] for item in node["secret"].get("items", [])}
                wanted.setdefault(node["secret"]["secretName"], set()).update(keys)
            if isinstance(node.get("secretRef"), dict):
                wanted.setdefault(node["secretRef"]["name"], set())
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    made_by_chart = {obj["metadata"]["name"] for obj in objects if obj["kind"] == "Secret"}
    for obj in objects:
        if obj["kind"] in {"Deployment", "StatefulSet", "CronJob", "Pod", "Job"}:
            visit(obj["spec"])
    return {name: keys for name, keys in wanted.items() if name not in made_by_chart}


def create_secrets(kube: KubeControlPlane, namespace: str, secrets: dict[str, set[str]]) -> None:
    """Create each Secret with placeholder data (no container runs on kwok's nodes), as an operator would
    with `kubectl create secret generic` (docs/kubernetes.md)."""
    for name, keys in sorted(secrets.items()):
        literals = [f"--from-literal={key}=placeholder-for-tests" for key in sorted(keys or {"value"})]
        manifest = kube.kubectl(
            "create", "secret", "generic", name, "-n", namespace, *literals, "--dry-run=client", "-o", "json"
        )
        kube.kubectl("apply", "-f", "-", stdin=manifest)


def pods_of(kube: KubeControlPlane, namespace: str, deployment: dict[str, Any]) -> list[dict[str, Any]]:
    """The pods a Deployment's selector matches (terminating ones included)."""
    selector = ",".join(f"{key}={value}" for key, value in deployment["spec"]["selector"]["matchLabels"].items())
    items: list[dict[str, Any]] = kube.get_json("pods", "-n", namespace, "-l", selector)["items"]
    return items


def node_zones(kube: KubeControlPlane) -> dict[str, str]:
    """Node name -> topology.kubernetes.io/zone."""
    return {
        node["metadata"]["name"]: node["metadata"]["labels"]["topology.kubernetes.io/zone"]
        for node in kube.get_json("nodes")["items"]
    }


def evict(kube: KubeControlPlane, namespace: str, pod: str) -> subprocess.CompletedProcess[str]:
    """POST an Eviction for a pod (what `kubectl drain` does for each pod); the API server checks the PDBs."""
    eviction = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": pod, "namespace": namespace}}
    return kube.kubectl_run(
        "create", "--raw", f"/api/v1/namespaces/{namespace}/pods/{pod}/eviction", "-f", "-", stdin=json.dumps(eviction)
    )


def with_empty_in_selector(objects: list[dict[str, Any]], policy_name: str) -> dict[str, Any]:
    """A copy of NetworkPolicy `policy_name` with one more egress rule: the chart's own callee rule (taken from
    a policy that has one) whose `In` expression lists no values, as the chart rendered for auth before issue 21."""
    policies = [obj for obj in objects if obj["kind"] == "NetworkPolicy"]
    callee_rules = [
        rule
        for policy in policies
        for rule in policy["spec"].get("egress", [])
        if any(peer.get("podSelector", {}).get("matchExpressions") for peer in rule.get("to", []))
    ]
    assert callee_rules, "no egress rule with a matchExpressions selector to copy"
    rule = copy.deepcopy(callee_rules[0])
    for peer in rule["to"]:
        for expression in peer.get("podSelector", {}).get("matchExpressions", []):
            expression["values"] = []
    (policy,) = (copy.deepcopy(p) for p in policies if p["metadata"]["name"] == policy_name)
    policy["spec"]["egress"].append(rule)
    return policy


def values_files() -> Iterator[Path]:
    """Every values file the chart ships besides values.yaml (values-production.yaml, …)."""
    yield from sorted(render.CHART.glob("values-*.yaml"))
