"""Who is calling: the verified principal of the current RPC, set by the auth interceptor."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime

from trademesh.kernel.errors import PermissionDenied, Unauthenticated

ROLE_USER = "user"
ROLE_PREMIUM = "premium"
ROLE_ADMIN = "admin"
ROLE_SERVICE = "service"


@dataclass(frozen=True, slots=True)
class Principal:
    """A verified caller: a user (or a service identity) with its roles and token facts."""

    subject: str
    roles: frozenset[str]
    token_id: str
    session_id: str
    expires_at: datetime
    claims: dict[str, object] = field(default_factory=dict, compare=False, hash=False)

    @property
    def is_service(self) -> bool:
        """Tell whether this principal is a service identity rather than a user."""
        return ROLE_SERVICE in self.roles

    def require_role(self, *roles: str) -> None:
        """Raise PermissionDenied unless the principal holds one of `roles`."""
        if not self.roles.intersection(roles):
            raise PermissionDenied(
                f"this operation needs one of the roles: {', '.join(sorted(roles))}",
                reason="ROLE_REQUIRED",
            )


_current: ContextVar[Principal | None] = ContextVar("trademesh_principal", default=None)


def current_principal() -> Principal:
    """Return the caller of the current RPC; raise Unauthenticated on a public RPC."""
    principal = _current.get()
    if principal is None:
        raise Unauthenticated("this call needs an access token", reason="TOKEN_MISSING")
    return principal


def optional_principal() -> Principal | None:
    """Return the caller of the current RPC, or None when the call is anonymous."""
    return _current.get()


def bind_principal(principal: Principal | None) -> None:
    """Set the caller for the rest of the current task (called by the auth interceptor)."""
    _current.set(principal)


def token_revocation_id(token_id: str) -> str:
    """Return the revocation-list id that denies one access token."""
    return f"jti:{token_id}"


def session_revocation_id(session_id: str) -> str:
    """Return the revocation-list id that denies every access token of one login session."""
    return f"sid:{session_id}"
