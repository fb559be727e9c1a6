"""What the staff group remembers between updates and restarts (in `channel_state`, through
`storage.desk`): which case each posted card or citizen's message is about (a reply to it goes to that
citizen), the notes it asked for (a rejection reason, a question) until they are answered, and how far
the poster got."""

import json
from dataclasses import dataclass
from datetime import datetime

from bot.channels.telegram.sender import dumps
from storage import channel_state, desk
from storage.contract import Store, Tx

CARD_STATE = "telegram.staff.card."  # + message id -> the case it is about (a reply goes to its citizen)
PROMPT_STATE = "telegram.staff.prompt."  # + message id -> the note it asks for


def remember_card(tx: Tx, *, message_id: int, case_id: int) -> None:
    """A card or citizen's message the bot posted is about this case (a write function)."""
    channel_state.save(tx, {f"{CARD_STATE}{message_id}": str(case_id)})


async def case_of_card(db: Store, message_id: int) -> int | None:
    """The case a posted card or citizen's message is about (None: the message is neither)."""
    raw = await channel_state.value(db, f"{CARD_STATE}{message_id}")
    return None if raw is None else int(raw)


@dataclass(frozen=True, slots=True)
class NotePrompt:
    """A question the bot asked a staff member: the note a move of a case needs."""

    case: int
    action: str
    user: int
    card: int | None
    at: datetime


def remember_prompt(tx: Tx, *, message_id: int, prompt: NotePrompt) -> None:
    """Keep the question asked in message `message_id` until it is answered (a write function)."""
    value = {
        "case": prompt.case,
        "action": prompt.action,
        "user": prompt.user,
        "card": prompt.card,
        "at": prompt.at.isoformat(),
    }
    channel_state.save(tx, {f"{PROMPT_STATE}{message_id}": dumps(value)})


async def recall_prompt(db: Store, message_id: int) -> NotePrompt | None:
    """The question asked in message `message_id` (None: that message asked none)."""
    raw = await channel_state.value(db, f"{PROMPT_STATE}{message_id}")
    if raw is None:
        return None
    state = json.loads(raw)
    return NotePrompt(
        case=int(state["case"]),
        action=state["action"],
        user=state["user"],
        card=state.get("card"),
        at=datetime.fromisoformat(state["at"]),
    )


def forget_prompt(tx: Tx, message_id: int) -> None:
    """The question was answered (a write function)."""
    channel_state.drop(tx, f"{PROMPT_STATE}{message_id}")


def posted_case(tx: Tx, case_id: int, message_id: int | None = None) -> None:
    """The poster showed the group every case up to this one, whose card is the group's message
    `message_id` (None: not known) (a write function). One write, so a card counted as posted is always
    one an officer's reply is read through, even if the process stops right after."""
    values = {desk.LAST_POSTED: str(case_id)}
    if message_id is not None:
        values[f"{CARD_STATE}{message_id}"] = str(case_id)
    channel_state.save(tx, values)


def posted_line(tx: Tx, line_id: int, message_id: int, case_id: int) -> None:
    """The poster showed the group every citizen's message up to this one, the last as the group's
    message `message_id` about case `case_id` (a write function; one write, as `posted_case`)."""
    channel_state.save(tx, {desk.LAST_LINE: str(line_id), f"{CARD_STATE}{message_id}": str(case_id)})
