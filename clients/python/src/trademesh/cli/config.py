"""Where the CLI keeps its settings and the session tokens.

Both live in the user's config directory (``platformdirs``: ``$XDG_CONFIG_HOME/trademesh`` on Linux,
``~/Library/Application Support/trademesh`` on macOS), or in ``$TRADEMESH_CONFIG_DIR``:

* ``config.json`` — ``{"target": "host:port"}``, written by ``trademesh login --target``;
* ``credentials.json`` — the tokens of the last login, for the target they belong to. It holds a secret
  (the refresh token), so the directory is created ``0700`` and the file is written ``0600``, atomically
  (a temporary file renamed over the old one), since every token refresh rewrites it.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from platformdirs import user_config_dir

from trademesh.sdk import Tokens

__all__ = ["DEFAULT_TARGET", "CliConfig", "Credentials", "config_dir"]

#: The gateway of ``make up``.
DEFAULT_TARGET = "127.0.0.1:8080"
_CONFIG = "config.json"
_CREDENTIALS = "credentials.json"


def config_dir() -> Path:
    """Return the configuration directory (``$TRADEMESH_CONFIG_DIR`` or the platform's user config dir)."""
    override = os.environ.get("TRADEMESH_CONFIG_DIR")
    return Path(override) if override else Path(user_config_dir("trademesh", appauthor=False))


@dataclass(frozen=True, slots=True)
class Credentials:
    """A saved login: who, where, and the tokens."""

    #: The address the tokens were issued through.
    target: str
    #: The username (for display).
    username: str
    #: The tokens (secret).
    tokens: Tokens


def _write_private(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(descriptor, 0o600)
        with os.fdopen(descriptor, "w") as file:
            json.dump(data, file, indent=2)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


class CliConfig:
    """Reads and writes the CLI's files in one directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @property
    def credentials_path(self) -> Path:
        """The credentials file."""
        return self.directory / _CREDENTIALS

    def saved_target(self) -> str | None:
        """The target saved by ``login --target``, if any."""
        target = _read(self.directory / _CONFIG).get("target")
        return str(target) if target else None

    def save_target(self, target: str) -> None:
        """Remember ``target`` for later commands."""
        data = _read(self.directory / _CONFIG)
        data["target"] = target
        _write_private(self.directory / _CONFIG, data)

    def load_credentials(self, target: str) -> Credentials | None:
        """Return the saved login for ``target`` (None if none, or if it was for another target)."""
        data = _read(self.credentials_path)
        if data.get("target") != target:
            return None
        try:
            return Credentials(target, str(data.get("username", "")), Tokens.from_json(data["tokens"]))
        except (KeyError, TypeError, ValueError):
            return None

    def save_credentials(self, credentials: Credentials | None) -> None:
        """Save a login (or delete it with None)."""
        if credentials is None:
            with contextlib.suppress(FileNotFoundError):
                self.credentials_path.unlink()
            return
        _write_private(
            self.credentials_path,
            {"target": credentials.target, "username": credentials.username, "tokens": credentials.tokens.to_json()},
        )
