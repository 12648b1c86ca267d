"""Operator commands for the sync service (run where the service's environment is set).

python -m trademesh.services.sync.admin generate-key [--id k2]   print a new credentials key
python -m trademesh.services.sync.admin rotate                   re-encrypt sessions under the first key
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from trademesh.services.core.connections import build_mongo
from trademesh.services.core.settings import SettingsError, load_settings
from trademesh.services.sync.credentials import new_key_text
from trademesh.services.sync.server import build_cipher
from trademesh.services.sync.settings import SyncSettings
from trademesh.services.sync.store import MongoAccountStore


async def _rotate(settings: SyncSettings) -> int:
    cipher = build_cipher(settings)
    mongo = build_mongo(settings)
    try:
        return await MongoAccountStore(mongo[settings.mongo_database]).reseal_all(cipher)
    finally:
        await mongo.close()


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run one operator command."""
    parser = argparse.ArgumentParser(prog="python -m trademesh.services.sync.admin", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    generate = commands.add_parser("generate-key", help="print a new key as `id:key`")
    generate.add_argument("--id", default="k1", help="key id (default: %(default)s)")
    commands.add_parser("rotate", help="re-encrypt every stored session under the first configured key")
    args = parser.parse_args(argv)
    if args.command == "generate-key":
        print(new_key_text(args.id))
        return 0
    try:
        count = asyncio.run(_rotate(load_settings(SyncSettings)))
    except SettingsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"re-encrypted {count} broker sessions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
