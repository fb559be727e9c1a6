"""One conversation step: global words first, then the flow the contact is in.

Global words work at every step: MENU, BATAL, KEMBALI, BANTUAN, BERHENTI / MULAI (information messages:
the plain words ask which one is meant, BERHENTI INFO / MULAI INFO act at once) and BAHASA, in Indonesian
or English, typed or as a channel command.
"""

from typing import Any, Protocol

from handlers import (
    consent,
    intents,
    language,
    located,
    menu,
    my_data,
    programmes,
    status,
    thread,
    voice,
    words,
)
from handlers.aid import AidForm
from handlers.choices import STALE, Option, pick, render
from handlers.forms import Form, has_answers, resume_step
from handlers.lost_ktp import LostKtpForm
from handlers.registration import RegistrationForm
from handlers.talk import TalkForm
from handlers.turn import Turn
from storage.records import Consent


class Flow(Protocol):
    """What the router needs of a flow module or object."""

    async def start(self, turn: Turn) -> None: ...
    async def resume(self, turn: Turn) -> None: ...
    async def handle(self, turn: Turn) -> None: ...


FORMS: dict[str, Form] = {
    form.name: form
    for form in (RegistrationForm(), LostKtpForm(), AidForm(), TalkForm(), my_data.PERSON_EDIT)
}

# Modules satisfy the protocol structurally; mypy checks each module at the call sites.
FLOWS: dict[str, Any] = {
    **FORMS,
    consent.FLOW: consent,
    language.FLOW: language,
    my_data.FLOW: my_data,
    "status": status,
    words.FLOW: words,
    thread.FLOW: thread,
}

GLOBAL_WORDS = {
    "menu": "menu",
    "menu utama": "menu",
    "main menu": "menu",
    "home": "menu",
    "batal": "cancel",
    "batalkan": "cancel",
    "cancel": "cancel",
    "kembali": "back",
    "balik": "back",
    "back": "back",
    "bantuan": "help",
    "tolong": "help",
    "help": "help",
    "berhenti": "stop",
    "stop": "stop",
    "mulai": "start",
    "start": "start",
    "berhenti info": "stop_info",
    "berhenti informasi": "stop_info",
    "stop info": "stop_info",
    "unsubscribe": "stop_info",
    "mulai info": "start_info",
    "mulai informasi": "start_info",
    "terima info": "start_info",
    "start info": "start_info",
    "subscribe": "start_info",
    "bahasa": "language",
    "language": "language",
    # Help and every "done" message say STATUS works at any time, so it must not be read as an answer.
    "status": "status",
    "cek status": "status",
    "check status": "status",
    # Voice notes with every message, for people who read little.
    "suara": "voice",
    "mode suara": "voice",
    "voice": "voice",
}
COMMANDS = {
    "start": "hello",
    "menu": "menu",
    "batal": "cancel",
    "cancel": "cancel",
    "kembali": "back",
    "back": "back",
    "bantuan": "help",
    "help": "help",
    "berhenti": "stop",
    "stop": "stop",
    "mulai": "start",
    "bahasa": "language",
    "language": "language",
    "status": "status",
    "suara": "voice",
    "voice": "voice",
}

RESUME_FLOW = "resume"
RESUME_OPTIONS = (
    Option("continue", "resume.continue", ("lanjut", "lanjutkan", "ya", "continue", "yes")),
    Option("restart", "resume.restart", ("ulang", "mulai dari awal", "dari awal", "restart")),
    Option("menu", "resume.menu", ("menu",)),
)


def _action(turn: Turn) -> str | None:
    event = turn.event
    if event.command:
        return COMMANDS.get(event.command.lower().lstrip("/"))
    if event.choice is None and turn.text:
        return GLOBAL_WORDS.get(turn.text)
    return None


async def step(turn: Turn) -> None:
    """Handle one inbound event for the contact in `turn`."""
    action = _action(turn)
    if turn.contact.consent != Consent.GRANTED:
        await _before_consent(turn, action)
        return
    if programmes.is_rsvp_choice(turn):
        await programmes.handle_choice(turn, resume=turn.flow in FLOWS and turn.flow != menu.MENU_FLOW)
        if turn.flow in FLOWS and turn.flow != menu.MENU_FLOW:
            await resume_current(turn)
        return
    if action is None and await thread.intercept(turn, busy=_busy(turn)):
        if turn.flow != thread.FLOW:
            await resume_current(turn)  # the form's question again, or the menu
        return
    if action is not None:
        await _global(turn, action)
        return
    if (
        turn.event.choice
        and turn.event.choice.startswith(f"{menu.MENU_FLOW}:")
        and (turn.flow != menu.MENU_FLOW)
    ):
        _stash_draft(turn)
        await _on_menu(turn)
        return
    if turn.flow in FORMS and _idle_too_long(turn):
        _offer_resume(turn, {"flow": turn.flow, **_draft(turn)})
        return
    if turn.flow == menu.MENU_FLOW:
        await _on_menu(turn)
    elif turn.flow == RESUME_FLOW:
        await _on_resume(turn)
    elif turn.flow == located.FLOW:
        await _on_located(turn)
    elif turn.flow in FLOWS:
        await FLOWS[turn.flow].handle(turn)
    elif await located.propose(turn):
        return
    elif not await programmes.typed_answer(turn) and not await thread.forward(turn):
        menu.show(turn, intro=turn.t("menu.welcome"))


async def resume_current(turn: Turn, *, fallback_menu: bool = False) -> None:
    """Ask again whatever the contact's current flow is waiting for."""
    if turn.contact.consent != Consent.GRANTED:
        await consent.start(turn)
    elif turn.flow in FLOWS and not fallback_menu:
        await FLOWS[turn.flow].resume(turn)
    elif turn.flow == located.FLOW and not fallback_menu:
        located.ask(turn)
    elif turn.flow == RESUME_FLOW and not fallback_menu:
        turn.say(
            turn.t("resume.prompt", title=_title(turn, turn.data["target"]["flow"])),
            render(turn, RESUME_FLOW, RESUME_OPTIONS),
        )
    else:
        menu.show(turn)


def _busy(turn: Turn) -> bool:
    """Whether the contact's flow is waiting for an answer of its own (its question is on screen)."""
    if turn.flow in FORMS and _idle_too_long(turn):
        return False
    return turn.flow == RESUME_FLOW or (turn.flow in FLOWS and turn.flow != menu.MENU_FLOW)


async def _before_consent(turn: Turn, action: str | None) -> None:
    if action == "voice":
        voice.toggle(turn)
        await consent.start(turn)
    elif action == "language":
        await language.start(turn)
    elif turn.flow == language.FLOW:
        await language.handle(turn)
    elif action == "help":
        turn.say(turn.t("help.before_consent"))
        await consent.start(turn)
    elif action in ("stop", "start", "stop_info", "start_info"):
        # Not an answer to the notice, but a wish to honour at once (storing it needs no consent).
        words.set_info(turn, receive=action in ("start", "start_info"))
        await consent.start(turn)
    elif turn.flow == consent.FLOW and turn.step in ("ask", "refused") and action != "hello":
        await consent.handle(turn)
    else:
        await consent.start(turn)


async def _global(turn: Turn, action: str) -> None:
    form = FORMS.get(turn.flow)
    if action == "menu":
        stashed = _stash_draft(turn)
        menu.show(turn, intro=turn.t("menu.draft_kept") if stashed else None)
    elif action == "hello":
        if form is not None and has_answers(turn.data):
            _offer_resume(turn, {"flow": turn.flow, **_draft(turn)})
        else:
            menu.show(turn, intro=turn.t("menu.welcome"))
    elif action == "cancel":
        if form is not None and form.ask_cancel(turn):
            return
        if form is not None:
            turn.drafts.pop(form.name, None)
            menu.show(turn, intro=turn.t("form.cancelled", title=turn.t(form.title_key)))
        else:
            menu.show(turn, intro=turn.t("common.nothing_to_cancel"))
    elif action == "back":
        if form is not None and form.back(turn):
            return
        menu.show(turn)
    elif action == "help":
        if form is not None:
            form.help(turn)
        else:
            turn.say(turn.t("help.menu"))
            await resume_current(turn)
    elif action in ("stop", "start"):
        if form is not None:
            _stash_draft(turn)
        await words.ask(turn, action, title=turn.t(form.title_key) if form else None)
    elif action in ("stop_info", "start_info"):
        words.set_info(turn, receive=action == "start_info")
        await resume_current(turn)
    elif action == "language":
        await language.start(turn)
    elif action == "voice":
        voice.toggle(turn)
        await resume_current(turn)
    elif action == "status":
        _stash_draft(turn)
        await status.start(turn)


def _stash_draft(turn: Turn) -> bool:
    """Keep an unfinished form so choosing it again offers to continue."""
    if keeps_draft(turn.flow, turn.data):
        turn.drafts[turn.flow] = _draft(turn)
        return True
    return False


def keeps_draft(flow: str, data: dict[str, Any]) -> bool:
    """Whether an open flow is a form worth keeping to continue later (a correction is not)."""
    return flow in FORMS and flow != my_data.EDIT_FLOW and has_answers(data)


def _draft(turn: Turn) -> dict[str, Any]:
    """The open form's step and data, to continue later at a question."""
    return draft_of(turn.step, turn.data)


def draft_of(step: str, data: dict[str, Any]) -> dict[str, Any]:
    """A form's step and data as kept to continue later at a question."""
    return {"step": resume_step(step, data), "data": data}


def _idle_too_long(turn: Turn) -> bool:
    last = turn.last_activity
    return last is not None and turn.now - last > turn.services.resume_after and has_answers(turn.data)


def _title(turn: Turn, flow: str) -> str:
    form = FORMS.get(flow)
    return turn.t(form.title_key) if form else flow


def _offer_resume(turn: Turn, target: dict[str, Any]) -> None:
    turn.goto(RESUME_FLOW, "offer", {"target": target})
    turn.say(
        turn.t("resume.prompt", title=_title(turn, target["flow"])),
        render(turn, RESUME_FLOW, RESUME_OPTIONS),
    )


async def _on_resume(turn: Turn) -> None:
    target = turn.data["target"]
    chosen = pick(turn, RESUME_FLOW, RESUME_OPTIONS)
    if chosen is STALE or chosen is None:
        turn.say(turn.t("err.choose", count=len(RESUME_OPTIONS)))
        turn.say(
            turn.t("resume.prompt", title=_title(turn, target["flow"])),
            render(turn, RESUME_FLOW, RESUME_OPTIONS),
        )
        return
    turn.drafts.pop(target["flow"], None)
    if chosen.key == "continue":
        turn.goto(target["flow"], target["step"], target["data"])
        await FORMS[target["flow"]].resume(turn)
    elif chosen.key == "restart":
        await FORMS[target["flow"]].start(turn)
    else:
        turn.drafts[target["flow"]] = {"step": target["step"], "data": target["data"]}
        menu.show(turn, intro=turn.t("menu.draft_kept"))


async def _on_menu(turn: Turn) -> None:
    if await located.propose(turn):
        return
    chosen = pick(turn, menu.MENU_FLOW, menu.OPTIONS)
    if chosen is None and await programmes.typed_answer(turn):
        return
    if chosen is None and (intent := intents.match(turn.text)) is not None:
        # "Selamat malam, rumah saya kebanjiran ..." greets, but is a message for staff all the same.
        if not (intent.name == intents.GREETING and await thread.forward_beyond_greeting(turn)):
            await _on_intent(turn, intent)
        return
    if chosen is None and await thread.forward(turn):
        return
    if chosen is STALE or chosen is None:
        turn.say(turn.t("err.old_button") if chosen is STALE else turn.t("menu.not_understood"))
        menu.show(turn)
        return
    if chosen.key == "voice":
        voice.toggle(turn)
        menu.show(turn)
        return
    await start_flow(turn, chosen.key)


async def _on_located(turn: Turn) -> None:
    """The answer to "Jurangmangu Timur, Pondok Aren: what would you like to do here?".

    A form chosen starts with the place answered; "not here" keeps nothing; another location is
    proposed instead; anything else is read as an answer at the menu.
    """
    if await located.propose(turn):
        return
    chosen = pick(turn, located.FLOW, located.OPTIONS)
    if chosen is STALE or chosen is None:
        menu.show_quietly(turn)
        await _on_menu(turn)
        return
    if chosen.key == located.NOT_HERE:
        menu.show(turn, intro=turn.t("located.dropped"))
        return
    form = FORMS[chosen.key]
    if chosen.key in turn.drafts:
        await start_flow(turn, chosen.key)  # a kept draft is offered first, as from the menu
        return
    await form.start(turn, {**await form.prefill(turn), **located.answers(turn)})


async def _on_intent(turn: Turn, intent: intents.Intent) -> None:
    """A greeting gets a warm menu; a plain request starts its flow with what it already says."""
    if intent.name == intents.GREETING:
        menu.show(turn, intro=menu.greeting(turn))
        return
    form = FORMS.get(intent.name)
    if form is not None and intent.answers and intent.name not in turn.drafts:
        await form.start(turn, {**await form.prefill(turn), **intent.answers})
        return
    await start_flow(turn, intent.name)


async def start_flow(turn: Turn, name: str) -> None:
    """Start a flow from the menu, offering to continue a kept draft."""
    draft = turn.drafts.get(name)
    if draft is not None:
        _offer_resume(turn, {"flow": name, "step": draft["step"], "data": draft["data"]})
        return
    await FLOWS[name].start(turn)
