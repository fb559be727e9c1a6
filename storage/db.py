"""The SQLite database: one writer thread with group commit, aiosqlite connections for reads.

A conversation step's own small reads (one row by key) run right on the event loop's thread
(`fetchone_now`): in WAL mode a reader never waits for the writer, and such a read costs far less than
handing it to a reader thread and back. Anything that may scan stays on the reader threads.

Every write is a plain function of a `sqlite3.Connection`, run on the single writer thread with group
commit (`storage.group_commit`): the jobs waiting run in one `BEGIN IMMEDIATE` transaction and commit
once, so many conversations share one fsync while each job is still atomic.
"""

import asyncio
import itertools
import logging
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from storage.contract import Dialect, Params
from storage.group_commit import WriteFn, WriteQueue
from storage.migrations import apply_migrations

log = logging.getLogger(__name__)

T = TypeVar("T")


def _configure(conn: sqlite3.Connection, synchronous: str) -> None:
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=10000")


class Database:
    """One SQLite file: serialised group-committed writes, concurrent reads."""

    def __init__(self, path: Path, *, synchronous: str = "FULL", readers: int = 2) -> None:
        self.path = path
        self._synchronous = synchronous
        self._reader_count = readers
        self._readers: list[aiosqlite.Connection] = []
        self._next_reader = itertools.cycle(range(readers))
        self._writes = WriteQueue()
        self._thread: threading.Thread | None = None
        self._writer: sqlite3.Connection | None = None
        self._inline: sqlite3.Connection | None = None  # reads on the loop's own thread
        self._inline_thread = 0
        self._open = False  # the writer thread runs and takes jobs

    @classmethod
    async def open(cls, path: Path, *, synchronous: str = "FULL", readers: int = 2) -> "Database":
        """Open (creating if needed) the database file and bring its schema up to date."""
        db = cls(path, synchronous=synchronous, readers=readers)
        await db._start()
        return db

    async def _start(self) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Names, addresses and phone numbers are stored in clear: the file is the owner's alone (SQLite
        # gives its -wal and -shm files the same mode).
        os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        loop = asyncio.get_running_loop()
        self._thread = threading.Thread(
            target=self._writer_main, args=(ready, loop), name="sqlite-writer", daemon=True
        )
        self._thread.start()
        await ready
        for _ in range(self._reader_count):
            reader = await aiosqlite.connect(self.path, isolation_level=None)
            reader.row_factory = sqlite3.Row
            await reader.execute("PRAGMA query_only=ON")
            await reader.execute("PRAGMA busy_timeout=10000")
            self._readers.append(reader)
        inline = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        inline.row_factory = sqlite3.Row
        inline.execute("PRAGMA query_only=ON")
        inline.execute("PRAGMA busy_timeout=0")  # never block the loop: busy means "use a reader thread"
        self._inline = inline
        self._inline_thread = threading.get_ident()

    def _writer_main(self, ready: asyncio.Future[None], loop: asyncio.AbstractEventLoop) -> None:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            _configure(conn, self._synchronous)
            apply_migrations(conn)
        except BaseException as exc:  # report start-up failures to the opener
            loop.call_soon_threadsafe(ready.set_exception, exc)
            return
        self._writer = conn
        self._open = True
        loop.call_soon_threadsafe(ready.set_result, None)
        try:
            self._serve(conn)
        finally:
            self._open = False
            conn.close()

    def _serve(self, conn: sqlite3.Connection) -> None:
        @contextmanager
        def transaction() -> Iterator[sqlite3.Connection]:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

        self._writes.serve(transaction)

    @property
    def dialect(self) -> Dialect:
        """Which SQL this store speaks (see `storage.contract`)."""
        return "sqlite"

    async def write(self, fn: WriteFn[T]) -> T:
        """Run `fn` in a write transaction on the writer thread and return its result once committed."""
        return await self.submit(fn)

    def submit(self, fn: WriteFn[T], *, urgent: bool = False) -> "asyncio.Future[T]":
        """Queue `fn` now (writes commit in the order they are queued; an `urgent` one goes before every
        write not yet begun); the future resolves once committed."""
        if not self._open:
            raise RuntimeError("the database is closed")
        return self._writes.submit(fn, urgent=urgent)

    def _reader(self) -> aiosqlite.Connection:
        return self._readers[next(self._next_reader)]

    async def fetchone(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        """Run a read query and return its first row, if any."""
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def fetchall(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        """Run a read query and return all its rows.

        Execute and fetch run as one call on the reader's thread, so the statement is finished before
        another coroutine uses the connection: an unfinished statement would hold the connection's read
        snapshot open, and later reads would miss newer commits.
        """
        return list(await self._reader().execute_fetchall(sql, params))

    async def fetchone_now(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        """`fetchone` for a small read by key, run on the loop's thread without a hop to a reader thread.

        Only for queries that read a few rows through an index. The statement is finished before this
        returns (no read snapshot is left open); if the file is busy (WAL recovery), a reader thread
        runs it instead.
        """
        inline = self._inline
        if inline is not None and threading.get_ident() == self._inline_thread:
            try:
                return inline.execute(sql, params).fetchone()  # type: ignore[no-any-return]
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) and "busy" not in str(error):
                    raise
        return await self.fetchone(sql, params)

    async def fetchval(self, sql: str, params: Params = ()) -> Any:
        """Run a read query and return the first column of its first row (None when no row)."""
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]

    async def close(self) -> None:
        """Finish pending writes, then close every connection."""
        for reader in self._readers:
            await reader.close()
        self._readers.clear()
        if self._inline is not None:
            self._inline.close()
            self._inline = None
        if self._thread is not None:
            self._open = False
            self._writes.stop()
            await asyncio.to_thread(self._thread.join)
            self._thread = None


def executemany(conn: sqlite3.Connection, sql: str, rows: Iterable[Sequence[Any]]) -> None:
    """`conn.executemany` with a name that reads well inside write functions."""
    conn.executemany(sql, rows)
