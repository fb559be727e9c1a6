"""A location shared at the menu: the kelurahan it falls in, and what to do there, in one tap.

"📍 Jurangmangu Timur, Pondok Aren. Mau apa di sini?" with "Daftar di sini", "Lapor KTP di sini" and
"Minta bantuan di sini". The tap is the yes to the place and the start of the form: its kecamatan,
kelurahan and map location are answered, so the form never asks them. "Bukan di sini" keeps nothing.
"""

from datetime import timedelta
from typing import Any

from handlers import menu
from handlers.choices import Option, render
from handlers.fields import FROM_LOCATION, LOCATION, shared_location
from handlers.turn import Turn
from storage import threads

FLOW = "located"
ASK = "ask"

# The forms a place starts, by menu key; their place questions are named kecamatan and kelurahan.
FORMS = ("registration", "lost_ktp", "aid")
NOT_HERE = "not_here"

# A location sent this soon after the person's last message to staff is part of that conversation.
WRITING_WITH_STAFF = timedelta(minutes=30)

OPTIONS = (
    Option("registration", "located.registration", ("daftar", "register", "pendaftaran")),
    Option("lost_ktp", "located.lost_ktp", ("ktp", "ktp hilang", "lapor ktp")),
    Option("aid", "located.aid", ("bantuan", "minta bantuan", "aid")),
    Option(NOT_HERE, "located.not_here", ("bukan", "tidak", "salah", "no", "menu")),
)


async def propose(turn: Turn) -> bool:
    """Answer a location shared at the menu; False when the event is not a location, or when the
    person is writing with staff (their last message to a case is recent): then it goes to staff."""
    if turn.event.location is None:
        return False
    wrote = await threads.last_written(turn.db, turn.contact.id)
    if wrote is not None and turn.now - wrote < WRITING_WITH_STAFF:
        return False
    shared = shared_location(turn)
    found = turn.services.boundaries.locate(*turn.event.location) if shared is not None else None
    if shared is None or found is None:
        menu.show(turn, intro=turn.t("located.outside"))
        return True
    place = {"kecamatan": found.kecamatan.code, "kelurahan": found.code, LOCATION: shared}
    turn.goto(FLOW, ASK, {"place": place, "names": [found.name, found.kecamatan.name]})
    ask(turn)
    return True


def ask(turn: Turn) -> None:
    """The proposal: the place by name and what can be done there."""
    kelurahan, kecamatan = turn.data["names"]
    text = turn.t("located.ask", kelurahan=kelurahan, kecamatan=kecamatan)
    turn.say(text, render(turn, FLOW, OPTIONS))


def answers(turn: Turn) -> dict[str, Any]:
    """The answers a form started from the proposal begins with."""
    return {**turn.data["place"], FROM_LOCATION: True}
