"""The Helm chart's settings: every setting the code requires, valid defaults, secrets from Secrets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.k8s import render
from tests.k8s.conftest import Objects
from tests.k8s.objects import JOB_SERVICE, SERVICES, environment, named, pod_specs, settings_class
from trademesh.services.core.settings import ENV_PREFIX, CoreSettings

# On a clean clone the first test here builds helm and kubeconform (scripts/install-k8s-tools.sh, minutes);
# every tool call below has its own subprocess timeout, so the module-wide limit only covers that build.
pytestmark = pytest.mark.timeout(1800)


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


def test_shared_settings_are_core_settings(default_objects: Objects) -> None:
    shared = named(default_objects, "ConfigMap", "trademesh-config")["data"]
    core = {ENV_PREFIX + field.upper() for field in CoreSettings.model_fields}
    assert set(shared) <= core, sorted(set(shared) - core)


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
