"""Answers to training-programme invitations: Ya / Tidak by button, or typed at the menu."""

from handlers import menu
from handlers.choices import NO_WORDS, YES_WORDS
from handlers.outreach import RsvpOutcome, answer_rsvp, open_invitation
from handlers.turn import Turn
from handlers.types import Reply
from storage.contract import Tx

PREFIX = "rsvp:"


def _message(turn: Turn, outcome: RsvpOutcome) -> str:
    if outcome.status == "confirmed":
        return turn.t("programme.confirmed", name=outcome.programme)
    if outcome.status == "waiting":
        return turn.t("programme.waiting", name=outcome.programme, position=outcome.position)
    if outcome.status == "declined":
        return turn.t("programme.declined", name=outcome.programme)
    return turn.t("programme.closed")


def _record(turn: Turn, programme_id: int, attending: bool) -> None:
    services = turn.services

    def write(tx: Tx) -> None:
        outcome = answer_rsvp(
            tx,
            programme_id=programme_id,
            contact_id=turn.contact.id,
            attending=attending,
            at=turn.now,
            catalog=services.catalog,
            tz=services.timezone,
        )
        turn.late_replies.append(Reply(text=_message(turn, outcome)))

    turn.write(write)


def is_rsvp_choice(turn: Turn) -> bool:
    """Whether the event is a press of an invitation button."""
    return bool(turn.event.choice and turn.event.choice.startswith(PREFIX))


async def handle_choice(turn: Turn, *, resume: bool) -> None:
    """Record a button answer; the current question (if any) is asked again afterwards."""
    assert turn.event.choice is not None
    _, programme, answer = turn.event.choice.split(":", 2)
    if not programme.isdigit() or answer not in ("yes", "no"):
        turn.say(turn.t("err.old_button"))
        return
    _record(turn, int(programme), answer == "yes")
    if not resume:
        menu.show(turn)


async def typed_answer(turn: Turn) -> bool:
    """At the menu, "ya" / "tidak" answers the newest open invitation; False when there is none."""
    if turn.text in YES_WORDS:
        attending = True
    elif turn.text in NO_WORDS:
        attending = False
    else:
        return False
    programme_id = await open_invitation(turn.db, turn.contact.id)
    if programme_id is None:
        return False
    _record(turn, programme_id, attending)
    menu.show(turn)
    return True
