"""Consent: refusal stores only the refusal, the full notice can be read, agreeing later works."""

from bot.app import Service
from handlers.types import Inbound
from storage import repo
from tests.flow_steps import rows, t
from tests.support import Chat


async def hello_with_profile(chat: Chat, text: str, event_id: str) -> None:
    """A first message as WhatsApp delivers it: with the profile name and the sender's number."""
    await chat.send(
        Inbound(
            contact=chat.contact,
            at=chat.clock(),
            event_id=event_id,
            text=text,
            profile_name="Siti",
            channel_phone="+6281234567890",
        )
    )


async def test_refusal_is_recorded_and_nothing_else(chat: Chat, service: Service) -> None:
    await hello_with_profile(chat, "halo", "wamid-1")
    assert chat.last.text == t("consent.notice")
    assert [c.label for c in chat.last.choices] == [
        t("consent.agree"),
        t("consent.agree_info"),
        t("consent.refuse"),
        t("consent.read_full"),
        t("menu.language"),
    ]
    await chat.tap(t("consent.refuse"))
    assert chat.last.text == t("consent.refused")
    consents = await rows(service, "SELECT * FROM consents")
    assert [(c["contact_id"], c["granted"], c["notice_version"]) for c in consents] == [
        (chat.contact, 0, "2026-12")
    ]
    contact = await repo.get_contact(service.db, chat.contact)
    assert contact is not None and contact.consent == "refused" and contact.consent_version == "2026-12"
    assert contact.display_name is None and contact.phone is None  # not even the profile name or number

    # Whatever they ask for, nothing is collected without consent.
    await chat.say("daftar")
    assert chat.last.text == t("consent.still_refused")
    await chat.choose("menu:registration")  # an old menu button, had there been one
    assert chat.last.text == t("consent.still_refused")
    await chat.say("Nama saya Siti, NIK 3674015708850001")
    assert chat.last.text == t("consent.still_refused")
    assert await rows(service, "SELECT * FROM persons") == []
    assert await rows(service, "SELECT * FROM cases") == []
    assert len(await rows(service, "SELECT * FROM consents")) == 1
    conversation = await rows(service, "SELECT data FROM conversations")
    assert "3674015708850001" not in conversation[0]["data"]


async def test_full_notice_then_agreeing_later(chat: Chat, service: Service) -> None:
    await chat.say("halo")
    await chat.tap(t("consent.refuse"))
    await chat.tap(t("consent.read_full"))
    assert chat.last.text == t("consent.full", version="2026-12")
    assert chat.last.choices[0].label == t("consent.agree")
    await chat.say("bantuan")
    assert chat.replies[0].text == t("help.before_consent")
    assert chat.last.text == t("consent.notice")
    await hello_with_profile(chat, "setuju", "wamid-2")
    assert chat.last.text == t("consent.thanks") + "\n\n" + t("menu.prompt")
    consents = await rows(service, "SELECT granted, notice_version, withdrawn_at FROM consents ORDER BY id")
    assert [(c["granted"], c["notice_version"], c["withdrawn_at"]) for c in consents] == [
        (0, "2026-12", None),
        (1, "2026-12", None),
    ]
    contact = await repo.get_contact(service.db, chat.contact)
    assert contact is not None and contact.consent == "granted" and contact.display_name == "Siti"
    await chat.tap(t("menu.registration"))
    assert chat.last.text == t("reg.q.for_whom")


async def test_consent_in_english(chat: Chat, service: Service) -> None:
    await chat.say("hello")
    await chat.say("english")  # the language option of the notice, typed
    assert chat.replies[0].text == t("language.prompt")
    await chat.tap("English")
    assert chat.last.text == t("consent.notice", "en")
    await chat.say("no")
    assert chat.last.text == t("consent.refused", "en")
    await chat.say("read more")
    assert chat.last.text == t("consent.full", "en", version="2026-12")
    await chat.say("menu")  # no menu without consent: say so kindly
    assert chat.last.text == t("consent.still_refused", "en")
    await chat.tap(t("consent.agree", "en"))
    assert chat.last.text == t("consent.thanks", "en") + "\n\n" + t("menu.prompt", "en")
    consents = await rows(service, "SELECT granted FROM consents ORDER BY id")
    assert [c["granted"] for c in consents] == [0, 1]
