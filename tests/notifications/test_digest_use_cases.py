"""The daily digest on in-memory fakes: its figures, once per (user, day), off means nothing, no trades nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime

from tests.notifications.conftest import World
from trademesh.services.notifications.model import NotificationKind, Preferences
from trademesh.services.notifications.ports import DayFigures
from trademesh.services.notifications.service.digest import DailyDigest, digest_id, ist_today

DAY = date(2024, 7, 1)


class FakeDayFigures:
    """Figures per (user, day); counts the reads."""

    def __init__(self) -> None:
        self.days: dict[tuple[str, date], DayFigures] = {}
        self.reads: list[tuple[str, date]] = []
        self.failing: set[str] = set()

    async def figures(self, user_id: str, day: date) -> DayFigures | None:
        self.reads.append((user_id, day))
        if user_id in self.failing:
            raise ConnectionError("analytics unavailable")
        return self.days.get((user_id, day))


def _digest(world: World, figures: FakeDayFigures) -> DailyDigest:
    return DailyDigest(preferences=world.preferences_store, figures=figures, notifier=world.notifier, clock=world.clock)


FIGURES = DayFigures(
    net_pnl_micros=1_234_560_000,
    round_trips=3,
    biggest_win_micros=2_000_000_000,
    biggest_loss_micros=-765_440_000,
    open_positions=2,
)


async def test_a_digest_holds_the_days_figures_in_the_inbox_and_by_email(world: World) -> None:
    await world.preferences_store.put("ana", Preferences(daily_digest=True, email="ana@example.com"))
    figures = FakeDayFigures()
    figures.days[("ana", DAY)] = FIGURES

    run = await _digest(world, figures).run(DAY)

    assert (run.users, run.sent, run.skipped, run.failed) == (1, 1, 0, 0)
    notice = world.notifications.items[digest_id("ana", DAY)]
    assert notice.id == "digest.ana.2024-07-01"
    assert notice.kind is NotificationKind.SYSTEM
    assert notice.title == "Daily digest 2024-07-01: net INR 1234.56, 3 round trips"
    assert notice.body.splitlines() == [
        "Net P&L (after charges): INR 1234.56",
        "Round trips closed: 3",
        "Biggest win: INR 2000.00",
        "Biggest loss: INR -765.44",
        "Open positions: 2",
    ]
    assert await world.dispatcher.dispatch_due() == 1
    [mail] = world.mail.sent
    assert (mail.to, mail.subject, mail.body) == ("ana@example.com", notice.title, notice.body)
    assert mail.message_id == "<digest.ana.2024-07-01@trademesh.local>"


async def test_a_day_without_a_win_says_none(world: World) -> None:
    await world.preferences_store.put("ana", Preferences(daily_digest=True))
    figures = FakeDayFigures()
    figures.days[("ana", DAY)] = DayFigures(-5_000_000, 1, None, -5_000_000, 0)

    await _digest(world, figures).run(DAY)

    body = world.notifications.items[digest_id("ana", DAY)].body
    assert "Biggest win: none" in body.splitlines()
    assert "Round trips closed: 1" in body.splitlines()
    assert world.notifications.items[digest_id("ana", DAY)].title.endswith("1 round trip")
    assert world.deliveries.deliveries == {}  # no address: inbox only


async def test_running_twice_or_on_two_replicas_sends_once(world: World) -> None:
    await world.preferences_store.put("ana", Preferences(daily_digest=True, email="ana@example.com"))
    figures = FakeDayFigures()
    figures.days[("ana", DAY)] = FIGURES

    first = await _digest(world, figures).run(DAY)
    second = await _digest(world, figures).run(DAY)  # a second replica or a retried job
    await world.dispatcher.dispatch_due()
    third = await _digest(world, figures).run(DAY)
    await world.dispatcher.dispatch_due()

    assert (first.sent, second.sent, third.sent) == (1, 0, 0)
    assert [n.id for n in world.notifications.items.values()] == ["digest.ana.2024-07-01"]
    assert len(world.mail.sent) == 1
    assert list(world.deliveries.deliveries) == ["digest.ana.2024-07-01:email"]


async def test_digest_off_sends_nothing_and_reads_nothing(world: World) -> None:
    await world.preferences_store.put("bob", Preferences(daily_digest=False, email="bob@example.com"))
    figures = FakeDayFigures()
    figures.days[("bob", DAY)] = FIGURES

    everyone = await _digest(world, figures).run(DAY)
    named = await _digest(world, figures).run(DAY, ["bob", "never-set"])

    assert (everyone.users, everyone.sent) == (0, 0)
    assert (named.users, named.sent, named.skipped) == (2, 0, 2)
    assert figures.reads == []
    assert world.notifications.items == {}
    assert world.deliveries.deliveries == {}


async def test_no_round_trip_that_day_sends_nothing(world: World) -> None:
    await world.preferences_store.put("ana", Preferences(daily_digest=True, email="ana@example.com"))
    figures = FakeDayFigures()
    figures.days[("ana", date(2024, 6, 28))] = FIGURES  # another day

    run = await _digest(world, figures).run(DAY)

    assert (run.users, run.sent, run.skipped) == (1, 0, 1)
    assert figures.reads == [("ana", DAY)]
    assert world.notifications.items == {}
    assert world.deliveries.deliveries == {}


async def test_one_failing_user_does_not_stop_the_others(world: World) -> None:
    for user in ("ana", "bob"):
        await world.preferences_store.put(user, Preferences(daily_digest=True))
    figures = FakeDayFigures()
    figures.days[("bob", DAY)] = FIGURES
    figures.failing.add("ana")

    run = await _digest(world, figures).run(DAY)

    assert (run.users, run.sent, run.failed) == (2, 1, 1)
    assert list(world.notifications.items) == ["digest.bob.2024-07-01"]


def test_today_is_the_ist_date() -> None:
    assert ist_today(datetime(2024, 7, 1, 18, 29, tzinfo=UTC)) == date(2024, 7, 1)
    assert ist_today(datetime(2024, 7, 1, 18, 30, tzinfo=UTC)) == date(2024, 7, 2)  # midnight IST
