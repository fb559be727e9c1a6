"""The case queue every staff surface reads: which cases, in which order, and which are past their
working-day target ("lewat batas"), and what a search text asks for. The command line and the Telegram
staff group list from here; the dashboard's paged queue reads the same filters and search
(`storage.cases`)."""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

from handlers.staff import workdays
from handlers.validators import phone_key
from storage import cases
from storage.cases import CaseFilter, CaseSearch, Listing, QueueEntry
from storage.contract import Store
from storage.crypto import Sealer

REFERENCE = re.compile(r"^(REG|KTP|BAN|PSN)-\d{4}-\d{6}$")
NIK_LIKE = re.compile(r"^[\d\s.\-]{16,24}$")
SearchKind = Literal["reference", "number", "phone", "name"]


@dataclass(frozen=True, slots=True)
class QueueQuery:
    """Which cases: statuses and kinds (empty: any), a kecamatan code, the order and how many."""

    statuses: Sequence[str] = ()
    kinds: Sequence[str] = ()
    kecamatan: str | None = None
    oldest_first: bool = False
    limit: int = 50


Queue = Listing
__all__ = ["Queue", "QueueEntry", "QueueQuery", "case_queue", "may_search", "search_kind", "search_of"]


async def case_queue(
    db: Store, query: QueueQuery, *, now: datetime, tz: ZoneInfo, targets: Mapping[str, int]
) -> Queue:
    """The queue as of `now`, with each case marked when past its working-day target."""
    return await cases.listing(
        db,
        CaseFilter(
            kinds=[str(kind) for kind in query.kinds],
            statuses=[str(status) for status in query.statuses],
            kecamatan=query.kecamatan,
        ),
        overdue=workdays.overdue_cutoffs(now, targets, tz),
        oldest_first=query.oldest_first,
        limit=query.limit,
    )


def search_kind(text: str) -> SearchKind:
    """What a search text is: a case reference, a 16-digit NIK or KK, a phone number, or a name."""
    if REFERENCE.match(text.upper()):
        return "reference"
    if NIK_LIKE.match(text) and len(re.sub(r"\D", "", text)) == 16:
        return "number"
    if phone_key(text) is not None:
        return "phone"
    return "name"


def may_search(text: str, *, sees_numbers: bool) -> bool:
    """Whether a staff member may run this search: numbers a viewer only ever sees masked (NIK, KK,
    phone) are not searched for them, or a search would tell them whose number it is."""
    return sees_numbers or search_kind(text) in ("reference", "name")


def search_of(text: str, sealer: Sealer) -> CaseSearch:
    """A search text read for the store: a reference in capitals, a NIK or KK by its keyed hash (never
    the number itself), a phone number by its key (any spelling: 0812-..., 62812..., +62 812 ...), or
    words of a name or reference."""
    kind = search_kind(text)
    if kind == "reference":
        return CaseSearch(kind, text.upper())
    if kind == "number":
        return CaseSearch(kind, sealer.lookup_hash(re.sub(r"\D", "", text)))
    if kind == "phone":
        key = phone_key(text)
        assert key is not None
        return CaseSearch(kind, key)
    return CaseSearch(kind, text)
