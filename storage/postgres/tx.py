"""A write transaction on PostgreSQL, as write functions see it (`storage.contract.Tx`)."""

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal

import psycopg

from storage.contract import Params
from storage.postgres.rows import Row, has_rows
from storage.postgres.sql import to_psycopg


class PgCursor:
    """The result of one statement: `rowcount`, `fetchone`, `fetchall` and iteration, like SQLite's.

    In pipeline mode statements are sent without waiting for their results; reading a result (a row, or
    the count of rows changed) waits for everything sent so far."""

    __slots__ = ("_cursor", "_pipeline")

    def __init__(self, cursor: "psycopg.Cursor[Row]", pipeline: "psycopg.Pipeline | None" = None) -> None:
        self._cursor = cursor
        self._pipeline = pipeline

    @property
    def rowcount(self) -> int:
        if self._cursor.rowcount < 0 and self._pipeline is not None:
            self._pipeline.sync()
        return self._cursor.rowcount

    def fetchone(self) -> Row | None:
        self._wait()
        if not has_rows(self._cursor):
            return None
        return self._cursor.fetchone()

    def fetchall(self) -> list[Row]:
        self._wait()
        if not has_rows(self._cursor):
            return []
        return self._cursor.fetchall()

    def __iter__(self) -> Iterator[Row]:
        return iter(self.fetchall())

    def _wait(self) -> None:
        if self._pipeline is not None and self._cursor.pgresult is None:
            self._pipeline.sync()


def params_of(parameters: Params) -> Sequence[Any] | Mapping[str, Any]:
    """Parameters as psycopg takes them (always given, so `%%` in the SQL is read as one `%`)."""
    if isinstance(parameters, Mapping):
        return parameters
    return tuple(parameters)


class PgTx:
    """One transaction on a psycopg connection; SQL in `storage/`'s spelling (`?`, `:name`). With a
    `pipeline` (the writer's batches), statements go out without a round trip each, and checks left for
    later (`later`) run once at the end (`settle`), after one round trip for all of them."""

    __slots__ = ("_checks", "conn", "pipeline")

    dialect: Literal["postgresql"] = "postgresql"

    def __init__(self, conn: "psycopg.Connection[Row]", pipeline: "psycopg.Pipeline | None" = None) -> None:
        self.conn = conn
        self.pipeline = pipeline
        self._checks: list[Callable[[], None]] = []

    def later(self, check: Callable[[], None]) -> None:
        """Run `check` at the end of the transaction, before its commit (at once without a pipeline)."""
        if self.pipeline is None:
            check()
        else:
            self._checks.append(check)

    def settle(self) -> None:
        """Wait for every statement sent, then run the checks left for later (one raising aborts the
        transaction)."""
        if not self._checks:
            return
        assert self.pipeline is not None
        self.pipeline.sync()
        checks, self._checks = self._checks, []
        for check in checks:
            check()

    def execute(self, sql: str, parameters: Params = (), /) -> PgCursor:
        cursor = self.conn.cursor()
        cursor.execute(to_psycopg(sql), params_of(parameters))
        return PgCursor(cursor, self.pipeline)

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> PgCursor:
        cursor = self.conn.cursor()
        cursor.executemany(to_psycopg(sql), [params_of(row) for row in parameters])
        return PgCursor(cursor, self.pipeline)
