"""The one-line form of /siaran and /pengingat, for power users; it goes straight to the preview:

    /siaran kecamatan=pondok aren; keterampilan=montir | Pelatihan montir minggu depan, yang berminat daftar.
    /pengingat jadwal=0 8 * * mon; kecamatan=setu | Posyandu hari ini jam 9.

Also the typed answers of the dialogue: a time (WIB, to come) and a crontab (WIB, that fires).
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.channels.telegram.desk.drafts import Kind
from handlers import outreach
from handlers.i18n import Catalog
from handlers.outreach import OutreachError
from handlers.places import Places
from handlers.segments import Segment
from handlers.staff.errors import StaffError
from handlers.staff.schedules import read_future
from handlers.staff.segments import SegmentInput, build_segment
from handlers.validators import normalize

# Room for the Indonesian and the English text in one preview message (Telegram takes 4096 characters).
TEXT_LIMIT = 1500


class LineError(ValueError):
    """A one-line command that cannot be read; the message (from the catalog) says why."""


@dataclass(frozen=True, slots=True)
class Line:
    """What a one-line /siaran or /pengingat asks for."""

    segment: Segment
    text: str
    text_en: str | None
    send_at: datetime | None
    cron: str | None
    template: str | None


FILTER_NAMES = {
    "semua": "all",
    "all": "all",
    "kecamatan": "kecamatan",
    "kec": "kecamatan",
    "kelurahan": "kelurahan",
    "kel": "kelurahan",
    "keterampilan": "skills",
    "keahlian": "skills",
    "skill": "skills",
    "jenis": "kinds",
    "jenis kasus": "kinds",
    "kasus": "kinds",
    "status": "statuses",
    "korban": "victim",
    "korban bencana": "victim",
    "bencana": "victim",
    "bahasa": "language",
    "language": "language",
    "dari": "from",
    "sampai": "to",
    "waktu": "at",
    "jam": "at",
    "jadwal": "cron",
    "cron": "cron",
    "template": "template",
}
ONLY_FOR: dict[str, Kind] = {"cron": "pengingat", "template": "siaran"}
# A filter of the line -> the part of the staff service's segment input it gives (the values as typed).
INPUTS = {
    "kecamatan": "kecamatan",
    "kelurahan": "kelurahan",
    "skills": "skills",
    "kinds": "kinds",
    "statuses": "statuses",
    "victim": "disaster_victim",
    "language": "language",
    "from": "registered_from",
    "to": "registered_to",
}
LISTS = frozenset({"kecamatan", "kelurahan", "skills", "kinds", "statuses"})


def parse_line(
    args: str,
    *,
    kind: Kind,
    places: Places,
    catalog: Catalog,
    t: Callable[..., str],
    tz: ZoneInfo,
    now: datetime,
) -> Line:
    """Read `filter=value; filter=value | text [| English text]`; raise LineError saying what is wrong."""
    head, _, body = args.partition("|")
    text, _, english = body.partition("|")
    text, english = text.strip(), english.strip()
    if len(text) < 3:
        raise LineError(t("staff.outreach.line_no_text"))
    for written in (text, english):
        if len(written) > TEXT_LIMIT:
            raise LineError(t("staff.outreach.text_long", length=len(written), limit=TEXT_LIMIT))
    given: dict[str, Any] = {}
    typed_as: dict[str, str] = {}  # segment input part -> the filter's name as the officer wrote it
    send_at: datetime | None = None
    cron: str | None = None
    template: str | None = None
    for item in re.split(r"[;\n]", head):
        if not item.strip():
            continue
        raw_name, _, raw_value = item.partition("=")
        name = FILTER_NAMES.get(normalize(raw_name))
        if name is None or ONLY_FOR.get(name, kind) != kind:
            raise LineError(t("staff.outreach.line_unknown_filter", name=raw_name.strip()))
        value = raw_value.strip()
        if name == "all":
            given["everyone"] = True
        elif name in INPUTS:
            part = INPUTS[name]
            if part in LISTS:
                if not value.strip(", "):
                    raise LineError(
                        t("staff.outreach.line_unknown_value", name=raw_name.strip(), value=value)
                    )
                given[part] = [*given.get(part, []), value]
            else:
                given[part] = value or ("ya" if name == "victim" else value)
            typed_as[part] = raw_name.strip()
        elif name == "at":
            send_at = read_time(value, tz=tz, now=now, t=t)
        elif name == "cron":
            cron = read_cron(value, tz=tz, now=now, t=t)
        elif name == "template":
            template = value or None
    # Each filter is checked alone first, so a refusal names the filter it is about.
    for part, label in typed_as.items():
        try:
            build_segment(
                SegmentInput(**{part: given[part]}), places=places, catalog=catalog, require_chosen=False
            )
        except StaffError as error:
            if error.code == "segment_date":
                raise LineError(t("staff.outreach.line_date", value=given[part])) from None
            value = str(error.params.get("value", given[part]))
            raise LineError(t("staff.outreach.line_unknown_value", name=label, value=value)) from None
    if kind == "pengingat" and (send_at is None) == (cron is None):
        raise LineError(t("staff.outreach.line_when"))
    try:
        segment = build_segment(SegmentInput(**given), places=places, catalog=catalog)
    except StaffError as error:
        if error.code == "needs_everyone":
            raise LineError(t("staff.outreach.line_choose_all")) from None
        raise LineError(t(f"staff.error.{error.code}", **error.params)) from None
    return Line(segment, text, english or None, send_at, cron, template)


def time_example(now: datetime, tz: ZoneInfo) -> str:
    """Tomorrow 09:00 local, written the way times are typed."""
    tomorrow = now.astimezone(tz).date() + timedelta(days=1)
    return f"{tomorrow.isoformat()} 09:00"


def read_time(text: str, *, tz: ZoneInfo, now: datetime, t: Callable[..., str]) -> datetime:
    """A typed 'DD-MM-YYYY HH:MM' (WIB) in the future."""
    try:
        return read_future(text, tz=tz, now=now)
    except OutreachError as error:
        key = "staff.outreach.time_past" if error.code == "time_past" else "staff.outreach.time_format"
        raise LineError(t(key, example=time_example(now, tz))) from None


def read_cron(text: str, *, tz: ZoneInfo, now: datetime, t: Callable[..., str]) -> str:
    """A typed crontab (local time) that fires."""
    cron = " ".join(text.split())
    try:
        outreach.next_cron(cron, tz, now)
    except ValueError:  # OutreachError too
        raise LineError(t("staff.outreach.cron_bad")) from None
    return cron
