"""Received files shared between the processes of one database (photos, voice notes, documents).

Each process keeps the files people send in its own data directory (`bot.media`). With several
processes on one PostgreSQL database, the process that received a file also keeps its bytes here, and the
others copy it into their own directory, so the dashboard and the staff group show it whichever process
serves them. A file that is deleted (erasure, retention) leaves a row without bytes: every process then
deletes its own copy. Rows are numbered in the order they change (`version`), so a process asks only for
what changed since it last looked.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from storage.contract import Store, Tx, dialect
from storage.repo import iso


@dataclass(frozen=True, slots=True)
class Change:
    """A file kept or deleted: `present` is False once it was deleted."""

    version: int
    ref: str
    present: bool


def _next_version(tx: Tx) -> str:
    # PostgreSQL: a sequence (writers in several processes). SQLite: one writer, so the largest plus one.
    if dialect(tx) == "postgresql":
        return "nextval('media_version')"
    return "(SELECT COALESCE(MAX(version), 0) + 1 FROM media_files)"


def keep(tx: Tx, ref: str, body: bytes, at: datetime) -> bool:
    """Keep a file's bytes (once: a file deleted meanwhile stays deleted); whether it was new."""
    row = tx.execute(
        f"INSERT INTO media_files (ref, body, version, updated_at) VALUES (?, ?, {_next_version(tx)}, ?) "
        "ON CONFLICT (ref) DO NOTHING RETURNING ref",
        (ref, body, iso(at)),
    ).fetchone()
    return row is not None


def forget(tx: Tx, refs: Sequence[str], at: datetime) -> None:
    """Delete files' bytes, leaving a mark so every process deletes its own copy."""
    version = _next_version(tx)
    for ref in refs:
        tx.execute(
            f"INSERT INTO media_files (ref, body, version, updated_at) VALUES (?, NULL, {version}, ?) "
            f"ON CONFLICT (ref) DO UPDATE SET body = NULL, version = {version}, "
            "updated_at = excluded.updated_at",
            (ref, iso(at)),
        )


async def changes(db: Store, since: int, limit: int) -> list[Change]:
    """Files kept or deleted after `since`, in the order they changed."""
    rows = await db.fetchall(
        "SELECT version, ref, body IS NOT NULL AS present FROM media_files WHERE version > ? "
        "ORDER BY version LIMIT ?",
        (since, limit),
    )
    return [Change(int(row[0]), str(row[1]), bool(row[2])) for row in rows]


async def body(db: Store, ref: str) -> bytes | None:
    """A kept file's bytes (None when unknown or deleted)."""
    row = await db.fetchone("SELECT body FROM media_files WHERE ref = ?", (ref,))
    return None if row is None or row[0] is None else bytes(row[0])


async def known(db: Store, refs: Sequence[str]) -> set[str]:
    """Which of `refs` are kept or were deleted (the others are only on the disk they were saved to)."""
    if not refs:
        return set()
    marks = ", ".join("?" for _ in refs)
    rows = await db.fetchall(f"SELECT ref FROM media_files WHERE ref IN ({marks})", tuple(refs))
    return {str(row[0]) for row in rows}
