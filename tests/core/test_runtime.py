"""The shared runtime: error mapping, graceful shutdown, health, reflection, settings, remote JWKS."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc import aio
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.conftest import MeshUser
from tests.eventually import eventually
from tests.rpc import expect_failure, health_status
from trademesh.devstack.processes import find_free_port
from trademesh.kernel import errors
from trademesh.services.core.identity import current_principal
from trademesh.services.core.server import (
    ServiceHost,
    ServiceRegistration,
    build_remote_verifier,
    start_server,
)
from trademesh.services.core.settings import CoreSettings, SettingsError, load_settings

SERVICE = "test.Probe"


class Probe:
    """Handlers that exercise the runtime: echo the caller, fail in chosen ways, wait, stream."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.stopping: asyncio.Event | None = None

    async def whoami(self, request: bytes, context: aio.ServicerContext[bytes, bytes]) -> bytes:
        return current_principal().subject.encode()

    async def fail(self, request: bytes, context: aio.ServicerContext[bytes, bytes]) -> bytes:
        kind = request.decode()
        if kind == "invalid":
            raise errors.InvalidArgument(
                "bad", [errors.FieldViolation("a", "a is bad"), errors.FieldViolation("b.c", "c is bad")]
            )
        if kind == "exhausted":
            raise errors.ResourceExhausted("slow down", retry_after_seconds=1.5, reason="TOO_FAST")
        if kind == "connection":
            raise ConnectionRefusedError("db at 10.0.0.7:27017 refused")
        raise RuntimeError("secret internals: password=hunter2")

    async def wait(self, request: bytes, context: aio.ServicerContext[bytes, bytes]) -> bytes:
        self.entered.set()
        await asyncio.sleep(float(request.decode()))
        return b"done"

    async def stubborn(self, request: bytes, context: aio.ServicerContext[bytes, bytes]) -> bytes:
        # Like a library that swallows a cancellation: the handler finishes after its caller has gone.
        self.entered.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(float(request.decode()))
        return b"done anyway"

    async def ticks(self, request: bytes, context: aio.ServicerContext[bytes, bytes]) -> AsyncIterator[bytes]:
        count = 0
        assert self.stopping is not None
        while not self.stopping.is_set():
            count += 1
            yield str(count).encode()
            await asyncio.sleep(0.01)
            if request == b"fail" and count == 3:
                raise errors.FailedPrecondition("stream broke", reason="BROKEN")

    def handler(self) -> grpc.GenericRpcHandler:
        identity = {"request_deserializer": None, "response_serializer": None}
        return grpc.method_handlers_generic_handler(
            SERVICE,
            {
                "WhoAmI": grpc.unary_unary_rpc_method_handler(self.whoami, **identity),
                "Fail": grpc.unary_unary_rpc_method_handler(self.fail, **identity),
                "Wait": grpc.unary_unary_rpc_method_handler(self.wait, **identity),
                "Stubborn": grpc.unary_unary_rpc_method_handler(self.stubborn, **identity),
                "Ticks": grpc.unary_stream_rpc_method_handler(self.ticks, **identity),
            },
        )


@pytest.fixture(params=["none"])
async def probe(
    core_settings: Callable[..., dict[str, Any]], request: pytest.FixtureRequest
) -> AsyncIterator[tuple[Probe, ServiceHost, aio.Channel]]:
    settings = CoreSettings(**core_settings(service_name="probe", tracing_exporter=request.param))
    probe = Probe()
    registration = ServiceRegistration(
        name=SERVICE,
        add_to_server=lambda server: server.add_generic_rpc_handlers((probe.handler(),)),
        public_methods={"Fail", "Wait", "Stubborn", "Ticks"},
    )
    host = await start_server(settings, [registration], build_remote_verifier(settings, None))
    probe.stopping = host.stopping
    channel = aio.insecure_channel(f"127.0.0.1:{host.port}")
    yield probe, host, channel
    await channel.close()
    await host.stop(0)


def _unary(channel: aio.Channel, method: str) -> aio.UnaryUnaryMultiCallable[bytes, bytes]:
    return channel.unary_unary(f"/{SERVICE}/{method}")


async def test_domain_errors_carry_code_reason_and_details(probe: tuple[Probe, ServiceHost, aio.Channel]) -> None:
    _, _, channel = probe

    invalid = await expect_failure(_unary(channel, "Fail")(b"invalid"))
    exhausted = await expect_failure(_unary(channel, "Fail")(b"exhausted"))

    assert invalid.code == grpc.StatusCode.INVALID_ARGUMENT
    assert invalid.violations == {"a": "a is bad", "b.c": "c is bad"}
    assert invalid.reason == "INVALID_ARGUMENT"
    assert (exhausted.code, exhausted.reason, exhausted.retry_delay_seconds) == (
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "TOO_FAST",
        1.5,
    )


async def test_unknown_errors_are_internal_without_internals(probe: tuple[Probe, ServiceHost, aio.Channel]) -> None:
    _, _, channel = probe

    failure = await expect_failure(_unary(channel, "Fail")(b"boom"))
    dependency = await expect_failure(_unary(channel, "Fail")(b"connection"))

    assert (failure.code, failure.message) == (grpc.StatusCode.INTERNAL, "internal error")
    assert "hunter2" not in failure.message
    assert dependency.code == grpc.StatusCode.UNAVAILABLE
    assert "10.0.0.7" not in dependency.message


async def test_protected_method_needs_a_token_verified_with_remote_jwks(
    probe: tuple[Probe, ServiceHost, aio.Channel], new_user: Callable[[], Any]
) -> None:
    _, _, channel = probe
    user: MeshUser = await new_user()

    anonymous = await expect_failure(_unary(channel, "WhoAmI")(b""))
    answer = await _unary(channel, "WhoAmI")(b"", metadata=user.metadata)

    assert (anonymous.code, anonymous.reason) == (grpc.StatusCode.UNAUTHENTICATED, "TOKEN_MISSING")
    assert answer.decode() == user.user_id


async def test_each_call_is_checked_and_logged_on_its_own_though_the_wrapped_handler_is_reused(
    probe: tuple[Probe, ServiceHost, aio.Channel], new_user: Callable[[], Any], caplog: pytest.LogCaptureFixture
) -> None:
    # The server's interceptor chain wraps a method's handler once (InterceptorChain): nothing of one
    # call (its caller, its request id, its status) may carry over to the next call of that method.
    _, _, channel = probe
    caplog.set_level(logging.INFO, logger="trademesh.access")
    first: MeshUser = await new_user()
    second: MeshUser = await new_user()
    who = _unary(channel, "WhoAmI")

    answers = [
        await who(b"", metadata=(*first.metadata, ("x-request-id", "call-1"))),
        await who(b"", metadata=(*second.metadata, ("x-request-id", "call-2"))),
    ]
    anonymous = await expect_failure(who(b"", metadata=(("x-request-id", "call-3"),)))
    unknown = [await expect_failure(_unary(channel, "NoSuchMethod")(b"")) for _ in range(2)]

    assert [answer.decode() for answer in answers] == [first.user_id, second.user_id]
    assert (anonymous.code, anonymous.reason) == (grpc.StatusCode.UNAUTHENTICATED, "TOKEN_MISSING")
    assert [(await _logged(caplog, rid))["code"] for rid in ("call-1", "call-2", "call-3")] == [
        "OK",
        "OK",
        "UNAUTHENTICATED",
    ]
    assert [failure.code for failure in unknown] == [grpc.StatusCode.UNIMPLEMENTED] * 2


async def test_streaming_errors_are_mapped_and_streams_end_on_shutdown(
    probe: tuple[Probe, ServiceHost, aio.Channel],
) -> None:
    _, host, channel = probe
    ticks: aio.UnaryStreamMultiCallable[bytes, bytes] = channel.unary_stream(f"/{SERVICE}/Ticks")

    broken = ticks(b"fail")
    received = [item async for item in _until_error(broken)]
    assert await broken.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert received == [b"1", b"2", b"3"]

    stream = ticks(b"")
    first = await stream.read()
    stopping = asyncio.create_task(host.stop(5))
    rest = []
    while (item := await stream.read()) is not aio.EOF:
        rest.append(item)
    await stopping
    assert first == b"1"
    assert await stream.code() == grpc.StatusCode.OK
    assert len(rest) < 1000


async def _until_error(call: aio.UnaryStreamCall[bytes, bytes]) -> AsyncIterator[bytes]:
    try:
        async for item in call:
            yield item
    except aio.AioRpcError:
        return


async def test_graceful_shutdown_lets_in_flight_calls_finish(probe: tuple[Probe, ServiceHost, aio.Channel]) -> None:
    handlers, host, channel = probe
    assert await health_status(channel) == health_pb2.HealthCheckResponse.SERVING

    in_flight = asyncio.ensure_future(_unary(channel, "Wait")(b"0.5"))
    await handlers.entered.wait()
    started = time.monotonic()
    await host.stop(grace=5)

    assert await in_flight == b"done"
    assert time.monotonic() - started < 4
    after = await expect_failure(_unary(channel, "Wait")(b"0", timeout=2))
    assert after.code == grpc.StatusCode.UNAVAILABLE


async def test_health_and_reflection_list_the_service(probe: tuple[Probe, ServiceHost, aio.Channel]) -> None:
    _, _, channel = probe
    reflect = channel.stream_stream(
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
        response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
    )

    status = await health_status(channel, SERVICE)
    responses = [
        response async for response in reflect(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    ]

    assert status == health_pb2.HealthCheckResponse.SERVING
    names = {service.name for service in responses[0].list_services_response.service}
    assert {SERVICE, "grpc.health.v1.Health"} <= names


def test_bad_settings_name_every_bad_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEMESH_GRPC_PORT", "99999")
    monkeypatch.setenv("TRADEMESH_TRACING_EXPORTER", "zipkin")

    with pytest.raises(SettingsError) as error:
        load_settings(CoreSettings)

    assert "TRADEMESH_GRPC_PORT" in str(error.value)
    assert "TRADEMESH_TRACING_EXPORTER" in str(error.value)


def _service_env(core_settings: Callable[..., dict[str, Any]], **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEMESH_")}
    for key, value in core_settings(**extra).items():
        env[f"TRADEMESH_{key.upper()}"] = str(value)
    return env


def test_auth_process_without_keys_explains_the_missing_setting(
    core_settings: Callable[..., dict[str, Any]],
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "trademesh.services.auth"],
        env=_service_env(core_settings),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2
    assert "TRADEMESH_SIGNING_KEY_FILES" in result.stderr


async def test_auth_process_drains_and_exits_cleanly_on_sigterm(
    core_settings: Callable[..., dict[str, Any]], key_dir: Path
) -> None:
    port = find_free_port()
    process = subprocess.Popen(  # noqa: ASYNC220 - a short, non-blocking spawn
        [sys.executable, "-m", "trademesh.services.auth"],
        env=_service_env(
            core_settings,
            grpc_port=str(port),
            jwks_http_host="127.0.0.1",
            jwks_http_port="0",
            signing_key_files=str(key_dir / "active.pem"),
            log_format="json",
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        async with aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            status = await health_status(channel, wait_for_ready=True, timeout=30)
            assert status == health_pb2.HealthCheckResponse.SERVING
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.to_thread(process.communicate, timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0
    assert '"message": "stopped"' in stderr


@pytest.mark.parametrize("probe", ["console"], indirect=True)
async def test_calls_are_traced_and_access_logged_with_the_request_id(
    probe: tuple[Probe, ServiceHost, aio.Channel], caplog: pytest.LogCaptureFixture
) -> None:
    _, _, channel = probe
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    caplog.set_level(logging.INFO, logger="trademesh.access")

    await expect_failure(_unary(channel, "Fail")(b"invalid", metadata=(("x-request-id", "req-42"),)))

    spans = [span for span in exporter.get_finished_spans() if span.name == f"/{SERVICE}/Fail"]
    assert len(spans) == 1
    assert spans[0].attributes is not None
    assert spans[0].attributes["rpc.grpc.status_code"] == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    records = [record for record in caplog.records if getattr(record, "request_id", None) == "req-42"]
    assert len(records) == 1
    assert records[0].__dict__["code"] == "INVALID_ARGUMENT"
    assert records[0].__dict__["method"] == f"/{SERVICE}/Fail"


def _access_records(caplog: pytest.LogCaptureFixture, request_id: str) -> list[dict[str, Any]]:
    return [
        record.__dict__
        for record in caplog.records
        if record.name == "trademesh.access" and getattr(record, "request_id", None) == request_id
    ]


async def _logged(caplog: pytest.LogCaptureFixture, request_id: str) -> dict[str, Any]:
    async def written() -> bool:
        return bool(_access_records(caplog, request_id))

    await eventually(written)
    (record,) = _access_records(caplog, request_id)
    return record


@pytest.mark.parametrize("method", ["Wait", "Stubborn"])
async def test_a_call_the_client_cancels_is_logged_cancelled_not_ok(
    probe: tuple[Probe, ServiceHost, aio.Channel], caplog: pytest.LogCaptureFixture, method: str
) -> None:
    handlers, _, channel = probe
    caplog.set_level(logging.INFO, logger="trademesh.access")

    call = _unary(channel, method)(b"30", metadata=(("x-request-id", "gave-up"),))
    await handlers.entered.wait()
    call.cancel()
    record = await _logged(caplog, "gave-up")

    assert await call.code() == grpc.StatusCode.CANCELLED
    assert record["code"] == "CANCELLED"
    assert record["duration_ms"] < 30_000


@pytest.mark.parametrize("method", ["Wait", "Stubborn"])
async def test_a_call_past_its_deadline_is_logged_deadline_exceeded(
    probe: tuple[Probe, ServiceHost, aio.Channel], caplog: pytest.LogCaptureFixture, method: str
) -> None:
    _, _, channel = probe
    caplog.set_level(logging.INFO, logger="trademesh.access")

    failure = await expect_failure(_unary(channel, method)(b"30", timeout=0.3, metadata=(("x-request-id", "late"),)))
    record = await _logged(caplog, "late")

    assert failure.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert record["code"] == "DEADLINE_EXCEEDED"
    assert record["duration_ms"] < 30_000


async def test_a_stream_the_client_cancels_is_logged_cancelled_with_its_messages(
    probe: tuple[Probe, ServiceHost, aio.Channel], caplog: pytest.LogCaptureFixture
) -> None:
    _, _, channel = probe
    caplog.set_level(logging.INFO, logger="trademesh.access")
    ticks: aio.UnaryStreamMultiCallable[bytes, bytes] = channel.unary_stream(f"/{SERVICE}/Ticks")

    stream = ticks(b"", metadata=(("x-request-id", "stream-gave-up"),))
    received = [await stream.read(), await stream.read()]
    stream.cancel()
    record = await _logged(caplog, "stream-gave-up")
    finished = await _unary(channel, "Wait")(b"0", metadata=(("x-request-id", "finished"),))

    assert received == [b"1", b"2"]
    assert record["code"] == "CANCELLED"
    assert record["messages"] >= 2
    # A call that ends normally is still OK.
    assert finished == b"done"
    assert (await _logged(caplog, "finished"))["code"] == "OK"


def test_service_processes_freeze_start_up_objects_and_collect_young_garbage_rarely() -> None:
    # In a child process: freezing is process-wide and would keep this test run's garbage forever.
    script = (
        "import gc\n"
        "from trademesh.services.core.server import tune_gc\n"
        "defaults = gc.get_threshold()\n"
        "tune_gc(0)\n"
        "untouched = (gc.get_threshold() == defaults, gc.get_freeze_count())\n"
        "tune_gc(50000)\n"
        "print(untouched, gc.get_threshold(), defaults, gc.get_freeze_count() > 1000)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)

    # 0 leaves CPython's collector alone; otherwise the young threshold is raised, the older ones kept,
    # and the thousands of objects start-up made are frozen.
    assert result.stdout.strip() == "(True, 0) (50000, 10, 10) (700, 10, 10) True"
