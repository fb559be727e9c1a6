"""Cek status: the contact's cases in plain words, with the last note staff meant for them."""

from datetime import datetime

from handlers import menu
from handlers.turn import Turn
from storage import repo


def _date(turn: Turn, value: datetime) -> str:
    return value.astimezone(turn.services.timezone).strftime("%d-%m-%Y")


async def start(turn: Turn) -> None:
    """Show the newest cases and return to the menu."""
    cases = await repo.cases_of_contact(turn.db, turn.contact.id, limit=5)
    if not cases:
        menu.show(turn, intro=turn.t("status.none"))
        return
    lines = []
    for case in cases:
        line = turn.t(
            "status.line",
            kind=turn.t(f"kind.{case.kind}"),
            reference=case.reference,
            date=_date(turn, case.created_at),
            status=turn.t(f"status.{case.status}"),
        )
        if case.status == "perlu_info" and case.info_question:
            line += "\n" + turn.t("status.question", question=case.info_question)
        elif case.citizen_note:
            line += "\n" + turn.t("status.note", note=case.citizen_note)
        lines.append(line)
    menu.show(turn, intro=turn.t("status.header") + "\n\n" + "\n\n".join(lines))


async def resume(turn: Turn) -> None:
    """Status holds no state: show it again."""
    await start(turn)


async def handle(turn: Turn) -> None:
    """Status holds no state: show it again."""
    await start(turn)
