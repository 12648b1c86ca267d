"""The auth use cases against in-memory fakes of their ports: every rule, in milliseconds, no servers."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.auth.fakes import (
    FakeClock,
    FakePasswordHasher,
    FakeSigner,
    InMemoryLoginThrottle,
    InMemoryOneTimeTokenStore,
    InMemoryOutbox,
    InMemorySessionStore,
    InMemoryUserStore,
    RecordingRevoker,
    claims_of,
)
from trademesh.kernel.errors import (
    AlreadyExists,
    DomainError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    Unauthenticated,
)
from trademesh.services.auth.keys import KeyRing
from trademesh.services.auth.model import AuthPolicy, TokenPurpose, User, hash_token
from trademesh.services.auth.server import bootstrap
from trademesh.services.auth.service import AuthService, assign_roles
from trademesh.services.auth.settings import AuthSettings
from trademesh.services.core.identity import Principal

PASSWORD = "Correct-Horse-42"
NEW_PASSWORD = "Battery-Staple-77"
ADDRESS = "203.0.113.7"
POLICY = AuthPolicy(
    access_token_ttl=timedelta(minutes=15),
    refresh_token_ttl=timedelta(days=30),
    email_verification_ttl=timedelta(days=1),
    password_reset_ttl=timedelta(hours=1),
    max_failures_per_account=5,
    max_failures_per_address=20,
    throttle_window=timedelta(minutes=15),
)


@dataclass
class World:
    """The service and the fakes behind it."""

    service: AuthService
    clock: FakeClock
    users: InMemoryUserStore
    codes: InMemoryOneTimeTokenStore
    outbox: InMemoryOutbox
    sessions: InMemorySessionStore
    throttle: InMemoryLoginThrottle
    hasher: FakePasswordHasher
    revoker: RecordingRevoker

    async def register(self, name: str = "trader") -> tuple[User, str]:
        """Register `name` (email `<name>@example.com`); return the user and their refresh token."""
        user, tokens = await self.service.register(f"{name}@Example.com", name, PASSWORD)
        return user, tokens.refresh_token


@pytest.fixture
def world() -> World:
    clock = FakeClock()
    users = InMemoryUserStore()
    codes = InMemoryOneTimeTokenStore()
    outbox = InMemoryOutbox()
    sessions = InMemorySessionStore(clock)
    throttle = InMemoryLoginThrottle(POLICY.throttle_window, clock)
    hasher = FakePasswordHasher()
    revoker = RecordingRevoker()
    service = AuthService(
        users=users,
        one_time_tokens=codes,
        outbox=outbox,
        sessions=sessions,
        throttle=throttle,
        hasher=hasher,
        signer=FakeSigner(),
        revoker=revoker,
        policy=POLICY,
        issuer="trademesh-auth",
        audience="trademesh",
        clock=clock,
    )
    return World(service, clock, users, codes, outbox, sessions, throttle, hasher, revoker)


def principal_of(access_token: str) -> Principal:
    claims = claims_of(access_token)
    return Principal(
        subject=claims["sub"],
        roles=frozenset(claims["roles"]),
        token_id=claims["jti"],
        session_id=claims["sid"],
        expires_at=datetime.fromtimestamp(claims["exp"], UTC),
    )


async def expect(error_type: type[DomainError], call: Awaitable[object], reason: str | None = None) -> DomainError:
    with pytest.raises(error_type) as raised:
        await call
    if reason is not None:
        assert raised.value.reason == reason
    return raised.value


# --- register ---------------------------------------------------------------------------------------------------


async def test_register_normalizes_and_stores_only_a_password_hash(world: World) -> None:
    user, tokens = await world.service.register("  Trader@Example.COM ", " Trader_One ", PASSWORD)

    assert user.username == "trader_one"
    assert user.email == "Trader@example.com"
    assert user.email_key == "trader@example.com"
    assert user.roles == ("user",)
    assert not user.email_verified
    stored = world.users.users[user.id]
    assert stored.password_hash != PASSWORD
    assert await world.hasher.verify(stored.password_hash, PASSWORD)
    claims = claims_of(tokens.access_token)
    assert claims["sub"] == user.id
    assert claims["roles"] == ["user"]
    assert claims["username"] == "trader_one"
    assert tokens.access_expires_at == world.clock.now + POLICY.access_token_ttl
    assert tokens.refresh_expires_at == world.clock.now + POLICY.refresh_token_ttl


async def test_register_reports_every_invalid_field(world: World) -> None:
    error = await expect(InvalidArgument, world.service.register("not-an-email", "x!", "short"))

    assert isinstance(error, InvalidArgument)
    assert {violation.field for violation in error.violations} == {"email", "username", "password"}
    assert world.users.users == {}


@pytest.mark.parametrize(
    ("email", "username", "password", "description"),
    [
        ("", "trader", PASSWORD, "email is required"),
        ("a" * 250 + "@x.io", "trader", PASSWORD, "email must be at most 254 characters"),
        ("trader@example.com", "ab", PASSWORD, "username must be 3 to 30 characters"),
        ("trader@example.com", "a" * 31, PASSWORD, "username must be 3 to 30 characters"),
        ("trader@example.com", "trader", "short", "password must be at least 10 characters"),
        ("trader@example.com", "trader", "x" * 129, "password must be at most 128 characters"),
        ("trader@example.com", "trader", "Password123", "password is a commonly used password"),
        ("trader@example.com", "trader", "aaaabbbbaaaa", "password must contain at least 5 different characters"),
        ("someone@example.com", "trader", "My-trader-pass-1", "password must not contain the username"),
        ("mailbox@example.com", "trader", "My-mailbox-pass-1", "password must not contain the email address"),
    ],
)
async def test_register_rejects(world: World, email: str, username: str, password: str, description: str) -> None:
    error = await expect(InvalidArgument, world.service.register(email, username, password))

    assert isinstance(error, InvalidArgument)
    assert any(violation.description.startswith(description) for violation in error.violations), error.violations


async def test_duplicate_email_any_case_and_duplicate_username_are_refused(world: World) -> None:
    await world.register("trader")

    await expect(AlreadyExists, world.service.register("TRADER@example.com", "someone_else", PASSWORD), "EMAIL_TAKEN")
    await expect(AlreadyExists, world.service.register("other@example.com", "Trader", PASSWORD), "USERNAME_TAKEN")
    assert len(world.users.users) == 1


# --- login and its throttle -------------------------------------------------------------------------------------


async def test_login_by_email_in_any_case_or_by_username(world: World) -> None:
    user, _ = await world.register("trader")

    by_email, _ = await world.service.login(" TRADER@example.com ", PASSWORD, ADDRESS)
    by_username, tokens = await world.service.login("Trader", PASSWORD, ADDRESS)

    assert by_email.id == by_username.id == user.id
    assert claims_of(tokens.access_token)["sub"] == user.id


async def test_wrong_password_and_unknown_login_fail_alike(world: World) -> None:
    await world.register("trader")

    wrong = await expect(Unauthenticated, world.service.login("trader", "Wrong-Horse-42", ADDRESS))
    unknown = await expect(Unauthenticated, world.service.login("nobody", PASSWORD, ADDRESS))
    empty = await expect(Unauthenticated, world.service.login("trader", "", ADDRESS))

    assert wrong.reason == unknown.reason == empty.reason == "INVALID_CREDENTIALS"
    assert str(wrong) == str(unknown) == str(empty) == "invalid login or password"


async def test_account_throttle_is_shared_by_email_and_username_until_the_window_ends(world: World) -> None:
    await world.register("trader")
    for attempt in range(POLICY.max_failures_per_account):
        login = "trader" if attempt % 2 else "trader@example.com"
        # A different address each time: only the account counter can trip.
        await expect(Unauthenticated, world.service.login(login, "Wrong-Horse-42", f"198.51.100.{attempt}"))

    for login in ("trader", "Trader@Example.com"):
        error = await expect(ResourceExhausted, world.service.login(login, PASSWORD, ADDRESS), "LOGIN_THROTTLED")
        assert error.metadata["scope"] == "account"
        assert error.metadata["retry_after_seconds"] == str(int(POLICY.throttle_window.total_seconds()))

    world.clock.advance(POLICY.throttle_window - timedelta(seconds=1))
    await expect(ResourceExhausted, world.service.login("trader", PASSWORD, ADDRESS), "LOGIN_THROTTLED")
    world.clock.advance(timedelta(seconds=1))
    user, _ = await world.service.login("trader", PASSWORD, ADDRESS)
    assert user.username == "trader"


async def test_account_lockout_leaves_other_accounts_alone(world: World) -> None:
    await world.register("trader")
    await world.register("neighbour")
    for attempt in range(POLICY.max_failures_per_account):
        await expect(Unauthenticated, world.service.login("trader", "Wrong-Horse-42", f"198.51.100.{attempt}"))

    await expect(ResourceExhausted, world.service.login("trader", PASSWORD, ADDRESS))
    user, _ = await world.service.login("neighbour", PASSWORD, ADDRESS)
    assert user.username == "neighbour"


async def test_a_successful_login_resets_the_account_counter(world: World) -> None:
    await world.register("trader")
    for _ in range(2):
        for _ in range(POLICY.max_failures_per_account - 1):
            await expect(Unauthenticated, world.service.login("trader", "Wrong-Horse-42", ADDRESS))
        await world.service.login("trader", PASSWORD, ADDRESS)


async def test_address_throttle_counts_failures_across_accounts(world: World) -> None:
    await world.register("trader")
    for attempt in range(POLICY.max_failures_per_address):
        await expect(Unauthenticated, world.service.login(f"nobody{attempt}", PASSWORD, ADDRESS))

    error = await expect(ResourceExhausted, world.service.login("trader", PASSWORD, ADDRESS), "LOGIN_THROTTLED")
    assert error.metadata["scope"] == "address"
    user, _ = await world.service.login("trader", PASSWORD, "192.0.2.1")
    assert user.username == "trader"


async def test_login_rehashes_a_password_hashed_at_an_old_cost(world: World) -> None:
    user, _ = await world.register("trader")
    world.hasher.cost = 2

    await world.service.login("trader", PASSWORD, ADDRESS)

    stored = world.users.users[user.id].password_hash
    assert stored.startswith("fake-hash$2$")
    assert await world.hasher.verify(stored, PASSWORD)


# --- refresh rotation and reuse detection ---------------------------------------------------------------------


async def test_refresh_rotates_within_the_same_session(world: World) -> None:
    user, refresh_token = await world.register("trader")
    first_family = claims_of((await world.service.login("trader", PASSWORD, ADDRESS))[1].access_token)["sid"]
    world.clock.advance(timedelta(minutes=5))

    rotated = await world.service.refresh(refresh_token)

    assert rotated.refresh_token != refresh_token
    claims = claims_of(rotated.access_token)
    assert claims["sub"] == user.id
    assert claims["sid"] != first_family  # registration started its own session
    assert claims["exp"] == int((world.clock.now + POLICY.access_token_ttl).timestamp())
    again = await world.service.refresh(rotated.refresh_token)
    assert claims_of(again.access_token)["sid"] == claims["sid"]
    # Only hashes are stored.
    assert refresh_token not in world.sessions.tokens
    assert hash_token(refresh_token) in world.sessions.tokens


async def test_reusing_a_rotated_refresh_token_revokes_its_whole_family_only(world: World) -> None:
    _, stolen = await world.register("trader")
    _, other_session = await world.service.login("trader", PASSWORD, ADDRESS)
    _, neighbour_token = await world.register("neighbour")
    current = await world.service.refresh(stolen)
    family = claims_of(current.access_token)["sid"]

    await expect(Unauthenticated, world.service.refresh(stolen), "REFRESH_TOKEN_REUSED")

    await expect(Unauthenticated, world.service.refresh(current.refresh_token), "REFRESH_TOKEN_INVALID")
    assert (
        world.revoker.revoked[f"sid:{family}"]
        == (world.clock.now + POLICY.access_token_ttl + timedelta(seconds=60)).timestamp()
    )
    # The same user's other login and another user's session live on.
    await world.service.refresh(other_session.refresh_token)
    await world.service.refresh(neighbour_token)


async def test_refresh_refuses_unknown_empty_and_expired_tokens(world: World) -> None:
    _, refresh_token = await world.register("trader")

    await expect(Unauthenticated, world.service.refresh(""), "REFRESH_TOKEN_INVALID")
    await expect(Unauthenticated, world.service.refresh("not-a-token"), "REFRESH_TOKEN_INVALID")
    world.clock.advance(POLICY.refresh_token_ttl)
    await expect(Unauthenticated, world.service.refresh(refresh_token), "REFRESH_TOKEN_INVALID")


# --- logout ------------------------------------------------------------------------------------------------------


async def test_logout_revokes_the_session_and_denies_the_access_token(world: World) -> None:
    _, registered = await world.service.register("trader@example.com", "trader", PASSWORD)
    _, other = await world.service.login("trader", PASSWORD, ADDRESS)
    caller = principal_of(registered.access_token)

    await world.service.logout(caller, registered.refresh_token)

    await expect(Unauthenticated, world.service.refresh(registered.refresh_token), "REFRESH_TOKEN_INVALID")
    assert world.revoker.revoked[f"jti:{caller.token_id}"] == caller.expires_at.timestamp()
    assert f"sid:{caller.session_id}" in world.revoker.revoked
    await world.service.refresh(other.refresh_token)


async def test_logout_with_someone_elses_refresh_token_revokes_only_the_callers_session(world: World) -> None:
    _, mine = await world.service.register("trader@example.com", "trader", PASSWORD)
    _, theirs = await world.service.register("neighbour@example.com", "neighbour", PASSWORD)

    await world.service.logout(principal_of(mine.access_token), theirs.refresh_token)

    await world.service.refresh(theirs.refresh_token)
    await expect(Unauthenticated, world.service.refresh(mine.refresh_token), "REFRESH_TOKEN_INVALID")
    assert f"sid:{claims_of(theirs.access_token)['sid']}" not in world.revoker.revoked


# --- email verification -----------------------------------------------------------------------------------------


async def test_verification_code_is_mailed_stored_hashed_and_single_use(world: World) -> None:
    user, _ = await world.register("trader")

    expires_at = await world.service.request_email_verification(user.id)

    assert expires_at == world.clock.now + POLICY.email_verification_ttl
    code = world.outbox.last_code(user.email, TokenPurpose.VERIFY_EMAIL)
    assert code not in world.codes.codes
    assert world.codes.codes[hash_token(code)].user_id == user.id
    record = world.outbox.records[-1]
    assert code not in record["body"]
    assert record["code_hash"] == hash_token(code)
    verified = await world.service.verify_email(code)
    assert verified.email_verified
    assert world.users.users[user.id].email_verified
    await expect(InvalidArgument, world.service.verify_email(code), "TOKEN_INVALID")
    await expect(FailedPrecondition, world.service.request_email_verification(user.id), "EMAIL_ALREADY_VERIFIED")


async def test_verification_code_expires(world: World) -> None:
    user, _ = await world.register("trader")
    await world.service.request_email_verification(user.id)
    code = world.outbox.last_code(user.email, TokenPurpose.VERIFY_EMAIL)

    world.clock.advance(POLICY.email_verification_ttl)

    await expect(InvalidArgument, world.service.verify_email(code), "TOKEN_INVALID")
    assert not world.users.users[user.id].email_verified


async def test_a_verification_code_is_not_a_reset_code_and_unknown_users_get_nothing(world: World) -> None:
    user, _ = await world.register("trader")
    await world.service.request_email_verification(user.id)
    code = world.outbox.last_code(user.email, TokenPurpose.VERIFY_EMAIL)

    await expect(InvalidArgument, world.service.reset_password(code, NEW_PASSWORD), "TOKEN_INVALID")
    await expect(NotFound, world.service.request_email_verification("no-such-user"), "USER_NOT_FOUND")
    await expect(InvalidArgument, world.service.verify_email(""), "TOKEN_INVALID")
    # The code survived the wrong-purpose attempt.
    assert (await world.service.verify_email(code)).email_verified


# --- password reset ---------------------------------------------------------------------------------------------


async def test_password_reset_for_an_unknown_email_mails_nothing(world: World) -> None:
    await world.register("trader")

    await world.service.request_password_reset("nobody@example.com")
    await world.service.request_password_reset("   ")

    assert world.outbox.delivered == []
    assert world.codes.codes == {}


async def test_password_reset_sets_the_password_revokes_every_session_and_is_single_use(world: World) -> None:
    user, first = await world.register("trader")
    _, second = await world.service.login("trader", PASSWORD, ADDRESS)
    _, neighbour = await world.register("neighbour")
    await world.service.request_password_reset("TRADER@example.com")
    code = world.outbox.last_code(user.email, TokenPurpose.RESET_PASSWORD)
    assert world.codes.codes[hash_token(code)].expires_at == world.clock.now + POLICY.password_reset_ttl

    await world.service.reset_password(code, NEW_PASSWORD)

    await expect(Unauthenticated, world.service.login("trader", PASSWORD, ADDRESS), "INVALID_CREDENTIALS")
    await world.service.login("trader", NEW_PASSWORD, ADDRESS)
    for refresh_token in (first, second.refresh_token):
        await expect(Unauthenticated, world.service.refresh(refresh_token), "REFRESH_TOKEN_INVALID")
    await expect(InvalidArgument, world.service.reset_password(code, "Another-Pass-99"), "TOKEN_INVALID")
    # Nothing happened to the neighbour.
    await world.service.refresh(neighbour)
    await world.service.login("neighbour", PASSWORD, ADDRESS)


async def test_a_weak_new_password_does_not_burn_the_reset_code(world: World) -> None:
    user, _ = await world.register("trader")
    await world.service.request_password_reset(user.email)
    code = world.outbox.last_code(user.email, TokenPurpose.RESET_PASSWORD)

    error = await expect(InvalidArgument, world.service.reset_password(code, "short"))
    assert isinstance(error, InvalidArgument)
    assert [violation.field for violation in error.violations] == ["new_password"]
    await expect(InvalidArgument, world.service.reset_password("", NEW_PASSWORD))

    await world.service.reset_password(code, NEW_PASSWORD)
    await world.service.login("trader", NEW_PASSWORD, ADDRESS)


async def test_reset_code_expires(world: World) -> None:
    user, _ = await world.register("trader")
    await world.service.request_password_reset(user.email)
    code = world.outbox.last_code(user.email, TokenPurpose.RESET_PASSWORD)

    world.clock.advance(POLICY.password_reset_ttl)

    await expect(InvalidArgument, world.service.reset_password(code, NEW_PASSWORD), "TOKEN_INVALID")
    await world.service.login("trader", PASSWORD, ADDRESS)


# --- roles, keys, wiring ----------------------------------------------------------------------------------------


async def test_assign_roles_orders_them_and_refuses_unknown_roles_and_users(world: World) -> None:
    user, _ = await world.register("trader")

    updated = await assign_roles(world.users, "TRADER", ["admin", "user"], world.clock.now)

    assert updated.roles == ("user", "admin")
    assert world.users.users[user.id].roles == ("user", "admin")
    await expect(InvalidArgument, assign_roles(world.users, "trader", ["root"], world.clock.now))
    await expect(InvalidArgument, assign_roles(world.users, "trader", [], world.clock.now))
    await expect(NotFound, assign_roles(world.users, "nobody", ["user"], world.clock.now), "USER_NOT_FOUND")
    _, tokens = await world.service.login("trader", PASSWORD, ADDRESS)
    assert claims_of(tokens.access_token)["roles"] == ["user", "admin"]


async def test_jwks_publishes_the_signers_keys(world: World) -> None:
    assert world.service.jwks() == FakeSigner.JWKS


async def test_bootstrap_with_fakes_opens_no_connection(tmp_path: Path) -> None:
    clock = FakeClock()
    keys = KeyRing([Ed25519PrivateKey.generate()])
    app = bootstrap(
        AuthSettings(signing_key_files=str(tmp_path / "unused.pem")),
        store=InMemoryUserStore(),
        one_time_tokens=InMemoryOneTimeTokenStore(),
        mail=InMemoryOutbox(),
        sessions=InMemorySessionStore(clock),
        throttle=InMemoryLoginThrottle(POLICY.throttle_window, clock),
        hasher=FakePasswordHasher(),
        revoker=RecordingRevoker(),
        keys=keys,
        clock=clock,
    )

    assert app.mongo is None
    assert app.redis is None
    user, _ = await app.service.register("trader@example.com", "trader", PASSWORD)
    logged_in, tokens = await app.service.login("trader", PASSWORD, ADDRESS)
    assert logged_in.id == user.id
    assert tokens.access_expires_at == clock.now + app.service.policy.access_token_ttl
    assert app.service.jwks() == keys.jwks()
