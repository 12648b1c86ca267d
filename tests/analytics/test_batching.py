"""Trade events applied in batches (decision 0113): one journal merge per user per batch gives exactly the
journal that applying them one at a time gives (and a rebuild from the final trades), idempotently."""

from __future__ import annotations

import random as random_module
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.analytics.fakes import InMemoryAnalyticsCache, InMemoryQuotes, InMemorySettingsStore, InMemoryTradeSource
from trademesh.services.analytics.model import Category, ChangeKind, Journal, JournalChange, JournalFill
from trademesh.services.analytics.service import AnalyticsService

MICROS = 1_000_000
T0 = 1_772_425_800 * MICROS


def a_fill(number: int, rng: random_module.Random, version: int = 1) -> JournalFill:
    return JournalFill(
        trade_id=f"t{number:05d}",
        symbol=rng.choice(("INFY", "TCS", "SBIN")),
        exchange="NSE",
        buy=rng.random() < 0.5,
        quantity_micros=rng.randint(1, 20) * MICROS,
        price_micros=rng.randint(100, 200) * MICROS,
        fees_micros=rng.randint(0, 50),
        time_us=T0 + rng.randint(0, 50) * 60 * MICROS,
        create_time_us=T0 + 10**9,
        category=Category.SWING,
        trade_version=version,
        exec_seq=number,
    )


def history(seed: int, count: int) -> list[JournalChange]:
    """Events of one user: creations, updates (newer versions), deletions and restorations."""
    rng = random_module.Random(seed)
    changes: list[JournalChange] = []
    live: dict[str, JournalFill] = {}
    versions: dict[str, int] = {}
    for version in range(1, count + 1):
        roll = rng.random()
        if roll < 0.6 or not versions:
            fill = a_fill(len(versions), rng)
            versions[fill.trade_id] = 1
            live[fill.trade_id] = fill
            changes.append(JournalChange("u", version, ChangeKind.UPSERT, fill.trade_id, 1, fill))
        elif roll < 0.75:
            trade_id = rng.choice(sorted(versions))
            versions[trade_id] += 1
            base = live.get(trade_id) or a_fill(int(trade_id[1:]), rng)
            fill = replace(base, price_micros=base.price_micros + MICROS, trade_version=versions[trade_id])
            live[trade_id] = fill
            changes.append(JournalChange("u", version, ChangeKind.UPSERT, trade_id, versions[trade_id], fill))
        else:
            trade_id = rng.choice(sorted(versions))
            versions[trade_id] += 1
            live.pop(trade_id, None)
            changes.append(JournalChange("u", version, ChangeKind.REMOVE, trade_id, versions[trade_id]))
    return changes


def rows(journal: Journal) -> list[tuple[object, ...]]:
    return [
        (t.instrument, t.long, t.close_time, t.gross_scaled, t.fees_micros, t.fill_count) for t in journal.round_trips
    ]


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32), st.integers(1, 120), st.integers(0, 30))
def test_one_merge_equals_one_event_at_a_time(seed: int, count: int, preloaded: int) -> None:
    changes = history(seed, count)
    one_by_one, merged = Journal([]), Journal([])
    for change in changes[:preloaded]:
        one_by_one.apply_change(change)
        merged.apply_change(change)
    for change in changes[preloaded:]:
        one_by_one.apply_change(change)
    merged.apply_changes(changes[preloaded:])
    assert sorted((f.trade_id, f.trade_version) for f in merged.fills) == sorted(
        (f.trade_id, f.trade_version) for f in one_by_one.fills
    )
    assert rows(merged) == rows(one_by_one) == rows(Journal(one_by_one.fills))
    # Redelivering the batch, or the whole history, changes nothing.
    merged.apply_changes(changes[preloaded:])
    assert rows(merged) == rows(one_by_one)
    merged.apply_changes(changes)
    assert rows(merged) == rows(one_by_one)


async def test_the_service_applies_a_batch_per_user_with_one_version_advance_each() -> None:
    cache = InMemoryAnalyticsCache()
    service = AnalyticsService(
        trades=InMemoryTradeSource(), settings=InMemorySettingsStore(), cache=cache, quotes=InMemoryQuotes()
    )
    alice = history(1, 300)
    bob = [replace(change, user_id="bob") for change in history(2, 50)]
    await service.journal("u")
    await service.journal("bob")  # both cached (empty): the batch advances them
    mixed = [change for pair in zip(alice, bob + [None] * 300, strict=False) for change in pair if change]
    random_module.Random(3).shuffle(mixed)  # the batch's order within a user does not matter either
    await service.apply_changes(mixed)

    expected_alice, expected_bob = Journal([]), Journal([])
    for change in alice:
        expected_alice.apply_change(change)
    for change in bob:
        expected_bob.apply_change(change)
    assert rows(await service.journal("u")) == rows(expected_alice)
    assert rows(await service.journal("bob")) == rows(expected_bob)
    assert await service.applied_version("u") == 300
    assert await service.applied_version("bob") == 50
    assert (await service.journal("u")).version == 300
