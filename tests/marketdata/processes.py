"""Market-data replicas and a dedicated ingest as real child processes, for reliability tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.eventually import eventually
from trademesh.devstack.processes import find_free_port

ROOT = Path(__file__).resolve().parents[2]


class ServiceProcess:
    """`python -m <module>` with `TRADEMESH_*` settings, its output in a log file."""

    def __init__(self, module: str, settings: dict[str, Any], log: Path) -> None:
        self.module = module
        self.port = int(settings.get("grpc_port") or find_free_port())
        self.env = {**os.environ, **{f"TRADEMESH_{k.upper()}": str(v) for k, v in settings.items()}}
        self.env["TRADEMESH_GRPC_PORT"] = str(self.port)
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Self:
        """Start the process."""
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", self.module], cwd=ROOT, env=self.env, stdout=output, stderr=output
            )
        return self

    async def wait_serving(self, within: float = 20.0) -> None:
        """Wait until the gRPC health check says SERVING."""
        async with aio.insecure_channel(f"127.0.0.1:{self.port}") as channel:
            stub: Any = health_pb2_grpc.HealthStub(channel)

            async def serving() -> bool:
                assert self.process is not None, "not started"
                assert self.process.poll() is None, self.log.read_text()[-3000:]
                response = await stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                return bool(response.status == health_pb2.HealthCheckResponse.SERVING)

            await eventually(
                serving,
                within=within,
                interval=0.1,
                ignoring=(aio.AioRpcError,),
                what=f"{self.module} serving",
                details=lambda: self.log.read_text()[-3000:],
            )

    def kill(self) -> None:
        """SIGKILL (a crash)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
