"""The service-token rotation CronJob's command against an HTTPS server speaking the Secrets API."""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from trademesh.services.auth import admin, kubernetes
from trademesh.services.auth.keys import KeyRing, write_new_key

NAMESPACE = "trademesh"
ACCOUNT_TOKEN = "service-account-token-of-the-job"


class SecretsApi(ThreadingHTTPServer):
    """Secrets in one namespace; PATCH with a JSON merge patch, the bearer token of the job's account."""

    secrets: dict[str, dict[str, str]]


class Handler(BaseHTTPRequestHandler):
    server: SecretsApi

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_PATCH(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers["Authorization"] != f"Bearer {ACCOUNT_TOKEN}":
            self._answer(403, {"kind": "Status", "message": "forbidden"})
            return
        prefix = f"/api/v1/namespaces/{NAMESPACE}/secrets/"
        name = self.path.removeprefix(prefix)
        if not self.path.startswith(prefix) or name not in self.server.secrets:
            self._answer(404, {"kind": "Status", "message": f'secrets "{name}" not found'})
            return
        assert self.headers["Content-Type"] == "application/merge-patch+json"
        self.server.secrets[name].update(json.loads(body)["data"])
        self._answer(200, {"kind": "Secret", "data": self.server.secrets[name]})


@pytest.fixture
def api_server(tmp_path: Path) -> Iterator[tuple[SecretsApi, Path]]:
    """The server on 127.0.0.1 with a self-signed certificate; the job's ServiceAccount folder."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    account = tmp_path / "serviceaccount"
    account.mkdir()
    (account / "ca.crt").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (account / "token").write_text(ACCOUNT_TOKEN + "\n")
    (account / "namespace").write_text(NAMESPACE)
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(account / "ca.crt", tmp_path / "key.pem")
    server = SecretsApi(("127.0.0.1", 0), Handler)
    server.secrets = {"trademesh-sync-service-token": {"token": "b2xk", "other": "a2VwdA=="}}
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, account
    server.shutdown()
    server.server_close()


def run_rotation(
    monkeypatch: pytest.MonkeyPatch, server: SecretsApi, account: Path, key_file: Path, *arguments: str
) -> int:
    monkeypatch.setattr(kubernetes, "SERVICE_ACCOUNT_DIR", account)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(server.server_address[1]))
    monkeypatch.setenv("TRADEMESH_SIGNING_KEY_FILES", str(key_file))
    return admin.main(["rotate-service-token", "--name", "sync", *arguments])


def test_rotation_writes_a_fresh_service_token_into_the_secret(
    api_server: tuple[SecretsApi, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, account = api_server
    key_file = tmp_path / "signing.pem"
    write_new_key(key_file)
    status = run_rotation(
        monkeypatch, server, account, key_file, "--ttl-days", "30", "--secret", "trademesh-sync-service-token"
    )
    assert status == 0
    stored = server.secrets["trademesh-sync-service-token"]
    assert stored["other"] == "a2VwdA==", "other keys of the Secret stay"
    token = base64.b64decode(stored["token"]).decode()
    keys = KeyRing.from_files([key_file])
    claims = jwt.decode(
        token,
        keys.public_keys()[jwt.get_unverified_header(token)["kid"]],
        algorithms=["EdDSA"],
        audience="trademesh",
        issuer="trademesh-auth",
    )
    assert claims["sub"] == "service:sync"
    assert claims["roles"] == ["service"]
    assert abs(claims["exp"] - time.time() - 30 * 86400) < 120


def test_rotation_fails_with_the_api_servers_reason(
    api_server: tuple[SecretsApi, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server, account = api_server
    key_file = tmp_path / "signing.pem"
    write_new_key(key_file)
    assert run_rotation(monkeypatch, server, account, key_file, "--secret", "missing") == 1
    assert 'HTTP 404 secrets "missing" not found' in capsys.readouterr().err
    (account / "token").write_text("someone-else")
    assert run_rotation(monkeypatch, server, account, key_file, "--secret", "trademesh-sync-service-token") == 1
    assert "HTTP 403" in capsys.readouterr().err
    assert server.secrets["trademesh-sync-service-token"]["token"] == "b2xk"


def test_outside_a_pod_the_command_says_so(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(kubernetes.KubernetesApiError, match="KUBERNETES_SERVICE_HOST"):
        kubernetes.KubernetesApi.in_cluster(account_dir=tmp_path)
