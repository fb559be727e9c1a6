"""Segments in SQL: the condition over `contacts AS c` that selects who a broadcast, reminder or
invitation reaches (the segment itself, its filters and their words, is `handlers.segments.Segment`).

Contacts who do not receive information messages (`opted_out`), who blocked the bot (`unreachable`) or who
have not agreed to the privacy notice are always excluded.
"""

import json
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from storage import repo
from storage.contract import Store


class SegmentFilters(Protocol):
    """The filters of a segment, as the store reads them (`handlers.segments.Segment` has them)."""

    @property
    def kecamatan(self) -> Sequence[str]: ...
    @property
    def kelurahan(self) -> Sequence[str]: ...
    @property
    def skills(self) -> Sequence[str]: ...
    @property
    def case_kinds(self) -> Sequence[Any]: ...
    @property
    def case_statuses(self) -> Sequence[Any]: ...
    @property
    def disaster_victim(self) -> bool | None: ...
    @property
    def registered_from(self) -> date | None: ...
    @property
    def registered_to(self) -> date | None: ...
    @property
    def language(self) -> str | None: ...


def _in(column: str, values: Sequence[Any], params: list[Any]) -> str:
    params.extend(values)
    return f"{column} IN ({', '.join('?' * len(values))})"


def _day_start(day: date, tz: ZoneInfo) -> str | None:
    return repo.iso(datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC))


def _has_skill(skills: Sequence[str], params: list[Any]) -> str:
    """Whether the person's skills (a JSON array in TEXT, written by `json.dumps`) hold one of `skills`.

    One spelling for every backend: the array's text holds the value's own JSON token (`"montir"`, quotes
    included, so `"montir2"` does not count) exactly when taking the token out changes the text. `replace`
    is a plain, case-sensitive text function on SQLite and PostgreSQL alike (no `json_each`, no jsonb).
    """
    params.extend(json.dumps(skill) for skill in skills)
    return "(" + " OR ".join("p.skills <> replace(p.skills, ?, '')" for _ in skills) + ")"


def segment_where(segment: SegmentFilters, tz: ZoneInfo) -> tuple[str, list[Any]]:
    """SQL condition over `contacts AS c` selecting the segment's reachable contacts, with parameters."""
    params: list[Any] = []
    clauses = ["c.consent = 'granted'", "c.opted_out = 0", "c.unreachable = 0"]
    person: list[str] = []
    if segment.kecamatan:
        person.append(_in("p.kecamatan_code", segment.kecamatan, params))
    if segment.kelurahan:
        person.append(_in("p.kelurahan_code", segment.kelurahan, params))
    if segment.skills:
        person.append(_has_skill(segment.skills, params))
    if segment.disaster_victim is not None:
        person.append("p.disaster_victim = ?")
        params.append(int(segment.disaster_victim))
    if segment.registered_from is not None:
        person.append("p.created_at >= ?")
        params.append(_day_start(segment.registered_from, tz))
    if segment.registered_to is not None:
        person.append("p.created_at < ?")
        params.append(_day_start(segment.registered_to + timedelta(days=1), tz))
    case: list[str] = []
    if segment.case_kinds:
        case.append(_in("k.kind", [str(k) for k in segment.case_kinds], params))
    if segment.case_statuses:
        case.append(_in("k.status", [str(s) for s in segment.case_statuses], params))
    # Uncorrelated IN lists rather than EXISTS per contact: SQLite builds each list once from the
    # filter's own index and then looks contacts up by id, instead of probing persons for every contact.
    if person or not case:
        condition = " AND ".join(["p.deleted_at IS NULL", *person])
        clauses.append(f"c.id IN (SELECT p.registered_by FROM persons AS p WHERE {condition})")
    if case:
        condition = " AND ".join(case)
        clauses.append(f"c.id IN (SELECT k.contact_id FROM cases AS k WHERE {condition})")
    if segment.language:
        clauses.append("c.language = ?")
        params.append(segment.language)
    return " AND ".join(clauses), params


async def contacts_in_segment(db: Store, segment: SegmentFilters, tz: ZoneInfo) -> list[str]:
    """The ids of the contacts a segment reaches, in id order."""
    where, params = segment_where(segment, tz)
    rows = await db.fetchall(f"SELECT c.id FROM contacts AS c WHERE {where} ORDER BY c.id", params)
    return [str(row[0]) for row in rows]
