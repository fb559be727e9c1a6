"""The case queue every staff surface reads: which cases, in which order, and which are past their
working-day target ("lewat batas"). The command line and the Telegram staff group list from here; the
dashboard's paged queue uses the same overdue rule (`workdays.overdue_sql`)."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from handlers.staff import workdays
from storage import repo
from storage.db import Database
from storage.records import CaseRecord


@dataclass(frozen=True, slots=True)
class QueueQuery:
    """Which cases: statuses and kinds (empty: any), a kecamatan code, the order and how many."""

    statuses: Sequence[str] = ()
    kinds: Sequence[str] = ()
    kecamatan: str | None = None
    oldest_first: bool = False
    limit: int = 50


@dataclass(frozen=True, slots=True)
class QueueEntry:
    """One case of the queue, and whether it is past its target."""

    case: CaseRecord
    overdue: bool


@dataclass(frozen=True, slots=True)
class Queue:
    """The cases the query selects (at most `limit`) and how many there are in all."""

    total: int
    entries: list[QueueEntry]


async def case_queue(
    db: Database, query: QueueQuery, *, now: datetime, tz: ZoneInfo, targets: Mapping[str, int]
) -> Queue:
    """The queue as of `now`, with each case marked when past its working-day target."""
    clauses: list[str] = []
    params: list[Any] = []
    if query.statuses:
        clauses.append(f"c.status IN ({', '.join('?' * len(query.statuses))})")
        params += [str(status) for status in query.statuses]
    if query.kinds:
        clauses.append(f"c.kind IN ({', '.join('?' * len(query.kinds))})")
        params += [str(kind) for kind in query.kinds]
    if query.kecamatan:
        clauses.append("c.kecamatan_code = ?")
        params.append(query.kecamatan)
    where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
    late, late_params = workdays.overdue_sql(workdays.overdue_cutoffs(now, targets, tz))
    total = int(await db.fetchval(f"SELECT COUNT(*) FROM cases AS c{where}", params))
    rows = await db.fetchall(
        f"SELECT c.*, {late} AS overdue FROM cases AS c{where} "
        f"ORDER BY c.id {'ASC' if query.oldest_first else 'DESC'} LIMIT ?",
        (*late_params, *params, query.limit),
    )
    return Queue(total, [QueueEntry(repo.case_from_row(row), bool(row["overdue"])) for row in rows])
