"""Lost-KTP transcripts: one's own burned card, a family member's card, and a full run in English."""

from bot.app import Service
from storage.crypto import Sealed
from tests.flow_steps import (
    KK,
    KK_MASKED,
    KK_TYPED,
    NIK,
    NIK_MASKED,
    NIK_TYPED,
    agree,
    case,
    person_named,
    raw_answers,
    reference_in,
    register,
    sent_texts,
    t,
)
from tests.support import Chat


def numbered(lang: str, *keys: str) -> str:
    """The numbered next steps of a lost-KTP report."""
    return "\n".join(f"{n}. {t(f'ktp.steps.{key}', lang)}" for n, key in enumerate(keys, start=1))


async def test_own_burned_ktp_with_numbers_photo_and_edit(chat: Chat, service: Service) -> None:
    await agree(chat)
    await register(chat, name="Siti Aminah")
    me = await person_named(service, chat.contact, "Siti Aminah")

    await chat.tap(t("menu.lost_ktp"))
    assert chat.last.text == t("ktp.q.whose")
    await chat.tap(t("ktp.whose.self"))
    # Registered as herself: her name is known, so the owner's name is not asked.
    assert chat.last.text == t("ktp.q.what_happened.self")
    assert [c.label for c in chat.last.choices] == [
        t("ktp.what.hilang"),
        t("ktp.what.terbakar"),
        t("ktp.what.rusak"),
        t("ktp.what.dicuri"),
    ]
    await chat.say("kebakaran")
    assert chat.last.text == t("ktp.q.when")
    await chat.tap(t("ktp.when.week"))
    assert chat.last.text == t("ktp.q.nik.self")
    await chat.say("3674 0157 0885")  # too short: explained kindly, asked again
    assert chat.replies[0].text == t("err.nik_length", count=12)
    assert chat.last.text == t("ktp.q.nik.self")
    await chat.say(NIK_TYPED)
    assert chat.last.text == t("ktp.q.kk.self")
    await chat.say(KK_TYPED)
    assert chat.last.text == t("ktp.q.documents_left.self") + "\n" + t("form.multi_hint")
    # Two picks in one answer, by the numbers shown.
    labels = [c.label for c in chat.last.choices]
    picks = [labels.index(t("ktp.doc.kk_copy")) + 1, labels.index(t("ktp.doc.police")) + 1]
    await chat.say(f"{picks[0]} dan {picks[1]}")
    assert chat.last.text == t("ktp.q.kecamatan.self")
    assert len(chat.last.choices) == 7
    await chat.tap("Pondok Aren")
    assert chat.last.text == t("reg.q.kelurahan", kecamatan="Pondok Aren")
    await chat.say("pondok kacang timur")
    assert chat.last.text == t("ktp.q.photo")
    assert chat.last.request == "photo"
    await chat.send_media("photo", "tg-photo-77")

    summary = chat.last.text
    assert summary.startswith(t("form.summary", title=t("ktp.title"), lines="")[:10])
    assert f"1. {t('ktp.label.whose')}: {t('ktp.whose.self')}" in summary
    assert f"2. {t('ktp.label.what_happened')}: {t('ktp.what.terbakar')}" in summary
    assert f"3. {t('ktp.label.when')}: {t('ktp.when.week')}" in summary
    assert f"4. {t('reg.label.nik')}: {NIK_MASKED}" in summary
    assert f"5. {t('ktp.label.kk')}: {KK_MASKED}" in summary
    assert f"{t('reg.label.kelurahan')}: Pondok Kacang Timur" in summary
    assert f"{t('ktp.label.photo')}: {t('common.photo_attached')}" in summary
    assert NIK not in summary and KK not in summary

    await chat.say("UBAH 3")
    assert chat.last.text == t("ktp.q.when")
    await chat.tap(t("ktp.when.month"))
    summary = chat.last.text  # straight back to the summary, the other answers untouched
    assert f"3. {t('ktp.label.when')}: {t('ktp.when.month')}" in summary
    assert f"4. {t('reg.label.nik')}: {NIK_MASKED}" in summary

    await chat.tap(t("form.send"))
    done = chat.replies[0].text
    assert reference_in(done, "KTP") == "KTP-2026-000001"
    # Burned, with a KK copy: no police letter, the kelurahan's letter, and the disaster service.
    steps = numbered("id", "check", "terbakar", "disaster", "kk_copy", "dukcapil")
    assert done == t("ktp.done", reference="KTP-2026-000001", steps=steps) + "\n\n" + t("menu.prompt")

    stored = await case(service, "KTP-2026-000001")
    assert stored.kind == "lost_ktp" and stored.status == "baru"
    assert stored.person_id == me.id and stored.subject_name == "Siti Aminah"
    assert stored.kecamatan_code == "36.74.03" and stored.kelurahan_code == "36.74.03.1007"
    answers = stored.answers
    assert answers["whose"] == "self" and answers["what_happened"] == "terbakar"
    assert answers["when"] == "month"
    assert answers["documents_left"] == ["kk_copy", "police"]
    assert answers["photo"] == {"kind": "photo", "ref": "tg-photo-77", "mime": None}
    assert "owner_name" not in answers and "_self_name" not in answers
    nik, kk = Sealed.model_validate(answers["nik"]), Sealed.model_validate(answers["kk"])
    assert (nik.m, kk.m) == (NIK_MASKED, KK_MASKED)
    assert service.services.sealer.open(nik) == NIK and service.services.sealer.open(kk) == KK
    assert stored.nik_hash == service.services.sealer.lookup_hash(NIK)
    raw = raw_answers(stored)
    assert NIK not in raw and KK not in raw
    assert NIK not in sent_texts(chat) and KK not in sent_texts(chat)


async def test_family_member_card_asks_owner_name_and_uses_it(chat: Chat, service: Service) -> None:
    await agree(chat)
    await chat.say("ktp")  # a menu word
    assert chat.last.text == t("ktp.q.whose")
    await chat.tap(t("ktp.whose.family"))
    assert chat.last.text == t("ktp.q.owner_name.other")
    await chat.say("AHMAD FAUZI")
    assert chat.last.text == t("ktp.q.what_happened.other", name="Ahmad Fauzi")
    await chat.say("hilang")
    await chat.say("tidak ingat")
    assert chat.last.text == t("ktp.q.nik.other", name="Ahmad Fauzi")
    await chat.say("tidak tahu")
    assert chat.last.text == t("ktp.q.kk.other", name="Ahmad Fauzi")
    await chat.say("0")
    assert chat.last.text.startswith(t("ktp.q.documents_left.other", name="Ahmad Fauzi"))
    await chat.tap(t("doc.none"))
    assert chat.last.text == t("ktp.q.kecamatan.other", name="Ahmad Fauzi")
    await chat.say("serpong utara")
    assert chat.last.text == t("reg.q.kelurahan", kecamatan="Serpong Utara")
    await chat.say("1")  # Pakulonan, the first offered
    assert chat.last.text == t("ktp.q.photo")
    await chat.tap(t("common.skip"))

    summary = chat.last.text
    assert f"{t('ktp.label.owner_name')}: Ahmad Fauzi" in summary
    assert f"{t('reg.label.nik')}: {t('common.unknown')}" in summary
    assert f"{t('ktp.label.kk')}: {t('common.unknown')}" in summary
    assert f"{t('ktp.label.documents_left')}: {t('doc.none')}" in summary
    assert f"{t('ktp.label.photo')}: {t('common.none')}" in summary
    await chat.say("kirim")
    done = chat.replies[0].text
    assert "KTP-2026-000001" in done
    # Lost, and no documents at all: the police letter, then RT/RW and kelurahan letters instead of a KK.
    assert (
        t(
            "ktp.done",
            reference="KTP-2026-000001",
            steps=numbered("id", "check", "hilang", "no_kk", "dukcapil"),
        )
        in done
    )
    assert t("ktp.steps.disaster") not in done  # lost, not burned

    stored = await case(service, "KTP-2026-000001")
    assert stored.subject_name == "Ahmad Fauzi" and stored.person_id is None
    assert stored.kelurahan_code == "36.74.02.1001"
    assert stored.answers["whose"] == "family" and stored.answers["when"] == "unknown"
    assert stored.answers["nik"] is None and stored.answers["kk"] is None and stored.nik_hash is None
    assert stored.answers["documents_left"] == [] and stored.answers["photo"] is None


async def test_own_card_when_not_registered_asks_the_name(chat: Chat, service: Service) -> None:
    await agree(chat)
    await chat.tap(t("menu.lost_ktp"))
    await chat.tap(t("ktp.whose.self"))
    assert chat.last.text == t("ktp.q.owner_name.self")  # asked about "you", not "the owner"
    await chat.say("Rina Wati")
    assert chat.last.text == t("ktp.q.what_happened.self")  # still "your KTP"


async def test_lost_ktp_in_english(chat: Chat, service: Service) -> None:
    await agree(chat, "en")
    await chat.tap(t("menu.lost_ktp", "en"))
    assert chat.last.text == t("ktp.q.whose", "en")
    await chat.tap(t("ktp.whose.other", "en"))
    assert chat.last.text == t("ktp.q.owner_name.other", "en")
    await chat.say("Dewi Lestari")
    assert chat.last.text == t("ktp.q.what_happened.other", "en", name="Dewi Lestari")
    await chat.say("stolen")
    assert chat.last.text == t("ktp.q.when", "en")
    await chat.tap(t("ktp.when.half_year", "en"))
    assert chat.last.text == t("ktp.q.nik.other", "en", name="Dewi Lestari")
    await chat.say("don't know")
    assert chat.last.text == t("ktp.q.kk.other", "en", name="Dewi Lestari")
    await chat.say(KK_TYPED)
    assert chat.last.text.startswith(t("ktp.q.documents_left.other", "en", name="Dewi Lestari"))
    await chat.say("1 4")
    assert chat.last.text == t("ktp.q.kecamatan.other", "en", name="Dewi Lestari")
    await chat.say("ciputat timur")
    assert chat.last.text == t("reg.q.kelurahan", "en", kecamatan="Ciputat Timur")
    await chat.say("rempoa")
    assert chat.last.text == t("ktp.q.photo", "en")
    await chat.say("skip")
    summary = chat.last.text
    assert summary.startswith(t("form.summary", "en", title=t("ktp.title", "en"), lines="")[:10])
    assert f"{t('ktp.label.what_happened', 'en')}: {t('ktp.what.dicuri', 'en')}" in summary
    assert f"{t('ktp.label.kk', 'en')}: {KK_MASKED}" in summary
    assert f"{t('ktp.label.documents_left', 'en')}: " in summary
    assert f"{t('ktp.doc.kk_copy', 'en')}, {t('ktp.doc.other_id', 'en')}" in summary
    await chat.say("send")
    done = chat.replies[0].text
    steps = numbered("en", "check", "dicuri", "kk_copy", "dukcapil")  # stolen: report it to the police
    assert done == t("ktp.done", "en", reference="KTP-2026-000001", steps=steps) + "\n\n" + t(
        "menu.prompt", "en"
    )
    stored = await case(service, "KTP-2026-000001")
    assert stored.subject_name == "Dewi Lestari"
    assert stored.answers["what_happened"] == "dicuri" and stored.answers["documents_left"] == [
        "kk_copy",
        "other_id",
    ]
    assert stored.answers["nik"] is None and stored.answers["kk"]["m"] == KK_MASKED
