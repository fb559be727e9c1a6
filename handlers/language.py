"""Switch between Bahasa Indonesia and English, then carry on where the contact was."""

from typing import Any

from handlers.choices import STALE, Option, pick, render
from handlers.turn import Turn

FLOW = "language"

OPTIONS = (
    Option("id", "language.id", ("indonesia", "bahasa indonesia", "indo", "id")),
    Option("en", "language.en", ("english", "inggris", "en", "bahasa inggris")),
)


async def start(turn: Turn) -> None:
    """Ask which language, remembering where to return."""
    back: dict[str, Any] = {"flow": turn.flow, "step": turn.step, "data": turn.data}
    if turn.flow == FLOW:
        back = turn.data.get("return", {})
    turn.goto(FLOW, "pick", {"return": back})
    turn.say(turn.t("language.prompt"), render(turn, FLOW, OPTIONS))


async def resume(turn: Turn) -> None:
    """Ask again."""
    turn.say(turn.t("language.prompt"), render(turn, FLOW, OPTIONS))


async def handle(turn: Turn) -> None:
    """Apply the chosen language and return to the previous question."""
    chosen = pick(turn, FLOW, OPTIONS)
    if chosen is STALE or chosen is None:
        turn.say(turn.t("err.choose", count=len(OPTIONS)))
        await resume(turn)
        return
    turn.contact.language = chosen.key
    turn.say(turn.t("language.done"))
    back = turn.data.get("return") or {}
    from handlers import router

    if back.get("flow") and back["flow"] != FLOW:
        turn.goto(back["flow"], back["step"], back["data"])
        await router.resume_current(turn)
    else:
        await router.resume_current(turn, fallback_menu=True)
