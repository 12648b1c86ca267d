"""Server interceptors shared by every service (built on grpc-interceptor's async support).

Order, outermost first: tracing → access log → error mapping → authentication. So auth failures are
mapped like every other error, and the access log and span see the final status code. The server
installs them as one `InterceptorChain`, which wraps each method's handler once and reuses it.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from typing import Any, TypeAlias, cast

import grpc
from google.protobuf import duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc import aio
from grpc_interceptor.server import AsyncServerInterceptor
from grpc_status import rpc_status
from opentelemetry import metrics, trace
from opentelemetry.trace import SpanKind, StatusCode
from pymongo.errors import ConnectionFailure, OperationFailure
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from trademesh.kernel import errors
from trademesh.services.core.identity import Principal, bind_principal
from trademesh.services.core.tokens import AccessTokenVerifier

logger = logging.getLogger(__name__)
access_logger = logging.getLogger("trademesh.access")
# Streams record their whole life; a no-op until metrics are on (trademesh.services.core.metrics).
_RPC_DURATION = metrics.get_meter(__name__).create_histogram(
    "rpc.server.duration", unit="s", description="Duration of server calls (streams: their whole life)."
)

ERROR_DOMAIN = "trademesh.dev"
REQUEST_ID_KEY = "x-request-id"

_CODES: dict[type[errors.DomainError], grpc.StatusCode] = {
    errors.InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    errors.NotFound: grpc.StatusCode.NOT_FOUND,
    errors.AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    errors.FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    errors.Aborted: grpc.StatusCode.ABORTED,
    errors.Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    errors.PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    errors.ResourceExhausted: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.Unavailable: grpc.StatusCode.UNAVAILABLE,
}

# Infrastructure failures that mean "a dependency is down": the caller should retry later.
_UNAVAILABLE_ERRORS = (ConnectionFailure, RedisConnectionError, RedisTimeoutError, ConnectionError, TimeoutError)


def metadata_value(context: aio.ServicerContext[Any, Any], key: str) -> str | None:
    """Return the first value of invocation metadata `key`, if present."""
    for item_key, value in context.invocation_metadata() or ():
        if item_key == key:
            return value.decode() if isinstance(value, bytes) else str(value)
    return None


def status_code(context: aio.ServicerContext[Any, Any]) -> grpc.StatusCode:
    """Return the status the call ended (or will end) with; OK when none was set."""
    code: grpc.StatusCode | None = context.code()
    return grpc.StatusCode.OK if code is None else code


def to_rpc_status(error: errors.DomainError, service: str) -> grpc.Status:
    """Build the gRPC status (with google.rpc details) that reports `error`."""
    code = _CODES.get(type(error)) or next(
        (code for kind, code in _CODES.items() if isinstance(error, kind)), grpc.StatusCode.UNKNOWN
    )
    metadata = errors.bound_metadata(error.metadata)
    message = errors.bounded_text(error.message, errors.MAX_MESSAGE_CHARS)
    details: list[Any] = []
    if isinstance(error, errors.InvalidArgument) and error.violations:
        # Bounded: the first few violations and the count, however many items the request got wrong.
        bounded = errors.bound_violations(error.violations)
        if bounded.omitted:
            metadata["violation_count"] = str(bounded.total)
            message = errors.bounded_text(
                f"{message} ({len(bounded.reported)} of {bounded.total} violations reported)", errors.MAX_MESSAGE_CHARS
            )
        details.append(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
                    for v in bounded.reported
                ]
            )
        )
    info = error_details_pb2.ErrorInfo(reason=error.reason, domain=f"{service}.{ERROR_DOMAIN}")
    info.metadata.update(metadata)
    details.insert(0, info)
    if isinstance(error, errors.ResourceExhausted) and error.retry_after_seconds is not None:
        delay = duration_pb2.Duration()
        delay.FromNanoseconds(int(error.retry_after_seconds * 1e9))
        details.append(error_details_pb2.RetryInfo(retry_delay=delay))
    status = status_pb2.Status(code=code.value[0], message=message)
    for detail in details:
        status.details.add().Pack(detail)
    return rpc_status.to_status(status)


def _map_exception(error: BaseException, service: str, method: str) -> grpc.Status | None:
    if isinstance(error, errors.DomainError):
        return to_rpc_status(error, service)
    if isinstance(error, _UNAVAILABLE_ERRORS) or (
        isinstance(error, OperationFailure) and error.code in (91, 189, 11600, 11602)
    ):
        logger.warning("dependency unavailable in %s: %r", method, error)
        return to_rpc_status(errors.Unavailable("a backing service is unavailable; retry later"), service)
    if isinstance(error, aio.AbortError | grpc.RpcError):
        return None
    logger.error("unhandled error in %s", method, exc_info=error)
    status = status_pb2.Status(code=code_pb2.INTERNAL, message="internal error")
    return rpc_status.to_status(status)


class ErrorInterceptor(AsyncServerInterceptor):
    """Map domain errors to gRPC codes with google.rpc details; hide unknown errors as INTERNAL."""

    def __init__(self, service: str) -> None:
        self._service = service

    async def intercept(
        self, method: Callable[..., Any], request: Any, context: aio.ServicerContext[Any, Any], method_name: str
    ) -> Any:
        try:
            response = method(request, context)
            if hasattr(response, "__aiter__"):
                return self._stream(response, context, method_name)
            return await response
        except Exception as error:
            await self._abort(error, context, method_name)

    async def _stream(
        self, responses: AsyncIterator[Any], context: aio.ServicerContext[Any, Any], method_name: str
    ) -> AsyncIterator[Any]:
        try:
            async for item in responses:
                yield item
        except Exception as error:
            await self._abort(error, context, method_name)

    async def _abort(self, error: Exception, context: aio.ServicerContext[Any, Any], method_name: str) -> None:
        status = _map_exception(error, self._service, method_name)
        if status is None:
            raise error
        await context.abort(status.code, status.details, trailing_metadata=status.trailing_metadata)


class AuthInterceptor(AsyncServerInterceptor):
    """Verify the bearer access token of every non-public RPC and bind the caller's identity."""

    def __init__(self, verifier: AccessTokenVerifier, public_methods: Collection[str]) -> None:
        self._verifier = verifier
        self._public = frozenset(public_methods)

    async def intercept(
        self, method: Callable[..., Any], request: Any, context: aio.ServicerContext[Any, Any], method_name: str
    ) -> Any:
        header = metadata_value(context, "authorization")
        public = method_name in self._public or method_name.startswith("/grpc.")
        if header is None:
            if not public:
                raise errors.Unauthenticated("this call needs an access token", reason="TOKEN_MISSING")
            bind_principal(None)
        else:
            try:
                bind_principal(await self._verify(header))
            except errors.Unauthenticated:
                # A stale token sent along with a public call (e.g. Refresh) must not block it.
                if not public:
                    raise
                bind_principal(None)
        response = method(request, context)
        if hasattr(response, "__aiter__"):
            return response
        return await response

    async def _verify(self, header: str) -> Principal:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise errors.Unauthenticated("authorization must be 'Bearer <token>'", reason="TOKEN_INVALID")
        return await self._verifier.verify(token.strip())


def ended_code(context: aio.ServicerContext[Any, Any], cancelled: bool) -> grpc.StatusCode:
    """Return the status a call ended with, as its client saw it.

    ``cancelled``: the handler's task was cancelled. grpc.aio cancels it when the client cancels the call,
    its deadline passes or its stream is reset (a proxy giving up), and the call then ends without the
    handler setting a code; ``context.cancelled()`` stays False (it only reports a server-side cancel()).
    A call whose deadline has passed ended DEADLINE_EXCEEDED whatever the handler did; one cancelled
    before, CANCELLED.
    """
    remaining = context.time_remaining()
    if remaining is not None and remaining <= 0:
        return grpc.StatusCode.DEADLINE_EXCEEDED
    if cancelled:
        return grpc.StatusCode.CANCELLED
    return status_code(context)


def _cancel_requested() -> bool:
    # A cancellation some library swallowed (no CancelledError reached us) still counts on the task.
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


class AccessLogInterceptor(AsyncServerInterceptor):
    """Give every call a request id (from `x-request-id` or new) and log one JSON line per call.

    A call the client cancelled (or whose deadline passed) is logged CANCELLED (DEADLINE_EXCEEDED), with
    the time until then — not OK.
    """

    async def intercept(
        self, method: Callable[..., Any], request: Any, context: aio.ServicerContext[Any, Any], method_name: str
    ) -> Any:
        started = time.perf_counter()
        response = method(request, context)
        if hasattr(response, "__aiter__"):
            return self._stream(response, context, method_name, started)
        cancelled = False
        try:
            return await response
        except asyncio.CancelledError:
            cancelled = True
            raise
        finally:
            cancelled = cancelled or _cancel_requested()
            self._log(context, method_name, started, streamed=None, cancelled=cancelled)

    async def _stream(
        self,
        responses: AsyncIterator[Any],
        context: aio.ServicerContext[Any, Any],
        method_name: str,
        started: float,
    ) -> AsyncIterator[Any]:
        count = 0
        cancelled = False
        try:
            async for item in responses:
                count += 1
                yield item
        except (asyncio.CancelledError, GeneratorExit):
            # GeneratorExit: grpc.aio closed the stream before its end, i.e. the call is over.
            cancelled = True
            raise
        finally:
            cancelled = cancelled or _cancel_requested()
            self._log(context, method_name, started, streamed=count, cancelled=cancelled)

    @staticmethod
    def _log(
        context: aio.ServicerContext[Any, Any],
        method_name: str,
        started: float,
        streamed: int | None,
        cancelled: bool,
    ) -> None:
        seconds = time.perf_counter() - started
        code = ended_code(context, cancelled).name
        _RPC_DURATION.record(seconds, {"rpc.method": method_name, "rpc.grpc.status_code": code})
        if not access_logger.isEnabledFor(logging.INFO):
            return
        # The request id is only the log line's: read (or made) when a line is written.
        fields: dict[str, Any] = {
            "request_id": metadata_value(context, REQUEST_ID_KEY) or uuid.uuid4().hex,
            "method": method_name,
            "code": code,
            "duration_ms": round(seconds * 1000, 3),
            "peer": context.peer(),
        }
        if streamed is not None:
            fields["messages"] = streamed
        access_logger.info("rpc", extra=fields)


class TracingInterceptor(AsyncServerInterceptor):
    """Open a server span per RPC (only installed when tracing is configured)."""

    def __init__(self) -> None:
        self._tracer = trace.get_tracer("trademesh.grpc")

    async def intercept(
        self, method: Callable[..., Any], request: Any, context: aio.ServicerContext[Any, Any], method_name: str
    ) -> Any:
        span = self._tracer.start_span(
            method_name, kind=SpanKind.SERVER, attributes={"rpc.system": "grpc", "rpc.method": method_name}
        )
        with trace.use_span(span, end_on_exit=False):
            response = method(request, context)
        if hasattr(response, "__aiter__"):
            return self._stream(response, context, span)
        with trace.use_span(span, end_on_exit=True):
            try:
                return await response
            finally:
                self._finish(span, context)

    async def _stream(
        self, responses: AsyncIterator[Any], context: aio.ServicerContext[Any, Any], span: trace.Span
    ) -> AsyncIterator[Any]:
        with trace.use_span(span, end_on_exit=True):
            try:
                async for item in responses:
                    yield item
            finally:
                self._finish(span, context)

    @staticmethod
    def _finish(span: trace.Span, context: aio.ServicerContext[Any, Any]) -> None:
        code = status_code(context)
        span.set_attribute("rpc.grpc.status_code", code.value[0])
        if code not in (grpc.StatusCode.OK,):
            span.set_status(StatusCode.ERROR, code.name)


_Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"


class InterceptorChain(aio.ServerInterceptor):
    """Apply `interceptors` (outermost first) to a method's handler once, then reuse the wrapped handler.

    Installed as the server's only interceptor. Each grpc-interceptor layer otherwise rebuilds its
    wrapper on every call (its `intercept_service`), and grpc.aio runs the chain per call. A wrapped
    handler depends only on the method (the interceptors get the request and context per call), so it
    is cached by method name; only methods the server has (a handler was found) are cached.
    """

    def __init__(self, interceptors: Sequence[AsyncServerInterceptor]) -> None:
        self._interceptors = tuple(reversed(interceptors))  # innermost first: the order they wrap in
        self._handlers: dict[str, _Handler] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[_Handler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> _Handler | None:
        method: str = handler_call_details.method
        handler = self._handlers.get(method)
        if handler is not None:
            return handler
        found = await continuation(handler_call_details)
        if not found:
            return None  # not implemented: grpc answers UNIMPLEMENTED, nothing to wrap
        handler = found
        for interceptor in self._interceptors:
            wrap = cast(Callable[..., Awaitable[_Handler]], interceptor.intercept_service)  # the library is untyped
            handler = await wrap(_returning(handler), handler_call_details)
        self._handlers[method] = handler
        return handler


def _returning(
    handler: _Handler,
) -> Callable[[grpc.HandlerCallDetails], Awaitable[_Handler]]:
    async def continuation(_: grpc.HandlerCallDetails) -> _Handler:
        return handler

    return continuation
