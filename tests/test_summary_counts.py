"""The summary's and the map's counts come from counts the store keeps as cases are filed, moved,
assigned and erased: they always equal what counting the cases themselves gives."""

import sqlite3
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from bot.dashboard import queries
from handlers import casework
from storage import migrations, repo
from storage.records import CaseKind, CaseStatus
from tests.dashboard_support import Desk, SeedCase, open_desk
from tests.support import Clock

PONDOK_AREN, SERPONG = "36.74.03", "36.74.01"


@pytest.fixture
async def desk(tmp_path: Path, clock: Clock) -> AsyncIterator[Desk]:
    async with open_desk(tmp_path / "data", clock) as opened:
        yield opened


async def counted_from_cases(desk: Desk, now: datetime) -> dict[str, Any]:
    """The summary's numbers counted from the cases table itself (what the kept counts must equal)."""
    tz = desk.dashboard.tz

    async def grouped(column: str) -> dict[Any, int]:
        rows = await desk.rows(f"SELECT {column} AS k, COUNT(*) AS n FROM cases GROUP BY {column}")
        return {row["k"]: row["n"] for row in rows}

    today = now.astimezone(tz).date()
    (unassigned,) = await desk.rows(
        "SELECT COUNT(*) AS n FROM cases WHERE status IN ('baru', 'diproses', 'perlu_info') "
        "AND assignee_id IS NULL"
    )
    (new_today,) = await desk.rows(
        "SELECT COUNT(*) AS n FROM cases WHERE created_at >= ?", queries.day_start(today, tz).isoformat()
    )
    return {
        "by_status": await grouped("status"),
        "by_kind": await grouped("kind"),
        "by_kecamatan": await grouped("kecamatan_code"),
        "open_unassigned": unassigned["n"],
        "today": new_today["n"],
    }


async def test_the_kept_counts_follow_every_change_to_a_case(desk: Desk, clock: Clock) -> None:
    await desk.signed_in("petugas", "siti")
    (siti,) = await desk.rows("SELECT id FROM staff_users WHERE username = 'siti'")
    now = clock()
    refs = await desk.seed(
        SeedCase("Ani", created_at=now - timedelta(days=20)),
        SeedCase("Budi", CaseKind.AID, created_at=now - timedelta(days=8), kecamatan=SERPONG, kelurahan=None),
        SeedCase("Citra", CaseKind.LOST_KTP, created_at=now - timedelta(hours=1), contact="web:citra"),
        SeedCase("Dedi", CaseKind.AID, CaseStatus.DIPROSES, created_at=now, kecamatan=None, kelurahan=None),
        SeedCase("Eka", created_at=now - timedelta(days=400)),
    )
    catalog = desk.service.services.catalog
    await desk.service.db.write(
        partial(
            casework.change_status,
            catalog=catalog,
            reference=refs[0],
            to_status=CaseStatus.DITOLAK,
            actor="staff:siti",
            note="Data belum lengkap",
            at=now,
        )
    )
    await desk.service.db.write(
        lambda conn: conn.execute(
            "UPDATE cases SET assignee_id = ? WHERE reference = ?", (siti["id"], refs[1])
        )
    )
    await desk.service.db.write(
        partial(repo.erase_contact, contact_id="web:citra", at=now, actor="contact:web:citra")
    )
    numbers = await queries.summary(desk.service.db, now=now, tz=desk.dashboard.tz)
    expected = await counted_from_cases(desk, now)
    assert numbers.by_status == expected["by_status"]
    assert numbers.by_kind == expected["by_kind"]
    assert numbers.by_kecamatan == expected["by_kecamatan"]
    assert numbers.open_unassigned == expected["open_unassigned"] == 3  # Citra (erased), Dedi, Eka
    assert numbers.today == expected["today"] == 2
    assert numbers.total == 5
    weeks = dict(numbers.weeks)
    assert sum(weeks.values()) == 4  # the case from 400 days ago is before the 12 weeks shown
    assert weeks[max(weeks)] == 2 and weeks[min(weeks)] == 0

    # The map counts open cases per kelurahan from the kept counts too, and matches the cases.
    page = await desk.client.get("/", params={"status": "open"})
    assert page.status_code == 200
    by_status = await desk.rows(
        "SELECT kelurahan_code, COUNT(*) AS n FROM cases WHERE status IN ('baru', 'diproses', 'perlu_info') "
        "AND kelurahan_code IS NOT NULL GROUP BY kelurahan_code"
    )
    for row in by_status:
        assert f'data-code="{row["kelurahan_code"]}" data-count="{row["n"]}"' in page.text


def test_a_store_with_the_first_hourly_counts_gets_them_per_kind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = [name for name, _ in migrations.MIGRATIONS]
    earlier = migrations.MIGRATIONS[: names.index("0013_i17c_counts_by_kind")]
    conn = sqlite3.connect(tmp_path / "store.sqlite3", isolation_level=None)
    with monkeypatch.context() as patch:
        patch.setattr(migrations, "MIGRATIONS", earlier)
        migrations.apply_migrations(conn)
    for number, (kind, status) in enumerate([("aid", "baru"), ("aid", "selesai"), ("registration", "baru")]):
        conn.execute(
            "INSERT INTO cases (reference, kind, status, contact_id, subject_name, answers, created_at, "
            "updated_at) VALUES (?, ?, ?, 'web:x', 'Ani', '{}', '2026-11-20T02:30:00+00:00', '')",
            (f"REF-{number}", kind, status),
        )
    assert migrations.apply_migrations(conn) == names[len(earlier) :]  # this one and any after it
    rows = conn.execute("SELECT kind, open, hour, n FROM case_hours ORDER BY 1, 2").fetchall()
    assert rows == [
        ("aid", 0, "2026-11-20T02", 1),
        ("aid", 1, "2026-11-20T02", 1),
        ("registration", 1, "2026-11-20T02", 1),
    ]
    conn.execute("UPDATE cases SET status = 'diproses' WHERE reference = 'REF-1'")
    assert conn.execute("SELECT n FROM case_hours WHERE kind = 'aid' AND open = 1").fetchone() == (2,)
    conn.close()


async def test_cases_past_their_target_are_counted_from_the_kept_counts(desk: Desk, clock: Clock) -> None:
    now = clock()
    stamps = [now - timedelta(days=d, minutes=m) for d in (1, 3, 9) for m in (0, 20, 50)]
    statuses = [CaseStatus.BARU, CaseStatus.DIPROSES, CaseStatus.PERLU_INFO]
    await desk.seed(
        *(
            SeedCase(
                f"Warga {i}", CaseKind.AID if i % 2 else CaseKind.REGISTRATION, statuses[i % 3], created_at=at
            )
            for i, at in enumerate(stamps)
        )
    )
    for cutoff_at in (now - timedelta(days=3, minutes=30), now - timedelta(days=2), now):
        cutoffs = {"aid": cutoff_at, "registration": cutoff_at - timedelta(minutes=25)}
        expected = 0
        for kind, cutoff in cutoffs.items():
            (row,) = await desk.rows(
                "SELECT COUNT(*) AS n FROM cases WHERE kind = ? AND created_at < ? "
                "AND status IN ('baru', 'diproses')",
                kind,
                cutoff.isoformat(),
            )
            expected += row["n"]
        numbers = await queries.summary(desk.service.db, now=now, tz=desk.dashboard.tz, overdue=cutoffs)
        assert numbers.overdue == expected, cutoff_at
