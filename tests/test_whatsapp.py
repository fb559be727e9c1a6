"""The WhatsApp channel end to end: signed webhooks into the service's ASGI app, replies to a fake Graph API.

Webhooks go through `httpx.ASGITransport` into the Starlette app built from the channel's routes; pywa's
Graph API calls go through another ASGI transport into `tests.fake_graph.FakeGraph`. Nothing leaves the
process.
"""

import asyncio
import itertools
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.app import Service, build_service
from bot.channels.whatsapp import WhatsAppRuntime, build
from bot.channels.whatsapp.render import strip_number
from bot.settings import WhatsAppSettings
from bot.web import build_asgi
from handlers.i18n import Catalog
from handlers.types import Choice, Reply
from storage import repo
from storage.contract import Store, Tx
from storage.records import OutboxRecord, OutboxStatus
from tests.fake_graph import (
    APP_SECRET,
    PHONE_NUMBER_ID,
    TOKEN,
    FakeGraph,
    Sent,
    load,
    sign,
    status_body,
    webhook_body,
)
from tests.support import Clock, make_settings, slow_outbox_take

CATALOG = Catalog.load()
VERIFY_TOKEN = "verify-me-please"
WA_ID = "6281234567890"
BSUID = "ID.80012345678901234567"
AUTO = "auto"
_wamids = itertools.count(1)


def t(key: str, lang: str = "id", **params: object) -> str:
    return CATALOG.text(lang, key, **params)


class Harness:
    """The service with its WhatsApp channel, a fake Graph API, and an HTTP client for the webhook."""

    def __init__(
        self, service: Service, wa: WhatsAppRuntime, fake: FakeGraph, http: httpx.AsyncClient, clock: Clock
    ) -> None:
        self.service = service
        self.wa = wa
        self.fake = fake
        self.http = http
        self.clock = clock
        self._worker: asyncio.Task[None] | None = None

    @classmethod
    async def start(
        cls, data_dir: Path, clock: Clock, *, run_worker: bool = True, **whatsapp: Any
    ) -> "Harness":
        settings = make_settings(data_dir)
        options: dict[str, Any] = {
            "access_token": TOKEN,
            "phone_number_id": PHONE_NUMBER_ID,
            "app_secret": APP_SECRET,
            "verify_token": VERIFY_TOKEN,
            "graph_base_url": "http://graph.test",
            "retry_base_seconds": 0.01,
            "bulk_pair_interval_seconds": 0.3,
            "order_hold_ms": 10,  # the ordering hold itself: tests/test_inbound_order.py
        }
        settings.whatsapp = WhatsAppSettings(**(options | whatsapp))
        fake = FakeGraph()
        service = await build_service(settings, {}, clock=clock)
        wa = await build(settings, service, transport=httpx.ASGITransport(app=fake.app))
        service.dispatcher.channels[wa.channel.scheme] = wa.channel
        app = build_asgi(wa.runtime.routes)
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service.test")
        harness = cls(service, wa, fake, http, clock)
        [worker] = wa.runtime.tasks  # the coroutine the runner would start
        if run_worker:
            harness._worker = asyncio.create_task(worker)
        else:
            worker.close()
        return harness

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
        await self.wa.stop()
        await self.http.aclose()
        await self.service.close()

    @property
    def db(self) -> Store:
        return self.service.db

    async def post(
        self, body: dict[str, Any] | bytes, *, signature: str | None = AUTO, **headers: str
    ) -> httpx.Response:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        if signature == AUTO:
            signature = sign(raw)
        if signature is not None:
            headers["X-Hub-Signature-256"] = signature
        return await self.http.post("/webhooks/whatsapp", content=raw, headers=headers)

    async def deliver(self, body: dict[str, Any]) -> httpx.Response:
        """Post a signed webhook and wait until it is processed."""
        response = await self.post(body)
        assert response.status_code == 200, response.text
        await self.wa.worker.drain()
        await self.service.dispatcher.recorded()  # what became of each answer, committed
        return response

    async def flush_outbox(self) -> None:
        """Send what is queued (as the sender's loop would)."""
        await self.service.dispatcher.deliver(await repo.pending_outbox(self.db, ["whatsapp"]))

    async def queue(self, contact_id: str, reply: Reply, origin: str = "reminder") -> OutboxRecord:
        def insert(conn: Tx) -> OutboxRecord:
            return repo.insert_outbox(
                conn, contact_id=contact_id, payload=reply.to_json(), origin=origin, at=self.clock()
            )

        return await self.db.write(insert)

    async def outbox(self, outbox_id: int) -> Any:
        return await self.db.fetchone("SELECT * FROM outbox WHERE id = ?", (outbox_id,))

    async def count(self, table: str) -> int:
        return int(await self.db.fetchval(f"SELECT COUNT(*) FROM {table}"))


class Person:
    """Someone on WhatsApp: each call posts one webhook and returns the messages it caused."""

    def __init__(self, harness: Harness, wa_id: str | None = WA_ID, user_id: str | None = None) -> None:
        self.harness = harness
        self.wa_id = wa_id
        self.user_id = user_id
        self.replies: list[Sent] = []

    @property
    def inbox(self) -> list[Sent]:
        return self.harness.fake.to(self.wa_id or self.user_id or "")

    @property
    def last(self) -> Sent:
        return self.replies[-1]

    async def send(self, message: dict[str, Any], wamid: str | None = None) -> list[Sent]:
        before = len(self.inbox)
        message = {"id": wamid or f"wamid.T{next(_wamids):06d}", **message}
        await self.harness.deliver(webhook_body(message, wa_id=self.wa_id, user_id=self.user_id))
        self.replies = self.inbox[before:]
        return self.replies

    async def say(self, text: str) -> list[Sent]:
        return await self.send({"type": "text", "text": {"body": text}})

    async def tap(self, title: str) -> list[Sent]:
        """Tap the button or list row of the latest interactive reply whose title starts with `title`."""
        for sent in reversed(self.replies):
            for option in sent.options:
                if strip_number(option["title"]).lower().startswith(title.lower()):
                    kind = "button_reply" if sent.interactive_type == "button" else "list_reply"
                    pick = {"id": option["id"], "title": option["title"]}
                    return await self.send({"type": "interactive", "interactive": {"type": kind, kind: pick}})
        offered = [o["title"] for s in self.replies for o in s.options]
        raise AssertionError(f"no option {title!r} in {offered}")

    async def share_location(self, latitude: float, longitude: float) -> list[Sent]:
        return await self.send(
            {"type": "location", "location": {"latitude": latitude, "longitude": longitude}}
        )

    async def send_file(self, kind: str, media_id: str, mime: str, **extra: Any) -> list[Sent]:
        return await self.send({"type": kind, kind: {"id": media_id, "mime_type": mime, **extra}})


@pytest.fixture
async def harness(tmp_path: Path, clock: Clock) -> AsyncIterator[Harness]:
    started = await Harness.start(tmp_path / "data", clock)
    yield started
    await started.close()


@pytest.fixture
async def templated(tmp_path: Path, clock: Clock) -> AsyncIterator[Harness]:
    started = await Harness.start(tmp_path / "data", clock, template_name="dinsos_pesan")
    yield started
    await started.close()


async def agree(person: Person) -> None:
    await person.say("halo")
    assert person.last.text == t("consent.notice")
    await person.tap(t("consent.agree"))
    assert person.last.text.endswith(t("menu.prompt"))


# ---------------------------------------------------------------------------------- the webhook


async def test_verification_echoes_the_challenge_only_for_the_right_token(harness: Harness) -> None:
    query = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"}
    ok = await harness.http.get("/webhooks/whatsapp", params=query)
    assert ok.status_code == 200 and ok.text == "1158201444"
    wrong = await harness.http.get("/webhooks/whatsapp", params=query | {"hub.verify_token": "guess"})
    assert wrong.status_code == 403 and "1158201444" not in wrong.text
    no_mode = await harness.http.get("/webhooks/whatsapp", params={"hub.verify_token": VERIFY_TOKEN})
    assert no_mode.status_code == 403


BIG = b'{"entry": [], "pad": "' + b"x" * (5 * 1024 * 1024) + b'"}'


@pytest.mark.parametrize(
    ("name", "raw", "signature", "status"),
    [
        ("bad signature", json.dumps(load("text.json")).encode(), "sha256=" + "0" * 64, 403),
        ("signed with another secret", json.dumps(load("text.json")).encode(), "other", 403),
        ("missing signature", json.dumps(load("text.json")).encode(), None, 403),
        ("malformed JSON", b'{"object": "whatsapp_business_account", "entry": [', AUTO, 400),
        ("not a notification", b'["entry"]', AUTO, 400),
        ("5 MB body", BIG, AUTO, 413),
    ],
)
async def test_refused_webhooks_get_a_clear_4xx_and_change_nothing(
    harness: Harness, name: str, raw: bytes, signature: str | None, status: int
) -> None:
    if signature == "other":
        signature = sign(raw, "not-the-app-secret")
    response = await harness.post(raw, signature=signature)
    assert response.status_code == status, name
    await harness.wa.worker.drain()
    assert await harness.count("webhook_inbox") == 0
    assert await harness.count("inbound") == 0
    assert await harness.count("contacts") == 0
    assert harness.fake.sent == [] and harness.fake.requests["messages"] == 0


async def test_a_body_over_the_cap_is_refused_before_it_is_read_whole(harness: Harness) -> None:
    async def endless() -> AsyncIterator[bytes]:
        for _ in range(100):  # about 6.4 MB without a Content-Length header
            yield b"x" * 65536

    response = await harness.http.post(
        "/webhooks/whatsapp", content=endless(), headers={"X-Hub-Signature-256": "sha256=00"}
    )
    assert response.status_code == 413
    assert await harness.count("webhook_inbox") == 0


async def test_the_same_webhook_delivered_three_times_is_answered_once(harness: Harness) -> None:
    body = webhook_body({"id": "wamid.SAME", "type": "text", "text": {"body": "halo"}}, wa_id=WA_ID)
    responses = await asyncio.gather(*(harness.post(body) for _ in range(3)))
    assert [r.status_code for r in responses] == [200, 200, 200]
    await harness.wa.worker.drain()
    await harness.deliver(body)  # and once more, later
    assert [s.text for s in harness.fake.to(WA_ID)] == [t("consent.notice")]
    assert await harness.count("inbound") == 1
    assert await harness.count("webhook_inbox") == 0  # processed bodies are not kept


async def test_a_stored_body_is_processed_after_a_restart_and_kept_sealed(
    tmp_path: Path, clock: Clock
) -> None:
    first = await Harness.start(tmp_path / "data", clock, run_worker=False)
    body = webhook_body(
        {"id": "wamid.R1", "type": "text", "text": {"body": "NIK saya 3674015708850001"}}, wa_id=WA_ID
    )
    response = await first.post(body)
    assert response.status_code == 200  # acknowledged: committed, not yet processed
    assert await first.count("webhook_inbox") == 1
    raw = b"".join(p.read_bytes() for p in (tmp_path / "data").glob("intake.sqlite3*"))
    assert b"3674015708850001" not in raw and b"wamid.R1" not in raw
    await first.close()

    second = await Harness.start(tmp_path / "data", clock)
    try:
        await second.wa.worker.drain()
        assert [s.text for s in second.fake.to(WA_ID)] == [t("consent.notice")]
        assert await second.count("webhook_inbox") == 0
    finally:
        await second.close()


# ---------------------------------------------------------------------------------- a conversation


async def test_citizen_registers_through_buttons_and_lists(harness: Harness) -> None:
    siti = Person(harness)
    await siti.say("halo")
    assert siti.last.text == t("consent.notice")
    assert siti.last.interactive_type == "list"  # 4 choices
    await siti.tap(t("consent.agree"))
    assert siti.last.interactive_type == "list"
    await siti.tap(t("menu.registration"))
    assert siti.last.text == t("reg.q.for_whom")
    assert siti.last.interactive_type == "list"  # 4 choices; every row carries its number
    assert [o["title"] for o in siti.last.options][:2] == [
        f"1. {t('reg.for_self')}",
        f"2. {t('reg.for_other')}",
    ]
    await siti.tap(t("reg.for_self"))
    await siti.say("siti aminah")
    await siti.say("3674 0157 0885 0001")  # it answers the birth date and sex questions too
    # The number she writes from is offered; she confirms it.
    assert siti.last.text == t("reg.phone_known", phone="0812-3456-7890")
    assert siti.last.interactive_type == "button" and len(siti.last.options) == 3
    await siti.tap(t("reg.phone_use_known"))
    assert siti.last.text == t("reg.q.kecamatan.self")
    assert siti.last.interactive_type == "list" and len(siti.last.options) == 7
    await siti.tap("Pondok Aren")
    assert siti.last.type == "text"  # 11 kelurahan: numbered text
    number = next(
        line.split(".")[0] for line in siti.last.text.splitlines() if line.endswith("Jurangmangu Timur")
    )
    await siti.say(number)
    await siti.share_location(-6.2754, 106.7174)
    await siti.say("Jl. H. Sarmili RT 03/RW 05")
    await siti.say("5 orang")
    await siti.say("1 2")
    await siti.say("ya")
    await siti.tap(t("doc.kk"))  # one tap answers: no "Selesai" turn
    await siti.tap(t("received.none"))
    assert "3674********0001" in siti.last.text
    await siti.tap(t("form.send"))
    assert "REG-2026-000001" in siti.replies[0].text

    service = harness.service
    case = await repo.get_case(service.db, "REG-2026-000001")
    assert case is not None and case.contact_id == f"whatsapp:{WA_ID}"
    assert case.kecamatan_code == "36.74.03" and case.kelurahan_code == "36.74.03.1011"
    [person] = await repo.persons_of_contact(service.db, f"whatsapp:{WA_ID}")
    assert person.phone == f"+{WA_ID}" and person.latitude == -6.2754
    assert person.nik is not None and service.services.sealer.open(person.nik) == "3674015708850001"
    sent = await harness.db.fetchall("SELECT status, external_id FROM outbox")
    assert {row["status"] for row in sent} == {"sent"}
    assert {row["external_id"] for row in sent} == {s.wamid for s in harness.fake.sent}


async def test_photo_and_voice_note_are_downloaded_and_linked_to_the_case(harness: Harness) -> None:
    harness.fake.add_media("voice-1", b"OggS-voice-bytes", "audio/ogg")
    harness.fake.add_media("photo-1", b"\xff\xd8jpeg-bytes", "image/jpeg")
    budi = Person(harness)
    await agree(budi)
    await budi.tap(t("menu.aid"))
    await budi.tap(t("aid.for_other"))
    await budi.say("budi santoso")
    await budi.say("sembako")
    await budi.send_file("audio", "voice-1", "audio/ogg; codecs=opus", voice=True)
    assert budi.last.text == t("aid.q.urgency")
    await budi.tap(t("aid.urgency.today"))
    await budi.say("6")
    await budi.tap("Setu")
    await budi.say("1")
    assert budi.last.text == t("aid.q.photo")
    await budi.send_file("image", "photo-1", "image/jpeg", caption="lapak")
    await budi.tap(t("form.send"))
    assert "BAN-2026-000001" in budi.replies[0].text

    case = await repo.get_case(harness.db, "BAN-2026-000001")
    assert case is not None
    media = harness.wa.channel.media
    voice_ref = case.answers["description"]["voice"]
    photo_ref = case.answers["photo"]["ref"]
    assert media.path(voice_ref).read_bytes() == b"OggS-voice-bytes"
    assert media.path(photo_ref).read_bytes() == b"\xff\xd8jpeg-bytes"
    assert photo_ref.endswith(".jpg")


async def test_media_that_cannot_be_fetched_is_asked_for_again(harness: Harness) -> None:
    budi = Person(harness)
    await agree(budi)
    await budi.tap(t("menu.aid"))
    await budi.tap(t("aid.for_other"))
    await budi.say("budi santoso")
    await budi.say("sembako")
    await budi.send_file("audio", "expired-id", "audio/ogg", voice=True)
    assert budi.replies[0].text == t("err.description")
    assert budi.last.text == t("aid.q.description")


async def test_bsuid_only_contact_is_the_same_contact_when_the_phone_shows_later(harness: Harness) -> None:
    anonymous = Person(harness, wa_id=None, user_id=BSUID)
    await anonymous.say("halo")
    assert anonymous.last.text == t("consent.notice")
    assert anonymous.last.body["recipient"] == BSUID and "to" not in anonymous.last.body
    await anonymous.tap(t("consent.agree"))
    # Later WhatsApp shows both ids: same contact, same conversation (replies keep its address).
    both = Person(harness, wa_id=WA_ID, user_id=BSUID)
    both.replies = anonymous.replies
    await both.tap(t("menu.registration"))
    assert anonymous.inbox[-1].text == t("reg.q.for_whom")
    assert harness.fake.to(WA_ID) == []
    rows = await harness.db.fetchall("SELECT id, alt_id FROM contacts")
    assert [tuple(r) for r in rows] == [(f"whatsapp:{BSUID}", f"whatsapp:{WA_ID}")]


async def test_contact_with_both_ids_keeps_its_conversation_when_only_the_bsuid_comes(
    harness: Harness,
) -> None:
    both = Person(harness, wa_id=WA_ID, user_id=BSUID)
    await agree(both)
    only_bsuid = Person(harness, wa_id=None, user_id=BSUID)
    only_bsuid.replies = both.replies
    before = len(harness.fake.to(WA_ID))
    await only_bsuid.send(
        {
            "type": "interactive",
            "interactive": {"type": "list_reply", "list_reply": {"id": "menu:registration", "title": "x"}},
        }
    )
    assert harness.fake.to(WA_ID)[before].text == t("reg.q.for_whom")
    rows = await harness.db.fetchall("SELECT id, alt_id FROM contacts")
    assert [tuple(r) for r in rows] == [(f"whatsapp:{WA_ID}", f"whatsapp:{BSUID}")]


# ---------------------------------------------------------------------------------- the 24-hour window


REMINDER = Reply(
    text="📅 Pengingat: besok jam 09.00 WIB\nbawa KTP/KK.", choices=(Choice("rsvp:yes", "Datang"),)
)


async def test_reminder_to_contact_seen_30_hours_ago_goes_out_as_the_template(templated: Harness) -> None:
    siti = Person(templated)
    await siti.say("halo")
    templated.clock.advance(hours=30)
    row = await templated.queue(f"whatsapp:{WA_ID}", REMINDER)
    await templated.flush_outbox()
    sent = siti.inbox[-1]
    assert sent.type == "template"
    assert sent.body["template"]["name"] == "dinsos_pesan"
    assert sent.body["template"]["language"] == {"code": "id"}
    assert sent.text == "📅 Pengingat: besok jam 09.00 WIB bawa KTP/KK. 1. Datang"
    stored = await templated.outbox(row.id)
    assert stored["status"] == "sent" and stored["external_id"] == sent.wamid
    assert templated.fake.refused == []  # the window was known closed: no free-form attempt


async def test_error_131047_from_the_graph_api_takes_the_template_path(templated: Harness) -> None:
    siti = Person(templated)
    await siti.say("halo")
    templated.clock.advance(hours=2)  # inside the window by our count, but Meta disagrees
    templated.fake.closed_windows.add(WA_ID)
    row = await templated.queue(f"whatsapp:{WA_ID}", REMINDER)
    await templated.flush_outbox()
    assert templated.fake.refused == [(WA_ID, 131047)]
    assert siti.inbox[-1].type == "template"
    assert (await templated.outbox(row.id))["status"] == "sent"
    # Until she writes again, templates only (no second refused attempt).
    second = await templated.queue(f"whatsapp:{WA_ID}", Reply(text="Pesan kedua"))
    await templated.flush_outbox()
    assert siti.inbox[-1].type == "template" and templated.fake.refused == [(WA_ID, 131047)]
    assert (await templated.outbox(second.id))["status"] == "sent"
    templated.fake.closed_windows.clear()
    templated.clock.advance(minutes=5)
    await siti.say("halo lagi")
    assert siti.last.type != "template"


async def test_failed_status_131047_resends_the_message_as_the_template(templated: Harness) -> None:
    siti = Person(templated)
    await siti.say("halo")
    row = await templated.queue(f"whatsapp:{WA_ID}", REMINDER)
    await templated.flush_outbox()
    free_form = siti.inbox[-1]
    assert free_form.type == "interactive"
    templated.clock.advance(seconds=3)
    await templated.deliver(status_body(free_form.wamid, "failed", WA_ID, error=131047))
    assert (await templated.outbox(row.id))["status"] == "queued"
    await templated.flush_outbox()
    assert siti.inbox[-1].type == "template"
    stored = await templated.outbox(row.id)
    assert stored["status"] == "sent" and stored["external_id"] == siti.inbox[-1].wamid


async def test_without_a_template_the_message_is_held_reported_and_sent_when_they_write(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    siti = Person(harness)
    await siti.say("halo")
    harness.clock.advance(hours=30)
    row = await harness.queue(f"whatsapp:{WA_ID}", REMINDER)
    with caplog.at_level(logging.WARNING):
        await harness.flush_outbox()
    stored = await harness.outbox(row.id)
    assert stored["status"] == OutboxStatus.HELD
    assert "no template configured" in stored["error"]
    assert f"outbox row {row.id} held" in caplog.text
    assert len(siti.inbox) == 1  # nothing sent
    await siti.say("halo")
    await harness.flush_outbox()
    assert siti.inbox[-1].text == REMINDER.text
    assert (await harness.outbox(row.id))["status"] == "sent"


# ---------------------------------------------------------------------------------- statuses and errors


async def test_statuses_move_the_outbox_row_forward_only(harness: Harness) -> None:
    siti = Person(harness)
    await siti.say("halo")
    wamid = siti.last.wamid
    [row] = await harness.db.fetchall("SELECT id FROM outbox")
    await harness.deliver(status_body(wamid, "read", WA_ID))
    await harness.deliver(status_body(wamid, "delivered", WA_ID))  # late, out of order
    assert (await harness.outbox(row["id"]))["status"] == "read"


async def test_a_failed_status_is_recorded_with_its_code(harness: Harness) -> None:
    siti = Person(harness)
    await siti.say("halo")
    [row] = await harness.db.fetchall("SELECT id FROM outbox")
    await harness.deliver(status_body(siti.last.wamid, "failed", WA_ID, error=131026))
    stored = await harness.outbox(row["id"])
    assert stored["status"] == "failed" and stored["error"] == "131026 Message undeliverable"


@pytest.mark.parametrize("code", [130429, 131056])
async def test_rate_limits_back_off_and_retry(harness: Harness, code: int) -> None:
    siti = Person(harness)
    await siti.say("halo")
    harness.fake.fail_next = [code, code]
    row = await harness.queue(f"whatsapp:{WA_ID}", Reply(text="Informasi baru"))
    await harness.flush_outbox()
    assert harness.fake.refused == [(WA_ID, code), (WA_ID, code)]
    assert siti.inbox[-1].text == "Informasi baru"
    assert (await harness.outbox(row.id))["status"] == "sent"


async def test_other_send_errors_are_recorded_on_the_row_with_their_code(harness: Harness) -> None:
    siti = Person(harness)
    await siti.say("halo")
    harness.fake.fail_next = [131026]
    row = await harness.queue(f"whatsapp:{WA_ID}", Reply(text="Informasi baru"))
    await harness.flush_outbox()
    stored = await harness.outbox(row.id)
    assert stored["status"] == "failed" and stored["error"] == "131026 Message undeliverable"


async def test_a_message_marked_sending_as_the_channel_stops_still_leaves(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A slow disk: the row is still being written `sending` (its request about to leave) when the
    # channel is stopped. The stop waits for it before closing the HTTP client: the message arrives,
    # recorded sent (not left in doubt, never to be sent again).
    siti = Person(harness)
    await siti.say("halo")
    row = await harness.queue(f"whatsapp:{WA_ID}", Reply(text="Informasi baru"))
    writing = slow_outbox_take(monkeypatch)
    sending = asyncio.create_task(harness.flush_outbox())
    assert await asyncio.wait_for(asyncio.to_thread(writing.wait, 5), 5)
    await harness.wa.stop()
    await asyncio.wait_for(sending, 5)
    stored = await harness.outbox(row.id)
    assert (stored["status"], stored["error"]) == ("sent", None)
    assert siti.inbox[-1].text == "Informasi baru"


async def test_a_message_due_after_the_channel_stopped_stays_queued(harness: Harness) -> None:
    siti = Person(harness)
    await siti.say("halo")
    await harness.wa.stop()
    row = await harness.queue(f"whatsapp:{WA_ID}", Reply(text="Informasi baru"))
    await harness.flush_outbox()
    stored = await harness.outbox(row.id)
    assert stored["status"] == "queued"  # sent when the service runs again
    assert len(siti.inbox) == 1


async def test_bulk_messages_to_one_person_are_spaced_but_replies_are_not(harness: Harness) -> None:
    siti = Person(harness)
    await siti.say("halo")
    await harness.queue(f"whatsapp:{WA_ID}", Reply(text="Siaran satu"), origin="broadcast")
    await harness.queue(f"whatsapp:{WA_ID}", Reply(text="Siaran dua"), origin="broadcast")
    await harness.flush_outbox()
    reply, first, second = siti.inbox
    assert (first.text, second.text) == ("Siaran satu", "Siaran dua")
    assert first.at - reply.at >= 0.29 and second.at - first.at >= 0.29


async def test_logs_hold_no_phone_number_nik_token_or_secret(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    for quiet in ("httpx", "httpcore", "aiosqlite"):  # as bot.logs.setup_logging leaves them
        caplog.set_level(logging.WARNING, logger=quiet)
    with caplog.at_level(logging.DEBUG):
        siti = Person(harness)
        await agree(siti)
        await siti.tap(t("menu.registration"))
        await siti.tap(t("reg.for_self"))
        await siti.say("siti aminah")
        await siti.say("3674015708850001")
        await harness.post(b"{}", signature="sha256=00")  # refused: logged without the body
        harness.fake.fail_next = [131026]
        await harness.queue(f"whatsapp:{WA_ID}", Reply(text="Informasi baru"))
        await harness.flush_outbox()
    assert "131026" in caplog.text  # the failure is reported...
    for secret in (WA_ID, "3674015708850001", TOKEN, APP_SECRET, VERIFY_TOKEN, "siti aminah"):
        assert secret not in caplog.text  # ...without anything personal or secret


async def test_what_had_to_be_shortened_is_logged_without_the_text(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    siti = Person(harness)
    await siti.say("halo")
    long_label = "Ambil bantuan di kantor kelurahan Jurangmangu"
    reply = Reply(
        text="Mau ambil di mana?", choices=(Choice("pick:a", long_label), Choice("pick:b", "Di rumah"))
    )
    row = await harness.queue(f"whatsapp:{WA_ID}", reply, origin="staff")
    with caplog.at_level(logging.INFO, logger="bot.channels.whatsapp"):
        await harness.flush_outbox()
    sent = siti.inbox[-1]
    assert [o["title"] for o in sent.options] == ["1. Ambil bantuan di kan…", "2. Di rumah"]
    assert [o["id"] for o in sent.options] == ["pick:a", "pick:b"]  # a tap still answers by id
    assert f"outbox row {row.id} adjusted: 1 list row title(s) shortened to 24 characters" in caplog.text
    assert long_label not in caplog.text


async def test_files_at_typed_questions_are_kept_only_when_they_answer(harness: Harness) -> None:
    """A voice note answers any question and a card photo answers the NIK; other files are not kept."""
    for media_id, mime in (("v-name", "audio/ogg"), ("p-stray", "image/jpeg"), ("p-card", "image/jpeg")):
        harness.fake.add_media(media_id, b"bytes of " + media_id.encode(), mime)
    harness.fake.add_media("s-stray", b"sticker", "image/webp")
    siti = Person(harness)
    await agree(siti)
    await siti.tap(t("menu.registration"))
    await siti.tap(t("reg.for_self"))
    folder = harness.wa.channel.media.root

    def kept() -> list[bytes]:
        return sorted(path.read_bytes() for path in folder.rglob("*") if path.is_file())

    await siti.send_file("image", "p-stray", "image/jpeg")  # a photo is no name: refused, not kept
    assert siti.replies[0].text.startswith("Maaf") and kept() == []
    await siti.send_file("audio", "v-name", "audio/ogg; codecs=opus", voice=True)
    assert siti.replies[0].text == t("form.kept_voice")
    assert siti.last.text == t("reg.q.nik.self")
    await siti.send_file("sticker", "s-stray", "image/webp")  # not an answer here either
    await siti.send_file("image", "p-card", "image/jpeg")  # a picture of the card answers the NIK
    assert siti.replies[0].text == t("form.kept_photo")
    assert kept() == [b"bytes of p-card", b"bytes of v-name"]
