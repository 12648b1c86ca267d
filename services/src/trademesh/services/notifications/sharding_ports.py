"""The membership port of sharded evaluation (decision 0340); adapter: `sharding.RedisMembership`.
Pure: no gRPC, database or Redis imports.
"""

from __future__ import annotations

from typing import Protocol


class Membership(Protocol):
    """The live notification replicas: each beats regularly; one silent for the member timeout is gone."""

    @property
    def member_id(self) -> str:
        """Return this replica's id (random per process)."""

    async def live(self) -> dict[str, float]:
        """Return the members whose last heartbeat is within the member timeout (this one once it beat), each
        with the seconds left until it expires unless it beats again."""

    async def heartbeat(self) -> None:
        """Record this replica alive now."""

    async def announce(self) -> None:
        """Tell the other replicas the members changed, so they beat now rather than at their next beat."""

    async def leave(self) -> None:
        """Remove this replica at once and announce it (graceful shutdown)."""
