"""Aid-request transcripts: training with a skill, a voice note, other kinds, and a full run in English."""

from bot.app import Service
from handlers.registration import SKILLS
from tests.flow_steps import agree, case, person_named, reference_in, register, t
from tests.support import Chat


async def test_training_request_with_voice_note(chat: Chat, service: Service) -> None:
    await agree(chat)
    await register(chat, name="Siti Aminah")
    me = await person_named(service, chat.contact, "Siti Aminah")

    await chat.tap(t("menu.aid"))
    assert chat.last.text == t("aid.q.for_whom")
    await chat.tap(t("aid.for_self"))
    assert chat.last.text == t("aid.q.kind")  # registered: her name is not asked again
    assert len(chat.last.choices) == 10  # the ATENSI groups, schooling and other: one WhatsApp list
    await chat.tap(t("aid.kind.training"))
    assert chat.last.text == t("aid.q.training_skill")
    assert [c.label for c in chat.last.choices] == [t(option.label_key) for option in SKILLS]
    await chat.tap(t("skill.menjahit"))
    assert chat.last.text == t("aid.q.description")
    await chat.send_media("photo", "not-a-voice")  # a photo is not a description
    assert chat.replies[0].text == t("err.description")
    assert chat.last.text == t("aid.q.description")
    await chat.send_media("voice", "voice-123")
    assert chat.last.text == t("aid.q.urgency")
    await chat.tap(t("aid.urgency.week"))
    assert chat.last.text == t("aid.q.people")
    await chat.say("banyak")
    assert chat.replies[0].text == t("err.count_format")
    await chat.say("4 orang")
    assert chat.last.text == t("aid.q.kecamatan.self")
    await chat.say("pamulang")
    await chat.say("benda baru")
    assert chat.last.text == t("aid.q.photo")
    assert chat.last.request == "photo"
    await chat.say("0")

    summary = chat.last.text
    assert summary.startswith(t("form.summary", title=t("aid.title"), lines="")[:10])
    assert f"2. {t('aid.label.kind')}: {t('aid.kind.training')}" in summary
    assert f"3. {t('aid.label.training_skill')}: {t('skill.menjahit')}" in summary
    assert f"4. {t('aid.label.description')}: {t('common.voice_attached')}" in summary
    assert f"5. {t('aid.label.urgency')}: {t('aid.urgency.week')}" in summary
    assert f"6. {t('aid.label.people')}: 4" in summary
    assert f"{t('aid.label.photo')}: {t('common.none')}" in summary
    await chat.tap(t("form.send"))
    done = chat.replies[0].text
    assert reference_in(done, "BAN") == "BAN-2026-000001"
    assert done == t("aid.done", reference="BAN-2026-000001") + "\n\n" + t("menu.prompt")

    stored = await case(service, "BAN-2026-000001")
    assert stored.kind == "aid" and stored.status == "baru"
    assert stored.person_id == me.id and stored.subject_name == "Siti Aminah"
    assert stored.kecamatan_code == "36.74.06" and stored.kelurahan_code == "36.74.06.1002"
    assert stored.answers["aid_kind"] == "training" and stored.answers["training_skill"] == "menjahit"
    assert stored.answers["description"] == {"voice": "voice-123", "mime": None}
    assert stored.answers["urgency"] == "week" and stored.answers["people"] == 4
    assert stored.answers["photo"] is None


async def test_other_kinds_have_no_skill_question(chat: Chat, service: Service) -> None:
    await agree(chat)
    await chat.tap(t("menu.aid"))
    await chat.tap(t("aid.for_other"))
    assert chat.last.text == t("aid.q.name")
    await chat.say("budi santoso")
    assert chat.last.text == t("aid.q.kind")
    await chat.say("sembako")
    assert chat.last.text == t("aid.q.description")  # no skill question for basic needs
    await chat.say("Lapak terbakar, butuh makanan dan pakaian untuk anak-anak.")
    await chat.tap(t("aid.urgency.today"))
    await chat.say("6")
    assert chat.last.text == t("aid.q.kecamatan.other", name="Budi Santoso")
    await chat.tap("Setu")
    await chat.say("1")
    await chat.send_media("photo", "lapak-1")
    summary = chat.last.text
    assert f"{t('aid.label.name')}: Budi Santoso" in summary
    assert t("aid.label.training_skill") not in summary
    assert "Lapak terbakar, butuh makanan dan pakaian untuk anak-anak." in summary
    assert f"{t('aid.label.photo')}: {t('common.photo_attached')}" in summary

    # Changing the kind to training brings the skill question in; back to basic needs drops it again.
    lines = summary.splitlines()
    kind_line = next(line for line in lines if t("aid.label.kind") in line)
    await chat.say(f"ubah {kind_line.split('.')[0]}")
    assert chat.last.text == t("aid.q.kind")
    await chat.tap(t("aid.kind.training"))
    assert chat.last.text == t("aid.q.training_skill")
    await chat.tap(t("skill.montir"))
    assert f"{t('aid.label.training_skill')}: {t('skill.montir')}" in chat.last.text
    await chat.say(f"ubah {kind_line.split('.')[0]}")
    await chat.tap(t("aid.kind.health"))
    assert t("aid.label.training_skill") not in chat.last.text
    await chat.say("kirim")
    stored = await case(service, reference_in(chat.replies[0].text, "BAN"))
    assert stored.subject_name == "Budi Santoso" and stored.person_id is None
    assert stored.answers["aid_kind"] == "health" and "training_skill" not in stored.answers
    assert stored.answers["description"]["text"].startswith("Lapak terbakar")
    assert stored.answers["photo"]["ref"] == "lapak-1"
    assert stored.answers["people"] == 6 and stored.answers["urgency"] == "today"


async def test_aid_request_in_english(chat: Chat, service: Service) -> None:
    await agree(chat, "en")
    await chat.tap(t("menu.aid", "en"))
    assert chat.last.text == t("aid.q.for_whom", "en")
    await chat.say("myself")
    assert chat.last.text == t("aid.q.name", "en")  # not registered: the name is needed
    await chat.say("Rina Wati")
    assert chat.last.text == t("aid.q.kind", "en")
    await chat.say("training")
    assert chat.last.text == t("aid.q.training_skill", "en")
    await chat.say("phone repair")
    assert chat.last.text == t("aid.q.description", "en")
    await chat.say("I want to learn to fix phones so I can earn more.")
    assert chat.last.text == t("aid.q.urgency", "en")
    await chat.say("can wait")
    assert chat.last.text == t("aid.q.people", "en")
    await chat.say("1")
    assert chat.last.text == t("aid.q.kecamatan.self", "en")
    await chat.say("ciputat")
    await chat.say("serua")
    assert chat.last.text == t("aid.q.photo", "en")
    await chat.tap(t("common.skip", "en"))
    summary = chat.last.text
    assert summary.startswith(t("form.summary", "en", title=t("aid.title", "en"), lines="")[:10])
    assert f"{t('aid.label.training_skill', 'en')}: {t('skill.service_hp', 'en')}" in summary
    assert f"{t('aid.label.urgency', 'en')}: {t('aid.urgency.later', 'en')}" in summary
    await chat.tap(t("form.send", "en"))
    assert chat.replies[0].text == t("aid.done", "en", reference="BAN-2026-000001") + "\n\n" + t(
        "menu.prompt", "en"
    )
    stored = await case(service, "BAN-2026-000001")
    assert stored.subject_name == "Rina Wati"
    assert stored.answers["for_whom"] == "self" and stored.answers["training_skill"] == "service_hp"
    assert stored.answers["urgency"] == "later" and stored.kecamatan_code == "36.74.04"
