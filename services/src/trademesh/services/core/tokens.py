"""Access-token verification shared by every service (the auth service also signs with it).

Tokens are EdDSA (Ed25519) JWTs with a `kid` header. Public keys come from a `KeySource`: the auth
service uses its own key ring; every other service fetches the auth service's JWKS, caches it and
refreshes it periodically and whenever a token names a `kid` it has not seen (key rotation).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

import jwt
from jwt.algorithms import OKPAlgorithm

from trademesh.kernel.errors import Unauthenticated
from trademesh.services.core.identity import Principal, session_revocation_id, token_revocation_id

logger = logging.getLogger(__name__)

ALGORITHM = "EdDSA"
REQUIRED_CLAIMS = ["exp", "iat", "sub", "jti", "iss", "aud"]
#: Clock skew allowed on `exp`/`nbf`: at most 1 s (decision 0003). Replicas run NTP-synchronised clocks;
#: 5 s let a token expired (or not yet valid) by 3 s through.
LEEWAY_SECONDS = 1.0


class KeySource(Protocol):
    """Find the public key that verifies tokens signed under `kid`."""

    async def key_for(self, kid: str) -> Any | None: ...


class StaticKeySource:
    """Serve a fixed set of public keys (kid → key)."""

    def __init__(self, keys: Mapping[str, Any]) -> None:
        self._keys = dict(keys)

    async def key_for(self, kid: str) -> Any | None:
        return self._keys.get(kid)


def public_key_from_jwk(jwk: Mapping[str, Any]) -> Any:
    """Turn one OKP JSON Web Key into a verifying key object."""
    return OKPAlgorithm.from_jwk(dict(jwk))


class JwksKeySource:
    """Cache a JWKS fetched by `fetch`, refreshed every `refresh_seconds` and on unknown kids."""

    def __init__(
        self,
        fetch: Callable[[], Awaitable[list[dict[str, Any]]]],
        refresh_seconds: float,
        min_refetch_seconds: float = 5.0,
    ) -> None:
        self._fetch = fetch
        self._refresh_seconds = refresh_seconds
        self._min_refetch_seconds = min_refetch_seconds
        self._keys: dict[str, Any] = {}
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()

    async def key_for(self, kid: str) -> Any | None:
        now = time.monotonic()
        key = self._keys.get(kid)
        stale = now - self._fetched_at > self._refresh_seconds
        if key is None or stale:
            # An unknown kid may be a freshly rotated key; refetch, but not more often than allowed.
            if stale or now - self._fetched_at > self._min_refetch_seconds:
                await self._refresh()
            key = self._keys.get(kid)
        return key

    async def _refresh(self) -> None:
        async with self._lock:
            if time.monotonic() - self._fetched_at <= self._min_refetch_seconds:
                return
            try:
                jwks = await self._fetch()
            except Exception:
                # Keep serving the keys we have; tokens under them stay verifiable during an outage.
                logger.warning("could not refresh JWKS; keeping %d cached keys", len(self._keys), exc_info=True)
                self._fetched_at = time.monotonic() - self._refresh_seconds + self._min_refetch_seconds
                return
            self._keys = {item["kid"]: public_key_from_jwk(item) for item in jwks if "kid" in item}
            self._fetched_at = time.monotonic()


class RevocationCheck(Protocol):
    """Tell whether a token id or session id has been revoked."""

    def is_revoked(self, *ids: str) -> bool: ...


class AccessTokenVerifier:
    """Verify access tokens: signature, algorithm, kid, issuer, audience, expiry and revocation."""

    def __init__(
        self,
        keys: KeySource,
        *,
        issuer: str,
        audience: str,
        revocations: RevocationCheck | None = None,
        leeway_seconds: float = LEEWAY_SECONDS,
        cache_size: int = 10_000,
    ) -> None:
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self._revocations = revocations
        if not 0 <= leeway_seconds <= LEEWAY_SECONDS:
            raise ValueError(f"leeway_seconds must be between 0 and {LEEWAY_SECONDS}")
        self._leeway = leeway_seconds
        # Verified tokens are remembered until they expire, so a busy caller pays for the
        # signature check once, not on every call.
        self._cache: OrderedDict[str, Principal] = OrderedDict()
        self._cache_size = cache_size

    async def verify(self, token: str) -> Principal:
        """Return the principal a valid token names; raise Unauthenticated otherwise."""
        principal = self._cache.get(token)
        if principal is None:
            principal = await self._verify_uncached(token)
            self._cache[token] = principal
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        elif principal.expires_at.timestamp() + self._leeway < time.time():
            self._cache.pop(token, None)
            raise Unauthenticated("access token expired", reason="TOKEN_EXPIRED")
        if self._revocations is not None and self._revocations.is_revoked(
            token_revocation_id(principal.token_id), session_revocation_id(principal.session_id)
        ):
            raise Unauthenticated("access token has been revoked", reason="TOKEN_REVOKED")
        return principal

    async def _verify_uncached(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthenticated("malformed access token", reason="TOKEN_INVALID") from None
        if header.get("alg") != ALGORITHM:
            raise Unauthenticated("access token uses a disallowed algorithm", reason="TOKEN_INVALID")
        kid = header.get("kid")
        key = await self._keys.key_for(kid) if isinstance(kid, str) else None
        if key is None:
            raise Unauthenticated("access token signed with an unknown key", reason="TOKEN_UNKNOWN_KEY")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("access token expired", reason="TOKEN_EXPIRED") from None
        except jwt.PyJWTError as error:
            raise Unauthenticated(f"invalid access token: {error}", reason="TOKEN_INVALID") from None
        roles = claims.get("roles", [])
        return Principal(
            subject=str(claims["sub"]),
            roles=frozenset(str(role) for role in roles) if isinstance(roles, list) else frozenset(),
            token_id=str(claims["jti"]),
            session_id=str(claims.get("sid", "")),
            expires_at=datetime.fromtimestamp(float(claims["exp"]), UTC),
            claims=claims,
        )
