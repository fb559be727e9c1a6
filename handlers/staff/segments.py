"""Who a broadcast, reminder or invitation reaches, built from what staff gave: the one builder the command
line (`--kecamatan pondok aren --skill montir`), the dashboard (the `seg_*` fields of a form) and the
Telegram composer (a one-line `/siaran kecamatan=setu; keterampilan=montir | ...` and its buttons) use.

Staff write as they speak: place names with typos or Kemendagri codes, skills and case kinds by their key
or their name in Indonesian or English, statuses, "ya" / "tidak" for disaster victims, dates as
17-08-2026 or 2026-08-17. Anything that names nothing is refused (never silently left out: a filter
dropped widens the segment), and a segment without any filter exists only when "semua warga" was chosen
explicitly. Refusals are `StaffError` codes each surface words in its own language. The words for a
segment, in both languages, are `handlers.staff.compose.describe_segment`.
"""

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any, Literal, Protocol

from rapidfuzz import fuzz, process

from handlers.i18n import Catalog
from handlers.places import PlaceMatch, Places
from handlers.registration import SKILLS
from handlers.segments import Segment
from handlers.staff.compose import read_day
from handlers.staff.errors import StaffError
from handlers.validators import normalize
from storage.records import CaseKind, CaseStatus

__all__ = [
    "PICKED",
    "SegmentInput",
    "build_segment",
    "input_of",
    "kind_words",
    "picked",
    "skill_words",
    "status_words",
    "toggled",
]

# Words staff use for case kinds and statuses besides their names in the catalog.
KIND_WORDS = {
    CaseKind.REGISTRATION: ("reg", "daftar", "pendaftaran"),
    CaseKind.LOST_KTP: ("ktp", "ktp hilang"),
    CaseKind.AID: ("ban", "bantuan"),
    CaseKind.MESSAGE: ("psn", "pesan"),
}
STATUS_WORDS = {CaseStatus.PERLU_INFO: ("perlu", "info", "perlu info")}
YES = frozenset({"ya", "iya", "yes", "y", "1", "true", "korban"})
NO = frozenset({"tidak", "tdk", "bukan", "no", "n", "0", "false"})
LANGUAGES = {
    "id": "id",
    "indonesia": "id",
    "bahasa indonesia": "id",
    "en": "en",
    "inggris": "en",
    "english": "en",
}
# A typed word names a skill, kind or status when it is this close to one of its words (a small typo).
CUTOFF = 85
# The filters the Telegram composer offers as buttons, and the segment field each one sets.
PICKED: dict[str, str] = {"kecamatan": "kecamatan", "skill": "skills", "kind": "case_kinds"}


@dataclass(frozen=True, slots=True)
class SegmentInput:
    """What staff gave for a segment, as they gave it (see the module's docstring); empty parts are
    no filter."""

    kecamatan: Sequence[str] = ()
    kelurahan: Sequence[str] = ()
    skills: Sequence[str] = ()
    kinds: Sequence[str] = ()
    statuses: Sequence[str] = ()
    disaster_victim: bool | str | None = None
    registered_from: date | str | None = None
    registered_to: date | str | None = None
    language: str | None = None
    everyone: bool = False


def _unknown(value: str) -> StaffError:
    return StaffError(f"{value!r} names nothing a segment can select", "segment_unknown", value=value)


def _index(entries: dict[str, Iterable[str]]) -> dict[str, str]:
    """Normalised words (the key, its names, extra words) -> key."""
    index: dict[str, str] = {}
    for key, words in entries.items():
        for word in (key, *words):
            index.setdefault(normalize(word), key)
    return index


def _named(text: str, index: dict[str, str]) -> str:
    """The key a typed word names, exactly or with a small typo."""
    typed = normalize(text)
    if typed in index:
        return index[typed]
    best = process.extractOne(typed, list(index), scorer=fuzz.ratio, score_cutoff=CUTOFF)
    if best is None:
        raise _unknown(text)
    return index[best[0]]


class _Place(Protocol):
    @property
    def code(self) -> str: ...


def _place(text: str, by_code: Callable[[str], _Place], match: Callable[[str], PlaceMatch[Any]]) -> str:
    """The code of the place a text names: its Kemendagri code, or its name (typos forgiven)."""
    try:
        return by_code(text.strip()).code
    except KeyError:
        pass
    found = match(text).best
    if found is None:
        raise _unknown(text)
    return str(found.code)


def _words(values: Sequence[str]) -> list[str]:
    """Each value given, split at commas, without blanks."""
    return [word.strip() for value in values for word in value.split(",") if word.strip()]


def _once(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _victim(value: bool | str | None) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    typed = normalize(value)
    if not typed:
        return None
    if typed in YES or typed in NO:
        return typed in YES
    raise _unknown(value)


def _day(value: date | str | None) -> date | None:
    if value is None or isinstance(value, date):
        return value
    if not value.strip():
        return None
    found = read_day(value)
    if found is None:
        raise StaffError(f"unreadable date {value!r}", "segment_date", value=value)
    return found


def _language(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    found = LANGUAGES.get(normalize(value))
    if found is None:
        raise _unknown(value)
    return found


def skill_words(catalog: Catalog) -> dict[str, str]:
    """Words that name each skill (its key, its name in every language, the words citizens use)."""
    return _index({o.key: (*catalog.all_languages(o.label_key), *o.words) for o in SKILLS})


def kind_words(catalog: Catalog) -> dict[str, str]:
    """Words that name each case kind."""
    return _index({str(k): (*catalog.all_languages(f"kind.{k}"), *KIND_WORDS[k]) for k in CaseKind})


def status_words(catalog: Catalog) -> dict[str, str]:
    """Words that name each case status (its key with or without "_", its words in every language)."""
    return _index(
        {
            str(s): (
                str(s).replace("_", " "),
                *catalog.all_languages(f"staff.status.{s}"),
                *STATUS_WORDS.get(s, ()),
            )
            for s in CaseStatus
        }
    )


def build_segment(
    given: SegmentInput, *, places: Places, catalog: Catalog, require_chosen: bool = True
) -> Segment:
    """The segment staff asked for, every value checked. Refused (`StaffError`): a value that names
    nothing ("segment_unknown"), an unreadable date ("segment_date"), a date range that ends before it
    starts ("segment_dates"), and, unless `require_chosen` is off (a preview while a form is being
    filled in), no filter without "semua warga" ("needs_everyone"). Filters given with "semua warga"
    narrow it: the filters win."""
    skills = skill_words(catalog) if given.skills else {}
    kinds = kind_words(catalog) if given.kinds else {}
    statuses = status_words(catalog) if given.statuses else {}
    start, end = _day(given.registered_from), _day(given.registered_to)
    if start is not None and end is not None and start > end:
        raise StaffError("the date range ends before it starts", "segment_dates")
    segment = Segment(
        kecamatan=_once(
            _place(word, places.kecamatan_by_code, places.match_kecamatan) for word in _words(given.kecamatan)
        ),
        kelurahan=_once(
            _place(word, places.kelurahan_by_code, places.match_kelurahan) for word in _words(given.kelurahan)
        ),
        skills=_once(_named(word, skills) for word in _words(given.skills)),
        case_kinds=[CaseKind(k) for k in _once(_named(word, kinds) for word in _words(given.kinds))],
        case_statuses=[
            CaseStatus(s) for s in _once(_named(word, statuses) for word in _words(given.statuses))
        ],
        disaster_victim=_victim(given.disaster_victim),
        registered_from=start,
        registered_to=end,
        language=_language(given.language),
    )
    if segment.has_filters():
        return segment
    if given.everyone:
        return Segment(everyone=True)
    if require_chosen:
        raise StaffError("choose who receives it, or choose everyone explicitly", "needs_everyone")
    return segment


def input_of(segment: Segment) -> SegmentInput:
    """The input that builds `segment` again (to change one filter of a segment being composed)."""
    return SegmentInput(
        kecamatan=segment.kecamatan,
        kelurahan=segment.kelurahan,
        skills=segment.skills,
        kinds=[str(kind) for kind in segment.case_kinds],
        statuses=[str(status) for status in segment.case_statuses],
        disaster_victim=segment.disaster_victim,
        registered_from=segment.registered_from,
        registered_to=segment.registered_to,
        language=segment.language,
        everyone=segment.everyone,
    )


def picked(segment: Segment, pick: str | None) -> list[str]:
    """The values of a button filter (`PICKED`: kecamatan, skill, kind) the segment has chosen."""
    if pick not in PICKED:
        return []
    return [str(value) for value in getattr(segment, PICKED[pick])]


def toggled(
    segment: Segment,
    pick: Literal["kecamatan", "skill", "kind"],
    value: str,
    *,
    places: Places,
    catalog: Catalog,
) -> Segment:
    """The segment with one value of a button filter chosen, or dropped when it was chosen (a button
    pressed again). Choosing a filter ends "semua warga"; dropping the last one leaves nothing chosen."""
    chosen = picked(segment, pick)
    values = [v for v in chosen if v != value] if value in chosen else [*chosen, value]
    given = replace(input_of(segment), everyone=False)
    if pick == "kecamatan":
        given = replace(given, kecamatan=values)
    elif pick == "skill":
        given = replace(given, skills=values)
    else:
        given = replace(given, kinds=values)
    return build_segment(given, places=places, catalog=catalog, require_chosen=False)
