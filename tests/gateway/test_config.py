"""The generated bootstrap: validated by the real Envoy, and built from the services' own definitions."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from trademesh.auth.v1 import auth_service_pb2
from trademesh.gateway import cli
from trademesh.gateway.envoy_config import RETRY_ON, bootstrap_dict, write_bootstrap
from trademesh.gateway.mesh import (
    CATALOG,
    IMPORT_TIMEOUT_SECONDS,
    Endpoint,
    Mesh,
    RateLimit,
    build_mesh,
    kubernetes_mesh,
    service_descriptor,
)
from trademesh.gateway.runner import EnvoyError, validate
from trademesh.sdk.options import SLOW_METHODS
from trademesh.services.core.access import public_methods

AUTH = [Endpoint("127.0.0.1", 50051), Endpoint("auth-1.internal", 50051)]
JWKS = [Endpoint("127.0.0.1", 51051)]
#: What the auth contract marks public (the set the services' PUBLIC_METHODS constants used to list).
AUTH_PUBLIC_METHODS = frozenset(
    {"Register", "Login", "Refresh", "VerifyEmail", "RequestPasswordReset", "ResetPassword", "GetJwks"}
)


def _mesh(**options: Any) -> Mesh:
    options.setdefault("cors_origins", ("http://localhost:5173",))
    return build_mesh({"auth": AUTH}, JWKS, **options)


def _manager(config: dict[str, Any]) -> dict[str, Any]:
    listener = config["static_resources"]["listeners"][0]
    manager: dict[str, Any] = listener["filter_chains"][0]["filters"][0]["typed_config"]
    return manager


def _routes(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    routes = _manager(config)["route_config"]["virtual_hosts"][0]["routes"]
    return {route["name"]: route for route in routes}


def _cluster(config: dict[str, Any], name: str) -> dict[str, Any]:
    clusters: dict[str, dict[str, Any]] = {c["name"]: c for c in config["static_resources"]["clusters"]}
    return clusters[name]


def test_the_generated_bootstrap_passes_envoy_validate(tmp_path: Path) -> None:
    site = tmp_path / "dist"
    site.mkdir()
    (site / "index.html").write_text("<!doctype html>")
    path = write_bootstrap(_mesh(static_dir=site), tmp_path / "envoy.json")
    assert "OK" in validate(path)


def test_envoy_validate_rejects_a_broken_bootstrap(tmp_path: Path) -> None:
    path = write_bootstrap(_mesh(), tmp_path / "envoy.json")
    config = json.loads(path.read_text())
    _cluster(config, "svc-auth")["lb_policy"] = "NO_SUCH_POLICY"
    path.write_text(json.dumps(config))
    with pytest.raises(EnvoyError, match="NO_SUCH_POLICY"):
        validate(path)


def test_filters_are_in_order_on_one_auto_codec_listener() -> None:
    manager = _manager(bootstrap_dict(_mesh()))
    assert [f["name"] for f in manager["http_filters"]] == [
        "envoy.filters.http.grpc_web",
        "envoy.filters.http.cors",
        "envoy.filters.http.jwt_authn",
        "envoy.filters.http.local_ratelimit",
        "envoy.filters.http.router",
    ]
    assert manager.get("codec_type", "AUTO") == "AUTO"  # the default is omitted from the JSON
    assert manager["generate_request_id"] is True
    assert manager["access_log"][0]["typed_config"]["log_format"]["json_format"]["request_id"] == "%REQ(X-REQUEST-ID)%"


def test_admin_is_on_loopback_only() -> None:
    config = bootstrap_dict(_mesh())
    assert config["admin"]["address"]["socket_address"]["address"] == "127.0.0.1"
    with pytest.raises(ValueError, match="loopback"):
        _mesh(admin=Endpoint("0.0.0.0", 9901))


def test_public_methods_come_from_the_contract_and_skip_the_token_requirement() -> None:
    mesh = _mesh()
    # The gateway reads the access option the services' auth interceptors are built from: the same sets.
    for service in mesh.services:
        assert service.public_methods == public_methods(service.full_name), service.name
    assert {service.name for service in mesh.services if service.public_methods} == {"auth"}
    auth = next(service for service in mesh.services if service.name == "auth")
    assert auth.public_methods == AUTH_PUBLIC_METHODS
    jwt = _manager(bootstrap_dict(mesh))["http_filters"][2]["typed_config"]
    provider = jwt["providers"]["trademesh-auth"]
    assert provider["issuer"] == "trademesh-auth"
    assert provider["audiences"] == ["trademesh"]
    assert provider["forward"] is True
    assert provider["remote_jwks"]["http_uri"]["uri"] == "http://127.0.0.1:51051/.well-known/jwks.json"
    # The gateway's leeway on exp/nbf is the services' 1 s, not Envoy's default 60 s.
    assert provider["clock_skew_seconds"] == 1
    # First, OPTIONS needs no token (Envoy answers it; it never reaches a service).
    options, *rules = jwt["rules"]
    assert options["match"]["headers"][0] == {"name": ":method", "string_match": {"exact": "OPTIONS"}}
    assert "requires" not in options
    open_paths = {rule["match"]["path"] for rule in rules if "requires" not in rule}
    assert open_paths == {f"/trademesh.auth.v1.AuthService/{method}" for method in AUTH_PUBLIC_METHODS}
    protected = {rule["match"]["prefix"] for rule in rules if "requires" in rule}
    assert protected == {f"/{service.full_name}/" for service in mesh.services}
    # Every public rule comes before its service's catch-all.
    order = [rule["match"].get("path") or rule["match"]["prefix"] for rule in rules]
    assert order.index("/trademesh.auth.v1.AuthService/Login") < order.index("/trademesh.auth.v1.AuthService/")


def test_a_service_missing_from_its_generated_module_fails_loudly() -> None:
    with pytest.raises(LookupError, match="NoSuchService"):
        service_descriptor(auth_service_pb2, "NoSuchService")
    with pytest.raises(LookupError, match=r"trademesh\.nosuch\.v1\.NoSuchService"):
        public_methods("trademesh.nosuch.v1.NoSuchService")


def test_streaming_methods_come_from_the_descriptors_and_have_no_timeout() -> None:
    mesh = _mesh()
    streaming = {(service.name, method) for service in mesh.services for method in service.streaming_methods}
    assert streaming == {
        ("trade", "WatchTrades"),
        ("sync", "SyncNow"),
        ("marketdata", "SubscribeQuotes"),
        ("analytics", "WatchPnl"),
        ("notifications", "WatchNotifications"),
    }
    routes = _routes(bootstrap_dict(mesh))
    for service, method in streaming:
        action = routes[f"{service}.{method}"]["route"]
        assert action["timeout"] == "0s"
        assert action["idle_timeout"] == "600s"
        assert "retry_policy" not in action
    unary = routes["trade.ListTrades"]["route"]
    assert unary["timeout"] == "15s"
    assert unary["max_stream_duration"]["grpc_timeout_header_max"] == "15s"


def test_only_idempotent_reads_are_retried_and_only_on_connection_failures_and_resets() -> None:
    routes = _routes(bootstrap_dict(_mesh()))
    retried = {name for name, route in routes.items() if "retry_policy" in route.get("route", {})}
    expected = {f"{entry.name}.{method}" for entry in CATALOG for method in entry.idempotent_reads}
    assert retried == expected
    assert {"auth.GetMe", "auth.GetJwks"} <= retried
    assert "auth.Login" not in retried
    assert "trade.ImportTrades" not in retried
    for name in retried:
        policy = routes[name]["route"]["retry_policy"]
        # Only when the call never reached a service (a connection that failed, a stream the replica
        # refused): never after a reset (the call may have run), never on a gRPC status the service answered
        # (UNAVAILABLE, CANCELLED), and no per-try timeout (a retry after one re-runs a query the database is
        # still working on).
        assert policy["retry_on"] == RETRY_ON == "connect-failure,refused-stream"
        assert "per_try_timeout" not in policy
        assert policy["num_retries"] == 2


def test_long_unary_methods_get_their_own_route_timeout() -> None:
    mesh = _mesh()
    routes = _routes(bootstrap_dict(mesh))
    expected = {"trade.ImportTrades": "300s", "trade.PreviewImport": "300s", "trade.ReconcileTrades": "120s"}
    expected["analytics.RecomputeAnalytics"] = "600s"
    assert IMPORT_TIMEOUT_SECONDS == 300.0  # the figure decision 0030 and bench/import_bench.py document
    for name, timeout in expected.items():
        action = routes[name]["route"]
        assert action["timeout"] == timeout
        # A client's shorter grpc-timeout still wins; nothing idles the quiet call out before its timeout.
        assert action["max_stream_duration"]["grpc_timeout_header_max"] == timeout
        assert action["idle_timeout"] == timeout
        assert "retry_policy" not in action
    # Every other unary route keeps the default.
    unary = {
        f"{service.name}.{method}"
        for service in mesh.services
        for method in service.methods
        if method not in service.streaming_methods
    }
    assert {routes[name]["route"]["timeout"] for name in unary - set(expected)} == {"15s"}
    # No client deadline for a slow method (SDK, CLI) is cut short by the gateway.
    for path, client_deadline in SLOW_METHODS.items():
        (route,) = [route for route in routes.values() if route["match"].get("path") == path]
        assert float(route["route"]["timeout"].removesuffix("s")) >= client_deadline, path
    # Overrides per (service, method), as for rate limits.
    shorter = _routes(bootstrap_dict(_mesh(unary_timeouts={("trade", "ImportTrades"): 30.0})))
    assert shorter["trade.ImportTrades"]["route"]["timeout"] == "30s"


def test_upstream_keepalive_pings_are_no_more_frequent_than_grpc_servers_allow() -> None:
    config = bootstrap_dict(_mesh())
    # gRPC servers close a connection (GOAWAY too_many_pings) that pings more often than every 5 minutes
    # while they send nothing: a long import would end UNAVAILABLE after about 2 minutes.
    for entry in CATALOG:
        options = _cluster(config, f"svc-{entry.name}")["typed_extension_protocol_options"]
        keepalive = options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]["explicit_http_config"][
            "http2_protocol_options"
        ]["connection_keepalive"]
        assert float(keepalive["interval"].removesuffix("s")) >= 300
    downstream = _manager(config)["http2_protocol_options"]["connection_keepalive"]
    assert downstream["interval"] == "30s"


def test_every_service_has_a_route_and_a_health_checked_http2_cluster() -> None:
    config = bootstrap_dict(_mesh())
    routes = _routes(config)
    for entry in CATALOG:
        full_name = entry.descriptor.full_name
        assert routes[f"{entry.name}.*"]["match"]["prefix"] == f"/{full_name}/"
        cluster = _cluster(config, f"svc-{entry.name}")
        assert cluster["health_checks"][0]["grpc_health_check"]["service_name"] == full_name
        assert "outlier_detection" in cluster
        options = cluster["typed_extension_protocol_options"]["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
        assert "http2_protocol_options" in options["explicit_http_config"]
    # A DNS name makes the cluster STRICT_DNS; IP literals only would be STATIC (the default, omitted).
    assert _cluster(config, "svc-auth")["type"] == "STRICT_DNS"
    assert _cluster(config, "svc-trade").get("type", "STATIC") == "STATIC"
    assert "endpoints" not in _cluster(config, "svc-trade")["load_assignment"]  # not running yet: no replicas


def test_rate_limits_per_route() -> None:
    routes = _routes(bootstrap_dict(_mesh(rate_limits={("auth", "GetJwks"): RateLimit(burst=3, per_fill=1)})))
    bucket = routes["auth.GetJwks"]["typed_per_filter_config"]["envoy.filters.http.local_ratelimit"]
    assert bucket["token_bucket"]["max_tokens"] == 3
    assert bucket["rate_limited_as_resource_exhausted"] is True
    login = routes["auth.Login"]["typed_per_filter_config"]["envoy.filters.http.local_ratelimit"]
    assert login["token_bucket"]["max_tokens"] == 40  # the credential endpoints' stricter default


def test_the_mesh_description_is_checked() -> None:
    with pytest.raises(ValueError, match="no such service"):
        build_mesh({"nope": AUTH}, JWKS)
    with pytest.raises(ValueError, match="JWKS"):
        build_mesh({"auth": AUTH}, [])
    with pytest.raises(ValueError, match="CORS origin"):
        _mesh(cors_origins=("localhost:5173/",))
    with pytest.raises(ValueError, match="rate-limited methods"):
        _mesh(rate_limits={("auth", "NoSuchMethod"): RateLimit(burst=1, per_fill=1)})
    with pytest.raises(ValueError, match="long unary methods"):
        _mesh(unary_timeouts={("trade", "NoSuchMethod"): 60.0})
    with pytest.raises(ValueError, match="have no route timeout"):
        _mesh(unary_timeouts={("trade", "WatchTrades"): 60.0})
    with pytest.raises(ValueError, match="must be positive"):
        _mesh(unary_timeouts={("trade", "ImportTrades"): 0.0})


def test_the_command_line_writes_and_checks_the_bootstrap(tmp_path: Path) -> None:
    output = tmp_path / "envoy.json"
    result = subprocess.run(
        [
            sys.executable, "-m", "trademesh.gateway", "--check",
            "--output", str(output),
            "--upstream", "auth=127.0.0.1:50051,127.0.0.1:50061",
            "--upstream", "trade=127.0.0.1:50052",
            "--listen", "127.0.0.1:18080",
            "--static-dir", str(tmp_path / "no-such-dir"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "envoy --mode validate" in result.stderr
    assert "nothing at /" in result.stderr
    config = json.loads(output.read_text())
    auth = _cluster(config, "svc-auth")["load_assignment"]["endpoints"][0]["lb_endpoints"]
    assert [e["endpoint"]["address"]["socket_address"]["port_value"] for e in auth] == [50051, 50061]
    assert "static" not in _routes(config)

    bad = subprocess.run(
        [sys.executable, "-m", "trademesh.gateway", "--print", "--upstream", "nope=127.0.0.1:1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2
    assert "SERVICE one of" in bad.stderr


def test_the_kubernetes_bootstrap_targets_headless_services_and_validates(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert cli.main(["--kubernetes", "--print"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == bootstrap_dict(kubernetes_mesh())
    clusters = {cluster["name"]: cluster for cluster in printed["static_resources"]["clusters"]}
    for entry in CATALOG:
        cluster = clusters[f"svc-{entry.name}"]
        assert cluster["type"] == "STRICT_DNS"
        (host,) = [
            endpoint["endpoint"]["address"]["socket_address"]["address"]
            for locality in cluster["load_assignment"]["endpoints"]
            for endpoint in locality["lb_endpoints"]
        ]
        assert host == f"trademesh-{entry.name}-headless"
    validate(write_bootstrap(kubernetes_mesh(), tmp_path / "envoy.json"))
