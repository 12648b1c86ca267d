"""Proto ⇄ model mapping of the auth service (the only module besides api/server that touches `*_pb2`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from trademesh.auth.v1 import auth_pb2
from trademesh.services.auth.model import IssuedTokens, User
from trademesh.services.core.timestamps import timestamp

_ROLES = {"user": auth_pb2.ROLE_USER, "premium": auth_pb2.ROLE_PREMIUM, "admin": auth_pb2.ROLE_ADMIN}


def user_to_proto(user: User) -> auth_pb2.User:
    """Map a user to its public message (no secrets)."""
    return auth_pb2.User(
        id=user.id,
        email=user.email,
        username=user.username,
        email_verified=user.email_verified,
        roles=[_ROLES[role] for role in user.roles if role in _ROLES],
        create_time=timestamp(user.created_at),
        update_time=timestamp(user.updated_at),
    )


def tokens_to_proto(tokens: IssuedTokens) -> auth_pb2.TokenPair:
    """Map issued tokens to a TokenPair."""
    return auth_pb2.TokenPair(
        access_token=tokens.access_token,
        access_token_expire_time=timestamp(tokens.access_expires_at),
        refresh_token=tokens.refresh_token,
        refresh_token_expire_time=timestamp(tokens.refresh_expires_at),
        token_type="Bearer",
    )


def jwks_to_proto(jwks: Iterable[Mapping[str, str]]) -> list[auth_pb2.Jwk]:
    """Map public JWKs to their messages."""
    return [auth_pb2.Jwk(**jwk) for jwk in jwks]
