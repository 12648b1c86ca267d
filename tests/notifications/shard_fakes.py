"""In-memory fake of the membership port (`sharding_ports.Membership`), with the Redis adapter's semantics: a member
is live while its last heartbeat is within the timeout; a leave removes it at once."""

from __future__ import annotations


class MembershipRegistry:
    """The members' heartbeats on one shared clock (seconds), and the announcements made."""

    def __init__(self, timeout_seconds: float = 10.0) -> None:
        self.timeout = timeout_seconds
        self.now = 0.0
        self.beats: dict[str, float] = {}
        self.announcements: list[str] = []

    def member(self, member_id: str) -> InMemoryMembership:
        """Return the membership port of one replica."""
        return InMemoryMembership(self, member_id)

    def advance(self, seconds: float) -> None:
        """Move the shared clock forward."""
        self.now += seconds


class InMemoryMembership:
    """One replica's view of the registry."""

    def __init__(self, registry: MembershipRegistry, member_id: str) -> None:
        self._registry = registry
        self._member_id = member_id

    @property
    def member_id(self) -> str:
        return self._member_id

    async def live(self) -> dict[str, float]:
        registry = self._registry
        return {
            member: seen + registry.timeout - registry.now
            for member, seen in registry.beats.items()
            if seen >= registry.now - registry.timeout
        }

    async def heartbeat(self) -> None:
        self._registry.beats[self._member_id] = self._registry.now

    async def announce(self) -> None:
        self._registry.announcements.append(self._member_id)

    async def leave(self) -> None:
        self._registry.beats.pop(self._member_id, None)
        await self.announce()
