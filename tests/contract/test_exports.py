"""The readable CSV export through the store contract: the same file on every backend, made in the
requesting process or (a large selection) by worker processes with connections of their own to the store,
streamed in order."""

import asyncio
import csv
import io
import multiprocessing
import os
import signal
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from handlers.i18n import Catalog
from handlers.places import Places
from handlers.staff.exports import RowMaker, csv_chunks
from handlers.staff.queue import search_of
from storage.cases import EXPORT_APPLICATION, CaseFilter, export_range
from storage.contract import Store
from storage.records import CaseKind, CaseStatus
from tests.contract.casework_seed import AT, SEALER, Seed, account, seed

ROOT = Path(__file__).resolve().parents[2]
CITIZEN = Catalog.load()
UI = Catalog.load(ROOT / "bot" / "dashboard" / "locales")
KINDS = [CaseKind.REGISTRATION, CaseKind.AID, CaseKind.LOST_KTP, CaseKind.MESSAGE]
STATUSES = [CaseStatus.BARU, CaseStatus.DIPROSES, CaseStatus.SELESAI]


def maker(*, mask_phones: bool = False) -> RowMaker:
    return RowMaker(
        catalog=CITIZEN,
        words=UI,
        lang="id",
        places=Places.load(),
        tz=ZoneInfo("Asia/Jakarta"),
        now=AT,
        mask_phones=mask_phones,
    )


def ui(key: str) -> str:
    return UI.text("id", key)


def said(key: str) -> str:
    return CITIZEN.text("id", key)


def varied(number: int, officer: int | None = None) -> Seed:
    """Cases of every kind, with the answers an export must word, guard and quote."""
    kind = KINDS[number % len(KINDS)]
    answers: dict[str, object] = {
        "birth_date": f"19{50 + number % 50}-0{1 + number % 9}-1{number % 10}",
        "sex": "LP"[number % 2],
        "household_size": number % 9,
        "skills": ["masak", "service_hp"][: number % 3],
        "address": ["Jl. Melati RT 03/RW 05", 'Gang "Mawar", no. 3', "baris satu\nbaris dua"][number % 3],
        "urgency": ["today", "week", "later"][number % 3],
        "aid_kind": "basic",
        "people": number % 7,
        "what_happened": "terbakar",
        "message": {"text": f"=1+{number}"},
    }
    if number % 5 == 0:
        answers["phone"] = f"+62812{number:08d}"
    if number % 11 == 0:  # answered by voice note: worded as such
        answers["flags"] = {"address": {"why": "media", "kind": "voice"}}
    if number % 13 == 0:  # an older shape: a list where one choice was expected
        answers["sex"] = ["P"]
    return Seed(
        ["Siti Aminah", "Budi, S.", 'Wati "Ibu"', "=HYPERLINK(1)"][number // 4 % 4],
        kind,
        STATUSES[number % len(STATUSES)],
        created_at=AT + timedelta(minutes=7 * number),
        contact=f"whatsapp:62812{number:08d}" if number % 3 else None,
        assignee_id=officer if number % 8 == 0 else None,
        answers=answers,
    )


async def the_file(
    store: Store, flt: CaseFilter, *, masked: bool = False, **parallel: int
) -> tuple[list[bytes], int]:
    """The export's pieces and the rows it counted."""
    rows = 0

    def counted(count: int) -> None:
        nonlocal rows
        rows += count

    pieces = [
        piece
        async for piece in csv_chunks(maker(mask_phones=masked), store, flt, counted=counted, **parallel)
    ]
    return pieces, rows


async def up_to(count: int, pieces: AsyncIterator[bytes]) -> list[bytes]:
    """The next `count` pieces of a download (fewer if it ends)."""
    taken = []
    async for piece in pieces:
        taken.append(piece)
        if len(taken) == count:
            break
    return taken


async def workers_left() -> list[multiprocessing.process.BaseProcess]:
    """The export's worker processes still alive once they have had 10 s to end (a worker ends after
    the range in hand; a killed one is gone once the system has reaped it)."""
    for _ in range(200):
        if not multiprocessing.active_children():
            break
        await asyncio.sleep(0.05)
    return multiprocessing.active_children()


async def test_a_large_export_is_the_same_file_made_here_or_by_worker_processes(store: Store) -> None:
    officer = await account(store, "budi", name="Budi Santoso")
    await seed(store, *(varied(number, officer) for number in range(1, 601)))
    made_here, counted_here = await the_file(store, CaseFilter(), workers=1)
    by_workers, counted_by_workers = await the_file(
        store, CaseFilter(), workers=2, parallel_from=100, span=40
    )

    assert b"".join(by_workers) == b"".join(made_here)
    assert counted_here == counted_by_workers == 600
    # Streamed as it is made: the header, the first 40 rows made here, then one piece per 40 ids.
    assert len(by_workers) == 2 + (600 - 40) // 40
    table = list(csv.DictReader(io.StringIO(b"".join(by_workers).decode("utf-8-sig"))))
    assert len(table) == 600
    # Rows in order (number n is row n - 1); names, addresses and flags worded, quoted and guarded.
    name, address, officer_name = ui("export.name"), said("reg.label.address"), ui("export.assignee")
    assert (table[3][name], table[3][address], table[3][officer_name]) == (
        "Budi, S.",
        'Gang "Mawar", no. 3',
        "",
    )
    assert (table[7][name], table[7][address]) == ('Wati "Ibu"', "baris satu\nbaris dua")
    assert (table[7][officer_name], table[11][name]) == ("Budi Santoso", "'=HYPERLINK(1)")
    assert table[0][ui("export.urgency")] == said("aid.urgency.week")
    assert table[43][address] == said("form.flag.voice")
    wib = ZoneInfo("Asia/Jakarta")
    assert [row[ui("export.created_at")] for row in table] == [
        (AT + timedelta(minutes=7 * number)).astimezone(wib).strftime("%d-%m-%Y %H:%M")
        for number in range(1, 601)
    ]

    # A filter, and phones masked for viewers, are the workers' too.
    flt = CaseFilter(statuses=["baru"], kinds=[CaseKind.REGISTRATION])
    here, _ = await the_file(store, flt, masked=True, workers=1)
    there, rows = await the_file(store, flt, masked=True, workers=2, parallel_from=10, span=40)
    assert b"".join(there) == b"".join(here) and rows == 50
    assert b"+6281200000060" not in b"".join(there) and b"+6281200000060" in b"".join(made_here)
    # A name searched for (SQLite: through its full-text index) is the workers' too.
    named = CaseFilter(search=search_of("wati", SEALER))
    here, _ = await the_file(store, named, workers=1)
    there, rows = await the_file(store, named, workers=2, parallel_from=10, span=40)
    assert b"".join(there) == b"".join(here) and rows == 149


async def test_an_export_stopped_early_ends_its_worker_processes(store: Store) -> None:
    await seed(store, *(varied(number) for number in range(1, 301)))
    pieces = csv_chunks(maker(), store, CaseFilter(), workers=2, parallel_from=100, span=20)
    # The downloader goes away after a few pieces.
    received = [await anext(pieces) for _ in range(4)]
    await pieces.aclose()

    assert all(received)
    assert await workers_left() == []


async def test_an_export_whose_workers_are_killed_is_finished_here_whole(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    await seed(store, *(varied(number) for number in range(1, 601)))
    whole, _ = await the_file(store, CaseFilter(), workers=1)
    rows = 0

    def counted(count: int) -> None:
        nonlocal rows
        rows += count

    pieces = csv_chunks(maker(), store, CaseFilter(), counted=counted, workers=2, parallel_from=100, span=20)
    # The header, the first rows made here and the first from the workers.
    received = [await anext(pieces) for _ in range(3)]
    for worker in multiprocessing.active_children():  # out of memory, or an operator's kill -9
        os.kill(worker.pid or 0, signal.SIGKILL)
    received += [piece async for piece in pieces]

    assert b"".join(received) == b"".join(whole) and rows == 600
    assert "export workers stopped" in caplog.text
    assert await workers_left() == []


@pytest.mark.parametrize("store", ["postgresql"], indirect=True)  # a SQLite file has no server to end it
async def test_an_export_whose_workers_lose_the_database_is_finished_here_whole(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    await seed(store, *(varied(number) for number in range(1, 601)))
    whole, _ = await the_file(store, CaseFilter(), workers=1)
    pieces = csv_chunks(maker(), store, CaseFilter(), workers=2, parallel_from=100, span=20)
    received = [await anext(pieces) for _ in range(3)]  # the workers are reading
    workers = "SELECT pid FROM pg_stat_activity WHERE application_name = ?"
    for _ in range(100):
        if len(await store.fetchall(workers, (EXPORT_APPLICATION,))) == 2:
            break
        await asyncio.sleep(0.05)
    # The server ends the workers' connections (a restart, a fail-over, an administrator).
    ended = await store.fetchall(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = ?",
        (EXPORT_APPLICATION,),
    )
    received += [piece async for piece in pieces]

    assert len(ended) == 2
    assert b"".join(received) == b"".join(whole)
    assert "export workers stopped (ExportReadError)" in caplog.text
    assert await workers_left() == []


async def test_at_most_two_exports_at_once_use_workers_and_the_others_are_made_here(store: Store) -> None:
    await seed(store, *(varied(number) for number in range(1, 301)))
    whole, _ = await the_file(store, CaseFilter(), workers=1)
    downloads = [
        csv_chunks(maker(), store, CaseFilter(), workers=2, parallel_from=100, span=20) for _ in range(3)
    ]
    # Each sends its header, its first rows made here and (with workers) its workers' first rows.
    received = [await up_to(3, pieces) for pieces in downloads]

    # Three staff download at once: two exports with two workers each, the third made here.
    assert len(multiprocessing.active_children()) == 4
    for pieces, got in zip(downloads, received, strict=True):
        got += [piece async for piece in pieces]
        assert b"".join(got) == b"".join(whole)


async def test_what_an_export_hands_its_workers_never_shows_where_the_store_is(store: Store) -> None:
    await seed(store, *(varied(number) for number in range(1, 4)))
    source = await export_range(store, CaseFilter(), at_least=1)

    # The workers are given the store's file or address (a PostgreSQL address may hold its password);
    # it is never part of what a log line or an error shows of the range.
    assert source is not None and source.location
    assert source.location not in repr(source) and source.location not in str(source)
