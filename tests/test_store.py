"""The store's own guarantees: group-committed writes, results handed back per batch, reads on the loop."""

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from storage.db import Database


async def test_a_batch_of_writes_each_get_their_own_result_and_a_bad_one_fails_alone(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "store.db", synchronous="NORMAL")
    try:
        await db.write(lambda conn: conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)"))

        def add(text: str) -> Callable[[sqlite3.Connection], int]:
            def run(conn: sqlite3.Connection) -> int:
                if text == "bad":
                    raise ValueError("refused")
                row = conn.execute("INSERT INTO notes (text) VALUES (?) RETURNING id", (text,)).fetchone()
                return int(row[0])

            return run

        # Queued together, so mostly one batch: a bad job rolls the batch back and fails alone.
        futures: list[asyncio.Future[int]] = [db.submit(add(text)) for text in ("a", "b", "bad", "c")]
        results = await asyncio.gather(*futures, return_exceptions=True)
        assert isinstance(results[2], ValueError)
        assert [r for r in results if not isinstance(r, BaseException)] == [1, 2, 3]
        rows = await db.fetchall("SELECT text FROM notes ORDER BY id")
        assert [row[0] for row in rows] == ["a", "b", "c"]
    finally:
        await db.close()


async def test_a_read_on_the_loop_sees_every_write_committed_before_it(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "store.db", synchronous="NORMAL")
    try:
        await db.write(lambda conn: conn.execute("CREATE TABLE steps (id TEXT PRIMARY KEY, step INTEGER)"))
        for step in range(50):

            def save(conn: sqlite3.Connection, value: int = step) -> None:
                conn.execute("REPLACE INTO steps VALUES ('u1', ?)", (value,))

            await db.write(save)
            row = await db.fetchone_now("SELECT step FROM steps WHERE id = ?", ("u1",))
            assert row is not None and row["step"] == step
    finally:
        await db.close()
    with pytest.raises(RuntimeError):
        db.submit(lambda conn: None)  # closed: refused, not queued for nobody
