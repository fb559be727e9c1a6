"""Global words at every kind of step: MENU, BATAL, KEMBALI, BANTUAN, BERHENTI, MULAI, BAHASA.

The main table drives a new contact to one place (before consent, the menu, a form's first question,
the NIK, the kelurahan, a half-answered multi-choice, the summary, a "betul?" confirmation, data saya),
types one global word (Indonesian words in upper case for an Indonesian contact, English words in
lower case for an English one) and checks what the person sees and what is stored.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest

from bot.app import Service
from handlers import menu
from handlers.types import Choice, Reply
from storage import repo
from storage.contract import Tx
from tests.support import Chat
from tests.test_bad_input import (
    SUMMARY,
    Input,
    Stored,
    agree,
    answer_up_to,
    contact_flags,
    greet,
    press,
    register,
    say,
    send,
    stored,
    t,
    walk_to,
)

LANGS = ("id", "en")
OTHER = {"id": "en", "en": "id"}
WORDS = {
    "id": {
        "menu": "MENU",
        "cancel": "BATAL",
        "back": "KEMBALI",
        "help": "BANTUAN",
        "stop": "BERHENTI",
        "start": "MULAI",
        "language": "BAHASA",
    },
    "en": {
        "menu": "menu",
        "cancel": "cancel",
        "back": "back",
        "help": "help",
        "stop": "stop",
        "start": "start",
        "language": "language",
    },
}
YES = {"id": "ya", "en": "yes"}
NO = {"id": "tidak", "en": "no"}


def menu_reply(lang: str, intro: str | None = None) -> Reply:
    """The main menu as shown, after `intro` when given."""
    text = t("menu.prompt", lang) if intro is None else f"{intro}\n\n{t('menu.prompt', lang)}"
    return Reply(
        text=text, choices=tuple(Choice(f"menu:{o.key}", t(o.label_key, lang)) for o in menu.OPTIONS)
    )


def yes_no(prefix: str, lang: str) -> tuple[Choice, ...]:
    return (Choice(f"{prefix}:yes", t("common.yes", lang)), Choice(f"{prefix}:no", t("common.no", lang)))


# --------------------------------------------------------------------------------------- places


@dataclass(frozen=True, slots=True)
class Place:
    """Where the contact stands when the global word arrives."""

    question: Reply  # what the contact is being asked (and must be asked again)
    text_in: Callable[[str], str]  # that question's text in a language (a prefix when `prefix`)
    prefix: bool = False
    consented: bool = True
    draft: bool = False  # a form with answers is open
    form_start: bool = False  # a form is open at its first question, nothing answered
    help_key: str = "help.menu"
    previous: Reply | None = None  # what KEMBALI asks; None: the menu
    previous_step: str = ""
    redo: Input | None = None  # answering `previous` again with this
    after_redo: Reply | None = None  # ... asks this (default: `question`)
    # After BAHASA: the question's text in the new language, and its buttons (default: as `question`).
    relanguaged: Callable[[str], str] | None = None
    relanguaged_choices: tuple[Choice, ...] | None = None


def _first_line(text: str) -> str:
    return text.split("\n", 1)[0]


async def _asked(chat: Chat, form: str, lang: str, step: str) -> dict[str, Reply]:
    """Walk `form` to `step`, keeping the reply that asked each question on the way."""
    asked: dict[str, Reply] = {}
    await agree(chat, lang)
    await chat.choose(f"menu:{form}")
    await answer_up_to(chat, form, step, asked)
    return asked


async def before_consent(chat: Chat, lang: str) -> Place:
    notice = (await greet(chat, lang))[-1]
    return Place(
        question=notice,
        text_in=lambda lang: t("consent.notice", lang),
        consented=False,
        help_key="help.before_consent",
    )


async def at_menu(chat: Chat, lang: str) -> Place:
    await agree(chat, lang)
    return Place(question=menu_reply(lang), text_in=lambda lang: t("menu.prompt", lang))


async def first_question(chat: Chat, lang: str) -> Place:
    asked = await _asked(chat, "registration", lang, "for_whom")
    return Place(
        question=asked["for_whom"],
        text_in=lambda lang: t("reg.q.for_whom", lang),
        form_start=True,
        help_key="help.for_whom",
    )


async def at_nik(chat: Chat, lang: str) -> Place:
    asked = await _asked(chat, "registration", lang, "nik")
    return Place(
        question=asked["nik"],
        text_in=lambda lang: t("reg.q.nik.self", lang),
        draft=True,
        help_key="help.nik",
        previous=asked["full_name"],
        previous_step="full_name",
        redo=say("siti aminah"),
    )


async def at_kelurahan(chat: Chat, lang: str) -> Place:
    asked = await _asked(chat, "registration", lang, "kelurahan")
    return Place(
        question=asked["kelurahan"],
        text_in=lambda lang: t("reg.q.kelurahan", lang, kecamatan="Pondok Aren"),
        draft=True,
        help_key="help.place",
        previous=asked["kecamatan"],
        previous_step="kecamatan",
        redo=say("pondok aren"),
    )


async def at_multi_choice(chat: Chat, lang: str) -> Place:
    """The skills question (several picks in one answer)."""
    asked = await _asked(chat, "registration", lang, "skills")
    return Place(
        question=asked["skills"],
        text_in=lambda lang: t("reg.q.skills.self", lang) + "\n" + t("form.multi_hint", lang),
        draft=True,
        help_key="help.generic",
        previous=asked["household_size"],
        previous_step="household_size",
        redo=say("5"),
    )


async def at_summary(chat: Chat, lang: str) -> Place:
    asked = await _asked(chat, "registration", lang, SUMMARY)
    return Place(
        question=asked[SUMMARY],
        text_in=lambda lang: _first_line(t("form.summary", lang, title=t("reg.title", lang), lines="")),
        prefix=True,
        draft=True,
        help_key="help.summary",
        previous=asked["aid_received"],
        previous_step="aid_received",
        redo=press("aid_received:none"),
    )


async def at_confirmation(chat: Chat, lang: str) -> Place:
    """ "Pondok Aren, betul?" after a misspelt kecamatan."""
    asked = await _asked(chat, "registration", lang, "kecamatan")
    await chat.say("pondok arn")
    assert chat.last.text == t("form.is_it", lang, name="Pondok Aren")
    return Place(
        question=chat.last,
        text_in=lambda lang: t("form.is_it", lang, name="Pondok Aren"),
        draft=True,
        help_key="help.place",
        previous=asked["phone"],
        previous_step="phone",
        redo=say("081234567890"),
        after_redo=asked["kecamatan"],
        # The "betul?" was worded in the old language, so the kecamatan question is asked afresh.
        relanguaged=lambda lang: t("reg.q.kecamatan.self", lang),
        relanguaged_choices=asked["kecamatan"].choices,
    )


async def at_my_data(chat: Chat, lang: str) -> Place:
    await register(chat, lang)
    await chat.choose("menu:my_data")
    assert chat.last.text.startswith(_first_line(t("mydata.view", lang, lines="")))
    return Place(
        question=chat.last,
        text_in=lambda lang: _first_line(t("mydata.view", lang, lines="")),
        prefix=True,
    )


PLACES: dict[str, Callable[[Chat, str], Awaitable[Place]]] = {
    "before_consent": before_consent,
    "menu": at_menu,
    "first_question": first_question,
    "nik": at_nik,
    "kelurahan": at_kelurahan,
    "multi_choice": at_multi_choice,
    "summary": at_summary,
    "confirmation": at_confirmation,
    "my_data": at_my_data,
}


# --------------------------------------------------------------------------------------- checks


def consent_hint(place: Place, lang: str) -> Reply:
    """Before agreeing, other words get the short hint with the notice's buttons."""
    return Reply(text=t("consent.hint", lang), choices=place.question.choices)


async def check_menu(chat: Chat, place: Place, before: Stored, replies: list[Reply], lang: str) -> None:
    if not place.consented:
        assert replies == [consent_hint(place, lang)]
        return
    if not place.draft:
        assert replies == [menu_reply(lang)]
        if place.form_start:  # nothing was answered, so nothing is kept: the form starts afresh
            assert await chat.choose("menu:registration") == [place.question]
        return
    assert replies == [menu_reply(lang, intro=t("menu.draft_kept", lang))]
    assert (await stored(chat)).flow == "menu"
    # Choosing the same form again offers to continue, and continuing asks the same question.
    offer = await chat.choose("menu:registration")
    assert [r.text for r in offer] == [t("resume.prompt", lang, title=t("reg.title", lang))]
    assert await chat.choose("resume:continue") == [place.question]
    assert await stored(chat) == before


async def check_cancel(chat: Chat, place: Place, before: Stored, replies: list[Reply], lang: str) -> None:
    if not place.consented:
        assert replies == [consent_hint(place, lang)]
        return
    if place.form_start:
        title = t("reg.title", lang)
        assert replies == [menu_reply(lang, intro=t("form.cancelled", lang, title=title))]
        return
    if not place.draft:
        assert replies == [menu_reply(lang, intro=t("common.nothing_to_cancel", lang))]
        return
    title = t("reg.title", lang)
    assert replies == [
        Reply(text=t("form.cancel_confirm", lang, title=title), choices=yes_no("cancel", lang))
    ]
    # "tidak": back to the same question, nothing lost.
    assert await chat.say(NO[lang]) == [place.question]
    assert await stored(chat) == before
    # "ya": the draft is gone and the menu is shown; the form starts afresh.
    await chat.say(WORDS[lang]["cancel"])
    assert await chat.say(YES[lang]) == [Reply(text=t("form.cancelled", lang, title=title)), menu_reply(lang)]
    after = await stored(chat)
    assert after.flow == "menu" and "_drafts" not in after.data
    restart = await chat.choose("menu:registration")
    assert [r.text for r in restart] == [t("reg.q.for_whom", lang)]


def without_offer(replies: list[Reply], lang: str) -> list[Reply]:
    """The replies without the offer to share a location that comes before the kecamatan question."""
    return [r for r in replies if r != Reply(text=t("form.share_place", lang), request="location")]


async def check_back(chat: Chat, place: Place, before: Stored, replies: list[Reply], lang: str) -> None:
    offered = without_offer(replies, lang) != replies
    assert offered == (place.consented and place.previous_step == "kecamatan")
    replies = without_offer(replies, lang)
    if not place.consented:
        assert replies == [consent_hint(place, lang)]
        return
    if place.previous is None:  # nothing before this: the menu
        assert replies == [menu_reply(lang)]
        return
    assert replies == [place.previous]
    back = await stored(chat)
    assert back.step == place.previous_step
    # Only the answer of the question asked again is taken back; earlier answers stay.
    assert back.answers == {k: v for k, v in before.answers.items() if k != place.previous_step}
    assert place.redo is not None
    assert without_offer(await send(chat, place.redo), lang) == [place.after_redo or place.question]
    again = await stored(chat)
    assert (again.flow, again.step) == (before.flow, before.step)
    assert again.answers.keys() == before.answers.keys()
    for name, value in before.answers.items():
        if name != "nik":  # sealed afresh: a new nonce, the same number
            assert again.answers[name] == value, name


async def check_help(chat: Chat, place: Place, before: Stored, replies: list[Reply], lang: str) -> None:
    assert replies == [Reply(text=t(place.help_key, lang)), place.question]
    assert await stored(chat) == before


def _which(place: Place, action: str, lang: str) -> Reply:
    """The question a plain BERHENTI / MULAI asks: in a form it names the form; at the menu no Continue."""
    in_form = place.draft or place.form_start
    at_menu = place.question.text == t("menu.prompt", lang)
    if action == "stop":
        title = t("reg.title", lang)
        text = t("words.stop_in_form", lang, title=title) if in_form else t("words.stop_which", lang)
        keys = ["info", "bye"]
    else:
        text = (
            t("words.start_in_form", lang, title=t("reg.title", lang))
            if in_form
            else t("words.start_which", lang)
            if at_menu
            else t("words.start_in_flow", lang)
        )
        keys = ["info", "menu"]
    labels = {"info": f"words.{action}_info", "bye": "words.bye", "menu": "words.open_menu"}
    choices = [Choice(f"words:{key}", t(labels[key], lang)) for key in keys]
    if not at_menu:
        choices.append(Choice("words:continue", t("words.continue", lang)))
    return Reply(text=text, choices=tuple(choices))


async def check_stop(chat: Chat, place: Place, before: Stored, replies: list[Reply], lang: str) -> None:
    if place.consented:
        # A plain BERHENTI never acts by itself: it asks which is meant, and changes nothing yet.
        assert replies == [_which(place, "stop", lang)]
        assert await contact_flags(chat) == (0, 0)
        replies = await chat.choose("words:info")
    assert replies == [Reply(text=t("optout.done", lang)), place.question]
    assert await contact_flags(chat) == (1, 0)
    assert await stored(chat) == before


async def check_language(chat: Chat, place: Place, before: Stored, replies: list[Reply], lang: str) -> None:
    assert [r.text for r in replies] == [t("language.prompt", lang)]
    other = OTHER[lang]
    switched = without_offer(await chat.choose(f"language:{other}"), other)
    assert switched[0] == Reply(text=t("language.done", other))
    question = switched[-1]
    expected = (place.relanguaged or place.text_in)(other)
    if place.prefix:
        assert question.text.startswith(expected), question.text
    else:
        assert question.text == expected
    choices = place.question.choices if place.relanguaged_choices is None else place.relanguaged_choices
    assert [c.id for c in question.choices] == [c.id for c in choices]
    assert question.request == place.question.request
    assert len(switched) == 2
    after = await stored(chat)
    assert (after.flow, after.step, after.answers) == (before.flow, before.step, before.answers)
    if place.relanguaged is None:
        assert after == before


async def check_start(chat: Chat, place: Place, before: Stored, replies: list[Reply], lang: str) -> None:
    if place.consented:
        assert replies == [_which(place, "start", lang)]
        assert (await contact_flags(chat))[0] == 1  # still opted out until the answer
        replies = await chat.choose("words:info")
    assert replies == [Reply(text=t("optout.undone", lang)), place.question]
    assert await contact_flags(chat) == (0, 0)  # opted in again, and reachable
    assert await stored(chat) == before


Check = Callable[[Chat, Place, Stored, list[Reply], str], Awaitable[None]]
CHECKS: dict[str, Check] = {
    "menu": check_menu,
    "cancel": check_cancel,
    "back": check_back,
    "help": check_help,
    "stop": check_stop,
    "start": check_start,
    "language": check_language,
}


async def _opt_out_first(chat: Chat) -> None:
    """Mark the contact opted out and unreachable, as a failed broadcast would."""

    def mark(conn: Tx) -> None:
        conn.execute("UPDATE contacts SET opted_out = 1, unreachable = 1 WHERE id = ?", (chat.contact,))

    await chat.service.db.write(mark)


MATRIX = [(lang, place, action) for lang in LANGS for place in PLACES for action in WORDS[lang]]


@pytest.mark.parametrize(
    ("lang", "place_name", "action"), MATRIX, ids=[f"{a}-{p}-{lang}" for lang, p, a in MATRIX]
)
async def test_global_word(chat: Chat, service: Service, lang: str, place_name: str, action: str) -> None:
    place = await PLACES[place_name](chat, lang)
    if action == "start":
        await _opt_out_first(chat)
    before = await stored(chat)

    replies = await chat.say(WORDS[lang][action])

    await CHECKS[action](chat, place, before, replies, lang)


# --------------------------------------------------------------------------------------- spellings

SPELLINGS: dict[str, list[Input | str]] = {
    # A str is a channel command (Telegram "/menu", a console "#menu").
    "menu": [say("menu"), say("Menu"), say("MENU!"), say("menu utama"), say("Main Menu"), "menu", "/MENU"],
    "cancel": [say("batal"), say("Batal"), say("BATALKAN"), say("cancel"), say("Cancel"), "batal", "/cancel"],
    "back": [say("kembali"), say("Kembali"), say("balik"), say("back"), say("BACK"), "kembali", "/back"],
    "help": [say("bantuan"), say("Bantuan"), say("tolong"), say("help"), say("HELP"), "bantuan", "/help"],
    "stop": [
        say("berhenti"),
        say("Berhenti"),
        say("stop"),
        say("STOP"),
        "berhenti",
        "/stop",
    ],
    "start": [say("mulai"), say("Mulai"), say("start"), say("START"), "mulai", "/mulai"],
    "stop_info": [say("berhenti info"), say("BERHENTI INFO"), say("stop info"), say("unsubscribe")],
    "start_info": [
        say("mulai info"),
        say("MULAI INFO"),
        say("start info"),
        say("subscribe"),
        say("terima info"),
    ],
    "language": [say("bahasa"), say("Bahasa"), say("language"), say("LANGUAGE"), "bahasa", "/language"],
}
# What the first reply says at the NIK question of an Indonesian contact.
AT_NIK = {
    "menu": menu_reply("id", intro=t("menu.draft_kept")).text,
    "cancel": t("form.cancel_confirm", title=t("reg.title")),
    "back": t("reg.q.full_name.self"),
    "help": t("help.nik"),
    "stop": t("words.stop_in_form", title=t("reg.title")),
    "start": t("words.start_in_form", title=t("reg.title")),
    "stop_info": t("optout.done"),
    "start_info": t("optout.undone"),
    "language": t("language.prompt"),
}


def _without_secrets(value: object) -> object:
    """Stored data with sealed numbers blanked (each seal has its own nonce)."""
    if isinstance(value, dict):
        return {k: ("sealed" if k == "nik" and v else _without_secrets(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_secrets(v) for v in value]
    return value


@pytest.mark.parametrize("action", list(SPELLINGS))
async def test_any_case_and_channel_commands_mean_the_same(chat: Chat, service: Service, action: str) -> None:
    """Every spelling and command of a word does the same, at the NIK question."""
    seen: list[tuple[list[Reply], object, tuple[int, int]]] = []
    for number, spelling in enumerate(SPELLINGS[action]):
        person = Chat(service, chat.channel, chat.clock, name=f"warga{number}")
        await walk_to(person, "registration", "nik")
        if action in ("start", "start_info"):
            await _opt_out_first(person)
        replies = await (person.command(spelling) if isinstance(spelling, str) else send(person, spelling))
        state = await stored(person)
        seen.append(
            (replies, _without_secrets((state.flow, state.step, state.data)), await contact_flags(person))
        )
    assert seen[0][0][0].text == AT_NIK[action]
    for spelling, result in zip(SPELLINGS[action], seen, strict=True):
        assert result == seen[0], spelling


# --------------------------------------------------------------------------------------- /start


async def test_start_command_greets_or_offers_to_continue(chat: Chat) -> None:
    """ "/start" (Telegram's first button): the notice, then the menu, and mid-form an offer to continue."""
    notice = (await greet(chat))[-1]
    assert await chat.command("/start") == [notice]
    await chat.choose("consent:yes")
    assert await chat.command("/start") == [menu_reply("id", intro=t("menu.welcome"))]

    await chat.choose("menu:registration")
    nik_question = (await answer_up_to(chat, "registration", "nik"))[-1]
    before = await stored(chat)
    offer = await chat.command("/start")
    assert [r.text for r in offer] == [t("resume.prompt", title=t("reg.title"))]
    assert await chat.say("lanjut") == [nik_question]
    assert await stored(chat) == before


# --------------------------------------------------------------------------------------- special cases


async def test_stop_before_consent_is_honoured(chat: Chat) -> None:
    notice = (await greet(chat))[-1]
    assert await chat.say("BERHENTI") == [Reply(text=t("optout.done")), notice]
    assert await contact_flags(chat) == (1, 0)
    assert await chat.say("mulai") == [Reply(text=t("optout.undone")), notice]
    assert await contact_flags(chat) == (0, 0)


async def test_menu_while_asked_to_confirm_cancel_keeps_the_question(chat: Chat) -> None:
    """BATAL, then MENU instead of answering: continuing later asks the NIK, not "are you sure?"."""
    place = await at_nik(chat, "id")
    before = await stored(chat)
    await chat.say("BATAL")
    assert await chat.say("MENU") == [menu_reply("id", intro=t("menu.draft_kept"))]
    await chat.choose("menu:registration")
    assert await chat.choose("resume:continue") == [place.question]
    after = await stored(chat)
    assert (after.step, after.answers) == (before.step, before.answers)


async def test_prefilled_form_has_nothing_to_keep_or_confirm(chat: Chat) -> None:
    """A registered contact opens a report: knowing their name is not an answer worth keeping."""
    await register(chat)
    first = await chat.choose("menu:lost_ktp")
    assert [r.text for r in first] == [t("ktp.q.whose")]
    assert await chat.say("MENU") == [menu_reply("id")]
    assert await chat.choose("menu:lost_ktp") == first  # no "continue?" offer
    cancelled = t("form.cancelled", title=t("ktp.title"))
    assert await chat.say("BATAL") == [menu_reply("id", intro=cancelled)]  # no "are you sure?"


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize(
    ("place_name", "old_button"),
    [
        ("menu", "sex:P"),
        ("nik", "for_whom:self"),
        ("kelurahan", "kecamatan:36.74.03"),
        ("multi_choice", "sex:P"),
        ("summary", "aid_received:none"),
        ("confirmation", "kecamatan:36.74.01"),
    ],
)
async def test_old_button_gets_a_kind_reply_and_the_question(
    chat: Chat, lang: str, place_name: str, old_button: str
) -> None:
    place = await PLACES[place_name](chat, lang)
    before = await stored(chat)
    replies = await chat.choose(old_button)
    assert replies == [Reply(text=t("err.old_button", lang)), place.question]
    assert await stored(chat) == before


@pytest.mark.parametrize(
    ("step", "typed", "value"),
    [
        ("sex", "prempuan", "P"),
        ("sex", "Perempuan", "P"),
        ("sex", "lakilaki", "L"),
        ("sex", "laki2", "L"),
        ("disaster_victim", "tdak", False),
        ("disaster_victim", "tidakk", False),
        ("disaster_victim", "iyaa", True),
    ],
)
async def test_small_typos_in_choices_are_forgiven(chat: Chat, step: str, typed: str, value: object) -> None:
    await walk_to(chat, "registration", step)
    await chat.say(typed)
    after = await stored(chat)
    assert after.answers[step] == value
    assert after.step != step
    assert not chat.replies[0].text.startswith("Maaf")


async def test_typos_in_confirmations_are_forgiven(chat: Chat, service: Service) -> None:
    place = await at_nik(chat, "id")
    await chat.say("BATAL")
    assert await chat.say("tdak") == [place.question]  # "tidak": carry on

    other = Chat(service, chat.channel, chat.clock, name="kedua")
    await at_confirmation(other, "id")
    await other.say("btul")  # "betul": Pondok Aren it is
    assert (await stored(other)).answers["kecamatan"] == "36.74.03"
    assert other.last.text == t("reg.q.kelurahan", kecamatan="Pondok Aren")


async def test_global_words_while_correcting_data_saya(chat: Chat, service: Service) -> None:
    """Inside "data saya", correcting the NIK: help, a cancel taken back, opt-out, and back out."""
    await register(chat)
    [registered] = await repo.persons_of_contact(service.db, chat.contact)
    await chat.choose("menu:my_data")
    await chat.choose("my_data:edit")
    question = (await chat.choose("edit:nik"))[-1]
    assert question.text == t("reg.q.nik.self")
    before = await stored(chat)
    assert await chat.say("BANTUAN") == [Reply(text=t("help.nik")), question]
    assert (await chat.say("BATAL"))[-1].text == t("form.cancel_confirm", title=t("mydata.edit_title"))
    assert await chat.say("tidak") == [question]
    assert (await chat.say("BERHENTI"))[-1].text == t("words.stop_in_form", title=t("mydata.edit_title"))
    assert await chat.say("1") == [Reply(text=t("optout.done")), question]
    assert await contact_flags(chat) == (1, 0)
    assert await stored(chat) == before
    assert await chat.say("KEMBALI") == [menu_reply("id")]
    assert await repo.persons_of_contact(service.db, chat.contact) == [registered]  # nothing changed
