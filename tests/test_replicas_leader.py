"""Two service processes on one PostgreSQL database: outreach is ticked by one leader (a reminder due while
both run is sent once), and when the leader is killed -9 the survivor takes over within the lease time."""

import asyncio
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import IO

from handlers.segments import Segment
from storage import repo
from storage.contract import Store, Tx
from storage.postgres import PostgresStore
from tests.outreach_support import seed_many
from tests.service_proc import service_env
from tests.test_outreach_crash import Sink, sink, wait_for

__all__ = ["sink"]  # the fixture: a fake keyed platform on 127.0.0.1

RECIPIENTS = 60
LEASE_SECONDS = 3.0


# ---------------------------------------------------------------- two service processes, one leader


def start(data_dir: Path, database_url: str, sink_url: str, log: IO[bytes]) -> subprocess.Popen[bytes]:
    env = service_env(
        data_dir,
        DINSOS_DATABASE_URL=database_url,
        DINSOS_LEASE_SECONDS=str(LEASE_SECONDS),
        DINSOS_LEASE_RENEW_SECONDS="0.5",
        DINSOS_BACKUP_KEEP="0",
    )
    return subprocess.Popen(
        [sys.executable, "-m", "tests.service_proc", sink_url],
        cwd=Path(__file__).resolve().parent.parent,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )


def staff_account(tx: Tx) -> None:
    """An office already running has a staff account (none is created at start)."""
    stamp = repo.iso(datetime.now(UTC))
    tx.execute(
        "INSERT INTO staff_users (username, display_name, role, password_hash, created_at, updated_at) "
        "VALUES ('admin', 'Admin', 'admin', 'not-a-real-hash', ?, ?)",
        (stamp, stamp),
    )


def add_reminder(tx: Tx, text: str, due_at: datetime) -> int:
    """A one-off reminder to everyone, due at `due_at`."""
    stamp = repo.iso(datetime.now(UTC))
    row = tx.execute(
        "INSERT INTO reminders (kind, segment, text_id, due_at, created_by, created_at) "
        "VALUES ('segment', ?, ?, ?, 'staff:test', ?) RETURNING id",
        (Segment(everyone=True).model_dump_json(), text, repo.iso(due_at), stamp),
    ).fetchone()
    return int(row[0])


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


async def test_a_reminder_due_while_two_replicas_run_is_sent_once_and_a_survivor_takes_over_the_leader(
    tmp_path: Path, postgres_url: str, sink: tuple[Sink, str]
) -> None:
    state, sink_url = sink
    db = await PostgresStore.open(postgres_url)
    try:
        await db.write(partial(seed_many, count=RECIPIENTS))
        await db.write(staff_account)
        await db.write(partial(add_reminder, text="Posyandu besok pagi.", due_at=datetime.now(UTC)))
        with (tmp_path / "service.log").open("ab") as log:
            processes = [start(tmp_path / f"data{n}", postgres_url, sink_url, log) for n in (1, 2)]
            try:
                await two_replicas_one_reminder(db, state, processes)
            finally:
                for process in processes:
                    stop(process)
    finally:
        await db.close()


def running(processes: list[subprocess.Popen[bytes]]) -> int:
    return sum(1 for process in processes if process.poll() is None)


def texts(state: Sink, text: str) -> Counter[str]:
    with state.lock:
        return Counter(post["to"] for post in state.posts if post["text"] == text)


async def two_replicas_one_reminder(db: Store, state: Sink, processes: list[subprocess.Popen[bytes]]) -> None:
    first = "Posyandu besok pagi."
    sent = wait_for(lambda: len(texts(state, first)) >= RECIPIENTS or running(processes) < 2, 40)
    assert running(processes) == 2, "a service process stopped (see service.log)"
    assert sent, "the reminder was not sent"
    await asyncio.sleep(1.0)  # a second tick or a second sender would add its copies now
    assert set(texts(state, first).values()) == {1}, "somebody got the reminder twice"
    assert len(texts(state, first)) == RECIPIENTS
    runs = await db.fetchval("SELECT COUNT(*) FROM reminder_runs")
    assert runs == 1
    # Both processes are alive (each holds its own lease); one of them holds the outreach lease.
    alive = await db.fetchall("SELECT name FROM leases WHERE name LIKE 'replica:%'")
    assert len(alive) == 2
    holder = await db.fetchval("SELECT holder FROM leases WHERE name = 'outreach'")
    leader_pid = int(str(holder).split(":")[2])
    leader = next(process for process in processes if process.pid == leader_pid)
    survivor = next(process for process in processes if process.pid != leader_pid)
    leader.send_signal(signal.SIGKILL)
    leader.wait(10)
    killed_at = time.monotonic()
    second = "Pembagian sembako Sabtu."
    await db.write(partial(add_reminder, text=second, due_at=datetime.now(UTC)))
    assert wait_for(lambda: len(texts(state, second)) >= RECIPIENTS, 60), "nobody took the leader's place"
    taken_over = time.monotonic() - killed_at
    assert taken_over < 60
    await asyncio.sleep(1.0)
    assert set(texts(state, second).values()) == {1}
    assert survivor.poll() is None
    new_holder = await db.fetchval("SELECT holder FROM leases WHERE name = 'outreach'")
    assert int(str(new_holder).split(":")[2]) == survivor.pid
    print(f"outreach taken over {taken_over:.1f} s after the leader was killed")
