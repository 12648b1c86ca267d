"""Auth use cases and rules: registration, login, token rotation, verification and reset.

Pure logic over plain dataclasses and the ports below; no gRPC, database or Redis imports.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Protocol

from email_validator import EmailNotValidError, validate_email

from trademesh.kernel.errors import (
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    Unauthenticated,
    check_fields,
)
from trademesh.services.core.identity import (
    ROLE_ADMIN,
    ROLE_PREMIUM,
    ROLE_USER,
    Principal,
    session_revocation_id,
    token_revocation_id,
)

USERNAME_PATTERN = re.compile(r"^[a-z0-9_.]{3,30}$")
PASSWORD_MIN_LENGTH = 10
PASSWORD_MAX_LENGTH = 128
EMAIL_MAX_LENGTH = 254
# A short list of the passwords attackers try first; longer lists belong in a breach-check service.
COMMON_PASSWORDS = frozenset(
    {
        "password123",
        "1234567890",
        "qwertyuiop",
        "password1!",
        "iloveyou12",
        "letmein123",
        "welcome123",
        "adminadmin",
        "passw0rd123",
        "trustno1234",
        "sensex12345",
        "nifty12345",
        "zerodha123",
        "1q2w3e4r5t",
        "qwerty12345",
        "abcdefghij",
        "0987654321",
        "1111111111",
    }
)
INVALID_CREDENTIALS = "invalid login or password"
ROLES = (ROLE_USER, ROLE_PREMIUM, ROLE_ADMIN)


class TokenPurpose(StrEnum):
    """What a single-use mailed token is for."""

    VERIFY_EMAIL = "verify_email"
    RESET_PASSWORD = "reset_password"


@dataclass(frozen=True, slots=True)
class User:
    """A registered user as stored."""

    id: str
    email: str
    username: str
    password_hash: str
    email_verified: bool
    roles: tuple[str, ...]
    created_at: datetime
    updated_at: datetime

    @property
    def email_key(self) -> str:
        """Return the case-insensitive form the email is unique under."""
        return normalize_email(self.email)


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    """A signed access token and an opaque refresh token, with their expiry times."""

    access_token: str
    access_expires_at: datetime
    refresh_token: str
    refresh_expires_at: datetime


@dataclass(frozen=True, slots=True)
class RefreshRotation:
    """The outcome of presenting a refresh token."""

    status: str  # "ok" | "missing" | "reused" | "revoked"
    family_id: str = ""
    user_id: str = ""


@dataclass(frozen=True, slots=True)
class Mail:
    """A message carrying a single-use code: the clear code only ever goes to the mail transport.

    `template` holds `{code}` where the code goes; `body` is what the recipient reads, `redacted_body` what
    the outbox record keeps (with `code_hash`, the code's SHA-256, as refresh tokens are stored).
    """

    to: str
    subject: str
    template: str
    code: str
    kind: str
    token_expires_at: datetime

    @property
    def body(self) -> str:
        """Return the text sent to the recipient, with the clear code."""
        return self.template.format(code=self.code)

    @property
    def redacted_body(self) -> str:
        """Return the text without the code, fit to store and to show operators."""
        return self.template.format(code="[code sent by mail, not stored]")

    @property
    def code_hash(self) -> str:
        """Return the storage hash of the code."""
        return hash_token(self.code)


@dataclass(frozen=True, slots=True)
class AuthPolicy:
    """Lifetimes and limits of the auth use cases."""

    access_token_ttl: timedelta
    refresh_token_ttl: timedelta
    email_verification_ttl: timedelta
    password_reset_ttl: timedelta
    max_failures_per_account: int
    max_failures_per_address: int
    throttle_window: timedelta


class UserStore(Protocol):
    """Persist users; unique on email (case-insensitive) and username."""

    async def add(self, user: User) -> None:
        """Insert a user; raise AlreadyExists(reason EMAIL_TAKEN / USERNAME_TAKEN) on a collision."""

    async def get(self, user_id: str) -> User | None: ...

    async def find_by_login(self, login: str) -> User | None:
        """Find by normalized email or username."""

    async def set_email_verified(self, user_id: str, now: datetime) -> User | None: ...

    async def set_password_hash(self, user_id: str, password_hash: str, now: datetime) -> None: ...

    async def set_roles(self, user_id: str, roles: tuple[str, ...], now: datetime) -> User | None: ...


class OneTimeTokenStore(Protocol):
    """Single-use, expiring tokens stored by hash."""

    async def add(
        self, token_hash: str, purpose: TokenPurpose, user_id: str, expires_at: datetime, now: datetime
    ) -> None: ...

    async def consume(self, token_hash: str, purpose: TokenPurpose, now: datetime) -> str | None:
        """Mark the token used and return its user id, or None if unknown, used or expired."""


class Outbox(Protocol):
    """Record mail (without its code) and hand it to the mail transport."""

    async def send(self, mail: Mail, now: datetime) -> None: ...


class MailTransport(Protocol):
    """Deliver a message to its recipient: the only place a clear code goes."""

    async def deliver(self, mail: Mail) -> None: ...


class SessionStore(Protocol):
    """Refresh-token families: rotation with reuse detection, revocation."""

    async def add_refresh_token(self, token_hash: str, family_id: str, user_id: str, ttl: timedelta) -> None: ...

    async def rotate(self, token_hash: str) -> RefreshRotation:
        """Atomically mark an active token used; a used token revokes its family (status "reused")."""

    async def revoke_family(self, family_id: str) -> None: ...

    async def family_of(self, token_hash: str) -> tuple[str, str] | None:
        """Return (family id, user id) of a refresh token, if it exists."""

    async def revoke_user_families(self, user_id: str) -> list[str]:
        """Revoke every family of the user; return their ids."""


class LoginThrottle(Protocol):
    """Count failed logins per key within a window."""

    async def check(self, keys: Sequence[tuple[str, int]]) -> None:
        """Raise ResourceExhausted if any key reached its limit."""

    async def record_failure(self, keys: Sequence[str]) -> None: ...

    async def reset(self, key: str) -> None: ...


class PasswordHasher(Protocol):
    """Hash and verify passwords (slow on purpose)."""

    async def hash(self, password: str) -> str: ...

    async def verify(self, password_hash: str, password: str) -> bool: ...

    def needs_rehash(self, password_hash: str) -> bool: ...


class TokenSigner(Protocol):
    """Sign access-token claims as a JWT."""

    def sign(self, claims: dict[str, object]) -> str: ...


class Revoker(Protocol):
    """Deny token or session ids until a time (shared with every service)."""

    async def revoke(self, item: str, until: float) -> None: ...


def normalize_email(email: str) -> str:
    """Return the case-insensitive key of an email address."""
    return email.strip().lower()


def hash_token(token: str) -> str:
    """Return the storage key of an opaque token (never stored in clear)."""
    return hashlib.sha256(token.encode()).hexdigest()


def validate_password(password: str, *, username: str, email: str, field_name: str) -> list[FieldViolation]:
    """Return why `password` is too weak, if it is."""
    problems: list[str] = []
    if len(password) < PASSWORD_MIN_LENGTH:
        problems.append(f"must be at least {PASSWORD_MIN_LENGTH} characters")
    elif len(password) > PASSWORD_MAX_LENGTH:
        problems.append(f"must be at most {PASSWORD_MAX_LENGTH} characters")
    else:
        lowered = password.lower()
        if lowered in COMMON_PASSWORDS:
            problems.append("is a commonly used password")
        elif len(set(password)) < 5:
            problems.append("must contain at least 5 different characters")
        elif username and len(username) >= 3 and username.lower() in lowered:
            problems.append("must not contain the username")
        else:
            local = email.split("@", 1)[0].lower()
            if len(local) >= 3 and local in lowered:
                problems.append("must not contain the email address")
    return [FieldViolation(field_name, f"password {problem}") for problem in problems]


def validate_registration(email: str, username: str, password: str) -> tuple[str, str]:
    """Check every registration field; return the normalized (email, username) or raise InvalidArgument."""
    violations: list[FieldViolation] = []
    normalized_email = email.strip()
    if not normalized_email:
        violations.append(FieldViolation("email", "email is required"))
    elif len(normalized_email) > EMAIL_MAX_LENGTH:
        violations.append(FieldViolation("email", f"email must be at most {EMAIL_MAX_LENGTH} characters"))
    else:
        try:
            normalized_email = validate_email(normalized_email, check_deliverability=False).normalized
        except EmailNotValidError as error:
            violations.append(FieldViolation("email", f"email is not valid: {error}"))
    normalized_username = username.strip().lower()
    if not USERNAME_PATTERN.fullmatch(normalized_username):
        violations.append(FieldViolation("username", "username must be 3 to 30 characters of a-z, 0-9, '_' or '.'"))
    violations += validate_password(
        password, username=normalized_username, email=normalized_email, field_name="password"
    )
    check_fields(violations, "registration has invalid fields")
    return normalized_email, normalized_username


async def assign_roles(users: UserStore, login: str, roles: Sequence[str], now: datetime) -> User:
    """Replace a user's roles (an operator action; takes effect with the user's next access token)."""
    unknown = sorted(set(roles) - set(ROLES))
    if unknown or not roles:
        raise InvalidArgument(
            "unknown or missing roles",
            [FieldViolation("roles", f"roles must be some of {', '.join(ROLES)}; got {', '.join(roles) or 'none'}")],
        )
    user = await users.find_by_login(login.strip().lower())
    updated = await users.set_roles(user.id, tuple(r for r in ROLES if r in roles), now) if user else None
    if updated is None:
        raise NotFound("user not found", reason="USER_NOT_FOUND")
    return updated


@dataclass
class AuthService:
    """The auth use cases, wired to their ports."""

    users: UserStore
    one_time_tokens: OneTimeTokenStore
    outbox: Outbox
    sessions: SessionStore
    throttle: LoginThrottle
    hasher: PasswordHasher
    signer: TokenSigner
    revoker: Revoker
    policy: AuthPolicy
    issuer: str
    audience: str
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    new_id: Callable[[], str] = field(default=lambda: str(uuid.uuid4()))
    # Verified against when the login names no user, so both paths cost the same time.
    _dummy: str | None = None

    async def register(self, email: str, username: str, password: str) -> tuple[User, IssuedTokens]:
        """Create a user and start their first session."""
        email, username = validate_registration(email, username, password)
        now = self.clock()
        user = User(
            id=self.new_id(),
            email=email,
            username=username,
            password_hash=await self.hasher.hash(password),
            email_verified=False,
            roles=(ROLE_USER,),
            created_at=now,
            updated_at=now,
        )
        await self.users.add(user)
        return user, await self._start_session(user)

    async def login(self, login: str, password: str, client_address: str) -> tuple[User, IssuedTokens]:
        """Check credentials, throttling repeated failures per account and per client address.

        The account counter is keyed by the account's id, so its email and its username share one
        counter; a login that names no account is counted under its own (hashed) string, which costs an
        attacker nothing they could use against a real account.
        """
        login_key = login.strip().lower()
        if not login_key or not password:
            raise Unauthenticated(INVALID_CREDENTIALS, reason="INVALID_CREDENTIALS")
        user = await self.users.find_by_login(login_key)
        account_key = f"account:{user.id}" if user is not None else f"account:{hash_token(login_key)}"
        address_key = f"address:{client_address}"
        await self.throttle.check(
            [(account_key, self.policy.max_failures_per_account), (address_key, self.policy.max_failures_per_address)]
        )
        if user is None:
            await self.hasher.verify(await self._dummy_hash(), password)
            valid = False
        else:
            valid = await self.hasher.verify(user.password_hash, password)
        if user is None or not valid:
            await self.throttle.record_failure([account_key, address_key])
            raise Unauthenticated(INVALID_CREDENTIALS, reason="INVALID_CREDENTIALS")
        await self.throttle.reset(account_key)
        if self.hasher.needs_rehash(user.password_hash):
            await self.users.set_password_hash(user.id, await self.hasher.hash(password), self.clock())
        return user, await self._start_session(user)

    async def refresh(self, refresh_token: str) -> IssuedTokens:
        """Rotate a refresh token; reuse of a rotated token revokes its whole family."""
        if not refresh_token:
            raise Unauthenticated("refresh token is required", reason="REFRESH_TOKEN_INVALID")
        rotation = await self.sessions.rotate(hash_token(refresh_token))
        if rotation.status == "reused":
            await self._deny_session(rotation.family_id)
            raise Unauthenticated(
                "refresh token was already used; every session of this login has been revoked",
                reason="REFRESH_TOKEN_REUSED",
            )
        if rotation.status != "ok":
            raise Unauthenticated("refresh token is invalid, expired or revoked", reason="REFRESH_TOKEN_INVALID")
        user = await self.users.get(rotation.user_id)
        if user is None:
            raise Unauthenticated("refresh token is invalid, expired or revoked", reason="REFRESH_TOKEN_INVALID")
        return await self._issue(user, rotation.family_id)

    async def logout(self, caller: Principal, refresh_token: str) -> None:
        """Revoke the caller's session family and deny the presented access token until it expires."""
        family_id = caller.session_id
        if refresh_token:
            found = await self.sessions.family_of(hash_token(refresh_token))
            if found is not None and found[1] == caller.subject:
                family_id = found[0]
        await self.revoker.revoke(token_revocation_id(caller.token_id), caller.expires_at.timestamp())
        if family_id:
            await self.sessions.revoke_family(family_id)
            await self._deny_session(family_id)

    async def get_user(self, user_id: str) -> User:
        """Return a user by id."""
        user = await self.users.get(user_id)
        if user is None:
            raise NotFound("user not found", reason="USER_NOT_FOUND")
        return user

    async def request_email_verification(self, user_id: str) -> datetime:
        """Mail the user a single-use verification token; return when it expires."""
        user = await self.get_user(user_id)
        if user.email_verified:
            raise FailedPrecondition("email is already verified", reason="EMAIL_ALREADY_VERIFIED")
        expires_at = await self._mail_token(
            user,
            TokenPurpose.VERIFY_EMAIL,
            self.policy.email_verification_ttl,
            "Verify your trademesh email",
            "Use this code to verify your email address: {code}",
        )
        return expires_at

    async def verify_email(self, token: str) -> User:
        """Consume a verification token and mark the email verified."""
        user_id = await self._consume(token, TokenPurpose.VERIFY_EMAIL)
        user = await self.users.set_email_verified(user_id, self.clock())
        if user is None:
            raise InvalidArgument("token is invalid, used or expired", reason="TOKEN_INVALID")
        return user

    async def request_password_reset(self, email: str) -> None:
        """Mail a reset token if the email belongs to a user; answer the same way either way."""
        user = await self.users.find_by_login(normalize_email(email)) if email.strip() else None
        if user is None:
            return
        await self._mail_token(
            user,
            TokenPurpose.RESET_PASSWORD,
            self.policy.password_reset_ttl,
            "Reset your trademesh password",
            "Use this code to reset your password: {code}",
        )

    async def reset_password(self, token: str, new_password: str) -> None:
        """Set a new password with a reset token and revoke every session of the user."""
        if not token:
            raise InvalidArgument("token is required", [FieldViolation("token", "token is required")])
        # Validate before consuming so a weak password does not burn the token.
        check_fields(validate_password(new_password, username="", email="", field_name="new_password"))
        user_id = await self._consume(token, TokenPurpose.RESET_PASSWORD)
        user = await self.users.get(user_id)
        if user is None:
            raise InvalidArgument("token is invalid, used or expired", reason="TOKEN_INVALID")
        check_fields(
            validate_password(new_password, username=user.username, email=user.email, field_name="new_password")
        )
        await self.users.set_password_hash(user.id, await self.hasher.hash(new_password), self.clock())
        for family_id in await self.sessions.revoke_user_families(user.id):
            await self._deny_session(family_id)

    async def _start_session(self, user: User) -> IssuedTokens:
        return await self._issue(user, self.new_id())

    async def _issue(self, user: User, family_id: str) -> IssuedTokens:
        now = self.clock()
        access_expires_at = now + self.policy.access_token_ttl
        claims: dict[str, object] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": user.id,
            "iat": int(now.timestamp()),
            "nbf": int(now.timestamp()),
            "exp": int(access_expires_at.timestamp()),
            "jti": self.new_id(),
            "sid": family_id,
            "roles": list(user.roles),
            "username": user.username,
        }
        refresh_token = secrets.token_urlsafe(32)
        await self.sessions.add_refresh_token(
            hash_token(refresh_token), family_id, user.id, self.policy.refresh_token_ttl
        )
        return IssuedTokens(
            access_token=self.signer.sign(claims),
            access_expires_at=datetime.fromtimestamp(int(access_expires_at.timestamp()), UTC),
            refresh_token=refresh_token,
            refresh_expires_at=now + self.policy.refresh_token_ttl,
        )

    async def _deny_session(self, family_id: str) -> None:
        # Access tokens of the family stay valid for at most their lifetime; deny them that long.
        until = (self.clock() + self.policy.access_token_ttl + timedelta(seconds=60)).timestamp()
        await self.revoker.revoke(session_revocation_id(family_id), until)

    async def _mail_token(
        self, user: User, purpose: TokenPurpose, ttl: timedelta, subject: str, template: str
    ) -> datetime:
        token = secrets.token_urlsafe(32)
        now = self.clock()
        expires_at = now + ttl
        await self.one_time_tokens.add(hash_token(token), purpose, user.id, expires_at, now)
        await self.outbox.send(
            Mail(
                to=user.email,
                subject=subject,
                template=template,
                code=token,
                kind=purpose.value,
                token_expires_at=expires_at,
            ),
            now,
        )
        return expires_at

    async def _consume(self, token: str, purpose: TokenPurpose) -> str:
        user_id = await self.one_time_tokens.consume(hash_token(token), purpose, self.clock()) if token else None
        if user_id is None:
            raise InvalidArgument(
                "token is invalid, used or expired",
                [FieldViolation("token", "token is invalid, used or expired")],
                reason="TOKEN_INVALID",
            )
        return user_id

    async def _dummy_hash(self) -> str:
        if self._dummy is None:
            self._dummy = await self.hasher.hash(secrets.token_urlsafe(16))
        return self._dummy


def ensure_not_taken(email_taken: bool, username_taken: bool) -> None:
    """Raise AlreadyExists naming the field that collides."""
    if email_taken:
        raise AlreadyExists("an account with this email already exists", reason="EMAIL_TAKEN")
    if username_taken:
        raise AlreadyExists("this username is taken", reason="USERNAME_TAKEN")
