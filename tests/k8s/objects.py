"""Reading the chart's rendered objects: by kind and name, pod specs, containers' environments, settings classes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml  # type: ignore[import-untyped]
from pydantic_settings import BaseSettings

from tests.k8s.conftest import Objects
from trademesh.devstack.settings_doc import SETTINGS
from trademesh.services.core.settings import CoreSettings

SERVICES = ("auth", "trade", "sync", "marketdata", "analytics", "notifications")
COMPONENTS = (*SERVICES, "gateway")
#: CronJobs run with their service's settings.
METRICS_PORT = 9464
JOB_SERVICE = {"analytics-recompute": "analytics", "sync-schedule": "sync", "notifications-digest": "notifications"}


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


def _shipped_bootstrap(objects: Objects) -> dict[str, Any]:
    configmap = named(objects, "ConfigMap", "trademesh-gateway-envoy")
    bootstrap: dict[str, Any] = yaml.safe_load(configmap["data"]["envoy.yaml"])
    return bootstrap
