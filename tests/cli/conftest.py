"""The session's running mesh (see :mod:`tests.client_mesh`) and a runner of the real ``trademesh`` command."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.client_mesh import PASSWORD, RunningMesh, acquire_mesh, new_username, release_mesh


@pytest.fixture(scope="session")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningMesh]:
    """The mesh ``make up`` runs, on free ports, shared by every client test of the session."""
    yield acquire_mesh(tmp_path_factory.mktemp("mesh"))
    release_mesh()


#: The installed console script, next to this interpreter.
TRADEMESH = str(Path(sys.executable).with_name("trademesh"))

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    return tmp_path / "config"


@pytest.fixture
def cli(mesh: RunningMesh, config_dir: Path) -> Run:
    """Run ``trademesh ARGS`` with its own config dir, against the mesh's gateway."""

    def run(*args: str, target: str | None = None, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "TRADEMESH_CONFIG_DIR": str(config_dir),
            "TRADEMESH_TARGET": target or mesh.gateway,
            "TRADEMESH_PASSWORD": "",
            "COLUMNS": "200",
        }
        return subprocess.run(
            [TRADEMESH, *args], capture_output=True, text=True, env=env, timeout=timeout, check=False, stdin=None
        )

    return run


@pytest.fixture
def logged_in(cli: Run) -> str:
    """Register a new user through the CLI (which logs in); return the username."""
    name = new_username()
    result = cli("register", "--email", f"{name}@example.com", "--username", name, "--password", PASSWORD)
    assert result.returncode == 0, result.stderr
    return name


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr}"
    return result.stdout
