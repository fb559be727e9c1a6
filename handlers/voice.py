"""Voice mode: SUARA / VOICE (or the menu entry) switches voice notes on and off for a contact."""

from functools import partial

from handlers.turn import Turn
from storage import contacts


def toggle(turn: Turn) -> None:
    """Switch voice mode and say so (the confirmation is itself spoken when it switches on)."""
    contact = turn.contact
    contact.voice = not contact.voice
    turn.write(partial(contacts.set_voice, contact_id=contact.id, on=contact.voice))
    turn.say(turn.t("voice.on" if contact.voice else "voice.off"))
