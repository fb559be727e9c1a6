"""Right guidance: lost-KTP next steps per situation, Tangsel Siaga 112 at once, the ATENSI aid kinds."""

import pytest

from bot.app import Service
from handlers.lost_ktp import next_steps
from tests.flow_steps import agree, case, reference_in, t
from tests.support import Chat


def numbered(lang: str, *keys: str) -> str:
    return "\n".join(f"{n}. {t(f'ktp.steps.{key}', lang)}" for n, key in enumerate(keys, start=1))


async def report(chat: Chat, lang: str, opening: str, documents: str) -> str:
    """Report one's own card from a plain request at the menu; return the "done" message."""
    await agree(chat, lang)
    await chat.say(opening)
    await chat.say("Siti Aminah")
    await chat.tap(t("ktp.when.week", lang))
    await chat.say("0")  # NIK not known
    await chat.say("0")  # KK number not known
    await chat.say(documents)
    await chat.say("pondok aren")
    await chat.say("jurangmangu timur")
    await chat.say("0")  # no photo
    await chat.tap(t("form.send", lang))
    return chat.replies[0].text


@pytest.mark.parametrize("lang", ["id", "en"])
async def test_a_damaged_card_is_exchanged_without_a_police_letter(chat: Chat, lang: str) -> None:
    """Seen: a damaged card was told to get a police letter."""
    opening = {"id": "ktp saya rusak", "en": "my ktp is damaged"}[lang]
    done = await report(chat, lang, opening, "1 4")  # a KK copy and another card
    steps = numbered(lang, "check", "rusak", "kk_copy", "dukcapil")
    assert done == t("ktp.done", lang, reference=reference_in(done, "KTP"), steps=steps) + "\n\n" + t(
        "menu.prompt", lang
    )
    assert "Polsek" not in done


@pytest.mark.parametrize("lang", ["id", "en"])
async def test_someone_with_no_documents_at_all_starts_at_the_rt_rw(
    chat: Chat, service: Service, lang: str
) -> None:
    """Seen: a person without any documents was told to bring a KK copy."""
    opening = {"id": "ktp saya hilang", "en": "i lost my ktp"}[lang]
    done = await report(chat, lang, opening, t("doc.none", lang))
    assert numbered(lang, "check", "hilang", "no_kk", "dukcapil") in done
    assert t("ktp.steps.kk_copy", lang) not in done
    stored = await case(service, reference_in(done, "KTP"))
    assert stored.answers["what_happened"] == "hilang" and stored.answers["whose"] == "self"


def test_next_steps_for_each_situation() -> None:
    assert next_steps({"what_happened": "hilang", "documents_left": ["kk_copy"]}) == [
        "check",
        "hilang",
        "kk_copy",
        "dukcapil",
    ]
    assert next_steps({"what_happened": "dicuri", "documents_left": ["police"], "kk": {"h": "x"}}) == [
        "check",
        "police_kept",
        "kk_copy",
        "dukcapil",
    ]
    assert next_steps({"what_happened": "rusak", "documents_left": []}) == [
        "check",
        "rusak",
        "no_kk",
        "dukcapil",
    ]
    assert next_steps({"what_happened": "terbakar", "documents_left": []}) == [
        "check",
        "terbakar",
        "disaster",
        "no_kk",
        "dukcapil",
    ]


# ------------------------------------------------------------------------------------ 112


@pytest.mark.parametrize("lang", ["id", "en"])
async def test_an_emergency_shows_tangsel_siaga_112_at_once(chat: Chat, service: Service, lang: str) -> None:
    """Seen: emergencies never mentioned Tangsel Siaga 112."""
    await agree(chat, lang)
    await chat.tap(t("menu.aid", lang))
    await chat.tap(t("aid.for_self", lang))
    await chat.say("Siti Aminah")
    await chat.tap(t("aid.kind.emergency", lang))
    assert [r.text for r in chat.replies] == [t("aid.emergency_112", lang), t("aid.q.description", lang)]
    await chat.say("Rumah kami terbakar tadi malam" if lang == "id" else "Our house burned last night")
    await chat.tap(t("aid.urgency.today", lang))
    assert t("aid.emergency_112", lang) not in chat.text  # said once is enough
    await chat.say("5")
    await chat.say("pondok aren")
    await chat.say("jurangmangu timur")
    await chat.say("0")
    await chat.tap(t("form.send", lang))
    done = chat.replies[0].text
    assert t("aid.emergency_112", lang) in done


async def test_today_urgent_basic_needs_also_show_112(chat: Chat) -> None:
    await agree(chat)
    await chat.tap(t("menu.aid"))
    await chat.tap(t("aid.for_self"))
    await chat.say("Siti Aminah")
    await chat.say("sembako")
    await chat.say("Tidak ada beras sama sekali")
    assert t("aid.emergency_112") not in chat.text
    await chat.say("hari ini")
    assert [r.text for r in chat.replies] == [t("aid.emergency_112"), t("aid.q.people")]


@pytest.mark.parametrize(
    ("lang", "typed", "kind"),
    [
        ("id", "kursi roda", "assistive"),
        ("id", "lansia", "care"),
        ("id", "dukungan keluarga", "family"),
        ("id", "terapi", "health"),
        ("en", "wheelchair", "assistive"),
        ("en", "family support", "family"),
        ("en", "social care", "care"),
    ],
)
async def test_atensi_aid_kinds_are_offered_and_understood(
    chat: Chat, service: Service, lang: str, typed: str, kind: str
) -> None:
    await agree(chat, lang)
    await chat.tap(t("menu.aid", lang))
    await chat.tap(t("aid.for_self", lang))
    await chat.say("Siti Aminah")
    labels = [c.label for c in chat.last.choices]
    for key in ("basic", "care", "family", "health", "assistive", "emergency", "training", "tools"):
        assert t(f"aid.kind.{key}", lang) in labels
    assert len(labels) <= 10  # one WhatsApp list
    await chat.say(typed)
    assert chat.last.text == t("aid.q.description", lang)
    await chat.say("kembali" if lang == "id" else "back")
    assert chat.last.text == t("aid.q.kind", lang)
    await chat.say(typed)
    await chat.say("Untuk ibu saya yang sudah tua" if lang == "id" else "For my elderly mother")
    summary_kind = f"{t('aid.label.kind', lang)}: {t(f'aid.kind.{kind}', lang)}"
    await chat.tap(t("aid.urgency.week", lang))
    await chat.say("1")
    await chat.say("pondok aren")
    await chat.say("jurangmangu timur")
    await chat.say("0")
    assert summary_kind in chat.last.text
