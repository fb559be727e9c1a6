"""The one-line form of /siaran and /pengingat, for power users; it goes straight to the preview:

    /siaran kecamatan=pondok aren; keterampilan=montir | Pelatihan montir minggu depan, yang berminat daftar.
    /pengingat jadwal=0 8 * * mon; kecamatan=setu | Posyandu hari ini jam 9.

Also the typed answers of the dialogue: a time (WIB, to come) and a crontab (WIB, that fires).
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from rapidfuzz import fuzz, process

from bot.channels.telegram.desk.drafts import Kind
from handlers import outreach
from handlers.i18n import Catalog
from handlers.outreach import OutreachError
from handlers.places import Places
from handlers.registration import SKILLS
from handlers.segments import Segment
from handlers.staff.schedules import read_future
from handlers.validators import normalize
from storage.records import CaseKind, CaseStatus

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
KIND_EXTRA_WORDS = {
    "reg": CaseKind.REGISTRATION,
    "daftar": CaseKind.REGISTRATION,
    "ktp": CaseKind.LOST_KTP,
    "ktp hilang": CaseKind.LOST_KTP,
    "bantuan": CaseKind.AID,
    "ban": CaseKind.AID,
    "pesan": CaseKind.MESSAGE,
    "psn": CaseKind.MESSAGE,
}
STATUS_EXTRA_WORDS = {"perlu": CaseStatus.PERLU_INFO, "info": CaseStatus.PERLU_INFO}
YES = frozenset({"", "ya", "iya", "yes", "y", "1", "true"})
NO = frozenset({"tidak", "tdk", "bukan", "no", "n", "0", "false"})
LANGUAGE_WORDS = {"id": "id", "indonesia": "id", "en": "en", "inggris": "en", "english": "en"}


def _word_index(entries: dict[str, tuple[str, ...]]) -> dict[str, str]:
    """Normalised words (the key, its labels in every language, extra words) -> key."""
    index: dict[str, str] = {}
    for key, words in entries.items():
        for word in (key, *words):
            index.setdefault(normalize(word), key)
    return index


def match_word(text: str, index: dict[str, str]) -> str | None:
    """The key a typed word names: exactly, or with a small typo."""
    typed = normalize(text)
    if typed in index:
        return index[typed]
    best = process.extractOne(typed, list(index), scorer=fuzz.ratio, score_cutoff=85)
    return index[best[0]] if best else None


def skill_index(catalog: Catalog) -> dict[str, str]:
    """Words that name each skill."""
    return _word_index(
        {o.key: (*catalog.all_languages(o.label_key), *o.words) for o in SKILLS},
    )


def kind_index(catalog: Catalog) -> dict[str, str]:
    """Words that name each case kind."""
    extra: dict[str, tuple[str, ...]] = {
        str(k): tuple(w for w, kind in KIND_EXTRA_WORDS.items() if kind == k) for k in CaseKind
    }
    return _word_index({str(k): (*catalog.all_languages(f"kind.{k}"), *extra[str(k)]) for k in CaseKind})


def _kecamatan(word: str, places: Places, catalog: Catalog) -> str | None:
    district = places.match_kecamatan(word).best
    return None if district is None else district.code


def _kelurahan(word: str, places: Places, catalog: Catalog) -> str | None:
    village = places.match_kelurahan(word).best
    return None if village is None else village.code


def _skill(word: str, places: Places, catalog: Catalog) -> str | None:
    return match_word(word, skill_index(catalog))


def _kind(word: str, places: Places, catalog: Catalog) -> str | None:
    return match_word(word, kind_index(catalog))


# A filter whose words name things -> the segment's field and how a word is looked up (None: unknown).
LOOKUPS: dict[str, tuple[str, Callable[[str, Places, Catalog], str | None]]] = {
    "kecamatan": ("kecamatan", _kecamatan),
    "kelurahan": ("kelurahan", _kelurahan),
    "skills": ("skills", _skill),
    "kinds": ("case_kinds", _kind),
}


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
    values: dict[str, Any] = {}
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
        words = [word.strip() for word in value.split(",") if word.strip()]

        def unknown(word: str, label: str = raw_name) -> LineError:
            return LineError(t("staff.outreach.line_unknown_value", name=label.strip(), value=word))

        if name == "all":
            values["everyone"] = True
            continue
        if name in ("kecamatan", "kelurahan", "skills", "kinds", "statuses") and not words:
            raise unknown(value)
        if name in LOOKUPS:
            field, find = LOOKUPS[name]
            for word in words:
                found = find(word, places, catalog)
                if found is None:
                    raise unknown(word)
                values.setdefault(field, []).append(found)
        elif name == "statuses":
            for word in words:
                typed = normalize(word).replace(" ", "_")
                status = STATUS_EXTRA_WORDS.get(typed) or next(
                    (s for s in CaseStatus if s.value == typed), None
                )
                if status is None:
                    raise unknown(word)
                values.setdefault("case_statuses", []).append(status)
        elif name == "victim":
            typed = normalize(value)
            if typed not in YES | NO:
                raise unknown(value)
            values["disaster_victim"] = typed in YES
        elif name == "language":
            language = LANGUAGE_WORDS.get(normalize(value))
            if language is None:
                raise unknown(value)
            values["language"] = language
        elif name in ("from", "to"):
            try:
                day = date.fromisoformat(value)
            except ValueError:
                raise LineError(t("staff.outreach.line_date", value=value)) from None
            values["registered_from" if name == "from" else "registered_to"] = day
        elif name == "at":
            send_at = read_time(value, tz=tz, now=now, t=t)
        elif name == "cron":
            cron = read_cron(value, tz=tz, now=now, t=t)
        elif name == "template":
            template = value or None
    if kind == "pengingat" and (send_at is None) == (cron is None):
        raise LineError(t("staff.outreach.line_when"))
    segment = Segment(**{k: list(dict.fromkeys(v)) if isinstance(v, list) else v for k, v in values.items()})
    if not segment.chosen():
        raise LineError(t("staff.outreach.line_choose_all"))
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
