"""Working days: Monday to Friday without Indonesian public holidays and the government's collective
leave (cuti bersama), from the maintained `holidays` library. The promise the bot makes ("petugas akan
memeriksa dalam 3 hari kerja") and the queue's "lewat batas" are both counted here."""

import functools
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays


@functools.cache
def _holidays(year: int) -> frozenset[date]:
    found = holidays.country_holidays("ID", years=year, categories=("public", "government"))
    return frozenset(found)


def is_working_day(day: date) -> bool:
    """Monday to Friday, and not a public holiday or collective leave in Indonesia."""
    return day.weekday() < 5 and day not in _holidays(day.year)


def due_day(received: date, days: int) -> date:
    """The last working day of a target of `days` working days, counted from the day after `received`."""
    day = received
    left = days
    while left > 0:
        day += timedelta(days=1)
        if is_working_day(day):
            left -= 1
    return day


def overdue_before(today: date, days: int) -> date:
    """The first receiving day whose target has not passed by `today`: a case received (local date)
    before it and still open is overdue ("lewat batas")."""
    day = today
    # Step back while a case received the day before would still be due today or later.
    while due_day(day - timedelta(days=1), days) >= today:
        day -= timedelta(days=1)
    return day


def overdue_cutoffs(now: datetime, targets: Mapping[str, int], tz: ZoneInfo) -> dict[str, datetime]:
    """Per case kind, the instant (UTC) before which a case still waiting on staff is overdue."""
    today = now.astimezone(tz).date()
    return {
        kind: datetime.combine(overdue_before(today, days), time(0), tzinfo=tz).astimezone(UTC)
        for kind, days in targets.items()
    }
