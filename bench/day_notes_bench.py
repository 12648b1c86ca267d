"""Day notes on the local engine (FerretDB on SQLite, decision 0200): search cost against listing, per user.

A user with ``--notes`` notes (one per date, ~2 KB of Markdown each; default 2,500 ≈ ten years of trading
days) among ``--others`` other users' notes. Measured through ``DayNoteService`` over ``MongoDayNoteStore``:
ListDayNotes' first page (the baseline: an indexed-on-MongoDB range read) and SearchDayNotes for a word in
1 % of the notes, for a word in none (the whole scan), and for a mistake tag. Prints p50/p99 in ms.

    .venv/bin/python bench/day_notes_bench.py
    .venv/bin/python bench/day_notes_bench.py --notes 500 --rounds 20
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from pymongo import AsyncMongoClient

from trademesh.devstack.processes import FerretDBServer
from trademesh.services.core.page_tokens import Codec
from trademesh.services.trade.day_notes import DayNote, Mood, NoteContent
from trademesh.services.trade.service.day_notes import DayNoteService
from trademesh.services.trade.store.day_notes import MongoDayNoteStore, ensure_day_note_indexes, note_to_document

WORDS = [
    "gap",
    "breakout",
    "stop",
    "target",
    "patience",
    "nifty",
    "banknifty",
    "momentum",
    "reversal",
    "volume",
    "vwap",
    "pullback",
]


def _note(user: str, day: date, rng: random.Random, rare: bool) -> DayNote:
    body = " ".join(rng.choice(WORDS) for _ in range(300))
    text = f"# {day}\n\n{body}" + (" zephyrword" if rare else "")
    moment = datetime.combine(day, datetime.min.time(), UTC)
    mistakes = ("fomo",) if rng.random() < 0.2 else ()
    return DayNote(user, day, NoteContent(text, Mood.GOOD, mistakes, "wait"), 1, moment, moment)


async def _timed(rounds: int, call: Callable[[], Awaitable[Any]]) -> tuple[float, float, int]:
    samples = []
    found = 0
    for _ in range(rounds):
        started = time.perf_counter()
        notes, _ = await call()
        samples.append((time.perf_counter() - started) * 1000)
        found = len(notes)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))], found


async def run(notes: int, others: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as workdir, FerretDBServer(Path(workdir) / "db") as server:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(server.url, tz_aware=True)
        database = client["bench"]
        await ensure_day_note_indexes(database)
        rng = random.Random(7)
        end = date(2026, 12, 1)
        documents = []
        for user, count in (("bench-user", notes), *((f"other-{i}", notes) for i in range(others))):
            for offset in range(count):
                documents.append(note_to_document(_note(user, end - timedelta(days=offset), rng, offset % 100 == 0)))
        for start in range(0, len(documents), 1000):
            await database.day_notes.insert_many(documents[start : start + 1000])
        service = DayNoteService(MongoDayNoteStore(database), trades=None, codec=Codec(b"bench"))  # type: ignore[arg-type]
        user = "bench-user"
        print(f"FerretDB on SQLite: {notes} notes for the user, {notes * others} for {others} other users")
        for label, call in (
            ("ListDayNotes first page (50)   ", lambda: service.list_notes(user, "", "", 50, "")),
            ("SearchDayNotes rare word (1 %) ", lambda: service.search(user, "zephyrword", 20, "")),
            ("SearchDayNotes absent word     ", lambda: service.search(user, "absentword", 20, "")),
            ("SearchDayNotes mistake tag     ", lambda: service.search(user, "fomo", 20, "")),
        ):
            p50, p99, found = await _timed(rounds, call)
            print(f"  {label} p50 {p50:7.1f} ms  p99 {p99:7.1f} ms  ({found} notes on the page)")
        await client.close()


def main() -> None:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--notes", type=int, default=2500)
    parser.add_argument("--others", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=30)
    arguments = parser.parse_args()
    asyncio.run(run(arguments.notes, arguments.others, arguments.rounds))


if __name__ == "__main__":
    main()
