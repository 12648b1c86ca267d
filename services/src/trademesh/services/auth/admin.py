"""Operator commands for the auth service (run where the service's environment is set).

    python -m trademesh.services.auth.admin set-roles LOGIN user,admin
    python -m trademesh.services.auth.admin issue-service-token --name sync --ttl-days 30 [--output FILE]
    python -m trademesh.services.auth.admin rotate-service-token --name sync --secret NAME [--key token]

Roles take effect with the user's next access token (at most one token lifetime later).
A service token is an access token with `roles: ["service"]` and `sub: "service:<name>"`, signed with
the active signing key (TRADEMESH_SIGNING_KEY_FILES); revoke one early through its `jti`
(docs/decisions/0014).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import jwt

from trademesh.kernel.errors import DomainError, InvalidArgument
from trademesh.services.auth.keys import KeyRing
from trademesh.services.auth.kubernetes import KubernetesApi, KubernetesApiError
from trademesh.services.auth.model import ROLES
from trademesh.services.auth.service import assign_roles
from trademesh.services.auth.settings import AuthSettings
from trademesh.services.auth.store import MongoUserStore
from trademesh.services.core.connections import build_mongo
from trademesh.services.core.identity import ROLE_SERVICE
from trademesh.services.core.settings import CoreSettings, SettingsError, load_settings


async def _set_roles(settings: CoreSettings, login: str, roles: list[str]) -> str:
    mongo = build_mongo(settings)
    try:
        user = await assign_roles(MongoUserStore(mongo[settings.mongo_database]), login, roles, datetime.now(UTC))
        return f"{user.username}: {', '.join(user.roles)}"
    finally:
        await mongo.close()


def issue_service_token(keys: KeyRing, name: str, ttl_days: float, issuer: str, audience: str) -> str:
    """Return a signed access token for service `name` with role `service`, valid for `ttl_days`."""
    now = int(time.time())
    return keys.sign(
        {
            "iss": issuer,
            "aud": audience,
            "sub": f"service:{name}",
            "iat": now,
            "nbf": now,
            "exp": now + int(ttl_days * 86400),
            "jti": str(uuid.uuid4()),
            "sid": f"service:{name}:{uuid.uuid4()}",
            "roles": [ROLE_SERVICE],
        }
    )


def rotate_service_token(
    api: KubernetesApi, keys: KeyRing, settings: AuthSettings, *, name: str, ttl_days: float, secret: str, key: str
) -> str:
    """Issue a new token for service `name` into `key` of Secret `secret`; return its `jti`.

    The previous token stays valid until it expires, so callers holding it are unaffected meanwhile.
    """
    token = issue_service_token(keys, name, ttl_days, settings.jwt_issuer, settings.jwt_audience)
    api.set_secret_key(secret, key, token)
    claims = jwt.decode(token, options={"verify_signature": False})
    jti: str = claims["jti"]
    return jti


def _write_private(path: Path, text: str) -> None:
    # Created owner-only from the start: the token is a credential.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text + "\n")


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run one operator command."""
    parser = argparse.ArgumentParser(prog="python -m trademesh.services.auth.admin", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    set_roles = commands.add_parser("set-roles", help="replace a user's roles")
    set_roles.add_argument("login", help="email or username")
    set_roles.add_argument("roles", help=f"comma-separated, from: {','.join(ROLES)}")
    issue = commands.add_parser("issue-service-token", help="print (or write) a token with role `service`")
    issue.add_argument("--name", required=True, help="service name; the token's subject is service:<name>")
    issue.add_argument("--ttl-days", type=float, default=30.0, help="lifetime in days (default: %(default)s)")
    issue.add_argument("--output", type=Path, help="write the token to this file (mode 600) instead of stdout")
    rotate = commands.add_parser(
        "rotate-service-token", help="issue a token into a Kubernetes Secret (in-cluster; the rotation CronJob)"
    )
    rotate.add_argument("--name", required=True, help="service name; the token's subject is service:<name>")
    rotate.add_argument("--ttl-days", type=float, default=30.0, help="lifetime in days (default: %(default)s)")
    rotate.add_argument("--secret", required=True, help="the Secret, in this pod's namespace, holding the token")
    rotate.add_argument("--key", default="token", help="the key in that Secret (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.command in {"issue-service-token", "rotate-service-token"}:
        try:
            auth = load_settings(AuthSettings)
            keys = KeyRing.from_files([Path(p.strip()) for p in auth.signing_key_files.split(",") if p.strip()])
        except (SettingsError, OSError, ValueError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
    if args.command == "rotate-service-token":
        try:
            jti = rotate_service_token(
                KubernetesApi.in_cluster(),
                keys,
                auth,
                name=args.name,
                ttl_days=args.ttl_days,
                secret=args.secret,
                key=args.key,
            )
        except KubernetesApiError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        print(f"rotated the service:{args.name} token in Secret {args.secret} (key {args.key}, jti {jti})")
        return 0
    if args.command == "issue-service-token":
        token = issue_service_token(keys, args.name, args.ttl_days, auth.jwt_issuer, auth.jwt_audience)
        if args.output is None:
            print(token)
        else:
            _write_private(args.output, token)
        return 0
    try:
        settings = load_settings(CoreSettings)
        print(asyncio.run(_set_roles(settings, args.login, [r.strip() for r in args.roles.split(",") if r.strip()])))
    except InvalidArgument as error:
        print("error: " + "; ".join(v.description for v in error.violations), file=sys.stderr)
        return 1
    except (SettingsError, DomainError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
