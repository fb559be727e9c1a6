"""Staff words every surface shares: who a segment reaches, a schedule, a number and a date, in the staff
member's language (from the citizens' catalog, `staff.*` keys), so the three surfaces say the same thing."""

import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from handlers.i18n import Catalog
from handlers.places import Places
from handlers.registration import SKILLS
from handlers.segments import Segment

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CRON_DAYS = {str(n): day for n, day in enumerate(("sun", *WEEKDAYS[:-1]))} | {"7": "sun"}


def number(value: int, language: str) -> str:
    """1234567 -> "1.234.567" in Indonesian, "1,234,567" in English."""
    grouped = f"{value:,}"
    return grouped.replace(",", ".") if language == "id" else grouped


def day(value: date, language: str) -> str:
    """A date as people write it: dd-mm-yyyy in Indonesian, yyyy-mm-dd is never shown."""
    return value.strftime("%d-%m-%Y")


_DAY = re.compile(r"^\s*(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})\s*$")
_ISO_DAY = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})\s*$")
_CLOCK = re.compile(r"^\s*(\d{1,2})[:.](\d{2})\s*$")


def read_day(text: str) -> date | None:
    """A date staff typed: 17-08-2026 (as written in Indonesia, also with / or .) or 2026-08-17."""
    found = _DAY.match(text or "")
    try:
        if found:
            return date(int(found[3]), int(found[2]), int(found[1]))
        found = _ISO_DAY.match(text or "")
        return date(int(found[1]), int(found[2]), int(found[3])) if found else None
    except ValueError:
        return None


def read_local(day: str, moment: str, tz: ZoneInfo) -> datetime | None:
    """A local date and time staff typed ("17-08-2026", "09:00" or "09.00") as UTC; None if unreadable."""
    found_day, found_time = read_day(day), _CLOCK.match(moment or "")
    if found_day is None or found_time is None:
        return None
    hour, minute = int(found_time[1]), int(found_time[2])
    if hour > 23 or minute > 59:
        return None
    local = datetime(found_day.year, found_day.month, found_day.day, hour, minute, tzinfo=tz)
    return local.astimezone(UTC)


def read_moment(text: str, tz: ZoneInfo) -> datetime | None:
    """A local date and time typed on one line ("17-08-2026 09:00" or "2026-08-17 09:00") as UTC."""
    day, _, moment = (text or "").strip().partition(" ")
    return read_local(day, moment.strip(), tz)


# A spreadsheet runs a cell that starts with one of these as a formula.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    """A CSV cell a spreadsheet will not run as a formula (an apostrophe in front)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def clock(hour: int, minute: int, language: str) -> str:
    """08.00 in Indonesian, 08:00 in English."""
    return f"{hour:02d}{'.' if language == 'id' else ':'}{minute:02d}"


def _joined(words: list[str], catalog: Catalog, language: str) -> str:
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} {catalog.text(language, 'staff.words.and')} {words[-1]}"


def describe_cron(cron: str, catalog: Catalog, language: str) -> str:
    """A crontab (WIB) in words: "setiap Senin 08.00"; an unusual one is shown as it is, labelled."""
    fields = cron.split()
    t = partial_text(catalog, language)
    if len(fields) == 5 and fields[0].isdigit() and fields[1].isdigit() and fields[3] == "*":
        minute, hour, month_day, _, weekdays = fields
        at = clock(int(hour), int(minute), language)
        if month_day == "*" and weekdays == "*":
            return t("staff.words.every_day", time=at)
        if month_day == "*":
            names = [_CRON_DAYS.get(d.lower(), d.lower()) for d in weekdays.split(",")]
            if all(name in WEEKDAYS for name in names):
                labels = [t(f"staff.weekday.{name}") for name in names]
                return t("staff.words.every_weekday", days=_joined(labels, catalog, language), time=at)
        elif weekdays == "*" and month_day.isdigit():
            return t("staff.words.every_month", day=month_day, time=at)
    return t("staff.words.cron", cron=cron)


def partial_text(catalog: Catalog, language: str) -> Callable[..., str]:
    """`catalog.text` bound to one language."""

    def text(key: str, **params: Any) -> str:
        return catalog.text(language, key, **params)

    return text


def skill_label(skill: str, catalog: Catalog, language: str) -> str:
    """A skill's name as citizens chose it."""
    option = next((o for o in SKILLS if o.key == skill), None)
    return catalog.text(language, option.label_key) if option else skill


def describe_segment(segment: Segment, catalog: Catalog, language: str, places: Places) -> str:
    """Who a segment reaches, in words; an empty one nobody chose says so (it reaches nobody yet)."""
    t = partial_text(catalog, language)
    parts: list[str] = []

    def names(codes: list[str], lookup: Callable[[str], Any]) -> str:
        found = []
        for code in codes:
            try:
                found.append(lookup(code).name)
            except KeyError:
                found.append(code)
        return ", ".join(found)

    if segment.kecamatan:
        parts.append(
            t("staff.outreach.seg.kecamatan", names=names(segment.kecamatan, places.kecamatan_by_code))
        )
    if segment.kelurahan:
        parts.append(
            t("staff.outreach.seg.kelurahan", names=names(segment.kelurahan, places.kelurahan_by_code))
        )
    if segment.skills:
        labels = ", ".join(skill_label(skill, catalog, language) for skill in segment.skills)
        parts.append(t("staff.outreach.seg.skills", names=labels))
    if segment.case_kinds:
        parts.append(
            t("staff.outreach.seg.kinds", names=", ".join(t(f"kind.{k}") for k in segment.case_kinds))
        )
    if segment.case_statuses:
        labels = ", ".join(t(f"staff.status.{status}") for status in segment.case_statuses)
        parts.append(t("staff.outreach.seg.statuses", names=labels))
    if segment.disaster_victim is True:
        parts.append(t("staff.outreach.seg.victim"))
    elif segment.disaster_victim is False:
        parts.append(t("staff.outreach.seg.not_victim"))
    if segment.registered_from or segment.registered_to:
        start = day(segment.registered_from, language) if segment.registered_from else "…"
        end = day(segment.registered_to, language) if segment.registered_to else "…"
        parts.append(t("staff.outreach.seg.registered", start=start, end=end))
    if segment.language:
        parts.append(t(f"staff.outreach.seg.language_{segment.language}"))
    if parts:
        return "; ".join(parts)
    return t("staff.outreach.seg.all" if segment.everyone else "staff.outreach.seg.not_chosen")
