"""`python -m trademesh.devstack.up` (what `make up` runs) as a real subprocess on free ports."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import pytest

from trademesh.auth.v1 import auth_service_pb2, auth_service_pb2_grpc
from trademesh.devstack.processes import find_free_port
from trademesh.devstack.stack import free_base_port

START_TIMEOUT = 30.0
SUMMARY_END = "Ctrl-C stops everything."
# One summary row: component, address, PID, health, log file.
ROW = re.compile(r"^  (?P<name>\S+) +(?P<address>\S+) +(?P<pid>\d+) +(?P<health>\S+) +(?P<log>\S+)$", re.MULTILINE)


def _free_ports(count: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        port = find_free_port()
        if port not in ports:
            ports.append(port)
    return ports


def _command(data_dir: Path, *extra: str, redis_port: int | None = None) -> list[str]:
    redis, mongo, gateway, admin = _free_ports(4)
    base = free_base_port()  # the whole block of service ports free, not just the first
    return [
        sys.executable, "-m", "trademesh.devstack.up",
        "--data-dir", str(data_dir),
        "--redis-port", str(redis_port or redis),
        "--mongo-port", str(mongo),
        "--base-port", str(base),
        "--gateway-port", str(gateway),
        "--gateway-admin-port", str(admin),
        *extra,
    ]  # fmt: skip


def _summary(output: str) -> dict[str, re.Match[str]]:
    return {row["name"]: row for row in ROW.finditer(output) if row["name"] != "COMPONENT"}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie has exited; it only waits for its parent to reap it
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _kill_leftovers(pids: list[int]) -> None:
    for pid in pids:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_once_starts_everything_reports_auth_serving_and_leaves_nothing_running(tmp_path: Path) -> None:
    data = tmp_path / "data"
    result = subprocess.run(
        _command(data, "--once"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=START_TIMEOUT + 15,
        check=False,
    )
    rows = _summary(result.stdout)
    pids = [int(row["pid"]) for row in rows.values()]
    try:
        assert result.returncode == 0, result.stdout
        assert set(rows) >= {"redis", "ferretdb", "auth"}, result.stdout
        assert rows["auth"]["health"] == "SERVING"
        assert rows["auth"]["address"].startswith("127.0.0.1:")
        assert "health check: auth SERVING" in result.stdout
        assert rows["gateway"]["health"] == "SERVING"
        assert "health check: gateway SERVING" in result.stdout
        assert rows["notifications"]["health"] == "SERVING"
        assert (data / "mail" / "maildir" / "new").is_dir()  # the local SMTP server's Maildir
        assert f"gRPC and grpc-web for every service at {rows['gateway']['address']}" in result.stdout
        assert (data / "gateway" / "envoy.json").is_file()
        assert (data / "keys" / "signing-1.pem").is_file()
        assert "serving trademesh.auth.v1.AuthService" in (data / "logs" / "auth.log").read_text()
        # The demo trader the README promises was registered (or, on a later run, logged in) for real.
        assert "demo login: demo / Nifty-Fifty-2024" in result.stdout
        leftovers = [pid for pid in pids if _alive(pid)]
        assert not leftovers, f"still running after exit: {leftovers}"
    finally:
        _kill_leftovers(pids)


def test_sigint_stops_everything_and_exits_zero(tmp_path: Path) -> None:
    process = subprocess.Popen(
        _command(tmp_path / "data"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    summary_printed = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if line.strip() == SUMMARY_END:
                summary_printed.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    pids: list[int] = []
    try:
        assert summary_printed.wait(START_TIMEOUT), "".join(lines)
        rows = _summary("".join(lines))
        pids = [int(row["pid"]) for row in rows.values()]
        assert rows["auth"]["health"] == "SERVING"
        assert all(_alive(pid) for pid in pids)
        # The gateway routes to auth: a public call, and a protected one rejected at the edge.
        with grpc.insecure_channel(rows["gateway"]["address"]) as channel:
            stub = auth_service_pb2_grpc.AuthServiceStub(channel)
            assert stub.GetJwks(auth_service_pb2.GetJwksRequest(), timeout=10).keys
            with pytest.raises(grpc.RpcError) as rejected:
                stub.GetMe(auth_service_pb2.GetMeRequest(), timeout=10)
            assert rejected.value.code() == grpc.StatusCode.UNAUTHENTICATED

        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0, "".join(lines)
        reader.join(timeout=5)
        assert "SIGINT received; stopping" in "".join(lines)
        leftovers = [pid for pid in pids if _alive(pid)]
        assert not leftovers, f"still running after exit: {leftovers}"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        _kill_leftovers(pids)


def test_a_busy_port_fails_fast_naming_the_port_and_the_flag(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        busy = squatter.getsockname()[1]
        started = time.monotonic()
        result = subprocess.run(
            _command(tmp_path / "data", "--once", redis_port=busy),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=START_TIMEOUT,
            check=False,
        )
    assert result.returncode == 1, result.stdout
    assert f"port {busy} (redis) is already in use" in result.stdout
    assert "--redis-port" in result.stdout
    assert not ROW.search(result.stdout)  # nothing was started, so no summary
    assert time.monotonic() - started < 10


def test_a_busy_gateway_port_names_the_gateway_flag(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        busy = squatter.getsockname()[1]
        command = _command(tmp_path / "data", "--once")
        command[command.index("--gateway-port") + 1] = str(busy)
        result = subprocess.run(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=START_TIMEOUT, check=False
        )
    assert result.returncode == 1, result.stdout
    assert f"port {busy} (gateway) is already in use" in result.stdout
    assert "--gateway-port" in result.stdout


@pytest.mark.parametrize("flag", ["--redis-port", "--base-port", "--gateway-port", "--gateway-admin-port"])
def test_an_invalid_port_is_a_usage_error(tmp_path: Path, flag: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "trademesh.devstack.up", "--data-dir", str(tmp_path), flag, "70000"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "port out of range" in result.stderr
