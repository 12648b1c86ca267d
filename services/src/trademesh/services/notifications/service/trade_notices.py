"""Trade notices: one notification per import or broker-sync run, not one per trade.

Trade events arrive one per trade; the events of a run share a key (the import's id, or the broker
account for a sync) and come in a burst. A run's notice is written once no event of it arrived for
`quiet_seconds`; its id derives from the run key (an import) or the run's first entry (a sync), so a
redelivery after a crash writes the same notice again, which the inbox ignores.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from trademesh.services.notifications.model import Notification, NotificationKind


@dataclass(frozen=True, slots=True)
class TradeActivity:
    """One trade event that belongs to a run: who, which run, what happened."""

    entry_id: str
    user_id: str
    #: "import" or "sync".
    run_kind: str
    #: The import id, or the broker account id of a sync.
    run_key: str
    created: bool


@dataclass(slots=True)
class _Run:
    first_entry: str
    user_id: str
    run_kind: str
    run_key: str
    last_seen: datetime
    created: int = 0
    updated: int = 0
    entries: list[str] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class FinishedRun:
    """A run whose notice is due, and the stream entries it covers (acknowledged once it is written)."""

    notification: Notification
    entries: list[str]


class TradeRunNotices:
    """Collect trade activity into runs; hand out each run's notice once it went quiet."""

    def __init__(self, *, quiet_seconds: float) -> None:
        self._quiet = timedelta(seconds=quiet_seconds)
        self._runs: dict[tuple[str, str, str], _Run] = {}

    def __len__(self) -> int:
        return len(self._runs)

    def add(self, activity: TradeActivity, now: datetime) -> None:
        """Count one trade event into its run."""
        key = (activity.user_id, activity.run_kind, activity.run_key)
        run = self._runs.get(key)
        if run is None:
            run = self._runs[key] = _Run(activity.entry_id, activity.user_id, activity.run_kind, activity.run_key, now)
        run.last_seen = now
        if activity.entry_id in run.seen:
            return  # the same entry again (claimed back after a long run): counted once
        run.seen.add(activity.entry_id)
        run.entries.append(activity.entry_id)
        if activity.created:
            run.created += 1
        else:
            run.updated += 1

    def finished(self, now: datetime) -> list[FinishedRun]:
        """Return (and forget) the runs quiet for `quiet_seconds`."""
        done = [key for key, run in self._runs.items() if now - run.last_seen >= self._quiet]
        return [self._notice(self._runs.pop(key), now) for key in done]

    def _notice(self, run: _Run, now: datetime) -> FinishedRun:
        if run.run_kind == "import":
            notice_id = f"import.{run.user_id}.{run.run_key}"
            title = f"Import finished: {run.created} new trade{'s' * (run.created != 1)}"
        else:
            notice_id = f"sync.{run.user_id}.{run.first_entry}"
            title = f"Broker sync: {run.created} new trade{'s' * (run.created != 1)}"
        body = f"{run.created} trade(s) added and {run.updated} updated."
        if run.run_kind == "sync":
            body += f" Broker account {run.run_key}."
        return FinishedRun(
            Notification(
                id=notice_id,
                user_id=run.user_id,
                kind=NotificationKind.TRADE_ALERT,
                title=title,
                body=body,
                created_at=now,
            ),
            run.entries,
        )
