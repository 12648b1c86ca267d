"""Delivery settings and mail: a user's preferences (channels per kind, quiet hours in IST, digest, addresses),
the mail message and the email delivery record.

Pure: no gRPC, database or Redis imports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from trademesh.kernel.calendar import IST
from trademesh.kernel.errors import FailedPrecondition, FieldViolation, InvalidArgument
from trademesh.services.notifications.model.notices import (
    BUILT_CHANNELS,
    EMAIL_MAX_LENGTH,
    EMAIL_PATTERN,
    Channel,
    DeliveryStatus,
    NotificationKind,
)


@dataclass(frozen=True, slots=True)
class QuietHours:
    """Minutes of the IST day when email and webhook posts are held (start > end spans midnight)."""

    enabled: bool = False
    start_minute: int = 22 * 60
    end_minute: int = 7 * 60

    def validate(self) -> None:
        """Raise INVALID_ARGUMENT for minutes outside the day."""
        violations = [
            FieldViolation(f"preferences.quiet_hours.{name}", "must be 0..1439")
            for name, value in (("start_minute", self.start_minute), ("end_minute", self.end_minute))
            if not 0 <= value < 1440
        ]
        if self.enabled and self.start_minute == self.end_minute:
            violations.append(FieldViolation("preferences.quiet_hours.end_minute", "must differ from start_minute"))
        if violations:
            raise InvalidArgument("the quiet hours are invalid", violations)

    def _minute(self, moment: datetime) -> int:
        local = moment.astimezone(IST)
        return local.hour * 60 + local.minute

    def holds(self, moment: datetime) -> bool:
        """Tell whether `moment` falls in the quiet hours."""
        if not self.enabled:
            return False
        minute = self._minute(moment)
        if self.start_minute < self.end_minute:
            return self.start_minute <= minute < self.end_minute
        return minute >= self.start_minute or minute < self.end_minute

    def ends_after(self, moment: datetime) -> datetime:
        """Return the end of the quiet period that holds `moment`."""
        local = moment.astimezone(IST)
        end = datetime.combine(local.date(), time(self.end_minute // 60, self.end_minute % 60), IST)
        if end <= local:
            end += timedelta(days=1)
        return end


#: Where each kind goes unless the user says otherwise.
#: Webhook is on by default: it reaches only the webhooks a user created for the kind.
DEFAULT_CHANNELS: dict[NotificationKind, frozenset[Channel]] = {
    NotificationKind.PRICE_ALERT: frozenset({Channel.IN_APP, Channel.EMAIL, Channel.WEBHOOK}),
    NotificationKind.TRADE_ALERT: frozenset({Channel.IN_APP, Channel.WEBHOOK}),
    NotificationKind.SYNC_COMPLETE: frozenset({Channel.IN_APP, Channel.WEBHOOK}),
    NotificationKind.SYSTEM: frozenset({Channel.IN_APP, Channel.WEBHOOK}),
}


_BUILT = frozenset(channel.value for channel in BUILT_CHANNELS)


@dataclass(frozen=True, slots=True)
class Preferences:
    """A user's delivery settings."""

    channels: dict[NotificationKind, frozenset[Channel]] = field(default_factory=lambda: dict(DEFAULT_CHANNELS))
    quiet_hours: QuietHours = QuietHours()
    daily_digest: bool = False
    email: str = ""
    #: Where SMS goes (E.164, normalised by the use case); empty: no SMS.
    phone_number: str = ""

    def channels_for(self, kind: NotificationKind) -> frozenset[Channel]:
        """Return the channels `kind` goes to."""
        return self.channels.get(kind, DEFAULT_CHANNELS[kind])

    def validate(self, available: frozenset[Channel] = BUILT_CHANNELS) -> None:
        """Raise INVALID_ARGUMENT when the email or quiet hours are malformed, FAILED_PRECONDITION
        (CHANNEL_NOT_CONFIGURED) when a channel that is not `available` on this server is chosen."""
        offered = {channel.value for channel in available} | _BUILT
        unbuilt = sorted({channel.value for channels in self.channels.values() for channel in channels} - offered)
        if unbuilt:
            raise FailedPrecondition(
                f"channel(s) {', '.join(unbuilt)} are not available on this server",
                reason="CHANNEL_NOT_CONFIGURED",
                metadata={"channels": ",".join(unbuilt)},
            )
        if self.email and (len(self.email) > EMAIL_MAX_LENGTH or not EMAIL_PATTERN.fullmatch(self.email)):
            raise InvalidArgument(
                "the email address is invalid", [FieldViolation("preferences.email", "must be an email address")]
            )
        self.quiet_hours.validate()


@dataclass(frozen=True, slots=True)
class MailMessage:
    """One email to send; `message_id` is stable per notification so a resend is recognisable."""

    message_id: str
    to: str
    subject: str
    body: str


@dataclass(frozen=True, slots=True)
class Delivery:
    """One (notification, channel) delivery beyond the inbox, held until `send_after`."""

    id: str
    user_id: str
    notification_id: str
    channel: Channel
    status: DeliveryStatus
    send_after: datetime
    mail: MailMessage
    created_at: datetime
    attempts: int = 0
