"""What every sync use case shares: the ports, the clock, ownership checks, token expiry, page cursors
and the request rules."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from trademesh.kernel.errors import FieldViolation, InvalidArgument, NotFound, check_fields
from trademesh.services.brokers.rows import PRINTABLE_ASCII
from trademesh.services.brokers.sessions import KiteLogin, Login, StoredSession
from trademesh.services.core.page_tokens import Codec, page_token_invalid
from trademesh.services.sync.model import (
    RECONCILE_BATCH,
    AccountStatus,
    Broker,
    BrokerAccount,
    SyncError,
    SyncLog,
    SyncPhase,
    SyncStatus,
    now_millis,
    secret_context,
)
from trademesh.services.sync.ports import (
    AccountStore,
    BrokerGateway,
    Coordination,
    JobQueue,
    SecretCipher,
    SyncLogStore,
    TradeReconciler,
)

logger = logging.getLogger(__name__)


DEFAULT_ACCOUNT_PAGE = 50
MAX_ACCOUNT_PAGE = 100
DEFAULT_LOG_PAGE = 50
MAX_LOG_PAGE = 200
MANUAL_SYNC_INTERVAL = timedelta(seconds=60)
#: How long request ids (idempotency) and page tokens are remembered.
REQUEST_MEMORY = timedelta(hours=25)


def account_not_found() -> NotFound:
    """Return the one error an unknown or foreign account gives."""
    return NotFound("broker account not found", reason="BROKER_ACCOUNT_NOT_FOUND")


def check_nickname(nickname: str, name: str, violations: list[FieldViolation]) -> str:
    """Return the trimmed nickname, adding a violation when it breaks the rules."""
    value = nickname.strip()
    if len(value) > 64:
        violations.append(FieldViolation(name, "at most 64 characters"))
    elif any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        violations.append(FieldViolation(name, "must not contain control characters"))
    return value


def _printable(value: str, name: str, maximum: int, violations: list[FieldViolation]) -> None:
    if not value:
        violations.append(FieldViolation(name, f"{name.rsplit('.', 1)[-1]} is required"))
    elif len(value) > maximum or not PRINTABLE_ASCII.fullmatch(value):
        violations.append(FieldViolation(name, f"1-{maximum} printable ASCII characters"))


def check_login(login: Login | None) -> None:
    """Raise INVALID_ARGUMENT naming every bad credential field."""
    violations: list[FieldViolation] = []
    if login is None:
        violations.append(FieldViolation("credentials", "zerodha or upstox credentials are required"))
    elif isinstance(login, KiteLogin):
        _printable(login.api_key, "zerodha.api_key", 64, violations)
        _printable(login.api_secret, "zerodha.api_secret", 128, violations)
        _printable(login.request_token, "zerodha.request_token", 128, violations)
    else:
        _printable(login.client_id, "upstox.client_id", 128, violations)
        _printable(login.client_secret, "upstox.client_secret", 128, violations)
        _printable(login.authorization_code, "upstox.authorization_code", 512, violations)
        uri = login.redirect_uri
        if not uri.startswith(("http://", "https://")) or len(uri) > 2048 or len(uri) < 9:
            violations.append(FieldViolation("upstox.redirect_uri", "an absolute http(s) URL, at most 2048 characters"))
    check_fields(violations, "invalid credentials")


def broker_of(login: Login) -> Broker:
    """Return the broker a login is for."""
    return Broker.ZERODHA if isinstance(login, KiteLogin) else Broker.UPSTOX


def login_fingerprint(login: Login, account_id: str, nickname: str, salt: bytes) -> str:
    """Return a salted hash of a Link request (the credentials themselves are never kept)."""
    parts = [type(login).__name__, *(str(getattr(login, name)) for name in login.__dataclass_fields__)]
    parts += [account_id, nickname]
    return hashlib.sha256(salt + "\x1f".join(parts).encode()).hexdigest()


@dataclass
class ServiceBase:
    """The ports and the helpers the use cases share (SyncService adds the use cases)."""

    accounts: AccountStore
    logs: SyncLogStore
    brokers: BrokerGateway
    reconciler: TradeReconciler
    cipher: SecretCipher
    queue: JobQueue
    coordination: Coordination
    codec: Codec
    sync_interval: timedelta = timedelta(minutes=5)
    batch_size: int = RECONCILE_BATCH
    clock: Callable[[], datetime] = field(default=now_millis)

    async def own_account(self, user_id: str, account_id: str) -> BrokerAccount:
        """Return one of the user's accounts (expiring its token if due) or raise NOT_FOUND."""
        if not account_id.strip():
            raise InvalidArgument(
                "broker_account_id is required", [FieldViolation("broker_account_id", "broker_account_id is required")]
            )
        account = await self.accounts.get(account_id) if len(account_id) <= 64 else None
        if account is None or account.user_id != user_id:
            raise account_not_found()
        return await self._expire_if_due(account)

    async def _expire_if_due(self, account: BrokerAccount) -> BrokerAccount:
        now = self.clock()
        if (
            account.status is AccountStatus.ACTIVE
            and account.token_expire_time is not None
            and account.token_expire_time <= now
        ):
            expired = replace(
                account,
                status=AccountStatus.ERROR,
                error_reason="TOKEN_EXPIRED",
                error_message=(
                    f"the {account.broker.value.title()} session expired at {account.token_expire_time:%Y-%m-%d %H:%M} "
                    "UTC; link the account again to resume syncing"
                ),
                version=account.version + 1,
                update_time=now,
            )
            if await self.accounts.replace(expired, account.version):
                return expired
            fresh = await self.accounts.get(account.id)
            return fresh or account
        return account

    def open_session(self, account: BrokerAccount) -> StoredSession | None:
        """Decrypt an account's session, or None when there is none or it cannot be opened."""
        if account.secret is None:
            return None
        try:
            data = json.loads(self.cipher.open(account.secret, secret_context(account)))
            return StoredSession(str(data["api_key"]), str(data["access_token"]))
        except (ValueError, KeyError, TypeError):
            logger.error("the session of account %s cannot be decrypted (key %s)", account.id, account.secret.key_id)
            return None

    def _cursor(self, page_token: str, kind: str, tag: str) -> tuple[datetime, str] | None:
        if not page_token:
            return None
        payload = self.codec.decode(page_token)
        if payload is None or payload.get("k") != kind or payload.get("f") != tag:
            raise page_token_invalid()
        try:
            issued = datetime.fromtimestamp(float(str(payload["n"])), UTC)
            if self.clock() - issued > REQUEST_MEMORY:
                raise page_token_invalid()
            return datetime.fromtimestamp(int(str(payload["t"])) / 1_000_000, UTC), str(payload["i"])
        except (KeyError, ValueError, OverflowError, OSError):
            raise page_token_invalid() from None

    def _token(self, kind: str, tag: str, moment: datetime, item_id: str) -> str:
        micros = (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
        return self.codec.encode({"k": kind, "f": tag, "t": micros, "i": item_id, "n": self.clock().timestamp()})

    def _end(self, log: SyncLog, now: datetime, status: SyncStatus, error: SyncError | None) -> None:
        log.status = status
        log.phase = SyncPhase.DONE
        log.end_time = now
        log.error = error
