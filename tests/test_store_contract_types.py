"""Both backends satisfy the store contract (checked by mypy through these assignments)."""

import sqlite3

from storage.contract import Store, Tx, dialect, insert_id
from storage.db import Database
from storage.postgres import PgTx, PostgresStore


def _typed(db: Database, conn: sqlite3.Connection) -> tuple[Store, Tx]:
    return db, conn


def _typed_postgresql(db: PostgresStore, tx: PgTx) -> tuple[Store, Tx]:
    return db, tx


def test_a_sqlite_connection_is_a_tx() -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)")
    assert dialect(conn) == "sqlite"
    assert insert_id(conn, "INSERT INTO t (name) VALUES (?) RETURNING id", ("a",)) == 1
    assert insert_id(conn, "INSERT INTO t (name) VALUES (?) RETURNING id", ("b",)) == 2
    conn.close()
