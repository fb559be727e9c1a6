"""The PostgreSQL store: async reads on a pool, write functions on writer threads with group commit.

Reads run on a `psycopg_pool.AsyncConnectionPool` of autocommit connections: they never queue behind
writes. Writes keep the SQLite backend's shape: a write is a plain function of a `Tx` (here a `PgTx`
over a synchronous psycopg connection), run on a writer thread with the same group commit
(`storage.group_commit`: the jobs waiting run in one transaction and commit once; a failing batch is run
again job by job, so a bad job fails alone; urgent jobs first). A batch runs in psycopg's pipeline mode:
statements go out without waiting for each result (a result a job reads waits for what was sent before
it), and checks a job leaves for later (`storage.contract.check_later`) are run after one round trip at
the end of the batch, before its commit, so a batch of conversation steps costs two round trips in all.

With one writer (the default) writes commit in the order they are queued, as on SQLite; more writers
commit batches side by side (order is then kept only within a batch).
"""

import asyncio
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import psycopg
from psycopg_pool import AsyncConnectionPool

from storage.contract import Dialect, Params
from storage.group_commit import WriteFn, WriteQueue
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
        self._writes = WriteQueue()
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
        held = [conn]  # the connection in use (a lost one is replaced before the next transaction)

        @contextmanager
        def transaction() -> Iterator[PgTx]:
            held[0] = self._healthy(held[0])
            with held[0].pipeline() as pipeline, held[0].transaction():
                tx = PgTx(held[0], pipeline)
                yield tx
                tx.settle()  # the checks left for later, before the commit

        def lost(error: BaseException) -> bool:  # the connection is gone and cannot be had again now
            try:
                held[0] = self._healthy(held[0])
            except psycopg.OperationalError:
                return True
            return False

        try:
            self._writes.serve(transaction, lost)
        finally:
            held[0].close()

    def _healthy(self, conn: "psycopg.Connection[Row]") -> "psycopg.Connection[Row]":
        """The write connection, connected again if it was lost (raises while the server is away)."""
        if not conn.closed and not conn.broken:
            return conn
        log.warning("the PostgreSQL write connection was lost; connecting again")
        conn.close()
        return _connect(self.url)

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
        return self._writes.submit(fn, urgent=urgent)

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
            self._writes.stop(len(self._threads))
            for thread in self._threads:
                await asyncio.to_thread(thread.join)
            self._threads.clear()
        await self._pool.close()
