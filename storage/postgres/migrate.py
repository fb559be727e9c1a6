"""Bringing a PostgreSQL store's schema up to date from the one migration list (`storage.migrations`)."""

from datetime import UTC, datetime
from typing import Any

import psycopg

from storage.migrations import MIGRATIONS, POSTGRESQL_BASELINE, postgresql_sql
from storage.pg_baseline import BASELINE

# Held while migrating, so service processes starting together on one database migrate one at a time.
_LOCK_KEY = 0x44494E534F53  # "DINSOS"


_TABLE = "CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
_RECORD = "INSERT INTO migrations (name, applied_at) VALUES (%s, %s)"


def _now() -> str:
    return datetime.now(UTC).isoformat()


def pending_problem() -> str | None:
    """Why the list cannot be applied on PostgreSQL (an entry after the baseline without PostgreSQL SQL)."""
    names = [name for name, _ in MIGRATIONS]
    if POSTGRESQL_BASELINE not in names:
        return f"the PostgreSQL baseline {POSTGRESQL_BASELINE!r} is not in the migration list"
    for entry in MIGRATIONS[names.index(POSTGRESQL_BASELINE) + 1 :]:
        if postgresql_sql(entry) is None:
            return f"migration {entry[0]!r} has no PostgreSQL SQL (each one after the baseline needs both)"
    return None


def apply_postgres_migrations(conn: "psycopg.Connection[Any]") -> list[str]:
    """Apply every migration not yet recorded, in order, one transaction each; return the names applied.

    `conn` is an autocommit connection (or inside a transaction: then each migration is a savepoint of
    it). An empty store gets the baseline (recorded as every entry up to `POSTGRESQL_BASELINE`), then each
    later entry's PostgreSQL SQL."""
    problem = pending_problem()
    if problem is not None:
        raise RuntimeError(problem)
    applied: list[str] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        conn.execute(_TABLE)
        done = {str(row[0]) for row in conn.execute("SELECT name FROM migrations")}
        names = [name for name, _ in MIGRATIONS]
        upto = names.index(POSTGRESQL_BASELINE) + 1
        if POSTGRESQL_BASELINE not in done:
            if done:
                raise RuntimeError("this PostgreSQL store has migrations recorded but not the baseline")
            conn.execute(BASELINE)
            at = _now()
            with conn.cursor() as cursor:
                cursor.executemany(_RECORD, [(n, at) for n in names[:upto]])
            applied.extend(names[:upto])
    for entry in MIGRATIONS[upto:]:
        if entry[0] in done:
            continue
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            if conn.execute("SELECT 1 FROM migrations WHERE name = %s", (entry[0],)).fetchone():
                continue  # another process applied it meanwhile
            conn.execute(postgresql_sql(entry) or "")
            conn.execute(_RECORD, (entry[0], _now()))
        applied.append(entry[0])
    return applied


def migrate_database(url: str) -> list[str]:
    """Connect to a PostgreSQL database and bring its schema up to date; return the names applied."""
    with psycopg.connect(url, autocommit=True) as conn:
        return apply_postgres_migrations(conn)
