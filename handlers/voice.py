"""Voice mode: SUARA / VOICE (or the menu entry) switches voice notes on and off for a contact."""

import sqlite3
from functools import partial

from handlers.turn import Turn


def _store(conn: sqlite3.Connection, *, contact_id: str, on: bool) -> None:
    conn.execute("UPDATE contacts SET voice = ? WHERE id = ?", (int(on), contact_id))


def toggle(turn: Turn) -> None:
    """Switch voice mode and say so (the confirmation is itself spoken when it switches on)."""
    contact = turn.contact
    contact.voice = not contact.voice
    turn.write(partial(_store, contact_id=contact.id, on=contact.voice))
    turn.say(turn.t("voice.on" if contact.voice else "voice.off"))
