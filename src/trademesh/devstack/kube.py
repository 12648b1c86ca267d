"""A private Kubernetes control plane: etcd, kube-apiserver, controller-manager, scheduler and kwok.

Used by ``tests/k8s`` to apply the Helm chart to a real API server (docs/decisions/0041). Like the
Redis and FerretDB of :mod:`trademesh.devstack.processes`, every component is a child process on its
own free port on ``127.0.0.1`` with a data directory of its own, stopped cleanly (also at interpreter
exit). kwok (Kubernetes WithOut Kubelet) plays the kubelets: it keeps the fake nodes Ready and moves
the pods the scheduler binds to them through their lifecycle (Running and Ready; deleted; a Job's pod
completes). No container runs and no traffic leaves loopback: the pods' addresses are never dialled.

Binaries: ``<repo>/.tools/bin/{etcd,kube-apiserver,kube-controller-manager,kube-scheduler,kubectl,kwok}``
and kwok's Stages in ``<repo>/.tools/kwok-stages`` (built by ``scripts/install-kube.sh``); certificates
and the service-account key pair are made with ``openssl``.

Example::

    with KubeControlPlane(tmp_path / "kube", zones=("zone-a", "zone-b", "zone-c")) as kube:
        kube.kubectl("get", "nodes")           # three Ready fake nodes, one a zone
        print(kube.kubeconfig)                 # for helm --kubeconfig / KUBECONFIG
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import ssl
import subprocess
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Self

from trademesh.devstack.processes import ManagedProcess, ProcessStartError, find_free_port, repo_root

__all__ = [
    "KubeControlPlane",
    "KubePki",
    "host_address",
    "tools_dir",
]

_HOST = "127.0.0.1"
#: Services' virtual IPs (never routed: no kube-proxy runs) and the pods' fake addresses (kwok's).
SERVICE_CIDR = "10.96.0.0/16"
POD_CIDR = "10.244.0.0/16"
#: The annotation kwok selects the nodes it manages by.
KWOK_NODE_ANNOTATION = ("kwok.x-k8s.io/node", "fake")
#: kwok renews each node's Lease within this; without a Lease the node controller marks nodes NotReady.
NODE_LEASE_SECONDS = 40


def tools_dir() -> Path:
    """``<repo>/.tools`` (``TRADEMESH_KUBE_TOOLS`` overrides): ``bin/`` and ``kwok-stages/``."""
    override = os.environ.get("TRADEMESH_KUBE_TOOLS")
    return Path(override) if override else repo_root() / ".tools"


def _binary(name: str) -> str:
    path = tools_dir() / "bin" / name
    if not path.is_file():
        raise FileNotFoundError(f"{name} not found at {path}; run scripts/install-kube.sh")
    return str(path)


def host_address() -> str:
    """A non-loopback IPv4 address of this machine, for kube-apiserver's ``--advertise-address``.

    The API server refuses a loopback advertise address. Nothing is ever sent to it: the ``kubernetes``
    Service's endpoints are not reconciled (``--endpoint-reconciler-type none``). A UDP ``connect``
    sends no packet; it only makes the kernel choose the outgoing interface's address.
    """
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect(("192.0.2.1", 9))  # TEST-NET-1: routing lookup only
        address: str = sock.getsockname()[0]
        if not address.startswith("127.") and address != "0.0.0.0":
            return address
    for address in socket.gethostbyname_ex(socket.gethostname())[2]:
        if not address.startswith("127."):
            return address
    raise ProcessStartError("no non-loopback IPv4 address for kube-apiserver's --advertise-address")


class KubePki:
    """A CA, one serving certificate for every component (127.0.0.1), an admin client certificate
    (``system:masters``) and the service-account signing key pair, made with ``openssl`` (EC P-256)."""

    def __init__(self, directory: Path) -> None:
        """Create the files in ``directory`` unless they are there."""
        self.directory = directory
        self.ca_cert = directory / "ca.crt"
        self.ca_key = directory / "ca.key"
        self.serving_cert = directory / "serving.crt"
        self.serving_key = directory / "serving.key"
        self.admin_cert = directory / "admin.crt"
        self.admin_key = directory / "admin.key"
        self.service_account_key = directory / "sa.key"
        self.service_account_pub = directory / "sa.pub"
        directory.mkdir(parents=True, exist_ok=True)
        if not self.service_account_pub.is_file():
            self._create()

    def _openssl(self, *args: str) -> None:
        result = subprocess.run(
            ["openssl", *args], cwd=self.directory, capture_output=True, text=True, check=False, timeout=60
        )
        if result.returncode != 0:
            raise ProcessStartError(f"openssl {' '.join(args)} failed: {result.stderr.strip()}")

    def _key(self, path: Path) -> None:
        self._openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(path))

    def _sign(self, name: str, subject: str, extensions: str) -> None:
        key, cert, csr = (self.directory / f"{name}.{ext}" for ext in ("key", "crt", "csr"))
        ext_file = self.directory / f"{name}.ext"
        ext_file.write_text(extensions)
        self._key(key)
        self._openssl("req", "-new", "-key", str(key), "-subj", subject, "-out", str(csr))
        self._openssl(
            "x509", "-req", "-in", str(csr), "-CA", str(self.ca_cert), "-CAkey", str(self.ca_key),
            "-CAcreateserial", "-days", "30", "-extfile", str(ext_file), "-out", str(cert),
        )  # fmt: skip

    def _create(self) -> None:
        self._key(self.ca_key)
        self._openssl(
            "req", "-x509", "-new", "-key", str(self.ca_key), "-subj", "/CN=trademesh-test-ca",
            "-days", "30", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", str(self.ca_cert),
        )  # fmt: skip
        # The API server's own Service IP is the first of SERVICE_CIDR.
        self._sign(
            "serving",
            "/CN=kube-apiserver",
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
            "subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default.svc\n",
        )
        self._sign(
            "admin",
            "/O=system:masters/CN=trademesh-admin",
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n",
        )
        self._key(self.service_account_key)
        self._openssl("pkey", "-in", str(self.service_account_key), "-pubout", "-out", str(self.service_account_pub))

    def ssl_context(self) -> ssl.SSLContext:
        """A client context trusting the CA and presenting the admin certificate."""
        context = ssl.create_default_context(cafile=str(self.ca_cert))
        context.load_cert_chain(str(self.admin_cert), str(self.admin_key))
        return context


def _healthy(url: str, context: ssl.SSLContext | None) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2, context=context) as response:  # noqa: S310 (our URL)
            body = response.read().strip()
    except (OSError, urllib.error.URLError, ValueError):
        return False
    # kube components answer "ok"; etcd {"health":"true","reason":""}.
    if body == b"ok":
        return True
    try:
        answer = json.loads(body)
    except ValueError:
        return False
    return isinstance(answer, dict) and answer.get("health") == "true"


class _HealthChecked(ManagedProcess):
    """A component that is ready when ``health_url`` answers ``ok`` (it reports no PID, so ours is used)."""

    default_timeouts: ClassVar[tuple[float, float]] = (120.0, 15.0)

    def __init__(self, data_dir: Path, pki: KubePki | None, **timeouts: float) -> None:
        super().__init__(data_dir, None, **timeouts)
        self._pki = pki

    @property
    def health_url(self) -> str:
        """The component's ``/healthz`` (``/readyz`` for the API server)."""
        return f"https://{_HOST}:{self.port}/healthz"

    @property
    def url(self) -> str:
        """``https://127.0.0.1:PORT``."""
        return f"https://{_HOST}:{self.port}"

    def _server_pid(self) -> int | None:
        context = self._pki.ssl_context() if self._pki is not None and self.health_url.startswith("https") else None
        return self.pid if _healthy(self.health_url, context) else None


class _Etcd(_HealthChecked):
    name: ClassVar[str] = "etcd"
    default_timeouts: ClassVar[tuple[float, float]] = (60.0, 10.0)

    def __init__(self, data_dir: Path, **timeouts: float) -> None:
        super().__init__(data_dir, None, **timeouts)
        self._peer_port = find_free_port()

    @property
    def url(self) -> str:
        return f"http://{_HOST}:{self.port}"

    @property
    def health_url(self) -> str:
        return f"{self.url}/health"

    def _command(self) -> list[str]:
        peer = f"http://{_HOST}:{self._peer_port}"
        return [
            _binary("etcd"),
            "--name", "trademesh-test",
            "--data-dir", str(self.data_dir / "data"),
            "--listen-client-urls", self.url,
            "--advertise-client-urls", self.url,
            "--listen-peer-urls", peer,
            "--initial-advertise-peer-urls", peer,
            "--initial-cluster", f"trademesh-test={peer}",
            "--log-level", "warn",
            # A throw-away test store: no fsync (the data dir goes with the test session).
            "--unsafe-no-fsync",
        ]  # fmt: skip


class _ApiServer(_HealthChecked):
    name: ClassVar[str] = "kube-apiserver"

    def __init__(self, data_dir: Path, pki: KubePki, etcd_url: str, **timeouts: float) -> None:
        super().__init__(data_dir, pki, **timeouts)
        self._etcd_url = etcd_url

    @property
    def health_url(self) -> str:
        return f"{self.url}/readyz"

    def _command(self) -> list[str]:
        pki = self._pki
        assert pki is not None
        return [
            _binary("kube-apiserver"),
            f"--etcd-servers={self._etcd_url}",
            f"--bind-address={_HOST}",
            f"--secure-port={self.port}",
            f"--advertise-address={host_address()}",
            "--endpoint-reconciler-type=none",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            f"--tls-cert-file={pki.serving_cert}",
            f"--tls-private-key-file={pki.serving_key}",
            f"--client-ca-file={pki.ca_cert}",
            f"--service-account-key-file={pki.service_account_pub}",
            f"--service-account-signing-key-file={pki.service_account_key}",
            "--service-account-issuer=https://kubernetes.default.svc",
            "--authorization-mode=RBAC",
            f"--cert-dir={self.data_dir / 'certs'}",
        ]


class _Controller(_HealthChecked):
    """kube-controller-manager or kube-scheduler: the admin kubeconfig, no leader election."""

    def __init__(self, data_dir: Path, pki: KubePki, kubeconfig: Path, extra: Sequence[str], **t: float) -> None:
        super().__init__(data_dir, pki, **t)
        self._kubeconfig = kubeconfig
        self._extra = tuple(extra)

    def _command(self) -> list[str]:
        pki = self._pki
        assert pki is not None
        return [
            _binary(self.name),
            f"--kubeconfig={self._kubeconfig}",
            "--leader-elect=false",
            f"--bind-address={_HOST}",
            f"--secure-port={self.port}",
            f"--tls-cert-file={pki.serving_cert}",
            f"--tls-private-key-file={pki.serving_key}",
            *self._extra,
        ]


class _ControllerManager(_Controller):
    name: ClassVar[str] = "kube-controller-manager"


class _Scheduler(_Controller):
    name: ClassVar[str] = "kube-scheduler"


class _Kwok(_HealthChecked):
    name: ClassVar[str] = "kwok"

    def __init__(self, data_dir: Path, kubeconfig: Path, stages: Sequence[Path], **timeouts: float) -> None:
        super().__init__(data_dir, None, **timeouts)
        self._kubeconfig = kubeconfig
        self._stages = tuple(stages)

    @property
    def url(self) -> str:
        return f"http://{_HOST}:{self.port}"

    @property
    def health_url(self) -> str:
        return f"{self.url}/healthz"

    def _command(self) -> list[str]:
        key, value = KWOK_NODE_ANNOTATION
        return [
            _binary("kwok"),
            f"--kubeconfig={self._kubeconfig}",
            # Only the test's nodes (annotated), never one kwok did not make fake.
            "--manage-all-nodes=false",
            f"--manage-nodes-with-annotation-selector={key}={value}",
            f"--cidr={POD_CIDR}",
            f"--node-ip={_HOST}",
            f"--node-lease-duration-seconds={NODE_LEASE_SECONDS}",
            f"--server-address={_HOST}:{self.port}",
            *(f"--config={stage}" for stage in self._stages),
        ]


class KubeControlPlane:
    """etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok, with fake nodes.

    :meth:`start` starts them in order (each ready before the next), writes :attr:`kubeconfig`
    (cluster-admin over client certificates) and creates one Ready fake node per entry of ``zones``,
    labelled ``topology.kubernetes.io/zone``. :meth:`stop` stops them in reverse order.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        zones: Sequence[str] = ("zone-a", "zone-b", "zone-c"),
        extra_stages: Sequence[Path] = (),
        startup_timeout: float = 180.0,
    ) -> None:
        """Prepare (not start) a control plane in ``data_dir``; ``extra_stages`` are more kwok Stage files."""
        self.data_dir = Path(data_dir).resolve()
        self.zones = tuple(zones)
        self._extra_stages = tuple(extra_stages)
        self._timeout = startup_timeout
        self._components: list[ManagedProcess] = []

    @property
    def kubeconfig(self) -> Path:
        """The admin kubeconfig (``system:masters``)."""
        return self.data_dir / "kubeconfig"

    @property
    def node_names(self) -> list[str]:
        """The fake nodes, one a zone (``kwok-node-0`` …)."""
        return [f"kwok-node-{index}" for index in range(len(self.zones))]

    def environment(self) -> dict[str, str]:
        """This process's environment with ``KUBECONFIG`` set (for kubectl and helm)."""
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig)}

    def kubectl(self, *args: str, stdin: str | None = None, timeout: float = 120.0) -> str:
        """Run kubectl against this cluster; return stdout; raise CalledProcessError (with stderr)."""
        result = self.kubectl_run(*args, stdin=stdin, timeout=timeout)
        if result.returncode != 0:
            raise subprocess.CalledProcessError(result.returncode, ["kubectl", *args], result.stdout, result.stderr)
        return result.stdout

    def kubectl_run(
        self, *args: str, stdin: str | None = None, timeout: float = 120.0
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl against this cluster and return the completed process, whatever its exit code."""
        return subprocess.run(
            [_binary("kubectl"), f"--kubeconfig={self.kubeconfig}", *args],
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )

    def get_json(self, *args: str) -> Any:
        """``kubectl get ARGS -o json``, parsed."""
        return json.loads(self.kubectl("get", *args, "-o", "json"))

    def start(self) -> None:
        """Start every component and create the fake nodes; wait until the nodes are Ready."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        pki = KubePki(self.data_dir / "pki")
        timeouts = {"startup_timeout": self._timeout}
        etcd = _Etcd(self.data_dir / "etcd", **timeouts)
        self._run(etcd)
        apiserver = _ApiServer(self.data_dir / "apiserver", pki, etcd.url, **timeouts)
        self._run(apiserver)
        self._write_kubeconfig(apiserver.url, pki)
        self._run(
            _ControllerManager(
                self.data_dir / "controller-manager",
                pki,
                self.kubeconfig,
                [
                    f"--service-account-private-key-file={pki.service_account_key}",
                    f"--root-ca-file={pki.ca_cert}",
                    "--use-service-account-credentials=false",
                ],
                **timeouts,
            )
        )
        self._run(_Scheduler(self.data_dir / "scheduler", pki, self.kubeconfig, [], **timeouts))
        stages_dir = tools_dir() / "kwok-stages"
        stages = [stages_dir / "node-fast.yaml", stages_dir / "pod-general.yaml", *self._extra_stages]
        self._run(_Kwok(self.data_dir / "kwok", self.kubeconfig, stages, **timeouts))
        self.kubectl("apply", "-f", "-", stdin=self._nodes_manifest())
        self.kubectl("wait", "--for=condition=Ready", "node", "--all", f"--timeout={int(self._timeout)}s",
                     timeout=self._timeout + 10)  # fmt: skip

    def _run(self, component: ManagedProcess) -> None:
        self._components.append(component)
        component.start()

    def _write_kubeconfig(self, server: str, pki: KubePki) -> None:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": "trademesh-test", "cluster": {"server": server, "certificate-authority": str(pki.ca_cert)}}
            ],
            "users": [
                {"name": "admin", "user": {"client-certificate": str(pki.admin_cert), "client-key": str(pki.admin_key)}}
            ],
            "contexts": [{"name": "trademesh-test", "context": {"cluster": "trademesh-test", "user": "admin"}}],
            "current-context": "trademesh-test",
        }
        self.kubeconfig.write_text(json.dumps(config, indent=2))  # JSON is YAML
        self.kubeconfig.chmod(0o600)

    def _nodes_manifest(self) -> str:
        key, value = KWOK_NODE_ANNOTATION
        nodes = [
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": name,
                    "annotations": {key: value},
                    "labels": {
                        "kubernetes.io/hostname": name,
                        "kubernetes.io/os": "linux",
                        "kubernetes.io/arch": "amd64",
                        "topology.kubernetes.io/zone": zone,
                        "type": "kwok",
                    },
                },
            }
            for name, zone in zip(self.node_names, self.zones, strict=True)
        ]
        return json.dumps({"apiVersion": "v1", "kind": "List", "items": nodes})

    def stop(self) -> None:
        """Stop every component, newest first. A no-op when nothing runs."""
        while self._components:
            component = self._components.pop()
            with contextlib.suppress(Exception):
                component.stop()

    def log_tails(self) -> str:
        """The end of every component's log (for failure messages)."""
        return "\n".join(f"--- {c.name}:\n{c.log_tail(1500)}" for c in self._components)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
