"""The PostgreSQL backend (psycopg 3): the same store contract as SQLite's `storage.db.Database`."""

from storage.postgres.migrate import apply_postgres_migrations, migrate_database
from storage.postgres.store import PostgresStore
from storage.postgres.tx import PgTx

__all__ = ["PgTx", "PostgresStore", "apply_postgres_migrations", "migrate_database"]
