"""At the menu people greet and ask in their own words; BERHENTI and MULAI never act by accident."""

import pytest

from bot.app import Service
from handlers import intents, menu
from handlers.types import Choice, Reply
from storage import repo
from tests.flow_steps import agree, t
from tests.support import Chat


def menu_reply(lang: str, intro: str) -> Reply:
    return Reply(
        text=f"{intro}\n\n{t('menu.prompt', lang)}",
        choices=tuple(Choice(f"menu:{o.key}", t(o.label_key, lang)) for o in menu.OPTIONS),
    )


# ------------------------------------------------------------------------------------ greetings

GREETINGS = {
    "id": ["halo", "Hallo kak", "pagi", "Selamat pagi bu", "P", "permisi"],
    "en": ["hello", "hi", "good morning"],
}


GREETING_CASES = [(lang, text) for lang, texts in GREETINGS.items() for text in texts]


@pytest.mark.parametrize(("lang", "text"), GREETING_CASES)
async def test_a_greeting_at_the_menu_gets_a_warm_menu(chat: Chat, lang: str, text: str) -> None:
    await agree(chat, lang)
    assert await chat.say(text) == [menu_reply(lang, t("menu.greeting", lang))]


@pytest.mark.parametrize("lang", ["id", "en"])
async def test_the_salam_is_answered_in_kind(chat: Chat, lang: str) -> None:
    await agree(chat, lang)
    for text in ("Assalamualaikum", "assalamu'alaikum wr. wb.", "asalamualaikum"):
        assert await chat.say(text) == [menu_reply(lang, t("menu.salam", lang))]


# ------------------------------------------------------------------------------------ requests

REQUESTS = [
    # (language, what the person types, the first question they get)
    ("id", "sy mau daftar", "reg.q.for_whom"),
    ("id", "saya ingin mendaftar pak", "reg.q.for_whom"),
    ("id", "minta bantuan sembako", "aid.q.for_whom"),
    ("id", "tolong sy butuh kursi roda", "aid.q.for_whom"),
    ("id", "mau ngomong sama petugas", "talk.q.message"),
    ("id", "ktp saya rusak", "ktp.q.owner_name.self"),
    ("en", "i want to register", "reg.q.for_whom"),
    ("en", "i need food aid", "aid.q.for_whom"),
    ("en", "can i talk to staff", "talk.q.message"),
]


@pytest.mark.parametrize(("lang", "text", "question"), REQUESTS)
async def test_a_plain_request_starts_its_flow(chat: Chat, lang: str, text: str, question: str) -> None:
    await agree(chat, lang)
    await chat.say(text)
    assert chat.last.text == t(question, lang)


async def test_ktp_saya_kebakar_starts_the_report_already_knowing_what_happened(
    chat: Chat, service: Service
) -> None:
    await agree(chat)
    await chat.say("ktp saya kebakar")
    assert chat.last.text == t("ktp.q.owner_name.self")  # whose card and what happened: already said
    await chat.say("Siti Aminah")
    assert chat.last.text == t("ktp.q.when")


async def test_a_family_members_lost_card_in_english(chat: Chat) -> None:
    await agree(chat, "en")
    await chat.say("my son lost his KTP")
    assert chat.last.text == t("ktp.q.owner_name.other", "en")
    await chat.say("Budi Santoso")
    assert chat.last.text == t("ktp.q.when", "en")  # "lost": what happened is known


@pytest.mark.parametrize("lang", ["id", "en"])
async def test_cek_status_and_data_saya_in_words(chat: Chat, lang: str) -> None:
    await agree(chat, lang)
    await chat.say("cek status" if lang == "id" else "check status")
    assert chat.last.text == menu_reply(lang, t("status.none", lang)).text
    await chat.say("sy mau lihat data saya" if lang == "id" else "show my data")
    assert chat.last.text == menu_reply(lang, t("mydata.none", lang)).text


async def test_words_that_name_nothing_still_get_the_kind_refusal(chat: Chat) -> None:
    await agree(chat)
    assert [r.text for r in await chat.say("apa ini")] == [t("menu.not_understood"), t("menu.prompt")]
    assert [r.text for r in await chat.say("sy mau")] == [t("menu.not_understood"), t("menu.prompt")]


@pytest.mark.parametrize("lang", ["id", "en"])
async def test_an_emergency_at_the_menu_shows_112_before_the_first_question(chat: Chat, lang: str) -> None:
    await agree(chat, lang)
    await chat.say("tolong darurat rumah kebakaran" if lang == "id" else "emergency please help")
    assert [r.text for r in chat.replies] == [t("aid.emergency_112", lang), t("aid.q.for_whom", lang)]
    await chat.tap(t("aid.for_other", lang))
    await chat.say("Budi Santoso")
    assert chat.last.text == t("aid.q.description", lang)  # the kind was already said


def test_the_matcher_forgives_typos_and_prefers_the_specific_request() -> None:
    assert intents.match("sy mau daftr") == intents.Intent("registration")
    assert intents.match("assalamualaikum") == intents.Intent(intents.GREETING)
    assert intents.match("cek status ktp saya") == intents.Intent("status")  # a status question
    assert intents.match("daftar bansos") == intents.Intent("aid")
    assert intents.match("minta bantuan sembako") == intents.Intent("aid", {"aid_kind": "basic"})
    assert intents.match("butuh kursi roda") == intents.Intent("aid", {"aid_kind": "assistive"})
    assert intents.match("ktp anak saya dicuri") == intents.Intent(
        "lost_ktp", {"what_happened": "dicuri", "whose": "family"}
    )
    assert intents.match("ktp ilang") == intents.Intent("lost_ktp", {"what_happened": "hilang"})
    assert intents.match("terima kasih") is None
    assert intents.match("") is None


# ------------------------------------------------------------------------------------ BERHENTI / MULAI


async def flags(service: Service, chat: Chat) -> bool:
    contact = await repo.get_contact(service.db, chat.contact)
    assert contact is not None
    return contact.opted_out


async def test_berhenti_mid_form_can_mean_done_for_now(chat: Chat, service: Service) -> None:
    """Seen: "berhenti" mid-form silently unsubscribed the person. Now it asks, and "Selesai dulu" keeps
    the draft without touching information messages."""
    await agree(chat)
    await chat.tap(t("menu.aid"))
    await chat.tap(t("aid.for_other"))
    await chat.say("Budi Santoso")
    question = chat.last
    await chat.say("berhenti")
    assert chat.last.text == t("words.stop_in_form", title=t("aid.title"))
    assert [c.label for c in chat.last.choices] == [t("words.stop_info"), t("words.bye"), t("words.continue")]
    assert not await flags(service, chat)
    await chat.tap(t("words.bye"))
    assert [r.text for r in chat.replies] == [t("words.bye_kept")]
    assert not await flags(service, chat)
    # Coming back later: the aid request is offered to continue where it was.
    await chat.say("halo")
    await chat.tap(t("menu.aid"))
    assert chat.last.text == t("resume.prompt", title=t("aid.title"))
    await chat.tap(t("resume.continue"))
    assert chat.last == question


async def test_berhenti_then_an_answer_just_goes_on(chat: Chat, service: Service) -> None:
    await agree(chat)
    await chat.tap(t("menu.aid"))
    await chat.tap(t("aid.for_other"))
    await chat.say("STOP")
    await chat.say("Budi Santoso")  # the answer to the form's question, not to "which one?"
    assert chat.last.text == t("aid.q.kind")
    assert not await flags(service, chat)
    await chat.say("berhenti")
    await chat.tap(t("words.continue"))
    assert chat.last.text == t("aid.q.kind")


async def test_berhenti_at_the_menu_asks_which_and_mulai_starts(chat: Chat, service: Service) -> None:
    await agree(chat)
    await chat.say("berhenti")
    assert chat.last == Reply(
        text=t("words.stop_which"),
        choices=(Choice("words:info", t("words.stop_info")), Choice("words:bye", t("words.bye"))),
    )
    await chat.tap(t("words.bye"))
    assert [r.text for r in chat.replies] == [t("words.goodbye")]
    assert not await flags(service, chat)
    # "mulai" at the menu starts: the menu, with a pointer to registration.
    assert await chat.say("mulai") == [menu_reply("id", t("words.start_menu"))]
    assert not await flags(service, chat)

    await chat.say("berhenti")
    await chat.tap(t("words.stop_info"))
    assert [r.text for r in chat.replies] == [t("optout.done"), t("menu.prompt")]
    assert await flags(service, chat)
    # Opted out, "mulai" asks whether information messages or the service is meant.
    await chat.say("Mulai")
    assert chat.last.text == t("words.start_which")
    await chat.tap(t("words.open_menu"))
    assert chat.last.text == menu_reply("id", t("menu.welcome")).text
    assert await flags(service, chat)
    await chat.say("mulai")
    await chat.tap(t("words.start_info"))
    assert [r.text for r in chat.replies] == [t("optout.undone"), t("menu.prompt")]
    assert not await flags(service, chat)


async def test_stop_info_words_act_at_once_in_english(chat: Chat, service: Service) -> None:
    await agree(chat, "en")
    await chat.tap(t("menu.registration", "en"))
    question = chat.last
    assert await chat.say("STOP INFO") == [Reply(text=t("optout.done", "en")), question]
    assert await flags(service, chat)
    assert await chat.say("start info") == [Reply(text=t("optout.undone", "en")), question]
    assert not await flags(service, chat)
    await chat.say("stop")
    assert chat.last.text == t("words.stop_in_form", "en", title=t("reg.title", "en"))
    await chat.tap(t("words.continue", "en"))
    assert chat.last == question


@pytest.mark.parametrize("lang", ["id", "en"])
def test_help_texts_say_batal_cancels_the_form(lang: str) -> None:
    cancel = {"id": "BATAL untuk membatalkan", "en": "CANCEL to cancel"}[lang]
    assert cancel in t("help.generic", lang)
    info = {"id": "BERHENTI INFO", "en": "STOP INFO"}[lang]
    assert info in t("help.menu", lang) and info in t("optout.undone", lang)
