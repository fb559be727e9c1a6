"""Moving around inside forms: language switch, resume after a pause, MENU and the other global words."""

from bot.app import Service
from storage import repo
from tests.flow_steps import agree, case, reference_in, t
from tests.support import Chat, Clock


async def start_family_ktp(chat: Chat) -> None:
    """Open a lost-KTP report for a family member and answer up to "what happened"."""
    await chat.tap(t("menu.lost_ktp"))
    await chat.tap(t("ktp.whose.family"))
    await chat.say("Ahmad Fauzi")
    assert chat.last.text == t("ktp.q.what_happened.other", name="Ahmad Fauzi")


async def test_language_switch_mid_form_keeps_answers(chat: Chat, service: Service) -> None:
    await agree(chat)
    await start_family_ktp(chat)
    await chat.say("bahasa")
    assert chat.last.text == t("language.prompt")
    await chat.tap(t("language.en"))
    assert chat.replies[0].text == t("language.done", "en")
    assert chat.last.text == t("ktp.q.what_happened.other", "en", name="Ahmad Fauzi")
    assert chat.last.choices[1].label == t("ktp.what.terbakar", "en")
    await chat.tap(t("ktp.what.terbakar", "en"))
    assert chat.last.text == t("ktp.q.when", "en")
    await chat.tap(t("ktp.when.week", "en"))
    await chat.say("0")
    await chat.say("0")
    await chat.tap(t("doc.none", "en"))
    await chat.tap("Setu")
    await chat.tap("Babakan")
    await chat.tap(t("common.skip", "en"))
    summary = chat.last.text
    assert f"{t('ktp.label.whose', 'en')}: {t('ktp.whose.family', 'en')}" in summary
    assert f"{t('ktp.label.owner_name', 'en')}: Ahmad Fauzi" in summary

    # And back to Indonesian at the summary: the summary again, now in Indonesian.
    await chat.command("bahasa")
    await chat.tap(t("language.id"))
    assert chat.replies[0].text == t("language.done")
    assert f"{t('ktp.label.owner_name')}: Ahmad Fauzi" in chat.last.text
    await chat.tap(t("form.send"))
    done = chat.replies[0].text
    assert t("ktp.steps.disaster") in done
    stored = await case(service, reference_in(done, "KTP"))
    assert stored.subject_name == "Ahmad Fauzi" and stored.answers["what_happened"] == "terbakar"
    contact = await repo.get_contact(service.db, chat.contact)
    assert contact is not None and contact.language == "id"


async def test_idle_form_offers_continue(chat: Chat, clock: Clock) -> None:
    await agree(chat)
    await start_family_ktp(chat)
    await chat.tap(t("ktp.what.hilang"))
    assert chat.last.text == t("ktp.q.when")
    clock.advance(hours=1)  # a short pause: no question about it
    await chat.tap(t("ktp.when.month"))
    assert chat.last.text == t("ktp.q.nik.other", name="Ahmad Fauzi")
    clock.advance(hours=3)
    await chat.say("0")
    assert chat.last.text == t("resume.prompt", title=t("ktp.title"))
    assert [c.label for c in chat.last.choices] == [
        t("resume.continue"),
        t("resume.restart"),
        t("resume.menu"),
    ]
    await chat.say("entah")
    assert chat.replies[0].text == t("err.choose", count=3)
    assert chat.last.text == t("resume.prompt", title=t("ktp.title"))
    await chat.tap(t("resume.continue"))
    assert chat.last.text == t("ktp.q.nik.other", name="Ahmad Fauzi")  # the "0" above was not taken
    await chat.say("0")
    await chat.say("0")
    await chat.tap(t("doc.none"))
    await chat.tap("Ciputat")
    await chat.tap("Serua")
    await chat.tap(t("common.skip"))
    summary = chat.last.text
    assert f"{t('ktp.label.owner_name')}: Ahmad Fauzi" in summary
    assert f"{t('ktp.label.what_happened')}: {t('ktp.what.hilang')}" in summary
    assert f"{t('ktp.label.when')}: {t('ktp.when.month')}" in summary


async def test_idle_form_can_restart_or_wait_at_the_menu(chat: Chat, service: Service, clock: Clock) -> None:
    await agree(chat)
    await start_family_ktp(chat)
    clock.advance(hours=3)
    await chat.say("hilang")
    assert chat.last.text == t("resume.prompt", title=t("ktp.title"))
    await chat.tap(t("resume.restart"))
    assert chat.last.text == t("ktp.q.whose")  # the first question, nothing kept
    await chat.tap(t("ktp.whose.other"))
    assert chat.last.text == t("ktp.q.owner_name.other")  # the name typed before is gone
    await chat.say("Dewi Lestari")
    clock.advance(hours=3)
    await chat.say("dicuri")
    await chat.tap(t("resume.menu"))
    assert chat.last.text == t("menu.draft_kept") + "\n\n" + t("menu.prompt")
    await chat.tap(t("menu.lost_ktp"))
    assert chat.last.text == t("resume.prompt", title=t("ktp.title"))
    await chat.tap(t("resume.continue"))
    assert chat.last.text == t("ktp.q.what_happened.other", name="Dewi Lestari")
    conversation = await service.db.fetchval(
        "SELECT data FROM conversations WHERE contact_id = ?", (chat.contact,)
    )
    assert "Ahmad" not in str(conversation)


async def test_menu_mid_form_keeps_the_draft(chat: Chat) -> None:
    await agree(chat)
    await chat.tap(t("menu.aid"))
    await chat.tap(t("aid.for_other"))
    await chat.say("Budi Santoso")
    await chat.tap(t("aid.kind.training"))
    assert chat.last.text == t("aid.q.training_skill")
    await chat.say("MENU")
    assert chat.last.text == t("menu.draft_kept") + "\n\n" + t("menu.prompt")
    await chat.tap(t("menu.aid"))
    assert chat.last.text == t("resume.prompt", title=t("aid.title"))
    await chat.tap(t("resume.continue"))
    assert chat.last.text == t("aid.q.training_skill")

    # An old menu button pressed mid-form also keeps the draft; another form starts fresh.
    await chat.choose("menu:lost_ktp")
    assert chat.last.text == t("ktp.q.whose")
    await chat.choose("menu:aid")
    assert chat.last.text == t("resume.prompt", title=t("aid.title"))
    await chat.tap(t("resume.continue"))
    await chat.tap(t("skill.masak"))
    assert chat.last.text == t("aid.q.description")


async def test_back_help_cancel_and_broadcast_words(chat: Chat, service: Service) -> None:
    await agree(chat)
    await chat.say("kembali")  # nothing to go back to at the menu
    assert chat.last.text == t("menu.prompt")
    await chat.say("batal")
    assert chat.last.text == t("common.nothing_to_cancel") + "\n\n" + t("menu.prompt")
    await chat.say("bantuan")
    assert chat.replies[0].text == t("help.menu")
    await chat.say("apa ini")
    assert [r.text for r in chat.replies] == [t("menu.not_understood"), t("menu.prompt")]

    await start_family_ktp(chat)
    await chat.say("bantuan")
    assert [r.text for r in chat.replies] == [
        t("help.generic"),
        t("ktp.q.what_happened.other", name="Ahmad Fauzi"),
    ]
    await chat.tap(t("ktp.what.rusak"))
    await chat.say("KEMBALI")
    assert chat.last.text == t("ktp.q.what_happened.other", name="Ahmad Fauzi")
    await chat.say("kembali")
    assert chat.last.text == t("ktp.q.owner_name.other")
    await chat.say("Ahmad Fauzi")

    # "berhenti" mid-form asks what is meant; only the chosen answer stops information messages.
    await chat.say("berhenti")
    assert chat.last.text == t("words.stop_in_form", title=t("ktp.title"))
    await chat.tap(t("words.stop_info"))
    assert chat.replies[0].text == t("optout.done")
    assert chat.last.text == t("ktp.q.what_happened.other", name="Ahmad Fauzi")
    contact = await repo.get_contact(service.db, chat.contact)
    assert contact is not None and contact.opted_out
    await chat.say("mulai")
    assert chat.last.text == t("words.start_in_form", title=t("ktp.title"))
    await chat.tap(t("words.start_info"))
    assert chat.replies[0].text == t("optout.undone")
    assert chat.last.text == t("ktp.q.what_happened.other", name="Ahmad Fauzi")
    contact = await repo.get_contact(service.db, chat.contact)
    assert contact is not None and not contact.opted_out

    await chat.say("batal")
    assert chat.last.text == t("form.cancel_confirm", title=t("ktp.title"))
    await chat.tap(t("common.no"))
    assert chat.last.text == t("ktp.q.what_happened.other", name="Ahmad Fauzi")
    await chat.say("batal")
    await chat.tap(t("common.yes"))
    assert [r.text for r in chat.replies] == [t("form.cancelled", title=t("ktp.title")), t("menu.prompt")]
    await chat.tap(t("menu.lost_ktp"))
    assert chat.last.text == t("ktp.q.whose")  # a cancelled draft is not offered again
