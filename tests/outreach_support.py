"""Seeding registered contacts straight into the store, for outreach tests and benchmarks."""

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from functools import partial
from pathlib import Path
from zoneinfo import ZoneInfo

from handlers import outreach
from handlers.outreach import QuietHours
from handlers.segments import Segment
from storage import repo
from storage.contract import Tx
from storage.db import Database
from storage.records import Consent, ContactRecord, PersonRecord


@dataclass
class Person:
    """One registered contact to seed (a field worker may have several persons)."""

    contact: str
    name: str = "Warga"
    kecamatan: str = "36.74.03"
    kelurahan: str = "36.74.03.1011"
    skills: list[str] = field(default_factory=list)
    disaster_victim: bool = False
    language: str = "id"
    opted_out: bool = False
    unreachable: bool = False
    consent: Consent = Consent.GRANTED
    created_at: datetime = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)
    extra_persons: int = 0
    last_inbound_at: datetime | None = None


def seed(tx: Tx, people: list[Person]) -> None:
    """Write contacts and their persons (a write function for `Database.write`)."""
    for person in people:
        repo.upsert_contact(
            tx,
            ContactRecord(
                id=person.contact,
                channel=person.contact.split(":", 1)[0],
                language=person.language,
                consent=person.consent,
                consent_version="2026-11",
                opted_out=person.opted_out,
                unreachable=person.unreachable,
                last_inbound_at=person.last_inbound_at or person.created_at,
                created_at=person.created_at,
                updated_at=person.created_at,
            ),
        )
        for number in range(1 + person.extra_persons):
            repo.insert_person(
                tx,
                PersonRecord(
                    registered_by=person.contact,
                    is_self=number == 0,
                    full_name=person.name if number == 0 else f"{person.name} Keluarga",
                    kecamatan_code=person.kecamatan,
                    kelurahan_code=person.kelurahan,
                    skills=person.skills,
                    disaster_victim=person.disaster_victim,
                    created_at=person.created_at,
                    updated_at=person.created_at,
                ),
            )


async def seed_broadcast(
    data_dir: Path, count: int, *, scheme: str = "console", prefix: str = "w", delay: float = 0.0
) -> int:
    """A store on `data_dir` with `count` registered contacts and a broadcast to all of them, due in
    `delay` seconds (no quiet hours); return the broadcast's id. For service subprocess tests."""
    db = await Database.open(data_dir / "intake.sqlite3")
    now = datetime.now(UTC)
    await db.write(partial(seed_many, count=count, scheme=scheme, prefix=prefix))
    wib = ZoneInfo("Asia/Jakarta")
    broadcast_id: int = await db.write(
        partial(
            outreach.create_broadcast,
            segment=Segment(everyone=True),
            text_id="Pelatihan montir minggu depan.",
            text_en=None,
            template=None,
            send_at=now + timedelta(seconds=delay),
            actor="staff:test",
            at=now,
            tz=wib,
            quiet=QuietHours(time(0), time(0), wib),
        )
    )
    await db.close()
    return broadcast_id


def seed_many(tx: Tx, count: int, scheme: str = "console", prefix: str = "w") -> None:
    """`count` plain registered contacts, quickly (for large broadcasts)."""
    stamp = "2026-11-01T03:00:00+00:00"
    tx.executemany(
        "INSERT INTO contacts (id, channel, language, consent, consent_version, created_at, updated_at, "
        "last_inbound_at) VALUES (?, ?, 'id', 'granted', '2026-11', ?, ?, ?)",
        [(f"{scheme}:{prefix}{i}", scheme, stamp, stamp, stamp) for i in range(count)],
    )
    tx.executemany(
        "INSERT INTO persons (registered_by, is_self, full_name, kecamatan_code, kelurahan_code, created_at, "
        "updated_at) VALUES (?, 1, 'Warga', '36.74.03', '36.74.03.1011', ?, ?)",
        [(f"{scheme}:{prefix}{i}", stamp, stamp) for i in range(count)],
    )
