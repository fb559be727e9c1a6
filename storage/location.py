"""Where the store is: the SQLite file in the data directory, or a PostgreSQL database by URL; and
opening it behind the store contract."""

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from storage.backup import DB_FILE_NAME
from storage.contract import Store


def is_postgresql_url(url: str) -> bool:
    """Whether `url` names a PostgreSQL database."""
    return url.startswith(("postgresql://", "postgres://"))


def redacted(url: str) -> str:
    """A PostgreSQL URL fit for messages and logs: the password left out."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" if parts.username else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


async def open_store(
    database_url: str | None,
    data_dir: Path,
    *,
    synchronous: str = "FULL",
    readers: int = 2,
    pool_size: int = 8,
    writers: int = 1,
) -> Store:
    """Open the store the settings name (creating its schema if needed): PostgreSQL when a URL is given,
    else the SQLite file in `data_dir`."""
    if database_url is not None:
        from storage.postgres import PostgresStore

        return await PostgresStore.open(database_url, writers=writers, readers=pool_size)
    from storage.db import Database

    return await Database.open(data_dir / DB_FILE_NAME, synchronous=synchronous, readers=readers)
