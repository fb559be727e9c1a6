"""The Telegram channel end to end: real python-telegram-bot against a fake Bot API on 127.0.0.1.

A citizen registers by pressing buttons and typing, in polling mode and in webhook mode; staff approve
the case from its card in the staff group and the citizen hears about it; the sender slows down on 429
and loses or repeats nothing; the webhook refuses a wrong secret; a redelivered update is answered once;
non-staff are refused and audited; a blocked bot marks the contact unreachable until they write again.
"""

import asyncio
import contextlib
import json
import logging
import socket
import sqlite3
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from bot.app import Service, build_service
from bot.channels import telegram
from bot.channels.telegram import TelegramAdapter
from bot.channels.telegram.desk import state as desk_state
from bot.outbox import Channel
from bot.runner import run_service
from bot.settings import (
    OutreachSettings,
    ServiceSettings,
    Settings,
    StoreSettings,
    TelegramSettings,
    WebSettings,
)
from bot.web import build_asgi
from handlers.i18n import Catalog
from handlers.types import Choice, Reply
from storage import repo
from storage.contract import Tx
from storage.crypto import Sealer, load_or_create_key
from tests.fake_telegram import TOKEN, FakeTelegram, Sent
from tests.support import TEST_KEY, Clock, slow_outbox_take

CATALOG = Catalog.load()
STAFF_CHAT = -1001234567
PETUGAS = 501
VIEWER = 502
STRANGER = 999
CITIZEN = 7001
SECRET = "s3cret-Token_for-tests"
T = TypeVar("T")


def t(key: str, lang: str = "id", **params: object) -> str:
    return CATALOG.text(lang, key, **params)


async def within(awaitable: Awaitable[T], seconds: float = 5.0) -> T:
    return await asyncio.wait_for(awaitable, seconds)


def label_of(button_text: str) -> str:
    head, _, rest = button_text.partition(". ")
    return rest if head.isdigit() else button_text


@dataclass
class World:
    """The service with its Telegram channel, the fake Bot API, and a way to act as users."""

    fake: FakeTelegram
    service: Service
    adapter: TelegramAdapter
    settings: Settings
    mode: str
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    client: httpx.AsyncClient | None = None

    async def deliver(self, update: dict[str, Any]) -> None:
        """Hand an update to the bot (getUpdates or the webhook) and wait until it is handled."""
        if self.mode == "webhook":
            assert self.client is not None
            response = await self.client.post(
                "/webhooks/telegram", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
            )
            assert response.status_code == 200
        else:
            await self.fake.push(update)
        await within(self.adapter.wait_handled(update["update_id"]))
        await within(self.service.dispatcher.recorded())  # what became of each answer, committed

    async def exchange(self, chat: int, update: dict[str, Any]) -> list[Sent]:
        """Deliver an update; return what the bot sent to `chat` because of it."""
        before = len(self.fake.to(chat))
        await self.deliver(update)
        return self.fake.to(chat)[before:]

    def last_with_buttons(self, chat: int) -> Sent:
        return next(sent for sent in reversed(self.fake.to(chat)) if sent.buttons)

    async def say(self, user: int, text: str) -> list[Sent]:
        return await self.exchange(user, self.fake.text(user, text))

    async def tap(self, user: int, label: str) -> list[Sent]:
        """Press the button whose label starts with `label` on the latest message with buttons."""
        message = self.last_with_buttons(user)
        for text, data in message.buttons:
            if label_of(text).lower().startswith(label.lower()):
                return await self.exchange(user, self.fake.press(user, message, data))
        raise AssertionError(f"no button {label!r} in {message.buttons}")

    async def answer_to(self, press: dict[str, Any]) -> dict[str, Any]:
        """The bot's answerCallbackQuery for a press (it runs beside the step, so wait for it)."""
        query_id = press["callback_query"]["id"]

        def find() -> dict[str, Any] | None:
            return next((a for a in self.fake.answers if a["callback_query_id"] == query_id), None)

        await within(self.fake.wait_for(lambda: find() is not None))
        found = find()
        assert found is not None
        return found

    async def press(self, user: int, message: Sent, data: str, name: str = "Warga") -> dict[str, Any]:
        """Press a button; return the bot's answer to the press."""
        update = self.fake.press(user, message, data, name)
        await self.deliver(update)
        return await self.answer_to(update)


def telegram_settings(fake: FakeTelegram, mode: str, **overrides: Any) -> TelegramSettings:
    values: dict[str, Any] = {
        "token": TOKEN,
        "base_url": fake.base_url,
        "base_file_url": fake.base_file_url,
        "mode": mode,
        "webhook_url": "https://intake.example.org/webhooks/telegram",
        "webhook_secret": SECRET,
        "staff_chat_id": STAFF_CHAT,
        "staff": f"{PETUGAS}:petugas,{VIEWER}:viewer",
        "rate_per_second": 1000,
        "per_chat_interval_seconds": 0,
        "group_interval_seconds": 0,
        "poll_timeout_seconds": 1,
        "request_timeout_seconds": 2,
        "staff_poll_seconds": 0.05,
    }
    values.update(overrides)
    return TelegramSettings(**values)


@contextlib.asynccontextmanager
async def world(
    tmp_path: Path,
    clock: Clock,
    mode: str = "polling",
    fake: FakeTelegram | None = None,
    *,
    database_url: str | None = None,
    lease_seconds: float = 30.0,
    **overrides: Any,
) -> AsyncIterator[World]:
    own_fake = fake is None
    fake = fake or await FakeTelegram().start()
    settings = Settings(
        store=StoreSettings(
            data_dir=tmp_path / "data",
            secret_key=TEST_KEY,
            sqlite_synchronous="NORMAL",
            database_url=database_url,
        ),
        service=ServiceSettings(outbox_poll_seconds=0.05, lease_seconds=lease_seconds),
        telegram=telegram_settings(fake, mode, **overrides),
        outreach=OutreachSettings(quiet_start="00:00", quiet_end="00:00"),
    )
    channels: dict[str, Channel] = {}
    service = await build_service(settings, channels, clock=clock)
    adapter = await telegram.start(settings, service)
    channels[adapter.channel.scheme] = adapter.channel
    runtime = telegram.runtime(adapter)
    here = World(fake, service, adapter, settings, mode)
    here.tasks = [asyncio.create_task(service.dispatcher.run())]
    here.tasks += [asyncio.create_task(task) for task in runtime.tasks]
    if mode == "webhook":
        app = build_asgi(runtime.routes)
        here.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake.test")
    try:
        yield here
    finally:
        for task in here.tasks:
            task.cancel()
        await asyncio.gather(*here.tasks, return_exceptions=True)
        if here.client is not None:
            await here.client.aclose()
        await adapter.stop()
        await service.close()
        if own_fake:
            await fake.stop()


async def register(w: World, user: int) -> str:
    """A full self-registration through Telegram: buttons, typing, contact and location sharing."""
    sent = await w.say(user, "halo")
    assert sent[0].text == t("consent.notice")
    assert label_of(sent[0].buttons[0][0]) == t("consent.agree")
    sent = await w.tap(user, t("consent.agree"))
    assert any(t("menu.prompt") in (s.text or "") for s in sent)
    await w.tap(user, t("menu.registration"))
    await w.tap(user, t("reg.for_self"))
    sent = await w.say(user, "siti aminah")
    assert sent[-1].text == t("reg.q.nik.self")
    sent = await w.say(user, "3674015708850001")  # it answers the birth date and sex questions too
    assert sent[-1].text == t("reg.q.phone.self")
    assert sent[-1].request == "contact"  # a "share my number" button
    sent = await w.exchange(user, w.fake.contact(user, "+6281234567890"))
    assert sent[-1].text == t("reg.q.kecamatan.self")
    assert len(sent[-1].buttons) == 7
    assert sent[-1].params.get("reply_markup", {}).get("remove_keyboard") is None  # buttons win
    await w.tap(user, "Pondok Aren")
    sent = await w.say(user, "jurang mangu timur")
    assert sent[-1].text == t("reg.q.address.self")
    assert [s.request for s in sent][-1] == "location"  # the address, or a shared location first
    sent = await w.exchange(user, w.fake.location(user, -6.2754, 106.7174))
    assert sent[-1].text == t("form.address_after_location")
    sent = await w.say(user, "Jl. H. Sarmili RT 03/RW 05")
    assert sent[-1].text == t("reg.q.household_size.self")
    await w.say(user, "5")
    await w.say(user, "1 2")
    await w.tap(user, t("common.yes"))
    await w.tap(user, t("doc.kk"))  # one tap is the answer: no "Selesai" turn
    sent = await w.tap(user, t("received.none"))
    summary = sent[-1].text or ""
    assert "Siti Aminah" in summary and "3674********0001" in summary
    sent = await w.tap(user, t("form.send"))
    assert "REG-2026-000001" in (sent[0].text or "")
    return "REG-2026-000001"


@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_citizen_registers_by_buttons_and_typing(
    tmp_path: Path, clock: Clock, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with world(tmp_path, clock, mode) as w:
        reference = await register(w, CITIZEN)
        # Neither the bot token nor what the person typed reaches the logs, even at DEBUG.
        assert TOKEN not in caplog.text and "3674015708850001" not in caplog.text
        assert "Sarmili" not in caplog.text
        case = await repo.get_case(w.service.db, reference)
        assert case is not None and case.subject_name == "Siti Aminah"
        assert case.contact_id == f"telegram:{CITIZEN}"
        person = (await repo.persons_of_contact(w.service.db, f"telegram:{CITIZEN}"))[0]
        assert person.phone == "+6281234567890" and person.latitude == pytest.approx(-6.2754)
        # Every press was answered, and every pressed question shows the choice instead of its buttons.
        presses = w.fake.calls["answerCallbackQuery"]
        assert presses >= 8
        pressed = [s for s in w.fake.to(CITIZEN) if s.edits]
        assert len(pressed) == presses
        assert all(s.reply_markup is None and "✅" in (s.text or "") for s in pressed)
        if mode == "webhook":
            assert w.fake.webhook is not None and w.fake.webhook["secret_token"] == SECRET
        # Handled updates leave nothing behind in the inbox.
        await w.adapter.inbox.flush()
        assert await w.service.db.fetchval("SELECT COUNT(*) FROM webhook_inbox") == 0


async def test_slash_commands_are_the_global_words(tmp_path: Path, clock: Clock) -> None:
    async with world(tmp_path, clock) as w:
        await w.say(CITIZEN, "/start")
        await w.tap(CITIZEN, t("consent.agree"))
        await w.tap(CITIZEN, t("menu.registration"))
        await w.tap(CITIZEN, t("reg.for_self"))
        sent = await w.say(CITIZEN, "/bantuan")
        assert sent[0].text == t("help.full_name")  # help for the question being asked...
        assert sent[-1].text == t("reg.q.full_name.self")  # ...which is asked again
        sent = await w.say(CITIZEN, "/menu@dinsos_test_bot")
        assert t("menu.prompt") in (sent[-1].text or "") and len(sent[-1].buttons) == 8
        sent = await w.say(CITIZEN, "/batal")
        assert t("common.nothing_to_cancel") in (sent[0].text or "")
        sent = await w.say(CITIZEN, "/foo")  # not a command of this bot: read as a typed answer
        assert sent[0].text == t("menu.not_understood")
        assert any(c.get("command") == "batal" for c in w.fake.commands[""])  # shown in Telegram's menu
        assert any(c.get("command") == "cancel" for c in w.fake.commands["en"])


async def card_of(w: World, reference: str) -> Sent:
    """The new-case card the poster put in the staff group, once the bot has recorded which case it is
    about (it posts the card, then records it: an officer's reply to the card is read through that)."""
    await within(w.fake.wait_for(lambda: any(reference in (s.text or "") for s in w.fake.to(STAFF_CHAT))))
    card = next(s for s in w.fake.to(STAFF_CHAT) if reference in (s.text or "") and s.buttons)
    for _ in range(500):  # within 5 s
        if await desk_state.case_of_card(w.service.db, card.message_id) is not None:
            return card
        await asyncio.sleep(0.01)
    raise AssertionError("the card posted in the staff group was never recorded")


def button(card: Sent, label: str) -> str:
    return next(data for text, data in card.buttons if text == label)


async def case_status(w: World, reference: str) -> str:
    case = await repo.get_case(w.service.db, reference)
    assert case is not None
    return str(case.status)


async def test_staff_approve_from_the_card_reaches_the_citizen(tmp_path: Path, clock: Clock) -> None:
    async with world(tmp_path, clock) as w:
        reference = await register(w, CITIZEN)
        card = await card_of(w, reference)
        text = card.text or ""
        assert t("kind.registration") in text and "Pondok Aren" in text and "Siti Aminah" in text
        assert "3674********0001" in text and "3674015708850001" not in text
        assert "0812-3456-7890" not in text  # the phone number is masked on Telegram's servers
        assert "+6281******890" in text
        assert [label for label, _ in card.buttons] == [
            t("staff.btn.proses"),
            t("staff.btn.info"),
            t("staff.btn.setuju"),
            t("staff.btn.tolak"),
        ]
        before = len(w.fake.to(CITIZEN))
        answer = await w.press(PETUGAS, card, button(card, t("staff.btn.setuju")), name="Budi")
        assert answer["text"] == t("staff.done", reference=reference, status=t("staff.status.disetujui"))
        assert await case_status(w, reference) == "disetujui"
        expected = t("notify.disetujui", reference=reference, note=t("notify.note_fallback"))
        await within(w.fake.wait_for(lambda: any(s.text == expected for s in w.fake.to(CITIZEN)[before:])))
        # The card now says who did what, and offers only what may follow.
        assert t("staff.status.disetujui") in (card.text or "") and "Budi" in (card.text or "")
        assert [label for label, _ in card.buttons] == [t("staff.btn.selesai")]
        actor = await w.service.db.fetchval("SELECT actor FROM audit_log WHERE action = 'case.status'")
        assert actor == f"telegram:{PETUGAS}"


async def test_rejection_asks_for_the_reason_in_the_group(tmp_path: Path, clock: Clock) -> None:
    async with world(tmp_path, clock) as w:
        reference = await register(w, CITIZEN)
        card = await card_of(w, reference)
        sent = await w.exchange(
            STAFF_CHAT, w.fake.press(PETUGAS, card, button(card, t("staff.btn.tolak")), "Budi")
        )
        prompt = sent[-1]
        assert prompt.text == t("staff.ask_reason", name="Budi", reference=reference)
        assert prompt.params["reply_markup"]["force_reply"] is True
        assert await case_status(w, reference) == "baru"  # nothing changes before the reason is written
        # Another staff member cannot answer someone else's prompt; a too-short reason is asked again.
        other = await w.exchange(STAFF_CHAT, w.fake.group_text(STAFF_CHAT, 503, "ok", reply_to=prompt))
        assert [s.text for s in other] == [t("staff.refused")]
        short = await w.exchange(
            STAFF_CHAT, w.fake.group_text(STAFF_CHAT, PETUGAS, "no", "Budi", reply_to=prompt)
        )
        assert [s.text for s in short] == [t("staff.note_empty")]
        reason = "KTP yang dilampirkan bukan milik pemohon"
        before = len(w.fake.to(CITIZEN))
        await w.deliver(w.fake.group_text(STAFF_CHAT, PETUGAS, reason, "Budi", reply_to=prompt))
        assert await case_status(w, reference) == "ditolak"
        expected = t("notify.ditolak", reference=reference, reason=reason)
        await within(w.fake.wait_for(lambda: any(s.text == expected for s in w.fake.to(CITIZEN)[before:])))
        # The same reply delivered again changes nothing.
        again = await w.exchange(
            STAFF_CHAT, w.fake.group_text(STAFF_CHAT, PETUGAS, reason, "Budi", reply_to=prompt)
        )
        assert again == []
        events = await w.service.db.fetchval(
            "SELECT COUNT(*) FROM case_events WHERE action = 'status_changed' AND note = ?", (reason,)
        )
        assert events == 1


async def test_perlu_info_question_and_the_citizens_answer(tmp_path: Path, clock: Clock) -> None:
    async with world(tmp_path, clock) as w:
        reference = await register(w, CITIZEN)
        card = await card_of(w, reference)
        sent = await w.exchange(
            STAFF_CHAT, w.fake.press(PETUGAS, card, button(card, t("staff.btn.info")), "Budi")
        )
        question = "Apakah masih punya fotokopi KK?"
        await w.deliver(w.fake.group_text(STAFF_CHAT, PETUGAS, question, "Budi", reply_to=sent[-1]))
        assert await case_status(w, reference) == "perlu_info"
        expected = t("notify.perlu_info", reference=reference, question=question)
        await within(w.fake.wait_for(lambda: any(s.text == expected for s in w.fake.to(CITIZEN))))
        # The citizen answers with a photo: it is fetched at once, kept, and staff can open it from the card.
        photo = b"\xff\xd8\xff\xe0-fake-jpeg-" + bytes(range(200))
        replies = await w.exchange(CITIZEN, w.fake.photo(CITIZEN, photo))
        assert replies[0].text == t("info.thanks", reference=reference)
        assert await case_status(w, reference) == "diproses"
        stored = list((w.settings.store.data_dir / "media").rglob("*.jpg"))
        assert [p.read_bytes() for p in stored] == [photo]
        # The answer is posted in the staff group, so staff can reply to it.
        posted = t(
            "staff.citizen_wrote",
            reference=reference,
            name="Siti Aminah",
            text=t("staff.citizen_sent_file", kind="photo"),
        )
        await within(w.fake.wait_for(lambda: any(s.text == posted for s in w.fake.to(STAFF_CHAT))))
        sent = await w.exchange(
            STAFF_CHAT, w.fake.group_text(STAFF_CHAT, VIEWER, f"/kasus {reference.lower()}")
        )
        fresh_card = sent[-1]
        photo_button = button(fresh_card, t("staff.btn.photo", number=1))
        sent = await w.exchange(STAFF_CHAT, w.fake.press(VIEWER, fresh_card, photo_button, "Ani"))
        assert [s.method for s in sent] == ["sendPhoto"] and sent[0].file_bytes == len(photo)
        viewed = await w.service.db.fetchall(
            "SELECT actor, action FROM audit_log WHERE target = ?", (reference,)
        )
        assert (f"telegram:{VIEWER}", "case.file_viewed") in [(r["actor"], r["action"]) for r in viewed]
        assert (f"telegram:{VIEWER}", "case.view") in [(r["actor"], r["action"]) for r in viewed]


async def test_non_staff_are_refused_and_audited(tmp_path: Path, clock: Clock) -> None:
    async with world(tmp_path, clock) as w:
        reference = await register(w, CITIZEN)
        card = await card_of(w, reference)
        for user, refusal in ((STRANGER, "staff.refused"), (VIEWER, "staff.refused_viewer")):
            answer = await w.press(user, card, button(card, t("staff.btn.setuju")), "Orang")
            assert answer["text"] == t(refusal) and answer["show_alert"] in (True, "true")
        sent = await w.exchange(STAFF_CHAT, w.fake.group_text(STAFF_CHAT, STRANGER, "/antrian"))
        assert [s.text for s in sent] == [t("staff.refused")]
        sent = await w.exchange(STAFF_CHAT, w.fake.group_text(STAFF_CHAT, STRANGER, f"/kasus {reference}"))
        assert [s.text for s in sent] == [t("staff.refused")]
        assert await case_status(w, reference) == "baru"
        assert (
            await w.service.db.fetchval("SELECT COUNT(*) FROM case_events WHERE action = 'status_changed'")
            == 0
        )
        refusals = await w.service.db.fetchall(
            "SELECT actor, target, detail FROM audit_log WHERE action = 'telegram.refused' ORDER BY id"
        )
        assert [(r["actor"], r["target"]) for r in refusals] == [
            (f"telegram:{STRANGER}", reference),
            (f"telegram:{VIEWER}", reference),
            (f"telegram:{STRANGER}", "/antrian"),
            (f"telegram:{STRANGER}", "/kasus"),
        ]
        # Nothing reached the citizen either.
        assert not any(t("staff.status.disetujui") in (s.text or "") for s in w.fake.to(CITIZEN))


async def test_staff_commands_queue_case_and_search(tmp_path: Path, clock: Clock) -> None:
    async with world(tmp_path, clock) as w:
        reference = await register(w, CITIZEN)
        await card_of(w, reference)
        sent = await w.exchange(STAFF_CHAT, w.fake.group_text(STAFF_CHAT, VIEWER, "/antrian@dinsos_test_bot"))
        assert reference in (sent[-1].text or "") and "Siti Aminah" in (sent[-1].text or "")
        sent = await w.exchange(STAFF_CHAT, w.fake.group_text(STAFF_CHAT, VIEWER, "/antrian ditolak"))
        assert sent[-1].text == t("staff.queue_empty")
        sent = await w.exchange(
            STAFF_CHAT, w.fake.group_text(STAFF_CHAT, VIEWER, "/antrian baru reg pd aren")
        )
        assert reference in (sent[-1].text or "")
        sent = await w.exchange(STAFF_CHAT, w.fake.group_text(STAFF_CHAT, VIEWER, "/antrian baru pamulang"))
        assert sent[-1].text == t("staff.queue_empty")
        sent = await w.exchange(STAFF_CHAT, w.fake.group_text(STAFF_CHAT, VIEWER, "/antrian xyzzy"))
        assert sent[-1].text == t("staff.filter_unknown", words="xyzzy")
        sent = await w.exchange(STAFF_CHAT, w.fake.group_text(STAFF_CHAT, PETUGAS, "/cari aminah"))
        assert reference in (sent[-1].text or "")
        sent = await w.exchange(STAFF_CHAT, w.fake.group_text(STAFF_CHAT, PETUGAS, "/cari REG-2026"))
        assert reference in (sent[-1].text or "")
        sent = await w.exchange(STAFF_CHAT, w.fake.group_text(STAFF_CHAT, PETUGAS, "/cari 100%"))
        assert sent[-1].text == t("staff.search_none")
        sent = await w.exchange(STAFF_CHAT, w.fake.group_text(STAFF_CHAT, PETUGAS, "/kasus REG-2026-999999"))
        assert sent[-1].text == t("staff.not_found", reference="REG-2026-999999")
        # Past the registration target (3 working days), the queue says so.
        assert t("staff.overdue") not in (sent[-1].text or "")
        clock.advance(days=10)
        sent = await w.exchange(STAFF_CHAT, w.fake.group_text(STAFF_CHAT, VIEWER, "/antrian"))
        assert reference in (sent[-1].text or "") and t("staff.overdue") in (sent[-1].text or "")
        # Ordinary chatter in the group is left alone.
        assert await w.exchange(STAFF_CHAT, w.fake.group_text(STAFF_CHAT, PETUGAS, "selamat pagi")) == []


async def test_cards_are_not_posted_again_after_a_restart(tmp_path: Path, clock: Clock) -> None:
    async with FakeTelegram() as fake:
        async with world(tmp_path, clock, fake=fake) as w:
            reference = await register(w, CITIZEN)
            await card_of(w, reference)
        cards = len(fake.to(STAFF_CHAT))
        async with world(tmp_path, clock, fake=fake) as w:
            await asyncio.sleep(0.3)  # several rounds of the poster
            assert len(fake.to(STAFF_CHAT)) == cards
            await w.say(CITIZEN, "menu")
            await w.tap(CITIZEN, t("menu.talk"))
            await w.say(CITIZEN, "Saya butuh bantuan untuk mengurus KK")
            await within(fake.wait_for(lambda: len(fake.to(STAFF_CHAT)) == cards + 1))
            assert t("kind.message") in (fake.to(STAFF_CHAT)[-1].text or "")


async def count(w: World, sql: str, *params: Any) -> int:
    return int(await w.service.db.fetchval(sql, params))


async def test_webhook_refuses_a_wrong_or_missing_secret(tmp_path: Path, clock: Clock) -> None:
    async with world(tmp_path, clock, "webhook") as w:
        assert w.client is not None
        update = w.fake.text(CITIZEN, "halo")
        for headers in (
            {},
            {"X-Telegram-Bot-Api-Secret-Token": "wrong"},
            {"X-Telegram-Bot-Api-Secret-Token": ""},
        ):
            response = await w.client.post("/webhooks/telegram", json=update, headers=headers)
            assert response.status_code == 403
        good = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        too_big = {"update_id": 1, "message": {"text": "x" * w.settings.web.max_body_bytes}}
        assert (await w.client.post("/webhooks/telegram", json=too_big, headers=good)).status_code == 413
        bad = await w.client.post("/webhooks/telegram", content=b"{not json", headers=good)
        assert bad.status_code == 400
        assert (await w.client.get("/webhooks/telegram", headers=good)).status_code == 405
        await asyncio.sleep(0.1)
        for table in ("webhook_inbox", "inbound", "contacts", "outbox"):
            assert await count(w, f"SELECT COUNT(*) FROM {table}") == 0, table
        assert w.fake.sent == []
        # The right secret is let in.
        response = await w.client.post("/webhooks/telegram", json=update, headers=good)
        assert response.status_code == 200
        await within(w.adapter.wait_handled(update["update_id"]))
        assert [s.text for s in w.fake.to(CITIZEN)] == [t("consent.notice")]


@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_a_redelivered_update_is_answered_once(tmp_path: Path, clock: Clock, mode: str) -> None:
    async with world(tmp_path, clock, mode) as w:
        update = w.fake.text(CITIZEN, "halo")
        first = await w.exchange(CITIZEN, update)
        assert [s.text for s in first] == [t("consent.notice")]
        assert await w.exchange(CITIZEN, update) == []
        press = w.fake.press(CITIZEN, first[0], first[0].buttons[0][1])
        assert len(await w.exchange(CITIZEN, press)) >= 1
        assert await w.exchange(CITIZEN, press) == []
        assert await count(w, "SELECT COUNT(*) FROM outbox") == len(w.fake.to(CITIZEN))


async def test_an_old_button_gets_a_short_answer_and_loses_its_buttons(tmp_path: Path, clock: Clock) -> None:
    async with world(tmp_path, clock) as w:
        notice = (await w.say(CITIZEN, "halo"))[0]
        await w.say(CITIZEN, "halo")  # asked again: the first notice's buttons are now stale
        before = len(w.fake.to(CITIZEN))
        answer = await w.press(CITIZEN, notice, notice.buttons[0][1])
        assert answer["text"] == t("tg.button_old")
        await within(w.fake.wait_for(lambda: notice.reply_markup is None))
        assert len(w.fake.to(CITIZEN)) == before
        contact = await repo.get_contact(w.service.db, f"telegram:{CITIZEN}")
        assert contact is not None and contact.consent is None  # the old button agreed to nothing
        # A button nobody sent (unknown short key) is answered the same way, and nothing else happens.
        current = w.last_with_buttons(CITIZEN)
        assert (await w.press(CITIZEN, current, "~" + "0" * 32))["text"] == t("tg.button_old")
        assert len(w.fake.to(CITIZEN)) == before
        # A second press on the same question (a double tap) is stale too.
        buttons = current.buttons
        assert "text" not in await w.press(CITIZEN, current, buttons[0][1])
        after_first = len(w.fake.to(CITIZEN))
        assert after_first > before
        assert (await w.press(CITIZEN, current, buttons[1][1]))["text"] == t("tg.button_old")
        assert len(w.fake.to(CITIZEN)) == after_first


async def test_sender_slows_down_on_429_and_loses_or_repeats_nothing(tmp_path: Path, clock: Clock) -> None:
    fake = await FakeTelegram(limit_per_second=40, retry_after=1).start()
    try:
        async with world(tmp_path, clock, fake=fake, rate_per_second=400) as w:
            people = [f"telegram:{8000 + i}" for i in range(100)]
            await queue_broadcast(w, people)
            await within(fake.wait_for(lambda: len(fake.sent) >= len(people)), 20)
            await asyncio.sleep(0.2)
            assert sorted(s.chat_id for s in fake.sent) == sorted(8000 + i for i in range(100))  # once each
            assert fake.limited >= 1  # the limit was really hit...
            assert fake.limited <= 40  # ...and each 429 was answered by waiting, not by hammering
            assert w.adapter.channel.pacer.current < 400  # the sender slowed down
            assert fake.last_sent is not None and fake.first_sent is not None
            assert fake.last_sent - fake.first_sent >= 1.0
            statuses = await w.service.db.fetchall("SELECT status, COUNT(*) AS n FROM outbox GROUP BY status")
            assert {r["status"]: r["n"] for r in statuses} == {"sent": 100}
    finally:
        await fake.stop()


async def queue_broadcast(w: World, people: list[str]) -> None:
    now = w.service.engine.clock()

    def queue(conn: Tx) -> None:
        for contact in people:
            conn.execute(
                "INSERT INTO contacts (id, channel, consent, created_at, updated_at) "
                "VALUES (?, 'telegram', 'granted', ?, ?)",
                (contact, repo.iso(now), repo.iso(now)),
            )
            repo.insert_outbox(
                conn, contact_id=contact, payload='{"text": "Info"}', origin="broadcast", at=now
            )

    await w.service.db.write(queue)
    w.service.dispatcher.wake()


async def test_stopping_mid_broadcast_gives_unsent_rows_back_to_the_queue(
    tmp_path: Path, clock: Clock
) -> None:
    async with world(tmp_path, clock, rate_per_second=50) as w:
        await queue_broadcast(w, [f"telegram:{9000 + i}" for i in range(200)])
        await within(w.fake.wait_for(lambda: len(w.fake.sent) >= 20))
        await w.adapter.stop()  # the runner stops channels while the outbox sender still runs
        await asyncio.sleep(0.1)
        rows = await w.service.db.fetchall("SELECT status, COUNT(*) AS n FROM outbox GROUP BY status")
        outcome = {r["status"]: r["n"] for r in rows}
        assert set(outcome) <= {"sent", "queued", "sending"}  # nothing failed or in doubt
        assert outcome["sent"] == len(w.fake.sent) and outcome["queued"] > 0
        assert len({s.chat_id for s in w.fake.sent}) == len(w.fake.sent)


async def test_a_message_written_sending_as_the_channel_closes_still_leaves(
    tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A slow disk: the row is still being written `sending` (its request about to leave) when the
    # channel is told to close. The close waits for it: the person gets the message, recorded sent.
    writing = slow_outbox_take(monkeypatch)
    async with world(tmp_path, clock) as w:
        await queue_broadcast(w, ["telegram:9001"])
        assert await within(asyncio.to_thread(writing.wait, 5))
        await w.adapter.stop()
        await w.service.dispatcher.recorded()
        row = await w.service.db.fetchone("SELECT status, error FROM outbox")
        assert row is not None and tuple(row) == ("sent", None)
        assert [s.chat_id for s in w.fake.sent] == [9001]


async def test_a_timed_out_send_is_recorded_unknown_and_not_repeated(tmp_path: Path, clock: Clock) -> None:
    async with world(tmp_path, clock, request_timeout_seconds=0.3) as w:
        w.fake.hanging.add(CITIZEN)
        w.fake.hang_seconds = 0.6
        update = w.fake.text(CITIZEN, "halo")
        await w.deliver(update)
        row = await w.service.db.fetchone("SELECT status, error FROM outbox")
        assert row is not None and row["status"] == "unknown" and "may have been delivered" in row["error"]
        await asyncio.sleep(0.8)  # the dispatcher runs meanwhile: it must not send it again
        assert [s.text for s in w.fake.to(CITIZEN)] == [t("consent.notice")]


async def test_a_blocked_bot_marks_the_contact_unreachable_until_they_write(
    tmp_path: Path, clock: Clock
) -> None:
    async with world(tmp_path, clock) as w:
        contact_id = f"telegram:{CITIZEN}"

        async def unreachable() -> bool:
            contact = await repo.get_contact(w.service.db, contact_id)
            assert contact is not None
            return contact.unreachable

        w.fake.blocked.add(CITIZEN)
        await w.deliver(w.fake.text(CITIZEN, "halo"))
        assert await w.service.db.fetchval("SELECT status FROM outbox") == "blocked"
        assert await unreachable()
        w.fake.blocked.clear()
        sent = await w.say(CITIZEN, "halo lagi")
        assert sent and sent[-1].buttons  # heard again, and asked the consent question again
        assert not await unreachable()
        assert await count(w, "SELECT COUNT(*) FROM outbox WHERE status = 'sent'") == len(sent)
        # Telegram also tells the bot when it is blocked or unblocked.
        await w.deliver(w.fake.block_change(CITIZEN, "kicked"))
        assert await unreachable()
        await w.deliver(w.fake.block_change(CITIZEN, "member"))
        assert not await unreachable()


async def test_updates_stored_before_a_crash_are_handled_at_start(tmp_path: Path, clock: Clock) -> None:
    async with FakeTelegram() as fake:
        async with world(tmp_path, clock, fake=fake):
            pass
        update = fake.text(CITIZEN, "halo")
        key, _ = load_or_create_key(TEST_KEY, tmp_path / "data")
        sealed = Sealer(key).cipher("webhook-inbox").seal(json.dumps(update).encode())
        db = sqlite3.connect(tmp_path / "data" / "intake.sqlite3")
        with db:
            db.execute(
                "INSERT INTO webhook_inbox (source, body, received_at) VALUES ('telegram', ?, '2026-11-20')",
                (sealed,),
            )
        db.close()
        async with world(tmp_path, clock, fake=fake) as w:
            await within(w.adapter.wait_handled(update["update_id"]))
            assert [s.text for s in fake.to(CITIZEN)] == [t("consent.notice")]
            await w.adapter.inbox.flush()
            assert await count(w, "SELECT COUNT(*) FROM webhook_inbox") == 0


async def test_long_choice_ids_travel_as_short_keys(tmp_path: Path, clock: Clock) -> None:
    long_id = "kelurahan:" + "x" * 80
    async with FakeTelegram() as fake:
        async with world(tmp_path, clock, fake=fake) as w:
            await w.say(CITIZEN, "halo")
            result = await w.adapter.channel.send(
                f"telegram:{CITIZEN}", Reply(text="Pilih", choices=(Choice(long_id, "Panjang"),))
            )
            assert result.status == "sent"
            data = fake.to(CITIZEN)[-1].buttons[0][1]
            assert data.startswith("~") and len(data.encode()) <= 64
        async with world(tmp_path, clock, fake=fake) as w:  # a restart: the key is found in the store
            assert await w.adapter.channel.choice_of(data) == long_id


async def test_the_runner_serves_the_webhook_on_uvicorn(tmp_path: Path) -> None:
    """`python -m bot` in webhook mode: the runner mounts the route, the real HTTP server takes the POST."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with FakeTelegram() as fake:
        settings = Settings(
            store=StoreSettings(data_dir=tmp_path / "data", secret_key=TEST_KEY, sqlite_synchronous="NORMAL"),
            service=ServiceSettings(outbox_poll_seconds=0.05),
            web=WebSettings(host="127.0.0.1", port=port),
            telegram=telegram_settings(fake, "webhook"),
        )
        stop = asyncio.Event()
        service = asyncio.create_task(run_service(settings, stop))
        await within(fake.wait_for(lambda: fake.webhook is not None))
        update = fake.text(CITIZEN, "/start")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            for _ in range(100):  # uvicorn binds its socket a moment after the webhook is set
                with contextlib.suppress(httpx.ConnectError):
                    if (await client.get("/health")).status_code == 200:
                        break
                await asyncio.sleep(0.02)
            response = await client.post(
                "/webhooks/telegram", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
            )
            assert response.status_code == 200
            await within(fake.wait_for(lambda: bool(fake.to(CITIZEN))))
        assert fake.to(CITIZEN)[0].text == t("consent.notice")
        stop.set()
        await within(service, 15)
