"""The PostgreSQL store: async reads on a pool, write functions on writer threads with group commit.

Reads run on a `psycopg_pool.AsyncConnectionPool` of autocommit connections: they never queue behind
writes. Writes keep the SQLite backend's shape: a write is a plain function of a `Tx` (here a `PgTx`
over a synchronous psycopg connection), run on a writer thread. A writer takes all jobs waiting, runs
them in one transaction and commits once (many conversations share one commit while each job stays
atomic); if the batch fails it is rolled back and each job re-run in a transaction of its own, so a bad
job fails alone. A batch runs in psycopg's pipeline mode: statements go out without waiting for each
result (a result a job reads waits for what was sent before it), so a batch costs few round trips and
the writer thread gives the interpreter's lock back and forth less. `submit(..., urgent=True)` jobs go
before every job not yet begun. Results go back to each event loop with one wake-up per batch.

With one writer (the default) writes commit in the order they are queued, as on SQLite; more writers
commit batches side by side (order is then kept only within a batch).
"""

import asyncio
import logging
import queue
import threading
from collections import deque
from typing import Any, TypeVar

import psycopg
from psycopg_pool import AsyncConnectionPool

from storage.contract import Dialect, Params
from storage.db import MAX_BATCH, Outcome, WriteFn, _Job, _resolve_all
from storage.postgres.adapt import configure
from storage.postgres.migrate import migrate_database
from storage.postgres.rows import Row, has_rows, sqlite_rows
from storage.postgres.sql import to_psycopg
from storage.postgres.tx import PgTx, params_of

log = logging.getLogger(__name__)

T = TypeVar("T")


def _connect(url: str) -> "psycopg.Connection[Row]":
    conn = psycopg.connect(url, autocommit=True, row_factory=sqlite_rows)
    configure(conn)
    return conn


async def _configure_reader(conn: "psycopg.AsyncConnection[Any]") -> None:
    configure(conn)


class PostgresStore:
    """A PostgreSQL database behind the store contract (`storage.contract.Store`)."""

    def __init__(self, url: str, *, writers: int = 1, readers: int = 4) -> None:
        self.url = url
        self._writer_count = writers
        self._queue: queue.SimpleQueue[_Job | bool | None] = queue.SimpleQueue()  # True: wake up
        self._urgent: deque[_Job] = deque()
        self._urgent_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._open = False
        self._pool: AsyncConnectionPool[psycopg.AsyncConnection[Row]] = AsyncConnectionPool(
            url,
            min_size=readers,
            max_size=readers,
            kwargs={"autocommit": True, "row_factory": sqlite_rows},
            configure=_configure_reader,
            open=False,
            name="dinsos-readers",
        )

    @classmethod
    async def open(cls, url: str, *, writers: int = 1, readers: int = 4) -> "PostgresStore":
        """Connect, bring the schema up to date (migrations), start the writers and the read pool."""
        await asyncio.to_thread(migrate_database, url)
        store = cls(url, writers=writers, readers=readers)
        await store._start()
        return store

    async def _start(self) -> None:
        loop = asyncio.get_running_loop()
        for number in range(self._writer_count):
            ready: asyncio.Future[None] = loop.create_future()
            thread = threading.Thread(
                target=self._writer_main, args=(ready, loop), name=f"pg-writer-{number}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
            await ready
        self._open = True
        await self._pool.open(wait=True, timeout=30)

    def _writer_main(self, ready: asyncio.Future[None], loop: asyncio.AbstractEventLoop) -> None:
        try:
            conn = _connect(self.url)
        except BaseException as exc:  # report start-up failures to the opener
            loop.call_soon_threadsafe(ready.set_exception, exc)
            return
        loop.call_soon_threadsafe(ready.set_result, None)
        held = [conn]  # the connection in use (a lost one is replaced while serving)
        try:
            self._serve(held)
        finally:
            held[0].close()

    def _take_urgent(self) -> list[_Job]:
        with self._urgent_lock:
            taken: list[_Job] = []
            while self._urgent and len(taken) < MAX_BATCH:
                taken.append(self._urgent.popleft())
            return taken

    def _serve(self, held: list["psycopg.Connection[Row]"]) -> None:
        running = True
        while running:
            urgent = self._take_urgent()
            if urgent:
                held[0] = self._run_batch(held[0], urgent)
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
                held[0] = self._run_batch(held[0], batch)
        while urgent := self._take_urgent():  # closing: what was queued still commits
            held[0] = self._run_batch(held[0], urgent)

    def _healthy(self, conn: "psycopg.Connection[Row]") -> "psycopg.Connection[Row]":
        """The write connection, connected again if it was lost (raises while the server is away)."""
        if not conn.closed and not conn.broken:
            return conn
        log.warning("the PostgreSQL write connection was lost; connecting again")
        conn.close()
        return _connect(self.url)

    def _run_batch(self, conn: "psycopg.Connection[Row]", batch: list[_Job]) -> "psycopg.Connection[Row]":
        try:
            conn = self._healthy(conn)
        except psycopg.OperationalError as lost:  # the server is away: these jobs fail, the next retry
            _resolve_all([(job, False, lost) for job in batch])
            return conn
        results: list[Outcome] = []
        try:
            with conn.pipeline() as pipeline, conn.transaction():
                tx = PgTx(conn, pipeline)
                for job in batch:
                    results.append((job, True, job.fn(tx)))
        except Exception as exc:
            if len(batch) == 1:  # its error is the job's own
                _resolve_all([(batch[0], False, exc)])
                return conn
            outcomes = []
            for job in batch:
                try:
                    conn = self._healthy(conn)
                except psycopg.OperationalError as lost:
                    outcomes.append((job, False, lost))
                    continue
                outcomes.append(self._run_alone(conn, job))
            _resolve_all(outcomes)
            return conn
        _resolve_all(results)
        return conn

    @staticmethod
    def _run_alone(conn: "psycopg.Connection[Row]", job: _Job) -> Outcome:
        try:
            with conn.pipeline() as pipeline, conn.transaction():
                value = job.fn(PgTx(conn, pipeline))
        except Exception as exc:
            return (job, False, exc)
        return (job, True, value)

    @property
    def dialect(self) -> Dialect:
        """Which SQL this store speaks (see `storage.contract`)."""
        return "postgresql"

    async def write(self, fn: WriteFn[T]) -> T:
        """Run `fn` in a write transaction on a writer thread and return its result once committed."""
        return await self.submit(fn)

    def submit(self, fn: WriteFn[T], *, urgent: bool = False) -> "asyncio.Future[T]":
        """Queue `fn` now (an `urgent` one goes before every write not yet begun); the future resolves
        once committed."""
        if not self._open:
            raise RuntimeError("the database is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        if urgent:
            with self._urgent_lock:
                self._urgent.append(_Job(fn, future, loop))
            self._queue.put(True)  # wakes a writer if all wait
        else:
            self._queue.put(_Job(fn, future, loop))
        return future

    async def _read(self, sql: str, params: Params, limit: int | None) -> list[Row]:
        """Run a read on a pooled connection. A connection the server dropped while it sat in the pool
        (a restart, a failover) fails its first use: the read is tried again on another (the pool
        replaces the broken ones), at most once per pooled connection."""
        query, values = to_psycopg(sql), params_of(params)
        attempts = self._pool.max_size + 1
        for attempt in range(attempts):
            conn: psycopg.AsyncConnection[Row] | None = None
            try:
                async with self._pool.connection() as conn:
                    cursor = await conn.execute(query, values)
                    if not has_rows(cursor):
                        return []
                    if limit is None:
                        return await cursor.fetchall()
                    return await cursor.fetchmany(limit)
            except psycopg.OperationalError:
                if attempt == attempts - 1 or conn is None or not conn.broken:
                    raise
                log.warning("a PostgreSQL read connection was lost; reading again on another")
        raise AssertionError("unreachable")

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        """Run a read query and return all its rows."""
        return await self._read(sql, params, None)

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        """Run a read query and return its first row, if any."""
        rows = await self._read(sql, params, 1)
        return rows[0] if rows else None

    async def fetchone_now(self, sql: str, params: Params = ()) -> Row | None:
        """`fetchone` for a small read by key (the same pool: PostgreSQL has no in-process shortcut)."""
        return await self.fetchone(sql, params)

    async def fetchval(self, sql: str, params: Params = ()) -> Any:
        """Run a read query and return the first column of its first row (None when no row)."""
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]

    async def close(self) -> None:
        """Finish pending writes, then close every connection."""
        if self._threads:
            self._open = False
            for _ in self._threads:
                self._queue.put(None)
            for thread in self._threads:
                await asyncio.to_thread(thread.join)
            self._threads.clear()
        await self._pool.close()
