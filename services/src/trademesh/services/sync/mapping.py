"""Proto ⇄ model for the sync service: its own API (trademesh.sync.v1) and the ReconcileTrades items it
sends to the trade service (trademesh.trade.v1)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from trademesh.common.v1 import instrument_pb2
from trademesh.kernel.errors import FieldViolation
from trademesh.kernel.instruments import ContractType, Segment, Side
from trademesh.services.brokers.sessions import KiteLogin, Login, UpstoxLogin
from trademesh.services.core.timestamps import timestamp
from trademesh.services.sync.model import (
    Broker,
    BrokerAccount,
    NormalisedTrade,
    RowFailure,
    SyncCounters,
    SyncLog,
    SyncStatus,
    visible_next_sync,
)
from trademesh.sync.v1 import broker_account_pb2, sync_log_pb2, sync_service_pb2
from trademesh.trade.v1 import import_pb2, trade_pb2

BROKER_TO_PROTO = {Broker.ZERODHA: instrument_pb2.BROKER_ZERODHA, Broker.UPSTOX: instrument_pb2.BROKER_UPSTOX}
BROKER_FROM_PROTO = {value: key for key, value in BROKER_TO_PROTO.items()}


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
        broker=BROKER_TO_PROTO[account.broker],
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
        broker=BROKER_TO_PROTO[log.broker],
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


def login_from_request(request: sync_service_pb2.LinkBrokerAccountRequest) -> Login | None:
    which = request.WhichOneof("credentials")
    if which == "zerodha":
        z = request.zerodha
        return KiteLogin(z.api_key, z.api_secret, z.request_token)
    if which == "upstox":
        u = request.upstox
        return UpstoxLogin(u.client_id, u.client_secret, u.redirect_uri, u.authorization_code)
    return None


def enum_filter(
    kind: Any, descriptor: Any, value: int, prefix: str, name: str, violations: list[FieldViolation]
) -> Any:
    if value == 0:
        return None
    try:
        return kind(descriptor.Name(value).removeprefix(prefix))
    except ValueError:
        violations.append(FieldViolation(name, f"unknown {name} value {value}"))
        return None


def progress_to_proto(log: SyncLog, new_failures: list[RowFailure]) -> sync_service_pb2.SyncProgress:
    """Return a SyncNow progress message for a running run (with the row failures not sent yet)."""
    progress = sync_service_pb2.SyncProgress(
        sync_log_id=log.id,
        type=sync_log_pb2.SyncType.Value(f"SYNC_TYPE_{log.type.value}"),
        phase=sync_log_pb2.SyncPhase.Value(f"SYNC_PHASE_{log.phase.value}"),
        counters=counters_to_proto(log.counters),
        row_failures=[failure_to_proto(f) for f in new_failures],
    )
    _set_time(progress, "start_time", log.start_time)
    _set_time(progress, "progress_time", datetime.now(UTC))
    return progress


_SEGMENTS = {
    Segment.EQUITY: trade_pb2.SEGMENT_EQUITY,
    Segment.FUTURES: trade_pb2.SEGMENT_FUTURES,
    Segment.OPTIONS: trade_pb2.SEGMENT_OPTIONS,
    Segment.CURRENCY: trade_pb2.SEGMENT_CURRENCY,
    Segment.COMMODITY: trade_pb2.SEGMENT_COMMODITY,
}
_CONTRACTS = {
    ContractType.FUTURE: trade_pb2.CONTRACT_TYPE_FUTURE,
    ContractType.CALL: trade_pb2.CONTRACT_TYPE_CALL,
    ContractType.PUT: trade_pb2.CONTRACT_TYPE_PUT,
}


def to_broker_trade(trade: NormalisedTrade) -> import_pb2.BrokerTrade:
    """Return the ReconcileTrades item for a normalised trade."""
    message = import_pb2.BrokerTrade(
        broker_trade_id=trade.broker_trade_id,
        broker_order_id=trade.broker_order_id,
        instrument=instrument_pb2.Instrument(
            symbol=trade.symbol, exchange=instrument_pb2.Exchange.Value(f"EXCHANGE_{trade.exchange.value}")
        ),
        segment=_SEGMENTS[trade.segment],
        side=trade_pb2.SIDE_BUY if trade.side is Side.BUY else trade_pb2.SIDE_SELL,
        quantity_micros=trade.quantity_micros,
        price_micros=trade.price_micros,
        category=trade_pb2.TRADE_CATEGORY_INTRADAY if trade.category else trade_pb2.TRADE_CATEGORY_UNSPECIFIED,
    )
    message.trade_time.CopyFrom(timestamp(trade.trade_time))
    if trade.fee_breakdown is not None:
        # The broker's own figures: the trade service records them as BROKER charges.
        message.fees_micros = sum(trade.fee_breakdown.values())
        message.fee_breakdown.CopyFrom(trade_pb2.FeeBreakdown(**trade.fee_breakdown))
    if trade.derivative is not None and trade.derivative.contract_type is not None:
        message.derivative.CopyFrom(
            trade_pb2.DerivativeContract(
                underlying=trade.derivative.underlying,
                expiry_date=trade.derivative.expiry_date,
                contract_type=_CONTRACTS[trade.derivative.contract_type],
                strike_price_micros=trade.derivative.strike_price_micros,
            )
        )
    return message
