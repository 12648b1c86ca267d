"""One key of a Kubernetes Secret, written from inside the cluster: the service-token rotation CronJob.

The job runs under its own ServiceAccount, whose Role may only `get` and `patch` that one Secret
(helm/trademesh/templates/token-rotation.yaml); the sync pods see the new token in their mounted file
within a minute and re-read it (docs/decisions/0014-service-identity-for-reconcile.md).
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

#: Where Kubernetes mounts a pod's ServiceAccount token, its CA and namespace.
SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class KubernetesApiError(RuntimeError):
    """Raise when the API server refuses or cannot be reached."""


@dataclass(frozen=True, slots=True)
class KubernetesApi:
    """The API server as a pod reaches it: base URL, bearer token, namespace and the cluster's CA."""

    base_url: str
    token: str
    namespace: str
    ssl_context: ssl.SSLContext | None = None

    @classmethod
    def in_cluster(cls, environ: Mapping[str, str] | None = None, account_dir: Path | None = None) -> KubernetesApi:
        """Read the pod's in-cluster configuration (the same sources client-go's InClusterConfig reads)."""
        environ = os.environ if environ is None else environ
        account_dir = SERVICE_ACCOUNT_DIR if account_dir is None else account_dir
        host = environ.get("KUBERNETES_SERVICE_HOST")
        port = environ.get("KUBERNETES_SERVICE_PORT", "443")
        if not host:
            raise KubernetesApiError("not in a Kubernetes pod: KUBERNETES_SERVICE_HOST is not set")
        if ":" in host:  # an IPv6 address
            host = f"[{host}]"
        try:
            token = (account_dir / "token").read_text().strip()
            namespace = (account_dir / "namespace").read_text().strip()
        except OSError as error:
            raise KubernetesApiError(
                f"no ServiceAccount token in {account_dir} (automountServiceAccountToken?): {error}"
            ) from error
        context = ssl.create_default_context(cafile=str(account_dir / "ca.crt"))
        return cls(f"https://{host}:{port}", token, namespace, context)

    def set_secret_key(self, name: str, key: str, value: str) -> None:
        """Set one key of an existing Secret, leaving its other keys alone (a JSON merge patch)."""
        body = json.dumps({"data": {key: base64.b64encode(value.encode()).decode()}}).encode()
        url = f"{self.base_url}/api/v1/namespaces/{quote(self.namespace)}/secrets/{quote(name)}"
        if not url.startswith(("https://", "http://")):
            raise KubernetesApiError(f"not an HTTP(S) API server URL: {self.base_url}")
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
            url,
            data=body,
            method="PATCH",
            headers={
                "Authorization": f"Bearer {self.token}",
                "Content-Type": "application/merge-patch+json",
                "Accept": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=15, context=self.ssl_context) as response:  # noqa: S310
                response.read()
        except urllib.error.HTTPError as error:
            # The API's Status message says what is wrong (missing Secret, forbidden...).
            try:
                message = json.loads(error.read()).get("message", "")
            except ValueError:
                message = ""
            raise KubernetesApiError(
                f"could not update Secret {self.namespace}/{name}: HTTP {error.code} {message}".rstrip()
            ) from error
        except OSError as error:
            raise KubernetesApiError(f"could not reach the API server at {self.base_url}: {error}") from error
