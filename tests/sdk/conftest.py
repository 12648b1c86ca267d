"""The session's running mesh (see :mod:`tests.client_mesh`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.client_mesh import RunningMesh, acquire_mesh, release_mesh


@pytest.fixture(scope="session")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningMesh]:
    """The mesh ``make up`` runs, on free ports, shared by every client test of the session."""
    yield acquire_mesh(tmp_path_factory.mktemp("mesh"))
    release_mesh()
