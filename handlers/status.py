"""Cek status: every case of every person the contact acts for, in plain words, pending questions first.

A field worker may have dozens of cases, so the list comes in pages that fit one chat message (WhatsApp
and Telegram both cut text at 4096 characters) with a "next page" choice.
"""

from datetime import datetime

from handlers import menu
from handlers.choices import STALE, Option, pick, render
from handlers.turn import Turn
from storage import repo
from storage.records import CaseRecord, CaseStatus

FLOW = "status"
PAGE_CASES = 8
PAGE_CHARS = 3000  # with the header and the menu prompt, a page stays well under 4096
NOTE_CHARS = 1000  # a longer staff note is shortened here (the citizen received it whole)

OPTIONS = (
    Option("next", "status.next", ("lanjut", "berikutnya", "selanjutnya", "next", "more", "lagi")),
    Option("menu", "status.menu", ("menu", "selesai", "cukup", "done")),
)


def _date(turn: Turn, value: datetime) -> str:
    return value.astimezone(turn.services.timezone).strftime("%d-%m-%Y")


def _entry(turn: Turn, case: CaseRecord) -> str:
    params = {
        "kind": turn.t(f"kind.{case.kind}"),
        "reference": case.reference,
        "date": _date(turn, case.created_at),
        "status": turn.t(f"status.{case.status}"),
    }
    name = case.subject_name.strip()
    line = turn.t("status.line_named", name=name, **params) if name else turn.t("status.line", **params)
    if case.status == CaseStatus.PERLU_INFO and case.info_question:
        line += "\n" + turn.t("status.question", question=_short(case.info_question))
    elif case.citizen_note:
        line += "\n" + turn.t("status.note", note=_short(case.citizen_note))
    return line


def _short(note: str) -> str:
    return note if len(note) <= NOTE_CHARS else note[: NOTE_CHARS - 1].rstrip() + "…"


def pages(entries: list[str]) -> list[list[str]]:
    """Entries grouped into pages of at most PAGE_CASES entries and about PAGE_CHARS characters."""
    grouped: list[list[str]] = [[]]
    size = 0
    for entry in entries:
        page = grouped[-1]
        if page and (len(page) >= PAGE_CASES or size + len(entry) > PAGE_CHARS):
            grouped.append([])
            size = 0
        grouped[-1].append(entry)
        size += len(entry) + 2
    return grouped


async def start(turn: Turn) -> None:
    """Show the first page."""
    await _show(turn, 0)


# The forms whose unfinished answers are kept (drafts), by flow, with the words that name them.
DRAFT_TITLES = {"registration": "reg.title", "lost_ktp": "ktp.title", "aid": "aid.title"}


def _unsent(turn: Turn) -> str:
    """A line naming the forms started and not sent yet (a person who forgot may look for them here)."""
    titles = [turn.t(key) for flow, key in DRAFT_TITLES.items() if flow in turn.drafts]
    return turn.t("status.drafts", titles=", ".join(titles)) if titles else ""


async def _show(turn: Turn, number: int) -> None:
    cases = await repo.cases_for_contact(turn.db, turn.contact.id)
    unsent = _unsent(turn)
    if not cases:
        menu.show(turn, intro=unsent or turn.t("status.none"))
        return
    grouped = pages([_entry(turn, case) for case in cases])
    number = min(number, len(grouped) - 1)
    page = grouped[number]
    if len(grouped) == 1:
        header = turn.t("status.header")
    else:
        first = sum(len(p) for p in grouped[:number]) + 1
        header = turn.t("status.header_page", first=first, last=first + len(page) - 1, total=len(cases))
    text = header + "\n\n" + "\n\n".join(page)
    if unsent and number == 0:
        text = unsent + "\n\n" + text
    if number == len(grouped) - 1:
        menu.show(turn, intro=text)
        return
    turn.goto(FLOW, "page", {"page": number})
    turn.say(text + "\n\n" + turn.t("status.more"), render(turn, FLOW, OPTIONS))


async def resume(turn: Turn) -> None:
    """Show the current page again."""
    await _show(turn, int(turn.data.get("page", 0)))


async def handle(turn: Turn) -> None:
    """Next page or the menu; anything else is read at the menu."""
    chosen = pick(turn, FLOW, OPTIONS)
    if chosen is STALE:
        turn.say(turn.t("err.old_button"))
        await resume(turn)
    elif chosen is None:
        from handlers import router  # the router dispatches to this module

        menu.show_quietly(turn)
        await router.step(turn)
    elif chosen.key == "next":
        await _show(turn, int(turn.data.get("page", 0)) + 1)
    else:
        menu.show(turn)
