"""The store itself, on every backend: rows read like SQLite's, write jobs commit in one batch yet fail
alone, urgent jobs go first, reads do not wait for writes, and the migrations are recorded."""

import asyncio
import threading
from typing import Any

import pytest

from storage.contract import Store, Tx, check_later, dialect, insert_id, json_text
from storage.migrations import MIGRATIONS


def _audit(tx: Tx, action: str) -> int:
    return insert_id(
        tx,
        "INSERT INTO audit_log (at, actor, action) VALUES ('2026-11-20T02:00', 'test', ?) RETURNING id",
        (action,),
    )


async def _actions(store: Store) -> list[str]:
    return [row["action"] for row in await store.fetchall("SELECT action FROM audit_log ORDER BY id")]


def _hold(started: threading.Event, release: threading.Event) -> Any:
    def hold(tx: Tx) -> None:
        started.set()
        release.wait(10)

    return hold


async def test_rows_read_by_name_position_and_as_dicts(store: Store) -> None:
    await store.write(lambda tx: _audit(tx, "seen"))
    row = await store.fetchone("SELECT id, action, actor AS who FROM audit_log")
    assert row is not None
    assert row["action"] == "seen" and row[1] == "seen" and row["who"] == "test"
    assert dict(row) == {"id": 1, "action": "seen", "who": "test"}
    assert list(row.keys()) == ["id", "action", "who"]
    assert tuple(row) == (1, "seen", "test")
    assert await store.fetchval("SELECT COUNT(*) FROM audit_log") == 1
    assert await store.fetchval("SELECT SUM(id) FROM audit_log") == 1  # an int, not a Decimal
    assert await store.fetchone("SELECT id FROM audit_log WHERE action = ?", ("none",)) is None
    assert await store.fetchval("SELECT id FROM audit_log WHERE action = :what", {"what": "seen"}) == 1


async def test_a_write_function_sees_the_dialect_and_returns_rows(store: Store) -> None:
    def write(tx: Tx) -> tuple[str, list[Any], int]:
        _audit(tx, "a")
        _audit(tx, "b")
        cursor = tx.execute("UPDATE audit_log SET target = ? WHERE action LIKE ?", ("x", "%"))
        rows = tx.execute("SELECT action FROM audit_log WHERE target = 'x' ORDER BY id").fetchall()
        return dialect(tx), [row["action"] for row in rows], cursor.rowcount

    name, actions, changed = await store.write(write)
    assert name == store.dialect
    assert actions == ["a", "b"] and changed == 2


async def test_a_failing_job_in_a_batch_fails_alone(store: Store) -> None:
    started, release = threading.Event(), threading.Event()
    holding = store.submit(_hold(started, release))
    await asyncio.to_thread(started.wait, 10)

    def bad(tx: Tx) -> None:
        _audit(tx, "bad")
        raise ValueError("this job is wrong")

    jobs: list[asyncio.Future[Any]] = [
        store.submit(lambda tx: _audit(tx, "first")),
        store.submit(bad),
        store.submit(lambda tx: _audit(tx, "last")),
    ]
    release.set()
    await holding
    outcomes = await asyncio.gather(*jobs, return_exceptions=True)
    assert isinstance(outcomes[1], ValueError)
    assert await _actions(store) == ["first", "last"]


async def test_a_failing_statement_fails_its_job_alone(store: Store) -> None:
    await store.write(lambda tx: tx.execute("INSERT INTO counters (name, value) VALUES ('n', 1)"))
    started, release = threading.Event(), threading.Event()
    holding = store.submit(_hold(started, release))
    await asyncio.to_thread(started.wait, 10)
    duplicate = store.submit(lambda tx: tx.execute("INSERT INTO counters (name, value) VALUES ('n', 2)"))
    fine = store.submit(lambda tx: _audit(tx, "fine"))
    release.set()
    await holding
    with pytest.raises(Exception, match=r"(?i)unique"):
        await duplicate
    await fine
    assert await _actions(store) == ["fine"]
    assert await store.fetchval("SELECT value FROM counters WHERE name = 'n'") == 1


async def test_a_check_left_for_later_sees_results_and_fails_its_job_alone(store: Store) -> None:
    """A write's check (read after the batch's statements, before its commit on PostgreSQL) sees what
    its statements returned; one that raises undoes its own write and no other."""
    started, release = threading.Event(), threading.Event()
    holding = store.submit(_hold(started, release))
    await asyncio.to_thread(started.wait, 10)
    seen: list[int] = []

    def checked(action: str, fail: bool) -> Any:
        def write(tx: Tx) -> None:
            cursor = tx.execute(
                "INSERT INTO audit_log (at, actor, action) VALUES ('2026-11-20T02:00', 'test', ?) "
                "RETURNING id",
                (action,),
            )

            def check() -> None:
                seen.append(int(cursor.fetchone()[0]))
                if fail:
                    raise LookupError(action)

            check_later(tx, check)
            _audit(tx, f"{action} after")

        return write

    jobs = [
        store.submit(checked("first", False)),
        store.submit(checked("bad", True)),
        store.submit(checked("last", False)),
    ]
    release.set()
    await holding
    outcomes = await asyncio.gather(*jobs, return_exceptions=True)
    assert outcomes[0] is None and outcomes[2] is None
    assert isinstance(outcomes[1], LookupError)
    assert await _actions(store) == ["first", "first after", "last", "last after"]
    assert all(isinstance(value, int) and value > 0 for value in seen)


async def test_urgent_jobs_go_before_queued_ones(store: Store) -> None:
    started, release = threading.Event(), threading.Event()
    holding = store.submit(_hold(started, release))
    await asyncio.to_thread(started.wait, 10)
    queued = store.submit(lambda tx: _audit(tx, "queued"))
    urgent = store.submit(lambda tx: _audit(tx, "urgent"), urgent=True)
    release.set()
    await asyncio.gather(holding, queued, urgent)
    assert await _actions(store) == ["urgent", "queued"]


async def test_reads_do_not_wait_for_a_write_in_progress(store: Store) -> None:
    await store.write(lambda tx: _audit(tx, "before"))
    started, release = threading.Event(), threading.Event()

    def slow(tx: Tx) -> None:
        _audit(tx, "uncommitted")
        started.set()
        release.wait(10)

    writing = store.submit(slow)
    await asyncio.to_thread(started.wait, 10)
    try:
        assert await asyncio.wait_for(_actions(store), 5) == ["before"]  # and nothing uncommitted
    finally:
        release.set()
        await writing
    assert await _actions(store) == ["before", "uncommitted"]


async def test_every_migration_is_recorded(store: Store) -> None:
    names = [row["name"] for row in await store.fetchall("SELECT name FROM migrations ORDER BY name")]
    assert names == sorted(name for name, _ in MIGRATIONS)


async def test_json_text_reads_inside_a_json_column(store: Store) -> None:
    payload = '{"text": "Halo", "kk": {"h": "abc"}}'
    await store.write(
        lambda tx: tx.execute("INSERT INTO channel_state (name, value) VALUES (?, ?)", ("j", payload))
    )
    text, sealed, absent = (
        json_text(store.dialect, "value", *path) for path in (["text"], ["kk", "h"], ["none"])
    )
    found = await store.fetchone(
        f"SELECT {text} AS text, {sealed} AS h, {absent} AS none FROM channel_state WHERE name = 'j'"
    )
    assert found is not None and dict(found) == {"text": "Halo", "h": "abc", "none": None}
    with pytest.raises(ValueError, match="not a plain JSON key"):
        json_text(store.dialect, "value", "a'b")
