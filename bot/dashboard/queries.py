"""The dashboard's queue filter (read from a query string) and the reads behind its pages.

The queue and its search are the staff service's and the store's (`handlers.staff.queue`,
`storage.cases`); the summary's counts are `storage.dashboard`'s. Here a page's query string becomes
their filter, and their pages come back as records.
"""

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from handlers.places import Places
from handlers.staff.compose import read_day
from handlers.staff.queue import may_search, search_kind, search_of
from storage import cases
from storage.cases import (
    COUNT_CAP,
    MAX_PAGE,
    NAME_AND_FILTERS_CAP,
    OPEN_STATUSES,
    CaseFilter,
    ExportRow,
    QueuePage,
)
from storage.contract import Store
from storage.crypto import Sealer
from storage.dashboard import Summary, summary
from storage.records import CaseKind, CaseStatus
from storage.threads import thread_stamp

# The queue's status filter also takes "open": every status still waiting for staff (the summary map's
# default, so that a kelurahan clicked there lists the cases it counted).
OPEN = "open"
# The aid form's urgency answers, most urgent first (the `urgency_rank` column of migration 0009).
URGENCY_RANK = {"today": 0, "week": 1, "later": 2}
SORTS = tuple(cases.SORTS)
__all__ = [
    "COUNT_CAP",
    "MAX_PAGE",
    "NAME_AND_FILTERS_CAP",
    "OPEN_STATUSES",
    "QueuePage",
    "Summary",
    "may_search",
    "search_kind",
    "summary",
]


def day_start(day: date, tz: ZoneInfo) -> datetime:
    """Midnight of a local day (UTC)."""
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def parse_day(text: str) -> date | None:
    """A date typed in a filter (17-08-2026 or 2026-08-17), or None when empty or not a date."""
    return read_day(text)


@dataclass(frozen=True, slots=True)
class QueueFilter:
    """What the queue (and its exports) show: every field optional; unknown values are ignored."""

    kind: str = ""
    status: str = ""
    kecamatan: str = ""
    kelurahan: str = ""
    assignee: str = ""  # a staff id, "none" (unassigned) or "" (anyone)
    date_from: str = ""
    date_to: str = ""
    q: str = ""
    unread: str = ""  # "1": only cases with messages staff have not read
    urgency: str = ""  # an aid urgency answer: today (darurat), week, later
    sort: str = ""  # "" newest first, "urgent" darurat first, "waiting" longest waiting first
    page: int = 1
    # Whether the reader sees NIK, KK and phone numbers unmasked (viewers do not, nor search by them).
    sees_numbers: bool = field(default=True, compare=False)

    @classmethod
    def from_query(
        cls, params: Mapping[str, str], places: Places, *, sees_numbers: bool = True
    ) -> "QueueFilter":
        """Read the filter from a query string, dropping what is not a known value."""

        def get(name: str) -> str:
            return str(params.get(name, "")).strip()[:100]

        kecamatan = get("kecamatan") if get("kecamatan") in {k.code for k in places.kecamatan} else ""
        kelurahan = get("kelurahan")
        if kelurahan:
            try:
                places.kelurahan_by_code(kelurahan)
            except KeyError:
                kelurahan = ""
        assignee = get("assignee")
        page = get("page")
        return cls(
            kind=get("kind") if get("kind") in set(CaseKind) else "",
            status=get("status") if get("status") in {*CaseStatus, OPEN} else "",
            kecamatan=kecamatan,
            kelurahan=kelurahan,
            assignee=assignee if assignee == "none" or assignee.isdigit() else "",
            date_from=get("date_from") if parse_day(get("date_from")) else "",
            date_to=get("date_to") if parse_day(get("date_to")) else "",
            q=" ".join(get("q").split()),
            unread="1" if get("unread") == "1" or get("sort") == "waiting" else "",
            urgency=get("urgency") if get("urgency") in URGENCY_RANK else "",
            sort=get("sort") if get("sort") in SORTS else "",
            page=min(MAX_PAGE, max(1, int(page))) if page.isdigit() else 1,
            sees_numbers=sees_numbers,
        )

    def query_string(self, **changes: Any) -> str:
        """This filter as a query string (empty values left out), with some fields changed."""
        changed = replace(self, **changes)
        pairs = [(f.name, getattr(changed, f.name)) for f in fields(changed) if f.name != "sees_numbers"]
        return urlencode([(k, v) for k, v in pairs if v not in ("", None) and not (k == "page" and v == 1)])

    def page_query(self, page: int) -> str:
        """The query string of another page of the same filter."""
        return self.query_string(page=page)

    @property
    def search_refused(self) -> bool:
        """The search is for a number this reader may not search by (it then finds nothing)."""
        return bool(self.q) and not may_search(self.q, sees_numbers=self.sees_numbers)

    @property
    def active(self) -> bool:
        """Whether anything narrows the queue."""
        return bool(self.query_string(page=1))

    def cases(self, tz: ZoneInfo, sealer: Sealer) -> CaseFilter:
        """The store's filter for what this one selects (a refused search selects nothing)."""
        start, end = parse_day(self.date_from), parse_day(self.date_to)
        return CaseFilter(
            kinds=[self.kind] if self.kind else [],
            statuses=list(OPEN_STATUSES) if self.status == OPEN else [self.status] if self.status else [],
            kecamatan=self.kecamatan or None,
            kelurahan=self.kelurahan or None,
            assignee=int(self.assignee) if self.assignee.isdigit() else None,
            unassigned=self.assignee == "none",
            created_from=day_start(start, tz) if start else None,
            created_before=day_start(end + timedelta(days=1), tz) if end else None,
            unread=bool(self.unread),
            urgency_rank=URGENCY_RANK[self.urgency] if self.urgency else None,
            search=search_of(self.q, sealer) if self.q and not self.search_refused else None,
            nothing=self.search_refused,
        )


async def queue_page(
    db: Store,
    flt: QueueFilter,
    *,
    tz: ZoneInfo,
    sealer: Sealer,
    page_size: int,
    overdue: Mapping[str, datetime] | None = None,
) -> QueuePage:
    """One page of the cases the filter selects, each marked when past its working-day target
    (`overdue`: per kind, the cutoff of `handlers.staff.workdays.overdue_cutoffs`)."""
    return await cases.queue_page(
        db,
        flt.cases(tz, sealer),
        sort=flt.sort,
        page=flt.page,
        page_size=page_size,
        overdue=overdue,
    )


@dataclass(frozen=True, slots=True)
class LiveState:
    """What the live-update request answers: stamps that change when a page part should be fetched again."""

    queue: str
    unread_cases: int
    mine: int
    case: str | None


async def live_state(db: Store, *, user_id: int, case_id: int | None) -> LiveState:
    """Stamps of the queue (a new case or thread line anywhere) and of one case's thread; unread counts."""
    state = await cases.live_state(db, user_id=user_id)
    case = None if case_id is None else await thread_stamp(db, case_id)
    return LiveState(state.queue, state.unread_cases, state.mine, case)


def iter_export_rows(
    db: Store, flt: QueueFilter, *, tz: ZoneInfo, sealer: Sealer, batch: int = 5000
) -> AsyncIterator[list[ExportRow]]:
    """Every case the filter selects (oldest first) as export rows, in batches: memory stays flat."""
    return cases.iter_export_rows(db, flt.cases(tz, sealer), batch=batch)
