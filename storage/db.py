"""The SQLite database: one writer thread with group commit, aiosqlite connections for reads.

A conversation step's own small reads (one row by key) run right on the event loop's thread
(`fetchone_now`): in WAL mode a reader never waits for the writer, and such a read costs far less than
handing it to a reader thread and back. Anything that may scan stays on the reader threads.

Every write is a plain function of a `sqlite3.Connection`, run on the single writer thread. The writer
takes all jobs waiting in its queue, runs them in one `BEGIN IMMEDIATE` transaction and commits once,
so many conversations share one fsync while each job is still atomic: if a job raises, the batch is
rolled back and its jobs are re-run one transaction each, so a bad job fails alone. Urgent jobs
(`submit(..., urgent=True)`: a webhook body stored before its acknowledgement) do not wait behind the
queue: the batch being gathered is committed and the urgent ones go next, in a batch of their own.
"""

import asyncio
import itertools
import logging
import os
import queue
import sqlite3
import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from storage.contract import Dialect, Params
from storage.migrations import apply_migrations

log = logging.getLogger(__name__)

T = TypeVar("T")
# A write function: of a `storage.contract.Tx` (a `sqlite3.Connection` here). Typed loosely so functions
# still written against `sqlite3.Connection` and those written against `Tx` are both accepted.
WriteFn = Callable[[Any], T]

MAX_BATCH = 256


@dataclass(slots=True)
class _Job:
    fn: WriteFn[Any]
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop


def _configure(conn: sqlite3.Connection, synchronous: str) -> None:
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=10000")


Outcome = tuple[_Job, bool, Any]


def _settle(outcomes: list[Outcome]) -> None:
    """On the loop: hand each job its result (or exception)."""
    for job, ok, value in outcomes:
        if job.future.done():
            continue
        if ok:
            job.future.set_result(value)
        else:
            job.future.set_exception(value)


def _resolve_all(outcomes: list[Outcome]) -> None:
    """Hand a batch's results back with one wake-up of each loop (not one per job)."""
    by_loop: dict[asyncio.AbstractEventLoop, list[Outcome]] = {}
    for outcome in outcomes:
        by_loop.setdefault(outcome[0].loop, []).append(outcome)
    for loop, items in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle, items)
        except RuntimeError:  # that loop is closed: nobody waits for these results any more
            log.debug("results for a closed event loop dropped")


class Database:
    """One SQLite file: serialised group-committed writes, concurrent reads."""

    def __init__(self, path: Path, *, synchronous: str = "FULL", readers: int = 2) -> None:
        self.path = path
        self._synchronous = synchronous
        self._reader_count = readers
        self._readers: list[aiosqlite.Connection] = []
        self._next_reader = itertools.cycle(range(readers))
        self._queue: queue.SimpleQueue[_Job | bool | None] = queue.SimpleQueue()  # True: wake up
        self._urgent: deque[_Job] = deque()
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
        running = True
        while running:
            if self._urgent:
                urgent: list[_Job] = []
                while self._urgent and len(urgent) < MAX_BATCH:
                    urgent.append(self._urgent.popleft())
                self._run_batch(conn, urgent)
                continue
            first = self._queue.get()
            if first is None:
                break
            batch = [first] if isinstance(first, _Job) else []
            while len(batch) < MAX_BATCH and not self._urgent:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    running = False
                    break
                if isinstance(job, _Job):
                    batch.append(job)
            if batch:
                self._run_batch(conn, batch)
        while self._urgent:  # closing: what was queued still commits
            self._run_batch(conn, [self._urgent.popleft()])

    def _run_batch(self, conn: sqlite3.Connection, batch: list[_Job]) -> None:
        results: list[Outcome] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for job in batch:
                results.append((job, True, job.fn(conn)))
            conn.execute("COMMIT")
        except Exception:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            _resolve_all([self._run_alone(conn, job) for job in batch])
            return
        _resolve_all(results)

    @staticmethod
    def _run_alone(conn: sqlite3.Connection, job: _Job) -> Outcome:
        try:
            conn.execute("BEGIN IMMEDIATE")
            value = job.fn(conn)
            conn.execute("COMMIT")
        except Exception as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            return (job, False, exc)
        return (job, True, value)

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
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        if urgent:
            self._urgent.append(_Job(fn, future, loop))
            self._queue.put(True)  # wakes the writer if it waits
        else:
            self._queue.put(_Job(fn, future, loop))
        return future

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
            self._queue.put(None)
            await asyncio.to_thread(self._thread.join)
            self._thread = None


def executemany(conn: sqlite3.Connection, sql: str, rows: Iterable[Sequence[Any]]) -> None:
    """`conn.executemany` with a name that reads well inside write functions."""
    conn.executemany(sql, rows)
