"""`--mongodb-uri` / `TRADEMESH_TEST_MONGODB_URI` (tests/conftest.py): the suite uses the given MongoDB and
leaves it clean, or refuses to start when it does not answer.

The sessions under test are real pytest runs in a subprocess. A private FerretDB stands in for the given
MongoDB: no MongoDB can be installed here (decision 0002).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pymongo
import pytest
from pymongo import AsyncMongoClient

from tests.conftest import MONGODB_URI_OPTION, MONGODB_URI_VARIABLE, DatabaseServer, given_mongodb_uri
from trademesh.devstack.processes import FerretDBServer, find_free_port, repo_root


def _run_session(tmp_path: Path, *, option: str | None = None, variable: str | None = None) -> tuple[int, str]:
    """Run this module's first test in a pytest session of its own; return the exit code and output."""
    env = {key: value for key, value in os.environ.items() if key != MONGODB_URI_VARIABLE}
    if variable is not None:
        env[MONGODB_URI_VARIABLE] = variable
    command = [
        sys.executable, "-m", "pytest", "-p", "no:cacheprovider", f"--basetemp={tmp_path / 'session'}",
        f"{Path(__file__).relative_to(repo_root())}::test_database_server_is_the_given_mongodb_or_the_local_engine",
    ]  # fmt: skip
    if option is not None:
        command += [MONGODB_URI_OPTION, option]
    result = subprocess.run(command, cwd=repo_root(), env=env, capture_output=True, text=True, timeout=90, check=False)
    return result.returncode, result.stdout + result.stderr


async def test_database_server_is_the_given_mongodb_or_the_local_engine(
    request: pytest.FixtureRequest, database_server: DatabaseServer
) -> None:
    given = given_mongodb_uri(request.config)
    name = database_server.new_database_name()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(database_server.url)
    try:
        await client[name].probe.insert_one({"_id": 1})
        names = await client.list_database_names()
    finally:
        await client.close()

    if given is None:
        assert database_server.local_engine is not None
        assert database_server.url == database_server.local_engine.url
    else:
        assert (database_server.url, database_server.local_engine) == (given, None)
    assert name in names
    assert name.startswith(database_server.session_prefix)


@pytest.mark.slow
@pytest.mark.parametrize("how", ["option", "variable", "option over variable"])
def test_a_given_mongodb_is_used_and_its_session_databases_are_dropped(tmp_path: Path, how: str) -> None:
    with FerretDBServer(tmp_path / "given") as given:
        client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(given.url)
        client.kept.docs.insert_one({"_id": "not the session's"})
        if how == "option":
            code, output = _run_session(tmp_path, option=given.url)
        elif how == "variable":
            code, output = _run_session(tmp_path, variable=given.url)
        else:
            code, output = _run_session(tmp_path, option=given.url, variable="mongodb://127.0.0.1:1/")
        left = client.list_database_names()
        client.close()

    assert code == 0, output
    assert "1 passed" in output
    assert f"database: {given.url}" in output
    assert [name for name in left if name.startswith("test_")] == []
    assert "kept" in left


@pytest.mark.slow
def test_an_unreachable_mongodb_fails_the_session_with_a_clear_message(tmp_path: Path) -> None:
    port = find_free_port()  # nothing listens there

    code, output = _run_session(tmp_path, option=f"mongodb://trader:s3cret@127.0.0.1:{port}/")

    assert code == pytest.ExitCode.USAGE_ERROR, output
    assert (
        f"{MONGODB_URI_OPTION} / {MONGODB_URI_VARIABLE} is mongodb://trader:***@127.0.0.1:{port}/, "
        "but no MongoDB answers there"
    ) in output
    assert "s3cret" not in output
    assert "passed" not in output
