"""The access token a service presents to another service (role `service`, decision 0014)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

logger = logging.getLogger(__name__)

#: Metadata naming the user a service reads for (honoured only for a principal with role `service`).
ON_BEHALF_OF = "trademesh-on-behalf-of"


class ServiceToken:
    """The access token the service presents to another service, from a setting or a file.

    A file is re-read whenever its modification time changes, so a rotated Kubernetes Secret (or a
    re-issued dev token) takes effect without a restart.
    """

    def __init__(self, value: str = "", path: Path | None = None) -> None:
        if not value and path is None:
            raise ValueError("set TRADEMESH_SERVICE_TOKEN or TRADEMESH_SERVICE_TOKEN_FILE")
        self._value = value.strip()
        self._path = path
        self._stamp: float | None = None

    def current(self) -> str:
        """Return the token to send now."""
        if self._path is None:
            return self._value
        try:
            stamp = os.stat(self._path).st_mtime
            if stamp != self._stamp:
                self._value = self._path.read_text().strip()
                self._stamp = stamp
        except OSError:
            logger.warning("cannot read the service token file %s; using the last token read", self._path)
        return self._value

    def metadata(self, on_behalf_of: str = "") -> tuple[tuple[str, str], ...]:
        """Return the call metadata presenting the token, naming the user read for when `on_behalf_of` is set."""
        bearer = ("authorization", f"Bearer {self.current()}")
        return (bearer, (ON_BEHALF_OF, on_behalf_of)) if on_behalf_of else (bearer,)
