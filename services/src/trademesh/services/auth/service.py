"""Auth use cases: registration, login with throttling, token rotation, logout, verification, reset, keys.

Pure logic over the model and the ports; no gRPC, database or Redis imports.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from trademesh.kernel.errors import (
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    Unauthenticated,
    check_fields,
)
from trademesh.services.auth.model import (
    INVALID_CREDENTIALS,
    AuthPolicy,
    IssuedTokens,
    Mail,
    RotationStatus,
    SecretToken,
    TokenPurpose,
    User,
    check_roles,
    hash_token,
    normalize_email,
    validate_password,
    validate_registration,
)
from trademesh.services.auth.ports import (
    Clock,
    LoginThrottle,
    OneTimeTokenStore,
    Outbox,
    PasswordHasher,
    Revoker,
    SessionStore,
    TokenSigner,
    UserStore,
)
from trademesh.services.core.identity import (
    ROLE_USER,
    Principal,
    session_revocation_id,
    token_revocation_id,
)


def utc_now() -> datetime:
    """Return the current time in UTC (the default clock)."""
    return datetime.now(UTC)


async def assign_roles(users: UserStore, login: str, roles: Sequence[str], now: datetime) -> User:
    """Replace a user's roles (an operator action; takes effect with the user's next access token)."""
    canonical = check_roles(roles)
    user = await users.find_by_login(login.strip().lower())
    updated = await users.set_roles(user.id, canonical, now) if user else None
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
    clock: Clock = utc_now
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
        if rotation.status is RotationStatus.REUSED:
            await self._deny_session(rotation.family_id)
            raise Unauthenticated(
                "refresh token was already used; every session of this login has been revoked",
                reason="REFRESH_TOKEN_REUSED",
            )
        if rotation.status is not RotationStatus.OK:
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

    def jwks(self) -> list[dict[str, str]]:
        """Return the public keys that verify access tokens (as JWKs)."""
        return self.signer.jwks()

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
        refresh_token = SecretToken.generate()
        await self.sessions.add_refresh_token(refresh_token.hash, family_id, user.id, self.policy.refresh_token_ttl)
        return IssuedTokens(
            access_token=self.signer.sign(claims),
            access_expires_at=datetime.fromtimestamp(int(access_expires_at.timestamp()), UTC),
            refresh_token=refresh_token.value,
            refresh_expires_at=now + self.policy.refresh_token_ttl,
        )

    async def _deny_session(self, family_id: str) -> None:
        # Access tokens of the family stay valid for at most their lifetime; deny them that long.
        until = (self.clock() + self.policy.access_token_ttl + timedelta(seconds=60)).timestamp()
        await self.revoker.revoke(session_revocation_id(family_id), until)

    async def _mail_token(
        self, user: User, purpose: TokenPurpose, ttl: timedelta, subject: str, template: str
    ) -> datetime:
        token = SecretToken.generate()
        now = self.clock()
        expires_at = now + ttl
        await self.one_time_tokens.add(token.hash, purpose, user.id, expires_at, now)
        await self.outbox.send(
            Mail(
                to=user.email,
                subject=subject,
                template=template,
                code=token.value,
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
            self._dummy = await self.hasher.hash(SecretToken.generate().value)
        return self._dummy
