"""The Telegram staff group's memory and officers' Telegram links.

The group remembers, by name in `channel_state` (the repository `storage.channel_state`), the last case
and citizen message it posted, which case each posted card or message is about, and the prompts it asked
(a rejection reason, a question) until they are answered. An officer's account may be linked to their
Telegram user, so that they are told directly of replies on their cases.
"""

from storage import channel_state
from storage.contract import Tx

LAST_POSTED = "telegram.staff.last_case_id"
LAST_LINE = "telegram.staff.last_line_id"


def _start_mark(tx: Tx, name: str, newest_sql: str) -> int:
    """The id kept under `name`; on the first start, the newest id now (the backlog is not posted)."""
    kept = channel_state.kept(tx, name)
    if kept is not None:
        return int(kept)
    newest = int(tx.execute(newest_sql).fetchone()[0])
    channel_state.save(tx, {name: str(newest)})
    return newest


def last_posted_case(tx: Tx) -> int:
    """The last case the group was shown a card of; on the first start, the newest case (the backlog is
    for /antrian, not for a flood of cards: groups take 20 messages a minute)."""
    return _start_mark(tx, LAST_POSTED, "SELECT COALESCE(MAX(id), 0) FROM cases")


def last_posted_line(tx: Tx) -> int:
    """The last citizen message the group was shown; on the first start, the newest thread line."""
    return _start_mark(tx, LAST_LINE, "SELECT COALESCE(MAX(id), 0) FROM case_messages")


def link_telegram(tx: Tx, *, username: str, telegram_user_id: int | None) -> bool:
    """Link an account to a Telegram user (unlinking whoever had it), or unlink it with None. False when
    there is no such account (and then nobody's link changes)."""
    if tx.execute("SELECT 1 FROM staff_users WHERE username = ?", (username,)).fetchone() is None:
        return False
    if telegram_user_id is not None:
        tx.execute(
            "UPDATE staff_users SET telegram_user_id = NULL WHERE telegram_user_id = ?", (telegram_user_id,)
        )
    changed = tx.execute(
        "UPDATE staff_users SET telegram_user_id = ? WHERE username = ?", (telegram_user_id, username)
    ).rowcount
    return bool(changed)
