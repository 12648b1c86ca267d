"""argon2id password hashing (argon2-cffi), run off the event loop because it is slow on purpose."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher as Argon2
from argon2.exceptions import InvalidHashError, VerificationError


class Argon2PasswordHasher:
    """Hash with argon2id at the configured cost; verify in a worker thread."""

    def __init__(self, time_cost: int, memory_kib: int, parallelism: int) -> None:
        self._argon2 = Argon2(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._argon2.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        try:
            return await asyncio.to_thread(self._argon2.verify, password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        return self._argon2.check_needs_rehash(password_hash)
