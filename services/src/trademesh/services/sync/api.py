"""The SyncService servicer: decode with `mapping`, call the use cases, encode (plus SyncNow's polling loop)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from grpc import aio

from trademesh.kernel.errors import FieldViolation, InvalidArgument
from trademesh.services.core.identity import current_principal
from trademesh.services.core.timestamps import instant_of
from trademesh.services.sync.mapping import (
    BROKER_FROM_PROTO,
    account_to_proto,
    enum_filter,
    log_to_proto,
    login_from_request,
    progress_to_proto,
)
from trademesh.services.sync.model import LogFilter, SyncStatus, SyncType
from trademesh.services.sync.service import SyncService
from trademesh.sync.v1 import sync_log_pb2, sync_service_pb2, sync_service_pb2_grpc

Context = aio.ServicerContext[Any, Any]

#: SyncNow sends at most 4 progress messages a second, and one at least every 10 s.
PROGRESS_INTERVAL_SECONDS = 0.25
KEEPALIVE_SECONDS = 10.0


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
            user, request.request_id, login_from_request(request), request.broker_account_id, request.nickname
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
        broker = BROKER_FROM_PROTO.get(request.broker)
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
        status = enum_filter(SyncStatus, sync_log_pb2.SyncStatus, request.status, "SYNC_STATUS_", "status", violations)
        run_type = enum_filter(SyncType, sync_log_pb2.SyncType, request.type, "SYNC_TYPE_", "type", violations)
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
                progress = progress_to_proto(log, log.row_failures[sent_failures:])
                yield sync_service_pb2.SyncNowResponse(progress=progress)
                sent_failures = len(log.row_failures)
                last, last_sent = state, now
            if self.stopping.is_set():
                return  # the server is shutting down; the run goes on and the client re-attaches
            await asyncio.sleep(PROGRESS_INTERVAL_SECONDS)
            log = await self._service.own_log(user, log_id)
        yield sync_service_pb2.SyncNowResponse(summary=log_to_proto(log))
