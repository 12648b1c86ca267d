"""The SyncService servicer: proto ⇄ domain mapping and nothing else (plus SyncNow's polling loop)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from grpc import aio

from trademesh.common.v1 import instrument_pb2
from trademesh.kernel.errors import FieldViolation, InvalidArgument
from trademesh.services.core.identity import current_principal
from trademesh.services.core.timestamps import instant_of, timestamp
from trademesh.services.sync.domain import KiteLogin, LogFilter, Login, SyncService, UpstoxLogin, visible_next_sync
from trademesh.services.sync.model import (
    Broker,
    BrokerAccount,
    RowFailure,
    SyncCounters,
    SyncLog,
    SyncStatus,
    SyncType,
)
from trademesh.sync.v1 import broker_account_pb2, sync_log_pb2, sync_service_pb2, sync_service_pb2_grpc

Context = aio.ServicerContext[Any, Any]

#: SyncNow sends at most 4 progress messages a second, and one at least every 10 s.
PROGRESS_INTERVAL_SECONDS = 0.25
KEEPALIVE_SECONDS = 10.0

_BROKER_TO_PROTO = {Broker.ZERODHA: instrument_pb2.BROKER_ZERODHA, Broker.UPSTOX: instrument_pb2.BROKER_UPSTOX}
_BROKER_FROM_PROTO = {value: key for key, value in _BROKER_TO_PROTO.items()}


def _stamp(moment: datetime | None) -> Timestamp | None:
    return None if moment is None else timestamp(moment)


def _set_time(message: Any, name: str, moment: datetime | None) -> None:
    stamp = _stamp(moment)
    if stamp is not None:
        getattr(message, name).CopyFrom(stamp)


def account_to_proto(account: BrokerAccount) -> broker_account_pb2.BrokerAccount:
    """Return the API view of an account (no secrets)."""
    message = broker_account_pb2.BrokerAccount(
        id=account.id,
        user_id=account.user_id,
        broker=_BROKER_TO_PROTO[account.broker],
        broker_user_id=account.broker_user_id,
        display_name=account.display_name,
        nickname=account.nickname,
        masked_api_key=account.masked_api_key,
        status=broker_account_pb2.BrokerAccountStatus.Value(f"BROKER_ACCOUNT_STATUS_{account.status.value}"),
        error_reason=account.error_reason,
        error_message=account.error_message,
        sync_enabled=account.sync_enabled,
        last_sync_status=_status(account.last_sync_status),
        last_sync_log_id=account.last_sync_log_id,
        etag=account.etag,
    )
    _set_time(message, "token_expire_time", account.token_expire_time)
    _set_time(message, "last_sync_time", account.last_sync_time)
    _set_time(message, "last_successful_sync_time", account.last_successful_sync_time)
    _set_time(message, "next_sync_time", visible_next_sync(account))
    _set_time(message, "link_time", account.link_time)
    _set_time(message, "create_time", account.create_time)
    _set_time(message, "update_time", account.update_time)
    _set_time(message, "unlink_time", account.unlink_time)
    return message


def _status(status: SyncStatus | None) -> Any:
    return sync_log_pb2.SyncStatus.Value(f"SYNC_STATUS_{status.value}") if status else 0


def counters_to_proto(counters: SyncCounters) -> sync_log_pb2.SyncCounters:
    """Return the API form of run counters."""
    return sync_log_pb2.SyncCounters(
        fetched=counters.fetched,
        created=counters.created,
        updated=counters.updated,
        unchanged=counters.unchanged,
        skipped_deleted=counters.skipped_deleted,
        failed=counters.failed,
    )


def failure_to_proto(failure: RowFailure) -> sync_log_pb2.SyncRowFailure:
    """Return the API form of a row failure."""
    return sync_log_pb2.SyncRowFailure(
        row_ref=failure.row_ref, symbol=failure.symbol, reason=failure.reason, message=failure.message
    )


def log_to_proto(log: SyncLog, with_failures: bool = True) -> sync_log_pb2.SyncLog:
    """Return the API form of a run."""
    message = sync_log_pb2.SyncLog(
        id=log.id,
        user_id=log.user_id,
        broker_account_id=log.broker_account_id,
        broker=_BROKER_TO_PROTO[log.broker],
        type=sync_log_pb2.SyncType.Value(f"SYNC_TYPE_{log.type.value}"),
        status=_status(log.status),
        phase=sync_log_pb2.SyncPhase.Value(f"SYNC_PHASE_{log.phase.value}"),
        counters=counters_to_proto(log.counters),
        row_failures=[failure_to_proto(f) for f in log.row_failures] if with_failures else [],
        row_failures_truncated=log.row_failures_truncated,
        attempt=log.attempt,
        retry_of_sync_log_id=log.retry_of,
        request_id=log.request_id,
    )
    _set_time(message, "start_time", log.start_time)
    _set_time(message, "end_time", log.end_time)
    _set_time(message, "next_retry_time", log.next_retry_time)
    _set_time(message, "expire_time", log.expire_time)
    if log.end_time is not None:
        message.duration.FromTimedelta(log.end_time - log.start_time)
    if log.error is not None:
        message.error.CopyFrom(
            sync_log_pb2.SyncError(reason=log.error.reason, message=log.error.message, retryable=log.error.retryable)
        )
    return message


def _login(request: sync_service_pb2.LinkBrokerAccountRequest) -> Login | None:
    which = request.WhichOneof("credentials")
    if which == "zerodha":
        z = request.zerodha
        return KiteLogin(z.api_key, z.api_secret, z.request_token)
    if which == "upstox":
        u = request.upstox
        return UpstoxLogin(u.client_id, u.client_secret, u.redirect_uri, u.authorization_code)
    return None


def _enum_filter(
    kind: Any, descriptor: Any, value: int, prefix: str, name: str, violations: list[FieldViolation]
) -> Any:
    if value == 0:
        return None
    try:
        return kind(descriptor.Name(value).removeprefix(prefix))
    except ValueError:
        violations.append(FieldViolation(name, f"unknown {name} value {value}"))
        return None


class SyncServicer(sync_service_pb2_grpc.SyncServiceServicer):
    """Serve trademesh.sync.v1.SyncService over gRPC."""

    def __init__(self, service: SyncService, stopping: asyncio.Event | None = None) -> None:
        self._service = service
        self.stopping = stopping or asyncio.Event()

    async def LinkBrokerAccount(
        self, request: sync_service_pb2.LinkBrokerAccountRequest, context: Context
    ) -> sync_service_pb2.LinkBrokerAccountResponse:
        user = current_principal().subject
        account, created = await self._service.link(
            user, request.request_id, _login(request), request.broker_account_id, request.nickname
        )
        return sync_service_pb2.LinkBrokerAccountResponse(broker_account=account_to_proto(account), created=created)

    async def UpdateBrokerAccount(
        self, request: sync_service_pb2.UpdateBrokerAccountRequest, context: Context
    ) -> sync_service_pb2.UpdateBrokerAccountResponse:
        account = await self._service.update(
            current_principal().subject,
            request.broker_account.id,
            request.etag,
            list(request.update_mask.paths),
            request.broker_account.nickname,
            request.broker_account.sync_enabled,
        )
        return sync_service_pb2.UpdateBrokerAccountResponse(broker_account=account_to_proto(account))

    async def UnlinkBrokerAccount(
        self, request: sync_service_pb2.UnlinkBrokerAccountRequest, context: Context
    ) -> sync_service_pb2.UnlinkBrokerAccountResponse:
        account = await self._service.unlink(current_principal().subject, request.broker_account_id, request.etag)
        return sync_service_pb2.UnlinkBrokerAccountResponse(broker_account=account_to_proto(account))

    async def ListBrokerAccounts(
        self, request: sync_service_pb2.ListBrokerAccountsRequest, context: Context
    ) -> sync_service_pb2.ListBrokerAccountsResponse:
        user = current_principal().subject
        broker = _BROKER_FROM_PROTO.get(request.broker)
        if request.broker and broker is None:
            raise InvalidArgument("invalid filters", [FieldViolation("broker", "broker must be ZERODHA or UPSTOX")])
        accounts, token = await self._service.list_accounts(
            user, broker, request.show_unlinked, request.page_size, request.page_token
        )
        return sync_service_pb2.ListBrokerAccountsResponse(
            broker_accounts=[account_to_proto(a) for a in accounts], next_page_token=token
        )

    async def ListSyncLogs(
        self, request: sync_service_pb2.ListSyncLogsRequest, context: Context
    ) -> sync_service_pb2.ListSyncLogsResponse:
        user = current_principal().subject
        violations: list[FieldViolation] = []
        status = _enum_filter(SyncStatus, sync_log_pb2.SyncStatus, request.status, "SYNC_STATUS_", "status", violations)
        run_type = _enum_filter(SyncType, sync_log_pb2.SyncType, request.type, "SYNC_TYPE_", "type", violations)
        if violations:
            raise InvalidArgument("invalid filters", violations)
        filters = LogFilter(
            broker_account_id=request.broker_account_id.strip(),
            status=status,
            type=run_type,
            start_time=instant_of(request.start_time, "start_time") if request.HasField("start_time") else None,
            end_time=instant_of(request.end_time, "end_time") if request.HasField("end_time") else None,
        )
        logs, token = await self._service.list_logs(
            user, filters, request.page_size, request.page_token, request.include_row_failures
        )
        return sync_service_pb2.ListSyncLogsResponse(
            sync_logs=[log_to_proto(log, request.include_row_failures) for log in logs], next_page_token=token
        )

    async def SyncNow(
        self, request: sync_service_pb2.SyncNowRequest, context: Context
    ) -> AsyncIterator[sync_service_pb2.SyncNowResponse]:
        user = current_principal().subject
        log_id = await self._service.start_manual(user, request.broker_account_id.strip(), request.request_id)
        log = await self._service.own_log(user, log_id)
        sent_failures = 0
        last: tuple[object, ...] | None = None
        last_sent = 0.0
        while not log.finished:
            state = (log.phase, log.counters.fetched, log.counters.created, log.counters.updated,
                     log.counters.unchanged, log.counters.skipped_deleted, log.counters.failed)  # fmt: skip
            now = time.monotonic()
            if state != last or now - last_sent >= KEEPALIVE_SECONDS:
                progress = sync_service_pb2.SyncProgress(
                    sync_log_id=log.id,
                    type=sync_log_pb2.SyncType.Value(f"SYNC_TYPE_{log.type.value}"),
                    phase=sync_log_pb2.SyncPhase.Value(f"SYNC_PHASE_{log.phase.value}"),
                    counters=counters_to_proto(log.counters),
                    row_failures=[failure_to_proto(f) for f in log.row_failures[sent_failures:]],
                )
                _set_time(progress, "start_time", log.start_time)
                _set_time(progress, "progress_time", datetime.now(UTC))
                yield sync_service_pb2.SyncNowResponse(progress=progress)
                sent_failures = len(log.row_failures)
                last, last_sent = state, now
            if self.stopping.is_set():
                return  # the server is shutting down; the run goes on and the client re-attaches
            await asyncio.sleep(PROGRESS_INTERVAL_SECONDS)
            log = await self._service.own_log(user, log_id)
        yield sync_service_pb2.SyncNowResponse(summary=log_to_proto(log))
