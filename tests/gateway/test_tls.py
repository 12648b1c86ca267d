"""TLS at the edge: Envoy's listener with a certificate from files (the chart mounts them from a Secret).

The certificate is made by openssl for the test (a self-signed one for 127.0.0.1 and localhost); native
gRPC and grpc-web clients verify it against itself as the root, and a plaintext client gets nothing.
The JWKS can be fetched over HTTPS too: verified against a CA bundle and the server's name.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import grpc
import pytest
from aiohttp import web
from grpc import aio

from tests.conftest import MeshUser
from tests.eventually import eventually
from tests.gateway import grpcweb
from tests.gateway.conftest import StartGateway, grpc_endpoint, jwks_endpoint
from tests.rpc import bearer, expect_failure
from trademesh.auth.v1 import auth_service_pb2, auth_service_pb2_grpc
from trademesh.gateway.mesh import JWKS_PATH, Endpoint, TlsFiles
from trademesh.services.core.server import ServiceHost

GET_JWKS = "/trademesh.auth.v1.AuthService/GetJwks"
NewUser = Callable[[], Awaitable[MeshUser]]


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A self-signed certificate for 127.0.0.1 and localhost, by openssl."""
    directory = tmp_path_factory.mktemp("tls")
    files = TlsFiles(directory / "tls.crt", directory / "tls.key")
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", str(files.private_key), "-out", str(files.certificate), "-days", "2",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    return files


async def test_native_grpc_and_grpc_web_over_tls(
    mesh_auth: ServiceHost, start_gateway: StartGateway, certificate: TlsFiles
) -> None:
    gateway = await start_gateway({"auth": [grpc_endpoint(mesh_auth)]}, [jwks_endpoint(mesh_auth)], tls=certificate)
    assert gateway.mesh.listen_url.startswith("https://")
    root = certificate.certificate.read_bytes()
    async with aio.secure_channel(gateway.address, grpc.ssl_channel_credentials(root_certificates=root)) as channel:
        jwks = await auth_service_pb2_grpc.AuthServiceStub(channel).GetJwks(auth_service_pb2.GetJwksRequest())
    assert jwks.keys

    context = ssl.create_default_context(cafile=str(certificate.certificate))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as session:
        web = await grpcweb.call(session, f"https://{gateway.address}", GET_JWKS, b"")
    assert web.grpc_status == 0
    assert auth_service_pb2.GetJwksResponse.FromString(web.messages[0]).keys

    # The negotiated protocol for gRPC is h2 (ALPN), checked with a bare TLS handshake.
    def alpn() -> str | None:
        tls = ssl.create_default_context(cafile=str(certificate.certificate))
        tls.set_alpn_protocols(["h2", "http/1.1"])
        listen = (gateway.mesh.listen.host, gateway.mesh.listen.port)
        with (
            socket.create_connection(listen, timeout=5) as raw,
            tls.wrap_socket(raw, server_hostname="localhost") as wrapped,
        ):
            return wrapped.selected_alpn_protocol()

    assert await asyncio.to_thread(alpn) == "h2"


async def test_a_plaintext_client_gets_no_answer_from_the_tls_listener(
    mesh_auth: ServiceHost, start_gateway: StartGateway, certificate: TlsFiles
) -> None:
    gateway = await start_gateway({"auth": [grpc_endpoint(mesh_auth)]}, [jwks_endpoint(mesh_auth)], tls=certificate)
    async with aio.insecure_channel(gateway.address) as channel:
        failure = await expect_failure(
            auth_service_pb2_grpc.AuthServiceStub(channel).GetJwks(auth_service_pb2.GetJwksRequest(), timeout=5)
        )
    assert failure.code == grpc.StatusCode.UNAVAILABLE


async def test_a_client_that_does_not_trust_the_certificate_is_refused(
    mesh_auth: ServiceHost, start_gateway: StartGateway, certificate: TlsFiles
) -> None:
    gateway = await start_gateway({"auth": [grpc_endpoint(mesh_auth)]}, [jwks_endpoint(mesh_auth)], tls=certificate)
    # The system's roots do not include the test's self-signed certificate.
    async with aio.secure_channel(gateway.address, grpc.ssl_channel_credentials()) as channel:
        failure = await expect_failure(
            auth_service_pb2_grpc.AuthServiceStub(channel).GetJwks(auth_service_pb2.GetJwksRequest(), timeout=5)
        )
    assert failure.code == grpc.StatusCode.UNAVAILABLE


def _self_signed(directory: Path, san: str) -> TlsFiles:
    directory.mkdir(parents=True, exist_ok=True)
    files = TlsFiles(directory / "tls.crt", directory / "tls.key")
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", str(files.private_key), "-out", str(files.certificate), "-days", "2",
            "-subj", "/CN=jwks", "-addext", f"subjectAltName={san}",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    return files


@pytest.fixture
async def https_jwks(mesh_auth: ServiceHost, certificate: TlsFiles) -> AsyncIterator[Endpoint]:
    """auth's JWKS document served over HTTPS (certificate for 127.0.0.1), as a TLS-fronted auth would."""
    source = f"http://{jwks_endpoint(mesh_auth)}{JWKS_PATH}"

    async def jwks(_: web.Request) -> web.Response:
        async with aiohttp.ClientSession() as session, session.get(source) as answer:
            return web.Response(body=await answer.read(), content_type="application/json")

    app = web.Application()
    app.router.add_get(JWKS_PATH, jwks)
    runner = web.AppRunner(app)
    await runner.setup()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(certificate.certificate), str(certificate.private_key))
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    port = runner.addresses[0][1]
    yield Endpoint("127.0.0.1", port)
    await runner.cleanup()


async def test_the_jwks_is_fetched_over_verified_https(
    mesh_auth: ServiceHost,
    start_gateway: StartGateway,
    certificate: TlsFiles,
    https_jwks: Endpoint,
    new_user: NewUser,
) -> None:
    gateway = await start_gateway(
        {"auth": [grpc_endpoint(mesh_auth)]}, [https_jwks], jwks_ca_file=certificate.certificate
    )
    user = await new_user()
    async with gateway.channel() as channel:
        me = await auth_service_pb2_grpc.AuthServiceStub(channel).GetMe(
            auth_service_pb2.GetMeRequest(), metadata=bearer(user.access_token)
        )
    assert me.user.id == user.user_id


async def test_a_jwks_server_with_a_certificate_for_another_name_is_not_believed(
    mesh_auth: ServiceHost,
    start_gateway: StartGateway,
    https_jwks: Endpoint,
    new_user: NewUser,
    tmp_path: Path,
) -> None:
    # The CA the gateway trusts signed a certificate for another host than the JWKS server's address.
    other = _self_signed(tmp_path / "other", "DNS:elsewhere.example")
    gateway = await start_gateway(
        {"auth": [grpc_endpoint(mesh_auth)]}, [https_jwks], jwks_ca_file=other.certificate, wait_for_jwks=False
    )
    await eventually(
        lambda: asyncio.to_thread(gateway.envoy.stat, "http.ingress.jwt_authn.jwks_fetch_failed"),
        within=15,
        what="a failed JWKS fetch",
    )
    user = await new_user()
    async with gateway.channel() as channel:
        failure = await expect_failure(
            auth_service_pb2_grpc.AuthServiceStub(channel).GetMe(
                auth_service_pb2.GetMeRequest(), metadata=bearer(user.access_token)
            )
        )
    assert failure.code == grpc.StatusCode.UNAUTHENTICATED
    assert gateway.envoy.stat("http.ingress.jwt_authn.jwks_fetch_success") == 0


def _served_certificate(endpoint: Endpoint) -> bytes:
    pem = ssl.get_server_certificate((endpoint.host, endpoint.port), timeout=5)
    return ssl.PEM_cert_to_DER_cert(pem)


def _der(certificate: Path) -> bytes:
    return ssl.PEM_cert_to_DER_cert(certificate.read_text())


async def test_a_renewed_certificate_is_served_without_a_restart(
    mesh_auth: ServiceHost, start_gateway: StartGateway, tmp_path: Path
) -> None:
    # A Secret volume as the kubelet lays it out: files behind ..data, which one rename swaps.
    first = _self_signed(tmp_path / "issued-1", "IP:127.0.0.1,DNS:localhost")
    second = _self_signed(tmp_path / "issued-2", "IP:127.0.0.1,DNS:localhost")
    secret = tmp_path / "secret"
    (secret / "..v1").mkdir(parents=True)
    for name in ("tls.crt", "tls.key"):
        (secret / "..v1" / name).write_bytes((first.certificate.parent / name).read_bytes())
        (secret / name).symlink_to(Path("..data") / name)
    (secret / "..data").symlink_to("..v1")
    tls = TlsFiles(secret / "tls.crt", secret / "tls.key", tmp_path / "edge-tls.json")
    gateway = await start_gateway({"auth": [grpc_endpoint(mesh_auth)]}, [jwks_endpoint(mesh_auth)], tls=tls)
    listen = gateway.mesh.listen
    assert await asyncio.to_thread(_served_certificate, listen) == _der(first.certificate)

    (secret / "..v2").mkdir()
    for name in ("tls.crt", "tls.key"):
        (secret / "..v2" / name).write_bytes((second.certificate.parent / name).read_bytes())
    (secret / "..data_tmp").symlink_to("..v2")
    (secret / "..data_tmp").rename(secret / "..data")

    await eventually(
        lambda: asyncio.to_thread(_served_certificate, listen),
        within=20,
        until=lambda served: served == _der(second.certificate),
        what="the renewed certificate served",
    )
    root = second.certificate.read_bytes()
    async with aio.secure_channel(gateway.address, grpc.ssl_channel_credentials(root_certificates=root)) as channel:
        jwks = await auth_service_pb2_grpc.AuthServiceStub(channel).GetJwks(auth_service_pb2.GetJwksRequest())
    assert jwks.keys
