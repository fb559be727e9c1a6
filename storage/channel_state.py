"""Named values the channels keep between runs (`channel_state`): Telegram's long button ids, the staff
group's marks, cards and prompts, staff drafts. The one repository that reads and writes that table;
`storage.channels`, `storage.desk` and `storage.outreach` keep their names for it and call these.

Write functions take a `Tx`; reads are coroutines on the `Store` (a write function that must read a value
in its own transaction uses `kept`).
"""

from collections.abc import Mapping

from storage.contract import Store, Tx


def save(tx: Tx, values: Mapping[str, str]) -> None:
    """Keep named values (one row per name, replaced)."""
    tx.executemany(
        "INSERT INTO channel_state (name, value) VALUES (?, ?) "
        "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        list(values.items()),
    )


def drop(tx: Tx, name: str) -> None:
    """Forget a named value."""
    tx.execute("DELETE FROM channel_state WHERE name = ?", (name,))


def kept(tx: Tx, name: str) -> str | None:
    """A named value, read inside a write transaction (None when not kept)."""
    row = tx.execute("SELECT value FROM channel_state WHERE name = ?", (name,)).fetchone()
    return None if row is None else str(row[0])


async def value(db: Store, name: str) -> str | None:
    """A named value (None when not kept)."""
    found = await db.fetchval("SELECT value FROM channel_state WHERE name = ?", (name,))
    return None if found is None else str(found)


async def values_under(db: Store, prefix: str) -> list[str]:
    """The values of every name that starts with `prefix`, in the order of their names."""
    rows = await db.fetchall(
        "SELECT value FROM channel_state WHERE name LIKE ? ESCAPE '\\' ORDER BY name", (_like_prefix(prefix),)
    )
    return [str(row[0]) for row in rows]


def _like_prefix(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
