"""BERHENTI and MULAI: they are about information messages only, and never act by accident.

"berhenti" typed in the middle of a form most likely means "stop filling this in", and at the menu it may
mean "I am done for now". So the plain words ask which one is meant; BERHENTI INFO / MULAI INFO (and
"unsubscribe" / "subscribe") change the information messages at once. "mulai" at the menu simply starts.
"""

from typing import Any

from handlers import consent, menu
from handlers.choices import STALE, Option, pick, render
from handlers.turn import Turn

FLOW = "words"

CONTINUE = Option("continue", "words.continue", ("lanjut", "lanjutkan", "tidak", "continue", "no", "bukan"))
STOP_OPTIONS = (
    Option("info", "words.stop_info", ("info", "informasi", "pesan info", "ya", "yes", "stop info")),
    Option("bye", "words.bye", ("selesai", "sudah", "cukup", "bye", "done", "that s all")),
)
START_OPTIONS = (
    Option("info", "words.start_info", ("info", "informasi", "ya", "yes", "terima", "receive")),
    Option("menu", "words.open_menu", ("menu", "layanan", "mulai", "start", "daftar")),
)


def set_info(turn: Turn, receive: bool) -> None:
    """Start or stop information messages, and say so."""
    contact = turn.contact
    contact.opted_out = not receive
    if receive:
        contact.unreachable = False
    consent.record_info(turn, receive=receive)
    turn.say(turn.t("optout.undone" if receive else "optout.done"))


def _options(turn: Turn) -> tuple[Option, ...]:
    base = STOP_OPTIONS if turn.step == "stop" else START_OPTIONS
    return (*base, CONTINUE) if turn.data.get("back") else base


def _question(turn: Turn) -> str:
    back: dict[str, Any] | None = turn.data.get("back")
    title = turn.data.get("title")
    if turn.step == "stop":
        return turn.t("words.stop_in_form", title=title) if title else turn.t("words.stop_which")
    if back:
        return turn.t("words.start_in_form", title=title) if title else turn.t("words.start_in_flow")
    return turn.t("words.start_which")


async def ask(turn: Turn, action: str, *, title: str | None) -> None:
    """Ask which "berhenti" or "mulai" is meant; `title` names the open form, if any."""
    if turn.flow == FLOW:  # the word again while asked: keep what was open before
        back = turn.data.get("back")
        title = turn.data.get("title")
    elif turn.flow == menu.MENU_FLOW or not turn.flow:
        back = None
    else:
        back = {"flow": turn.flow, "step": turn.step, "data": turn.data}
    if action == "start" and back is None and not turn.contact.opted_out:
        menu.show(turn, intro=turn.t("words.start_menu"))
        return
    turn.goto(FLOW, action, {"back": back, "title": title})
    turn.say(_question(turn), render(turn, FLOW, _options(turn)))


async def resume(turn: Turn) -> None:
    """Ask again."""
    turn.say(_question(turn), render(turn, FLOW, _options(turn)))


async def start(turn: Turn) -> None:
    """Not started from the menu: show the menu."""
    menu.show(turn)


async def handle(turn: Turn) -> None:
    """Act on the answer; anything else goes back to what was open and is read there."""
    from handlers import router  # the router dispatches to this module

    chosen = pick(turn, FLOW, _options(turn))
    if chosen is STALE:
        turn.say(turn.t("err.old_button"))
        await resume(turn)
        return
    back: dict[str, Any] | None = turn.data.get("back")
    if chosen is None or chosen.key == "continue":
        _restore(turn, back)
        if chosen is None:
            await router.step(turn)
        else:
            await router.resume_current(turn)
        return
    if chosen.key == "info":
        set_info(turn, receive=turn.step == "start")
        _restore(turn, back)
        await router.resume_current(turn)
    elif chosen.key == "menu":
        _restore(turn, None)
        menu.show(turn, intro=turn.t("menu.welcome"))
    else:  # bye: end here quietly; an open form is kept to continue later
        kept = back is not None and router.keeps_draft(back["flow"], back["data"])
        if back is not None and kept:
            turn.drafts[back["flow"]] = router.draft_of(back["step"], back["data"])
        turn.goto(menu.MENU_FLOW, "main", {})
        turn.say(turn.t("words.bye_kept" if kept else "words.goodbye"))


def _restore(turn: Turn, back: dict[str, Any] | None) -> None:
    if back is None:
        turn.goto(menu.MENU_FLOW, "main", {})
    else:
        turn.drafts.pop(back["flow"], None)  # kept while asked; open again now
        turn.goto(back["flow"], back["step"], back["data"])
