"""Message history that does not grow forever, and a start-up that finds interrupted sends by index.

A registration leaves inbound ids and the bot's questions in the outbox; the prune deletes them once
their windows have passed, keeps the case, its thread and the messages about it, and never forgets an
inbound id while the platform may still deliver it again.
"""

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta
from functools import partial

from bot.app import Service
from bot.scheduler import OutreachScheduler
from bot.settings import OutreachSettings
from handlers import casework
from storage import repo
from storage.db import Database
from storage.outbox import interrupted
from storage.retention import PRUNED_PAYLOAD, prune_history
from tests.flow_steps import agree, register, rows
from tests.support import Chat, Clock, RecordingChannel

INBOUND_DAYS = 8.0
OUTBOX_DAYS = 30.0


async def prune(service: Service, clock: Clock, batch: int = 3) -> tuple[int, int]:
    report = await prune_history(
        service.db, now=clock(), inbound_days=INBOUND_DAYS, outbox_days=OUTBOX_DAYS, batch=batch
    )
    return report.inbound, report.outbox


async def count(service: Service, sql: str, *params: object) -> int:
    return int(await service.db.fetchval(sql, params))


async def test_prune_keeps_the_case_its_thread_and_the_redelivery_window_and_removes_the_rest(
    service: Service, chat: Chat, channel: RecordingChannel, clock: Clock
) -> None:
    await agree(chat)
    reference = await register(chat, name="Siti Aminah")
    (case,) = await rows(service, "SELECT id FROM cases WHERE reference = ?", reference)
    await service.db.write(
        partial(
            casework.send_reply,
            catalog=service.services.catalog,
            reference=reference,
            text="Besok petugas datang ke rumah Ibu.",
            actor="staff:siti",
            at=clock(),
        )
    )
    await service.dispatcher.deliver(await repo.pending_outbox(service.db))
    # A broadcast's recipient row: its report counts it, so the row stays (without its text).
    broadcast_row = await service.db.write(
        lambda conn: conn.execute(
            "INSERT INTO broadcasts (created_by, created_at, segment, text_id, send_at, status) "
            "VALUES ('staff:siti', ?, '{}', 'Info pelatihan', ?, 'finished') RETURNING id",
            (repo.iso(clock()), repo.iso(clock())),
        ).fetchone()[0]
    )
    await service.db.write(
        lambda conn: conn.execute(
            "INSERT INTO outbox (contact_id, origin, payload, status, broadcast_id, created_at, updated_at) "
            "VALUES (?, 'broadcast', '{\"text\": \"Info pelatihan\"}', 'delivered', ?, ?, ?)",
            (chat.contact, broadcast_row, repo.iso(clock()), repo.iso(clock())),
        )
    )
    inbound = await count(service, "SELECT COUNT(*) FROM inbound")
    conversation_rows = await count(service, "SELECT COUNT(*) FROM outbox WHERE case_id IS NULL")
    thread = await rows(service, "SELECT body FROM case_messages WHERE case_id = ? ORDER BY id", case["id"])
    assert inbound > 15 and conversation_rows > 15
    assert thread[-1]["body"] and "Besok petugas datang" in thread[-1]["body"]

    # Within the redelivery window nothing is pruned, and a redelivered message changes nothing.
    clock.advance(days=INBOUND_DAYS - 1)
    assert await prune(service, clock) == (0, 0)
    first_id = (await rows(service, "SELECT id FROM inbound ORDER BY received_at LIMIT 1"))[0]["id"]
    before = len(channel.sent[chat.contact])
    await chat.send(chat._event(text="halo", event_id=first_id))
    assert len(channel.sent[chat.contact]) == before
    assert await count(service, "SELECT COUNT(*) FROM inbound") == inbound

    # Past it the inbound ids go (in batches); outbox rows wait for their own, longer window.
    clock.advance(days=2)
    assert await prune(service, clock) == (inbound, 0)
    assert await count(service, "SELECT COUNT(*) FROM inbound") == 0
    clock.advance(days=OUTBOX_DAYS)
    pruned_inbound, pruned_outbox = await prune(service, clock)
    assert pruned_inbound == 0 and pruned_outbox == conversation_rows
    assert (
        await count(service, "SELECT COUNT(*) FROM outbox WHERE case_id IS NULL AND broadcast_id IS NULL")
        == 0
    )
    (kept,) = await rows(service, "SELECT payload, status FROM outbox WHERE broadcast_id = ?", broadcast_row)
    assert kept == {"payload": PRUNED_PAYLOAD, "status": "delivered"}
    # The case, its thread and the reply about it stay as they were.
    assert await count(service, "SELECT COUNT(*) FROM cases WHERE reference = ?", reference) == 1
    after = await rows(service, "SELECT body FROM case_messages WHERE case_id = ? ORDER BY id", case["id"])
    assert after == thread
    (reply,) = await rows(service, "SELECT payload, status FROM outbox WHERE case_id = ?", case["id"])
    assert "Besok petugas datang" in reply["payload"] and reply["status"] == "sent"
    # A second prune finds nothing left to do.
    assert await prune(service, clock) == (0, 0)


def insert_row(conn: sqlite3.Connection, contact: str, status: str, at: datetime) -> None:
    conn.execute(
        "INSERT INTO outbox (contact_id, origin, payload, status, created_at, updated_at) "
        "VALUES (?, 'reply', '{\"text\": \"x\"}', ?, ?, ?)",
        (contact, status, repo.iso(at), repo.iso(at)),
    )


async def test_a_message_still_unfinished_is_never_pruned(service: Service, chat: Chat, clock: Clock) -> None:
    await agree(chat)
    for status in ("queued", "held", "unknown"):
        await service.db.write(partial(insert_row, contact=chat.contact, status=status, at=clock()))
    clock.advance(days=365)
    await prune(service, clock)
    left = await rows(service, 'SELECT status FROM outbox WHERE payload = \'{"text": "x"}\' ORDER BY id')
    assert [row["status"] for row in left] == ["queued", "held", "unknown"]


def test_recovery_finds_rows_left_sending_through_an_index(service: Service) -> None:
    assert isinstance(service.db, Database)  # SQLite's query plan
    conn = sqlite3.connect(service.db.path)
    try:
        statements: list[str] = []
        conn.set_trace_callback(statements.append)
        interrupted(conn, holder="replica:test", at=datetime.now(UTC))
        conn.set_trace_callback(None)
        (sql,) = [s for s in statements if "outbox" in s]
        plan = " ".join(str(row[3]) for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}"))
    finally:
        conn.close()
    assert "USING INDEX" in plan or "USING COVERING INDEX" in plan, plan
    assert "SCAN outbox" not in plan.replace("SCAN outbox USING", ""), plan


async def test_the_prune_runs_on_the_scheduler_in_short_batches(
    service: Service, chat: Chat, clock: Clock
) -> None:
    from bot.retention import HistoryPruner

    await agree(chat)
    inbound = await count(service, "SELECT COUNT(*) FROM inbound")
    clock.advance(days=INBOUND_DAYS + 1)
    pruner = HistoryPruner(service.db, service.settings.store, clock)
    report = await pruner.run_once()
    assert report.inbound == inbound and report.batches >= 1
    assert timedelta(minutes=service.settings.store.retention_every_minutes) == pruner.every


async def test_the_scheduler_runs_the_prune_at_start_and_then_periodically(
    service: Service, clock: Clock
) -> None:
    ran = asyncio.Event()

    async def job() -> None:
        ran.set()

    scheduler = OutreachScheduler(
        service.db,
        service.services.catalog,
        OutreachSettings(),
        service.services.timezone,
        clock,
        periodic=[("history-prune", job, timedelta(minutes=60))],
    )
    scheduler.start()
    try:
        await asyncio.wait_for(ran.wait(), timeout=10)
    finally:
        await scheduler.stop()
