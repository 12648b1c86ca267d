"""The chart's edge: the gateway's TLS and client-address values, and the rate-limit service.

Each rendered gateway configuration is handed to the real Envoy (``--mode validate``); for TLS the
certificate paths of the mounted Secret are pointed at an openssl-made pair first.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from tests.k8s import render
from tests.k8s.conftest import Objects
from trademesh.gateway.envoy_config import ratelimit_config
from trademesh.gateway.mesh import kubernetes_mesh
from trademesh.gateway.runner import validate


def _named(objects: Objects, kind: str, name: str) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def _bootstrap(objects: Objects) -> dict[str, Any]:
    configmap = _named(objects, "ConfigMap", "trademesh-gateway-envoy")
    bootstrap: dict[str, Any] = yaml.safe_load(configmap["data"]["envoy.yaml"])
    return bootstrap


def _manager(bootstrap: dict[str, Any]) -> dict[str, Any]:
    manager: dict[str, Any] = bootstrap["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0][
        "typed_config"
    ]
    return manager


def _render(*args: str) -> Objects:
    return render.load_objects(render.helm_template(*args))


def _validate(bootstrap: dict[str, Any], tmp_path: Path, edge_tls: str | None = None) -> None:
    text = yaml.safe_dump(bootstrap)
    if edge_tls is not None:
        # The Secret's files and the SDS resource, where the pod mounts them, moved into tmp_path.
        subprocess.run(
            [
                "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", str(tmp_path / "tls.key"), "-out", str(tmp_path / "tls.crt"), "-days", "1",
                "-subj", "/CN=api.trademesh.example.com",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )  # fmt: skip
        (tmp_path / "edge-tls.yaml").write_text(
            edge_tls.replace("/etc/envoy-tls/", f"{tmp_path}/").replace("/etc/envoy-tls", str(tmp_path))
        )
        text = text.replace("/etc/envoy/edge-tls.yaml", str(tmp_path / "edge-tls.yaml"))
    config = tmp_path / "envoy.yaml"
    config.write_text(text)
    validate(config)


def test_default_values_keep_plaintext_and_the_peer_as_the_client(default_objects: Objects, tmp_path: Path) -> None:
    bootstrap = _bootstrap(default_objects)
    assert "transport_socket" not in bootstrap["static_resources"]["listeners"][0]["filter_chains"][0]
    manager = _manager(bootstrap)
    assert manager["use_remote_address"] is True
    assert "xff_num_trusted_hops" not in manager
    _validate(bootstrap, tmp_path)


def test_tls_from_the_secret_and_a_hop_count(k8s_tools: None, tmp_path: Path) -> None:
    objects = _render(
        "--set", "gateway.tls.enabled=true", "--set", "gateway.tls.serverName=api.example.com",
        "--set", "gateway.xffNumTrustedHops=1",
    )  # fmt: skip
    bootstrap = _bootstrap(objects)
    chain = bootstrap["static_resources"]["listeners"][0]["filter_chains"][0]
    context = chain["transport_socket"]["typed_config"]["common_tls_context"]
    (sds,) = context["tls_certificate_sds_secret_configs"]
    assert sds["sds_config"]["path_config_source"]["path"] == "/etc/envoy/edge-tls.yaml"
    assert context["alpn_protocols"] == ["h2", "http/1.1"]
    # The SDS resource beside envoy.yaml: the Secret's files, and the directory Envoy watches for renewals.
    edge_tls = _named(objects, "ConfigMap", "trademesh-gateway-envoy")["data"]["edge-tls.yaml"]
    assert edge_tls == render.EDGE_TLS_FILE.read_text() == render.edge_tls_text()
    (secret,) = yaml.safe_load(edge_tls)["resources"]
    certificate = secret["tls_certificate"]
    assert certificate["certificate_chain"]["filename"] == "/etc/envoy-tls/tls.crt"
    assert certificate["watched_directory"]["path"] == "/etc/envoy-tls"
    assert _manager(bootstrap)["xff_num_trusted_hops"] == 1
    # The Secret is mounted where the files are read.
    gateway = _named(objects, "Deployment", "trademesh-gateway")
    spec = gateway["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    mount = next(m for m in container["volumeMounts"] if m["name"] == "tls")
    volume = next(v for v in spec["volumes"] if v["name"] == "tls")
    assert (mount["mountPath"], volume["secret"]["secretName"]) == ("/etc/envoy-tls", "trademesh-gateway-tls")
    # `helm test` speaks TLS too.
    test_pod = _named(objects, "Pod", "trademesh-test-gateway-health")
    assert "grpc.secure_channel" in test_pod["spec"]["containers"][0]["args"][0]
    _validate(bootstrap, tmp_path, edge_tls)


def test_trusted_proxy_cidrs_replace_the_hop_count(k8s_tools: None, tmp_path: Path) -> None:
    objects = _render("--set", "gateway.xffTrustedCidrs={10.0.0.0/8,192.168.10.0/24}")
    manager = _manager(_bootstrap(objects))
    assert manager["use_remote_address"] is False
    (extension,) = manager["original_ip_detection_extensions"]
    assert extension["typed_config"]["xff_trusted_cidrs"]["cidrs"] == [
        {"address_prefix": "10.0.0.0", "prefix_len": 8},
        {"address_prefix": "192.168.10.0", "prefix_len": 24},
    ]
    _validate(_bootstrap(objects), tmp_path)
    with pytest.raises(subprocess.CalledProcessError) as refused:
        render.helm_template("--set", "gateway.xffTrustedCidrs={10.0.0.0/8}", "--set", "gateway.xffNumTrustedHops=1")
    assert "not both" in refused.value.stderr


def test_cert_manager_certificate_is_optional(k8s_tools: None) -> None:
    objects = _render(
        "--set", "gateway.tls.enabled=true", "--set", "gateway.tls.serverName=api.example.com",
        "--set", "gateway.tls.certManager.enabled=true", "--set", "gateway.tls.certManager.dnsNames={api.example.com}",
        "--set", "gateway.tls.certManager.issuerName=letsencrypt",
    )  # fmt: skip
    certificate = _named(objects, "Certificate", "trademesh-gateway")
    assert certificate["spec"]["secretName"] == "trademesh-gateway-tls"
    assert certificate["spec"]["issuerRef"] == {"name": "letsencrypt", "kind": "ClusterIssuer"}


def test_the_ratelimit_service_is_deployed_with_a_redis_and_the_gateway_uses_it(
    k8s_tools: None, default_objects: Objects, tmp_path: Path
) -> None:
    assert render.RATELIMIT_FILE.read_text() == render.ratelimit_config_text(), "run scripts/render-k8s.sh"
    # No Redis address by default: not deployed, and the gateway's config does not name it.
    assert not [o for o in default_objects if o["metadata"]["name"] == "trademesh-ratelimit"]
    objects = _render("--set", "ratelimit.redisAddress=redis.example.internal:6380")
    deployment = _named(objects, "Deployment", "trademesh-ratelimit")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert env["REDIS_URL"] == "redis.example.internal:6380"
    limits = yaml.safe_load(_named(objects, "ConfigMap", "trademesh-ratelimit")["data"]["trademesh.yaml"])
    assert limits == ratelimit_config(kubernetes_mesh())
    service = _named(objects, "Service", "trademesh-ratelimit")
    assert service["spec"]["clusterIP"] == "None"
    bootstrap = _bootstrap(objects)
    cluster = next(c for c in bootstrap["static_resources"]["clusters"] if c["name"] == "ratelimit")
    address = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["socket_address"]
    assert (address["address"], address["port_value"]) == ("trademesh-ratelimit", service["spec"]["ports"][0]["port"])
    assert "envoy.filters.http.ratelimit" in [f["name"] for f in _manager(bootstrap)["http_filters"]]
    # Only the gateway may call it; it reaches DNS and Redis's port.
    policy = _named(objects, "NetworkPolicy", "trademesh-ratelimit")
    assert policy["spec"]["ingress"][0]["from"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == (
        "gateway"
    )
    assert policy["spec"]["egress"][-1]["ports"] == [{"port": 6380, "protocol": "TCP"}]
    _validate(bootstrap, tmp_path)


def test_auth_trusts_only_private_networks_for_the_client_address(default_objects: Objects) -> None:
    from tests.k8s.objects import environment
    from trademesh.services.auth.client_address import TrustedProxies

    auth = _named(default_objects, "Deployment", "trademesh-auth")
    (container,) = auth["spec"]["template"]["spec"]["containers"]
    env = environment(default_objects, container)
    proxies = TrustedProxies.parse(env["TRADEMESH_TRUSTED_PROXIES"])
    assert proxies.trusts("10.1.2.3")
    assert not proxies.trusts("203.0.113.5")
    assert "TRADEMESH_TRUST_PROXY_HEADERS" not in env
