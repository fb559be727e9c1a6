"""Leave a message for Dinsos staff; it becomes a case they answer through the same chat."""

from functools import partial
from typing import Any

from handlers import menu, thread
from handlers.cases import self_person, submit_case
from handlers.fields import DescriptionField
from handlers.forms import Form
from handlers.turn import Turn
from storage.records import CaseKind

FLOW = "talk"


class TalkForm(Form):
    """One question, no summary: the message itself."""

    name = FLOW
    title_key = "talk.title"
    with_summary = False
    fields = (
        DescriptionField(
            "message",
            prompt_key="talk.q.message",
            label_key="talk.label.message",
            help_key="help.description",
        ),
    )

    async def submit(self, turn: Turn, answers: dict[str, Any]) -> None:
        me = await self_person(turn)
        name = me.full_name if me else (turn.contact.display_name or "")
        reference = await submit_case(
            turn,
            kind=CaseKind.MESSAGE,
            subject_name=name,
            answers=answers,
            person_id=me.id if me else None,
        )
        turn.write(
            partial(
                thread.first_line,
                reference=reference,
                contact_id=turn.contact.id,
                message=answers.get("message"),
                at=turn.now,
            )
        )
        turn.drafts.pop(FLOW, None)
        menu.show(turn, intro=turn.t("talk.done", reference=reference))
