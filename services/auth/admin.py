"""Operator commands for the auth service (run where the service's environment is set).

    python -m trademesh.services.auth.admin set-roles LOGIN user,admin

Roles take effect with the user's next access token (at most one token lifetime later).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime

from trademesh.services.auth.domain import ROLES, assign_roles
from trademesh.services.auth.store import MongoUserStore
from trademesh.services.core.connections import build_mongo
from trademesh.services.core.errors import DomainError, InvalidArgument
from trademesh.services.core.settings import CoreSettings, SettingsError, load_settings


async def _set_roles(settings: CoreSettings, login: str, roles: list[str]) -> str:
    mongo = build_mongo(settings)
    try:
        user = await assign_roles(MongoUserStore(mongo[settings.mongo_database]), login, roles, datetime.now(UTC))
        return f"{user.username}: {', '.join(user.roles)}"
    finally:
        await mongo.close()


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run one operator command."""
    parser = argparse.ArgumentParser(prog="python -m trademesh.services.auth.admin", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    set_roles = commands.add_parser("set-roles", help="replace a user's roles")
    set_roles.add_argument("login", help="email or username")
    set_roles.add_argument("roles", help=f"comma-separated, from: {','.join(ROLES)}")
    args = parser.parse_args(argv)
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
