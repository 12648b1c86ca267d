"""Client interceptors: default deadlines, the access token on every protected call, one error type.

Call credentials would be the textbook way to attach a token, but gRPC sends them only over TLS (or
local) channels, and the local mesh is plaintext; an interceptor works on both. For each call:

1. a unary call without a ``timeout`` gets the default deadline (streams get none: they are long-lived);
2. a protected call gets ``authorization: Bearer <access token>``, refreshed first when it is about to
   expire; if the server still answers UNAUTHENTICATED (clock skew, a key rotation), the token is
   refreshed once and the unary call sent once more;
3. a failure is raised as :class:`~trademesh.sdk.errors.TrademeshError`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
from grpc import aio

from trademesh.sdk.errors import error_from_rpc
from trademesh.sdk.options import PUBLIC_METHODS, SLOW_METHODS, STREAMING_METHODS, ClientOptions
from trademesh.sdk.session import AsyncSession, SyncSession

__all__ = ["AsyncStreamInterceptor", "AsyncUnaryInterceptor", "SyncClientInterceptor", "client_interceptors"]

_AUTHORIZATION = "authorization"


def _method(raw: str | bytes) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


def _timeout(method: str, timeout: float | None, options: ClientOptions) -> float | None:
    if timeout is not None or method in STREAMING_METHODS:
        return timeout
    return SLOW_METHODS.get(method, options.default_timeout)


def _with_token(
    metadata: Iterable[tuple[str, str | bytes]] | None, token: str | None
) -> tuple[tuple[str, str | bytes], ...]:
    pairs = list(metadata or ())
    # A caller that sets its own authorization (e.g. a service identity) keeps it.
    if token is not None and not any(key == _AUTHORIZATION for key, _ in pairs):
        pairs.append((_AUTHORIZATION, f"Bearer {token}"))
    return tuple(pairs)


class _AsyncInterceptor:
    def __init__(self, session: AsyncSession, options: ClientOptions) -> None:
        self._session = session
        self._options = options

    async def _details(self, details: aio.ClientCallDetails) -> tuple[aio.ClientCallDetails, str | None]:
        method = _method(details.method)
        token = None if method in PUBLIC_METHODS else await self._session.access_token()
        metadata = aio.Metadata(*_with_token(details.metadata, token))
        timeout = _timeout(method, details.timeout, self._options)
        new = aio.ClientCallDetails(details.method, timeout, metadata, details.credentials, details.wait_for_ready)
        return new, token


class AsyncUnaryInterceptor(_AsyncInterceptor, aio.UnaryUnaryClientInterceptor):
    """The asyncio interceptor of unary calls (see the module docstring)."""

    async def intercept_unary_unary(
        self,
        continuation: Callable[[aio.ClientCallDetails, Any], Any],
        client_call_details: aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        """Send a unary call; see the module docstring."""
        details, token = await self._details(client_call_details)
        try:
            return await (await continuation(details, request))
        except aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.UNAUTHENTICATED or token is None:
                raise error_from_rpc(error) from error
        await self._session.refresh(seen=token)
        details, _ = await self._details(client_call_details)
        try:
            return await (await continuation(details, request))
        except aio.AioRpcError as error:
            raise error_from_rpc(error) from error


class AsyncStreamInterceptor(_AsyncInterceptor, aio.UnaryStreamClientInterceptor):
    """The asyncio interceptor of server streams (see the module docstring)."""

    async def intercept_unary_stream(
        self,
        continuation: Callable[[aio.ClientCallDetails, Any], Any],
        client_call_details: aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        """Open a server stream whose errors surface as TrademeshError while iterating."""
        details, _ = await self._details(client_call_details)
        call = await continuation(details, request)
        return _translated(call)


async def _translated(call: aio.UnaryStreamCall[Any, Any]) -> AsyncIterator[Any]:
    try:
        async for message in call:
            yield message
    except aio.AioRpcError as error:
        raise error_from_rpc(error) from error
    finally:
        call.cancel()


@dataclass(frozen=True, slots=True)
class _CallDetails(grpc.ClientCallDetails):
    method: str
    timeout: float | None
    metadata: tuple[tuple[str, str | bytes], ...] | None
    credentials: grpc.CallCredentials | None
    wait_for_ready: bool | None
    compression: grpc.Compression | None


class SyncClientInterceptor(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """The blocking interceptor (see the module docstring)."""

    def __init__(self, session: SyncSession, options: ClientOptions) -> None:
        self._session = session
        self._options = options

    def _details(self, details: grpc.ClientCallDetails) -> tuple[_CallDetails, str | None]:
        method = _method(details.method)
        token = None if method in PUBLIC_METHODS else self._session.access_token()
        new = _CallDetails(
            method=details.method,
            timeout=_timeout(method, details.timeout, self._options),
            metadata=_with_token(details.metadata, token),
            credentials=details.credentials,
            wait_for_ready=getattr(details, "wait_for_ready", None),
            compression=getattr(details, "compression", None),
        )
        return new, token

    def intercept_unary_unary(
        self, continuation: Any, client_call_details: grpc.ClientCallDetails, request: Any
    ) -> Any:
        """Send a unary call; see the module docstring."""
        details, token = self._details(client_call_details)
        outcome = continuation(details, request)
        error = outcome.exception()
        if error is None:
            return outcome
        if isinstance(error, grpc.RpcError) and error.code() == grpc.StatusCode.UNAUTHENTICATED and token is not None:
            self._session.refresh(seen=token)
            details, _ = self._details(client_call_details)
            outcome = continuation(details, request)
            error = outcome.exception()
            if error is None:
                return outcome
        if isinstance(error, grpc.RpcError):
            raise error_from_rpc(error) from error
        raise error

    def intercept_unary_stream(
        self, continuation: Any, client_call_details: grpc.ClientCallDetails, request: Any
    ) -> Any:
        """Open a server stream whose errors surface as TrademeshError while iterating."""
        details, _ = self._details(client_call_details)
        return SyncStreamCall(continuation(details, request))


class SyncStreamCall(Iterator[Any]):
    """A blocking server stream: iterate it; :meth:`cancel` ends it early."""

    def __init__(self, call: Any) -> None:
        self._call = call

    def __iter__(self) -> SyncStreamCall:
        return self

    def __next__(self) -> Any:
        try:
            return next(self._call)
        except grpc.RpcError as error:
            raise error_from_rpc(error) from error

    def cancel(self) -> bool:
        """Cancel the call; iteration then ends with a CANCELLED TrademeshError."""
        return bool(self._call.cancel())


def client_interceptors(
    session: AsyncSession, options: ClientOptions
) -> list[aio.UnaryUnaryClientInterceptor | aio.UnaryStreamClientInterceptor]:
    """Return the asyncio interceptors (grpc.aio registers an object for one call type only)."""
    return [AsyncUnaryInterceptor(session, options), AsyncStreamInterceptor(session, options)]
