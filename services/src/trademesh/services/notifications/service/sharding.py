"""Replicas share the tick evaluation and the P&L streams: rendezvous hashing over the live members (decision 0340).

Every replica registers itself in a membership (`sharding_ports.Membership`; in Redis: `sharding.py`) and
beats every third of the member timeout. An instrument — and a guarded user — belongs to the live member with
the highest weight `blake2b(member, key)` (rendezvous or highest-random-weight hashing): every replica that
sees the same members computes the same owner without talking to the others, and a member joining or leaving
moves only the keys it wins or held (about 1/n of them).

`ShardedTickSource` wraps the real tick source: the evaluator's `watch`/`unwatch` say which instruments it is
*interested* in (it still indexes every alert and follows every announcement), and only the owned subset is
subscribed. `GuardrailWatch` opens a P&L stream only for owned users (`owns`, `rebalance`). When the members
change, `Shard` recomputes and both move the difference: the newly owned are subscribed or opened before the
lost ones are dropped.

Safety rests on the alert's generation check (decision 0130), not on the assignment: two replicas that briefly
both own an instrument fire its alerts once. The assignment only has to avoid "nobody owns it": a replica's own
view always includes itself, and a crashed member is dropped from the others' views when the member timeout since
its last beat ends (each replica times a beat for the first expiry it expects), when its keys are taken over.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable, Collection, Iterable

from trademesh.services.notifications.ports import TickSource
from trademesh.services.notifications.sharding_ports import Membership

logger = logging.getLogger(__name__)

#: Key spaces of the assignment: instruments and guarded users are placed independently.
INSTRUMENT_KEY = "tick:"
USER_KEY = "pnl:"


def weight(member: str, key: str) -> int:
    """Return the rendezvous weight of `key` at `member` (a stable 64-bit hash, the same in every process)."""
    digest = hashlib.blake2b(f"{member}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def owner_of(key: str, members: Collection[str]) -> str | None:
    """Return the member owning `key`: the highest weight, ties broken by member id (None without members)."""
    if not members:
        return None
    return max(members, key=lambda member: (weight(member, key), member))


def assignment(keys: Iterable[str], members: Collection[str]) -> dict[str, str]:
    """Return each key's owner among `members` (the pure view the tests and the benchmark check)."""
    return {key: owner for key in keys if (owner := owner_of(key, members)) is not None}


Listener = Callable[[], Awaitable[None]]

#: A beat looking for an expired member comes this long after its expiry (clocks: the loop's and Redis's).
EXPIRY_MARGIN_SECONDS = 0.02


class Shard:
    """This replica's view of the live members and what it owns; `beat` refreshes it and moves the difference."""

    def __init__(self, membership: Membership) -> None:
        self._membership = membership
        self.member_id = membership.member_id
        #: Until the first beat, the replica sees only itself: it owns everything (overlap, never a gap).
        self.members: frozenset[str] = frozenset({self.member_id})
        self._listeners: list[Listener] = []
        self._announced = False
        self._closed = False
        self.wake = asyncio.Event()
        self.changes = 0
        #: When (event-loop time) the first other member expires unless it beats again.
        self._next_expiry: float | None = None

    def on_change(self, listener: Listener) -> None:
        """Call `listener` after every change of the members (it moves what this replica watches)."""
        self._listeners.append(listener)

    def owns(self, key: str) -> bool:
        """Tell whether this replica owns the (prefixed) key."""
        return owner_of(key, self.members) == self.member_id

    def owns_instrument(self, instrument: str) -> bool:
        """Tell whether this replica evaluates the instrument's ticks."""
        return self.owns(INSTRUMENT_KEY + instrument)

    def owns_user(self, user_id: str) -> bool:
        """Tell whether this replica opens the user's P&L stream."""
        return self.owns(USER_KEY + user_id)

    async def beat(self) -> bool:
        """Read the live members, move what changed, then record this replica alive; return whether it changed.

        The view is applied before this replica's own heartbeat: a joining replica subscribes its share before
        the others can see it and drop that share (overlap, not a gap). The first successful beat announces the
        join so the others look at once instead of at their next beat.
        """
        live = await self._membership.live()
        members = frozenset(live) | {self.member_id}
        others = [left for member, left in live.items() if member != self.member_id]
        self._next_expiry = asyncio.get_running_loop().time() + min(others) if others else None
        changed = members != self.members
        if changed:
            logger.info("notification replicas: %d live (%s)", len(members), ", ".join(sorted(members)))
            self.members = members
            self.changes += 1
            for listener in self._listeners:
                await listener()
        await self._membership.heartbeat()
        if not self._announced:
            await self._membership.announce()
            self._announced = True
        return changed

    def members_changed(self) -> None:
        """Another replica announced a join or a leave: beat now (called from the backplane's reader)."""
        self.wake.set()

    async def run(self, interval: float) -> None:
        """Beat every `interval` seconds (and at once when woken) until closed; failures keep the last view."""
        while not self._closed:
            self.wake.clear()
            try:
                await self.beat()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                # Keeping the last view is safe: the others drop us after the timeout and take our share
                # (both then evaluate it, once by the generation check); we never give up a share here.
                logger.warning("notification membership beat failed (%s); keeping the last view", error)
                self._next_expiry = None  # retry after a whole interval, not in a loop
            try:
                async with asyncio.timeout(self.next_beat_in(interval)):
                    await self.wake.wait()
            except TimeoutError:
                pass

    def next_beat_in(self, interval: float) -> float:
        """Return the seconds until the next beat: `interval`, or sooner when another member expires before then
        (just after its expiry, so a crashed member's share is taken over within the member timeout)."""
        if self._next_expiry is None:
            return interval
        until = self._next_expiry - asyncio.get_running_loop().time() + EXPIRY_MARGIN_SECONDS
        return max(EXPIRY_MARGIN_SECONDS, min(interval, until))

    def close(self) -> None:
        """Ask `run` to stop (the graceful leave is `leave`)."""
        self._closed = True
        self.wake.set()

    async def leave(self) -> None:
        """Remove this replica from the members at once and tell the others (graceful shutdown)."""
        self._closed = True
        try:
            await self._membership.leave()
        except Exception as error:
            logger.warning("leaving the notification members failed (%s); the others drop us after the timeout", error)


class ShardedTickSource:
    """A `TickSource` that subscribes only the owned part of what the evaluator watches."""

    def __init__(self, inner: TickSource, owns: Callable[[str], bool]) -> None:
        self._inner = inner
        self._owns = owns
        #: Instruments the evaluator wants (armed alerts on them).
        self.wanted: set[str] = set()
        #: The owned part of `wanted`, subscribed on the inner source.
        self.subscribed: set[str] = set()

    async def watch(self, instruments: Iterable[str]) -> None:
        """Note the interest; subscribe the owned ones."""
        new = set(instruments)
        self.wanted |= new
        owned = [instrument for instrument in new - self.subscribed if self._owns(instrument)]
        self.subscribed.update(owned)
        if owned:
            await self._inner.watch(owned)

    async def unwatch(self, instruments: Iterable[str]) -> None:
        """Drop the interest; unsubscribe those that were subscribed."""
        gone = set(instruments)
        self.wanted -= gone
        subscribed = gone & self.subscribed
        self.subscribed -= subscribed
        if subscribed:
            await self._inner.unwatch(subscribed)

    async def rebalance(self) -> None:
        """Subscribe the wanted instruments now owned, then unsubscribe the ones no longer owned."""
        target = {instrument for instrument in self.wanted if self._owns(instrument)}
        gained, lost = target - self.subscribed, self.subscribed - target
        self.subscribed = target
        if gained:
            await self._inner.watch(gained)
        if lost:
            await self._inner.unwatch(lost)
        if gained or lost:
            logger.info("tick evaluation moved: %d instruments taken, %d handed over", len(gained), len(lost))
