"""The store contract: what flows, staff services, channels and the dashboard rely on, whichever database
holds the data (one SQLite file, or PostgreSQL shared by several service processes).

- **Reads** are coroutines on the store (`fetchall`, `fetchone`, `fetchval`; `fetchone_now` for a small
  read by key). They never queue behind writes.
- **Writes** are plain functions of a `Tx`, run inside one write transaction (`Store.write`, or
  `Store.submit` to queue without waiting). Several write functions composed in one function commit
  together: answers + conversation + outbox rows are one atomic step on either backend.

SQL is written once, in `storage/`, in the portable subset both backends accept:
- `?` placeholders (the PostgreSQL backend turns them into its own);
- `INSERT ... ON CONFLICT (...) DO NOTHING` / `DO UPDATE SET` (never `INSERT OR IGNORE/REPLACE`);
- `RETURNING id` for a new row's id (a `Tx` cursor has no `lastrowid`);
- timestamps stored as UTC ISO text (`storage.repo.iso`), compared as text; bounds computed in Python,
  not with SQLite's date functions;
- flags stored as integers 0/1.
Where the backends truly differ (full-text search, JSON functions), a repository asks `dialect(tx)` or
`store.dialect` and keeps both spellings side by side.
"""

import asyncio
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal, Protocol, TypeVar

T = TypeVar("T")

Dialect = Literal["sqlite", "postgresql"]
Params = Sequence[Any] | Mapping[str, Any]
# A result row: read by column name (`row["status"]`) or position (`row[0]`), and `dict(row)` gives its
# columns (sqlite3.Row on SQLite; the PostgreSQL backend's row factory gives the same).
Row = Any


class Cursor(Protocol):
    """What a write function may do with the result of `Tx.execute` (`fetchone` gives None when no row)."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Row: ...

    def fetchall(self) -> list[Row]: ...

    def __iter__(self) -> Iterator[Row]: ...


class Tx(Protocol):
    """One write transaction, as seen by a write function (a `sqlite3.Connection` on SQLite)."""

    def execute(self, sql: str, parameters: Params = ..., /) -> Cursor: ...

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Cursor: ...


WriteFn = Callable[[Tx], T]


class Store(Protocol):
    """A store: async reads, and write functions run in one transaction each (see the module's text)."""

    @property
    def dialect(self) -> Dialect: ...

    async def write(self, fn: Callable[[Tx], T]) -> T: ...

    def submit(self, fn: Callable[[Tx], T], *, urgent: bool = False) -> "asyncio.Future[T]": ...

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]: ...

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None: ...

    async def fetchone_now(self, sql: str, params: Params = ()) -> Row | None: ...

    async def fetchval(self, sql: str, params: Params = ()) -> Any: ...

    async def close(self) -> None: ...


def dialect(tx: Tx) -> Dialect:
    """Which backend runs this write transaction."""
    if isinstance(tx, sqlite3.Connection):
        return "sqlite"
    found: Dialect = getattr(tx, "dialect", "postgresql")
    return found


def json_text(dialect: Dialect, column: str, *path: str) -> str:
    """SQL reading one value inside a JSON text column as text (None when absent), in the dialect's
    spelling: `json_text(db.dialect, "answers", "kk", "h")` gives `json_extract(answers, '$.kk.h')` on
    SQLite and `(answers::jsonb #>> '{kk,h}')` on PostgreSQL. `path` holds plain keys (no quotes)."""
    for key in path:
        if not key or not all(ch.isalnum() or ch == "_" for ch in key):
            raise ValueError(f"not a plain JSON key: {key!r}")
    if dialect == "sqlite":
        return f"json_extract({column}, '$.{'.'.join(path)}')"
    return f"({column}::jsonb #>> '{{{','.join(path)}}}')"


def insert_id(tx: Tx, sql: str, parameters: Params = ()) -> int:
    """Run an INSERT ending in `RETURNING id` and return the new row's id."""
    row = tx.execute(sql, parameters).fetchone()
    if row is None:
        raise LookupError("the insert returned no id")
    return int(row[0])


def check_later(tx: Tx, check: Callable[[], None]) -> None:
    """Run `check` once the statements sent so far have their results, before the transaction commits:
    at once on SQLite; on PostgreSQL at the end of the writer's batch, so the writer does not wait a
    round trip for it mid-batch. `check` reads results (a cursor's `rowcount`, `fetchone`) and raises to
    abort: the write then fails with that error, and nothing of it is kept. Writes after it in the same
    function must not depend on its outcome other than through the abort."""
    later = getattr(tx, "later", None)
    if later is None:
        check()
    else:
        later(check)


def run_all(writes: Iterable[Callable[[Tx], Any]]) -> Callable[[Tx], None]:
    """One write function running several in order (they commit together)."""
    steps = list(writes)

    def apply(tx: Tx) -> None:
        for step in steps:
            step(tx)

    return apply
