"""The service table and the environment the dev stack gives each service."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trademesh.devstack.stack import (
    DEFAULT_BASE_PORT,
    FAKE_KITE,
    GATEWAY,
    GATEWAY_ADMIN,
    GATEWAY_SOURCE_ADDRESS,
    MAIL,
    RATELIMIT,
    SERVICES,
    SMTP_PORT_OFFSET,
    DataLayout,
    ServiceSpec,
    StackContext,
    select_services,
    service_command,
    service_environment,
    service_port,
    validate_services,
)


def _context(tmp_path: Path, ports: dict[str, int]) -> StackContext:
    # Auth and notifications send mail through the stack's SMTP server, and trade reads the fake Kite's
    # instrument master, so every context has their ports.
    every = {MAIL: 3, FAKE_KITE: 4, **ports}
    return StackContext(DataLayout(tmp_path), "redis://127.0.0.1:1/0", "mongodb://127.0.0.1:2/", every)


def test_the_service_table_is_valid_and_starts_with_auth_on_the_base_port() -> None:
    validate_services(SERVICES)
    assert SERVICES[0].name == "auth"
    assert SERVICES[0].default_port == DEFAULT_BASE_PORT


@pytest.mark.parametrize(
    ("services", "problem"),
    [
        ((ServiceSpec("a", "m.a", 50051), ServiceSpec("a", "m.b", 50052)), "listed twice"),
        ((ServiceSpec("a", "m.a", 50051), ServiceSpec("b", "m.b", 50051)), "share port"),
        ((ServiceSpec("a", "m.a", 50051, depends_on=("b",)), ServiceSpec("b", "m.b", 50052)), "not listed before"),
        ((ServiceSpec("a", "m.a", 8080),), "default_port"),
    ],
)
def test_an_invalid_table_is_rejected(services: tuple[ServiceSpec, ...], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        validate_services(services)


def test_ports_follow_the_base_port() -> None:
    spec = ServiceSpec("trade", "m.trade", 50052)
    assert service_port(spec, DEFAULT_BASE_PORT) == 50052
    assert service_port(spec, 41000) == 41001


def test_services_whose_module_is_missing_are_skipped_with_their_dependents() -> None:
    auth = ServiceSpec("auth", "trademesh.services.auth", 50051)
    ghost = ServiceSpec("ghost", "trademesh.services.no_such_service", 50052)
    haunted = ServiceSpec("haunted", "trademesh.services.auth", 50053, depends_on=("ghost",))
    selected, notes = select_services((auth, ghost, haunted))
    assert selected == [auth]
    assert len(notes) == 2
    assert "ghost" in notes[0]
    assert "trademesh.services.no_such_service" in notes[0]
    assert "haunted" in notes[1]
    assert "ghost" in notes[1]


def test_auth_gets_the_shared_variables_its_key_and_smtp_server(tmp_path: Path) -> None:
    auth = SERVICES[0]
    context = _context(tmp_path, {"auth": 41000})
    env = service_environment(auth, context, {"TRADEMESH_LOG_LEVEL": "DEBUG", "TRADEMESH_GRPC_PORT": "1"})
    assert env["TRADEMESH_GRPC_HOST"] == "127.0.0.1"
    assert env["TRADEMESH_GRPC_PORT"] == "41000"  # the stack's own value wins over the inherited one
    assert env["TRADEMESH_LOG_LEVEL"] == "DEBUG"  # other inherited variables are kept
    assert env["TRADEMESH_MONGO_URL"] == "mongodb://127.0.0.1:2/"
    assert env["TRADEMESH_MONGO_DATABASE"] == "trademesh"
    assert env["TRADEMESH_REDIS_URL"] == "redis://127.0.0.1:1/0"
    assert env["TRADEMESH_AUTH_TARGET"] == "127.0.0.1:41000"
    assert env["TRADEMESH_LOG_FORMAT"] == "json"
    assert env["TRADEMESH_SIGNING_KEY_FILES"] == str(tmp_path / "keys" / "signing-1.pem")
    assert "TRADEMESH_MAIL_DROP_DIR" not in env  # codes go to the stack's SMTP server, not to files
    assert env["TRADEMESH_SMTP_HOST"] == "127.0.0.1"
    assert env["TRADEMESH_SMTP_PORT"] == str(3 + SMTP_PORT_OFFSET)
    assert env["TRADEMESH_SMTP_SECURITY"] == "none"
    assert "TRADEMESH_MAIL_TO_LOG" not in env


def test_every_service_gets_the_data_directorys_random_token_secret(tmp_path: Path) -> None:
    context = _context(tmp_path, {"auth": 41000, "trade": 41001})
    auth, trade = (next(spec for spec in SERVICES if spec.name == name) for name in ("auth", "trade"))
    first = service_environment(trade, context, {})["TRADEMESH_TOKEN_SECRET"]
    again = service_environment(auth, context, {})["TRADEMESH_TOKEN_SECRET"]
    other = service_environment(trade, _context(tmp_path / "other", {"auth": 1, "trade": 2}), {})

    assert first == again  # one per data directory, shared by every service and every run
    assert len(first) >= 32
    assert other["TRADEMESH_TOKEN_SECRET"] != first
    assert (tmp_path / "keys" / "token-secret").stat().st_mode & 0o077 == 0


def test_extra_env_is_added_for_one_service_only(tmp_path: Path) -> None:
    trade = ServiceSpec(
        "trade",
        "m.trade",
        50052,
        extra_env=lambda context: {"TRADEMESH_SOMETHING": context.address("auth")},
        depends_on=("auth",),
    )
    context = _context(tmp_path, {"auth": 50051, "trade": 50052})
    env = service_environment(trade, context, {})
    assert env["TRADEMESH_SOMETHING"] == "127.0.0.1:50051"
    assert env["TRADEMESH_GRPC_PORT"] == "50052"
    assert "TRADEMESH_SIGNING_KEY_FILES" not in env


def test_the_gateway_is_last_and_routes_to_every_service_of_the_table(tmp_path: Path) -> None:
    assert SERVICES[-1] is GATEWAY
    ports = {"auth": 41000, "trade": 41001, "unknown": 41002, "gateway": 18080}
    context = StackContext(
        DataLayout(tmp_path), "redis://127.0.0.1:1/0", "mongodb://127.0.0.1:2/", ports, {GATEWAY_ADMIN: 19901}
    )
    command = service_command(GATEWAY, context)
    assert command[1:4] == ["-m", "trademesh.gateway", "--run"]
    assert command[command.index("--output") + 1] == str(tmp_path / "gateway" / "envoy.json")
    assert command[command.index("--listen") + 1] == "127.0.0.1:18080"
    assert command[command.index("--admin") + 1] == "127.0.0.1:19901"
    assert command[command.index("--jwks") + 1] == "127.0.0.1:42000"  # auth's JWKS over HTTP
    # Services the gateway knows, with their ports here; names it does not know are left out.
    assert [arg for arg in command if arg.startswith("--upstream=")] == [
        "--upstream=auth=127.0.0.1:41000",
        "--upstream=trade=127.0.0.1:41001",
    ]
    # Its connections to the services come from the one address auth trusts to name the client.
    assert command[command.index("--upstream-source-address") + 1] == GATEWAY_SOURCE_ADDRESS
    assert "--ratelimit" not in command  # no rate-limit service in this table
    assert GATEWAY.ready_url is not None
    assert GATEWAY.ready_url(context) == "http://127.0.0.1:19901/ready"


def test_the_ratelimit_service_runs_before_the_gateway_and_the_gateway_uses_it(tmp_path: Path) -> None:
    names = [spec.name for spec in SERVICES]
    assert names.index(RATELIMIT) < names.index("gateway")
    ports = {"auth": 41000, RATELIMIT: 41009, "gateway": 18080, MAIL: 41011}
    context = StackContext(
        DataLayout(tmp_path), "redis://127.0.0.1:6390/0", "mongodb://127.0.0.1:2/", ports, {GATEWAY_ADMIN: 19901}
    )
    spec = next(spec for spec in SERVICES if spec.name == RATELIMIT)
    command = service_command(spec, context)
    assert command[0].endswith("ratelimit")
    # Its limits were written for it, where its environment points.
    env = service_environment(spec, context, {})
    config = Path(env["RUNTIME_ROOT"]) / env["RUNTIME_SUBDIRECTORY"] / "config" / "trademesh.yaml"
    assert json.loads(config.read_text())["domain"] == "trademesh"
    assert (env["REDIS_URL"], env["GRPC_PORT"]) == ("127.0.0.1:6390", "41009")
    assert spec.ready_url is not None
    assert spec.ready_url(context) == f"http://127.0.0.1:{41009 + 1000}/healthcheck"
    gateway = service_command(GATEWAY, context)
    assert gateway[gateway.index("--ratelimit") + 1] == "127.0.0.1:41009"
    # auth believes only the gateway's address about the client's.
    auth_env = service_environment(SERVICES[0], context, {})
    assert auth_env["TRADEMESH_TRUSTED_PROXIES"] == GATEWAY_SOURCE_ADDRESS


def test_a_python_service_runs_as_a_module(tmp_path: Path) -> None:
    command = service_command(SERVICES[0], _context(tmp_path, {"auth": 41000}))
    assert command[1:] == ["-m", "trademesh.services.auth"]


def test_a_component_with_its_own_port_flag_may_sit_below_the_base_port() -> None:
    validate_services((ServiceSpec("a", "m.a", 50051), ServiceSpec("gw", "m.gw", 8080, port_flag="--gw-port")))


def test_the_gateway_offers_tls_with_a_self_signed_certificate(tmp_path: Path) -> None:
    ports = {"auth": 41000, "gateway": 18080}
    context = StackContext(
        DataLayout(tmp_path), "redis://127.0.0.1:1/0", "mongodb://127.0.0.1:2/", ports, {GATEWAY_ADMIN: 19901}
    )
    assert "--tls-cert" not in service_command(GATEWAY, context)  # plaintext on loopback by default
    tls = StackContext(
        DataLayout(tmp_path),
        "redis://127.0.0.1:1/0",
        "mongodb://127.0.0.1:2/",
        ports,
        {GATEWAY_ADMIN: 19901},
        gateway_tls=True,
    )
    command = service_command(GATEWAY, tls)
    certificate = Path(command[command.index("--tls-cert") + 1])
    key = Path(command[command.index("--tls-key") + 1])
    assert certificate == DataLayout(tmp_path).gateway_certificate
    assert b"BEGIN CERTIFICATE" in certificate.read_bytes()
    assert key.stat().st_mode & 0o077 == 0
    # Made once: a restart keeps the same certificate (a browser's exception stays valid).
    first = certificate.read_bytes()
    service_command(GATEWAY, tls)
    assert certificate.read_bytes() == first


def test_trade_checks_lot_sizes_against_the_fake_kites_instrument_master(tmp_path: Path) -> None:
    names = [spec.name for spec in SERVICES]
    trade = SERVICES[names.index("trade")]
    assert names.index(FAKE_KITE) < names.index("trade")
    assert FAKE_KITE in trade.depends_on
    env = service_environment(trade, _context(tmp_path, {"auth": 41000, "trade": 41001}), {})
    assert env["TRADEMESH_INSTRUMENTS_URL"] == "http://127.0.0.1:4/instruments"
