"""Auth entities and value objects with their rules: users, sessions, single-use codes and mail.

Pure: no gRPC, database or Redis imports.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from email_validator import EmailNotValidError, validate_email

from trademesh.kernel.errors import AlreadyExists, FieldViolation, InvalidArgument, check_fields
from trademesh.services.core.identity import ROLE_ADMIN, ROLE_PREMIUM, ROLE_USER

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


def normalize_email(email: str) -> str:
    """Return the case-insensitive key of an email address."""
    return email.strip().lower()


def hash_token(token: str) -> str:
    """Return the storage key of an opaque token (never stored in clear)."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class SecretToken:
    """An opaque random token: the clear value goes only to its holder, only its hash is stored."""

    value: str

    @classmethod
    def generate(cls) -> SecretToken:
        """Return a new token of 32 random bytes."""
        return cls(secrets.token_urlsafe(32))

    @property
    def hash(self) -> str:
        """Return the storage key of the token."""
        return hash_token(self.value)


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
class OneTimeCode:
    """A stored single-use code (verification or reset): its hash, never its clear value."""

    token_hash: str
    purpose: TokenPurpose
    user_id: str
    expires_at: datetime
    created_at: datetime
    used_at: datetime | None = None

    def usable(self, purpose: TokenPurpose, now: datetime) -> bool:
        """Tell whether the code may be consumed now for `purpose` (unused and not expired)."""
        return self.purpose == purpose and self.used_at is None and now < self.expires_at


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    """A signed access token and an opaque refresh token, with their expiry times."""

    access_token: str
    access_expires_at: datetime
    refresh_token: str
    refresh_expires_at: datetime


class RotationStatus(StrEnum):
    """What presenting a refresh token found."""

    OK = "ok"
    MISSING = "missing"
    REUSED = "reused"
    REVOKED = "revoked"


@dataclass(frozen=True, slots=True)
class RefreshRotation:
    """The outcome of presenting a refresh token."""

    status: RotationStatus
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


def check_roles(roles: Sequence[str]) -> tuple[str, ...]:
    """Return `roles` in their canonical order, or raise InvalidArgument if one is unknown or none is given."""
    unknown = sorted(set(roles) - set(ROLES))
    if unknown or not roles:
        raise InvalidArgument(
            "unknown or missing roles",
            [FieldViolation("roles", f"roles must be some of {', '.join(ROLES)}; got {', '.join(roles) or 'none'}")],
        )
    return tuple(role for role in ROLES if role in roles)


def ensure_not_taken(email_taken: bool, username_taken: bool) -> None:
    """Raise AlreadyExists naming the field that collides."""
    if email_taken:
        raise AlreadyExists("an account with this email already exists", reason="EMAIL_TAKEN")
    if username_taken:
        raise AlreadyExists("this username is taken", reason="USERNAME_TAKEN")
