"""Moving an office's SQLite store into an empty PostgreSQL database (`python -m bot migrate-store`).

Every table's rows are copied as they are (sealed NIK/KK values too: the same key opens them), with
their ids; each identity sequence is moved past the highest id copied; and the row count of every table
is compared on both sides before the copy is called done. It all happens in one PostgreSQL transaction:
a copy that fails or does not match leaves the database as empty as it was found.

Generated columns (computed by PostgreSQL from the copied ones) and SQLite's own search tables (the FTS5
trigram tables; PostgreSQL searches with its trigram indexes) are not copied. The triggers keeping the
case counts and the case threads are off while loading (the counts and thread lines are copied).
"""

import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from storage.postgres.migrate import apply_postgres_migrations

BATCH = 5_000


class CopyRefused(Exception):
    """The copy was not made (the message says why); nothing was changed."""


def _sqlite_tables(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
    ).fetchall()
    virtual = {
        row[0]
        for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE 'CREATE VIRTUAL%'"
        )
    }
    shadows = {
        f"{name}_{part}" for name in virtual for part in ("data", "idx", "content", "docsize", "config")
    }
    return [row[0] for row in rows if row[0] not in virtual and row[0] not in shadows]


def _stored_columns(conn: sqlite3.Connection, table: str) -> list[str]:
    # table_xinfo's `hidden`: 0 a plain column, 2 and 3 generated ones (computed again on PostgreSQL).
    return [row[1] for row in conn.execute(f'PRAGMA table_xinfo("{table}")') if row[6] == 0]


def _postgres_tables(conn: "psycopg.Connection[Any]") -> list[str]:
    rows = conn.execute(
        "SELECT c.relname FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') ORDER BY c.oid"
    ).fetchall()
    return [str(row[0]) for row in rows]


def _postgres_columns(conn: "psycopg.Connection[Any]", table: str) -> dict[str, bool]:
    """A table's columns that take values (not generated), each with whether it is an identity column."""
    rows = conn.execute(
        "SELECT column_name, is_identity FROM information_schema.columns "
        "WHERE table_schema = current_schema() "
        "AND table_name = %s AND is_generated = 'NEVER' ORDER BY ordinal_position",
        (table,),
    ).fetchall()
    return {str(row[0]): row[1] == "YES" for row in rows}


def copy_sqlite_store(
    db_path: Path, url: str, *, progress: Callable[[str, int], None] | None = None
) -> dict[str, int]:
    """Copy the SQLite store at `db_path` into the empty PostgreSQL database at `url`; return the row
    count of each table copied (checked equal on both sides). Raises `CopyRefused` when the database
    is not empty or the counts differ (nothing is then left in it)."""
    source = sqlite3.connect(f"{db_path.as_uri()}?mode=ro", uri=True)
    with closing(source), psycopg.connect(url, autocommit=True) as target:
        if _postgres_tables(target):
            raise CopyRefused(
                "The PostgreSQL database is not empty: it already has tables. Nothing was copied. Give an "
                "empty database (CREATE DATABASE ...) so no data is mixed or overwritten."
            )
        source.execute("BEGIN")  # one read snapshot of the whole store
        try:
            with target.transaction():
                target.execute("SET CONSTRAINTS ALL DEFERRED")
                apply_postgres_migrations(target)
                return _copy_tables(source, target, progress)
        finally:
            source.execute("ROLLBACK")


def _copy_tables(
    source: sqlite3.Connection,
    target: "psycopg.Connection[Any]",
    progress: Callable[[str, int], None] | None,
) -> dict[str, int]:
    postgres_tables = _postgres_tables(target)
    sqlite_tables = set(_sqlite_tables(source))
    missing = sqlite_tables - set(postgres_tables) - {"migrations"}
    if missing:
        raise CopyRefused(f"PostgreSQL has no table for {', '.join(sorted(missing))}: nothing was copied.")
    tables = [table for table in postgres_tables if table != "migrations" and table in sqlite_tables]
    for table in tables:
        target.execute(sql.SQL("ALTER TABLE {} DISABLE TRIGGER USER").format(sql.Identifier(table)))
    copied = {table: _copy_table(source, target, table) for table in tables}
    target.execute("SET CONSTRAINTS ALL IMMEDIATE")  # every foreign key checked now, before the counts
    for table in tables:
        target.execute(sql.SQL("ALTER TABLE {} ENABLE TRIGGER USER").format(sql.Identifier(table)))
    counts: dict[str, int] = {}
    for table in tables:
        expected = int(source.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0])
        row = target.execute(sql.SQL("SELECT COUNT(*) FROM {}").format(sql.Identifier(table))).fetchone()
        found = int(row[0]) if row else 0
        if found != expected or copied[table] != expected:
            raise CopyRefused(
                f"Table {table}: {expected} rows in SQLite but {found} in PostgreSQL. Nothing was copied."
            )
        counts[table] = expected
        if progress is not None:
            progress(table, expected)
    return counts


def _copy_table(source: sqlite3.Connection, target: "psycopg.Connection[Any]", table: str) -> int:
    """Copy one table's rows (COPY, in batches) and move its identity sequence past them; how many."""
    columns = _postgres_columns(target, table)
    names = [name for name in _stored_columns(source, table) if name in columns]
    name = sql.Identifier(table)
    select = 'SELECT {} FROM "{}"'.format(", ".join(f'"{c}"' for c in names), table)
    copy = sql.SQL("COPY {} ({}) FROM STDIN").format(name, sql.SQL(", ").join(map(sql.Identifier, names)))
    copied = 0
    with target.cursor() as cursor, cursor.copy(copy) as stream:
        rows = source.execute(select)
        while batch := rows.fetchmany(BATCH):
            for row in batch:
                stream.write_row(row)
            copied += len(batch)
    for column, identity in columns.items():
        if identity:
            target.execute(
                sql.SQL(
                    "SELECT setval(pg_get_serial_sequence({table}, {column}), "
                    "COALESCE((SELECT MAX({ident}) FROM {name}), 0) + 1, false)"
                ).format(
                    table=sql.Literal(table),
                    column=sql.Literal(column),
                    ident=sql.Identifier(column),
                    name=name,
                )
            )
    return copied
