"""Times and schedules as staff type and read them, the same on every surface: a local time typed for a
broadcast or reminder (it must be to come), a reminder's schedule in words with its next time, and the
list of reminders staff look at (broadcasts: `handlers.outreach.recent_broadcasts`)."""

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from handlers.i18n import Catalog
from handlers.outreach import OutreachError
from handlers.staff.compose import describe_cron, read_moment
from storage import outreach as outreach_store
from storage.contract import Store
from storage.outreach import ReminderRecord


def moment(at: datetime, tz: ZoneInfo) -> str:
    """A time as staff read it: "17-08-2026 09:00" (local time)."""
    return at.astimezone(tz).strftime("%d-%m-%Y %H:%M")


def read_future(text: str, *, tz: ZoneInfo, now: datetime) -> datetime:
    """A typed local time ("17-08-2026 09:00" or "2026-08-17 09:00") that is still to come, as UTC.
    Raises `OutreachError` "bad_time" (unreadable) or "time_past"."""
    at = read_moment(text, tz)
    if at is None:
        raise OutreachError(
            f"write the time as 'DD-MM-YYYY HH:MM' (WIB), not {text!r}", "bad_time", text=text
        )
    if at <= now:
        raise OutreachError("the time is already past", "time_past")
    return at


def schedule_words(cron: str | None, next_at: datetime, catalog: Catalog, language: str, tz: ZoneInfo) -> str:
    """When a reminder fires, in words: "setiap Senin 08.00, berikutnya 23-11-2026 08:00 WIB", or just
    the time of a one-off."""
    if cron:
        words = describe_cron(cron, catalog, language)
        return catalog.text(language, "staff.outreach.when_cron", cron=words, time=moment(next_at, tz))
    return catalog.text(language, "staff.outreach.when_at", time=moment(next_at, tz))


@dataclass(frozen=True, slots=True)
class Reminders:
    """Active reminders to segments, soonest first, and whether more are active than listed."""

    rows: list[ReminderRecord]
    more: bool


async def staff_reminders(db: Store, limit: int = 200) -> Reminders:
    """The active reminders staff made (to segments), soonest first, at most `limit`."""
    rows = await outreach_store.active_reminders(db, staff_only=True, limit=limit + 1)
    return Reminders(rows[:limit], len(rows) > limit)
