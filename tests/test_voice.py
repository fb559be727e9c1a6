"""Voice mode: a person types SUARA and every question also arrives as a voice note (OGG/Opus).

Checked on the fake Bot API and the fake Graph API, both served on 127.0.0.1: Telegram gets sendVoice
(the file once, then its file_id), WhatsApp an audio message with `voice: true` after a media upload (the
media id reused, uploaded again when Meta no longer knows it). The files are real OGG/Opus made by
espeak-ng and ffmpeg, checked with ffprobe. The synthesis cache speaks each distinct sentence once; a
broken synthesiser leaves the conversation in text, logged.
"""

import asyncio
import contextlib
import io
import json
import logging
import re
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from bot.app import build_service
from bot.channels.console import run_simulation
from bot.channels.whatsapp import build
from bot.settings import VoiceSettings, WhatsAppSettings
from bot.voice import VoiceBank
from bot.web import build_asgi
from handlers.casework import change_status, send_reply
from handlers.i18n import Catalog
from handlers.types import Spoken, Voice
from storage import repo
from storage.records import CaseStatus
from tests import test_telegram
from tests.fake_graph import APP_SECRET, PHONE_NUMBER_ID, TOKEN, FakeGraph, Sent, sign, webhook_body
from tests.fake_telegram import Sent as TgSent
from tests.support import Clock, make_settings
from tests.test_telegram import World, label_of, world

CATALOG = Catalog.load()
CITIZEN = 7101
WA_ID = "6281298765432"


def t(key: str, lang: str = "id", **params: object) -> str:
    return CATALOG.text(lang, key, **params)


def probe(data: bytes) -> tuple[str, str, float]:
    """(container, codec, seconds) of an audio file, by ffprobe (from a file: an OGG ends with its length)."""
    with tempfile.NamedTemporaryFile(suffix=".ogg") as handle:
        handle.write(data)
        handle.flush()
        args = ["ffprobe", "-v", "error", "-show_entries", "format=format_name,duration:stream=codec_name"]
        out = subprocess.run([*args, "-of", "json", handle.name], capture_output=True, check=True).stdout
    info = json.loads(out)
    return info["format"]["format_name"], info["streams"][0]["codec_name"], float(info["format"]["duration"])


def assert_voice_note(data: bytes) -> None:
    container, codec, seconds = probe(data)
    assert (container, codec) == ("ogg", "opus") and seconds > 0.5


# ---------------------------------------------------------------------------------- Telegram


def texts_and_voices(sent: list[TgSent]) -> tuple[list[TgSent], list[TgSent]]:
    return [s for s in sent if s.method == "sendMessage"], [s for s in sent if s.method == "sendVoice"]


async def spoken(w: World, user: int, sent: list[TgSent]) -> list[TgSent]:
    """Every text message of an exchange is followed by its voice note; returns the texts."""
    texts, voices = texts_and_voices(sent)
    # Each reply: its text (a long one or one with a share button may take two messages), then its voice.
    methods = "".join("v" if s.method == "sendVoice" else "m" for s in sent)
    assert methods.startswith("m") and methods.endswith("v") and "vv" not in methods
    for voice in voices:
        assert_voice_note(w.fake.sent_file(voice))
    return texts


@pytest.fixture
def patient(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first time, each sentence is synthesised before it is sent: seconds on a busy machine."""
    monkeypatch.setattr(
        test_telegram, "within", lambda awaitable, seconds=60.0: asyncio.wait_for(awaitable, seconds)
    )


@pytest.mark.usefixtures("patient")
async def test_telegram_suara_then_register_every_question_with_a_voice_note(
    tmp_path: Path, clock: Clock
) -> None:
    async with world(tmp_path, clock) as w:
        say = w.say

        async def tap(label: str) -> list[TgSent]:
            return await spoken(w, CITIZEN, await w.tap(CITIZEN, label))

        texts = await spoken(w, CITIZEN, await say(CITIZEN, "SUARA"))
        assert [s.text for s in texts] == [t("voice.on"), t("consent.notice")]
        texts = await tap(t("consent.agree"))
        assert t("menu.prompt") in (texts[-1].text or "")
        assert t("menu.voice") in [label_of(b) for b, _ in texts[-1].buttons]
        await tap(t("menu.registration"))
        await tap(t("reg.for_self"))
        await spoken(w, CITIZEN, await say(CITIZEN, "siti aminah"))
        await spoken(w, CITIZEN, await say(CITIZEN, "3674015708850001"))  # answers birth date and sex too
        await spoken(w, CITIZEN, await w.exchange(CITIZEN, w.fake.contact(CITIZEN, "+6281234567890")))
        await tap("Pondok Aren")
        await spoken(w, CITIZEN, await say(CITIZEN, "jurang mangu timur"))
        await spoken(w, CITIZEN, await w.exchange(CITIZEN, w.fake.location(CITIZEN, -6.2754, 106.7174)))
        await spoken(w, CITIZEN, await say(CITIZEN, "Jl. H. Sarmili RT 03/RW 05"))
        await spoken(w, CITIZEN, await say(CITIZEN, "5"))
        await spoken(w, CITIZEN, await say(CITIZEN, "1 2"))
        await tap(t("common.yes"))
        await tap(t("doc.kk"))
        texts = await tap(t("received.none"))
        assert "Siti Aminah" in (texts[-1].text or "")  # the summary, spoken too
        texts = await tap(t("form.send"))
        assert "REG-2026-000001" in (texts[0].text or "")
        # The same sentence twice (the consent notice on SUARA and again on "halo") is uploaded once:
        # the second time Telegram gets the file_id it gave.
        contact = await repo.get_contact(w.service.db, f"telegram:{CITIZEN}")
        assert contact is not None and contact.voice
        await spoken(w, CITIZEN, await say(CITIZEN, "menu"))
        before = len(w.fake.to(CITIZEN))
        await spoken(w, CITIZEN, await say(CITIZEN, "menu"))
        again = [s for s in w.fake.to(CITIZEN)[before:] if s.method == "sendVoice"]
        assert isinstance(again[0].params["voice"], str)  # sent by file_id, no upload
        # A file_id Telegram no longer accepts: the file is uploaded again, the voice note still arrives.
        w.fake.expired_files.add(again[0].params["voice"])
        before = len(w.fake.to(CITIZEN))
        await spoken(w, CITIZEN, await say(CITIZEN, "menu"))
        resent = [s for s in w.fake.to(CITIZEN)[before:] if s.method == "sendVoice"]
        assert isinstance(resent[0].params["voice"], str) and resent[0].params["voice"].startswith(
            "attach://"
        )
        # SUARA again switches it off: text only from now on.
        sent = await say(CITIZEN, "suara")
        assert [s.method for s in sent] == ["sendMessage", "sendMessage"] and sent[0].text == t("voice.off")


@pytest.mark.usefixtures("patient")
async def test_telegram_staff_messages_come_with_a_voice_note_too(tmp_path: Path, clock: Clock) -> None:
    """A person who listens instead of reading hears what staff send: a status change, a free reply."""
    async with world(tmp_path, clock) as w:
        await spoken(w, CITIZEN, await w.say(CITIZEN, "SUARA"))
        await spoken(w, CITIZEN, await w.tap(CITIZEN, t("consent.agree")))
        await spoken(w, CITIZEN, await w.tap(CITIZEN, t("menu.talk")))
        await spoken(w, CITIZEN, await w.say(CITIZEN, "Kapan sembako dibagikan?"))
        row = await w.service.db.fetchone(
            "SELECT reference FROM cases WHERE contact_id = ?", (f"telegram:{CITIZEN}",)
        )
        assert row is not None
        reference = str(row[0])
        catalog = w.service.services.catalog

        async def staff(action: Any, text: str) -> None:
            before = len(w.fake.to(CITIZEN))
            await w.service.db.write(action)
            expect = lambda: any(s.method == "sendVoice" for s in w.fake.to(CITIZEN)[before:])  # noqa: E731
            await asyncio.wait_for(w.fake.wait_for(expect), 60)
            sent = w.fake.to(CITIZEN)[before:]
            assert [s.method for s in sent] == ["sendMessage", "sendVoice"]
            assert sent[0].text == text
            assert_voice_note(w.fake.sent_file(sent[1]))

        now = clock()
        await staff(
            partial(
                change_status,
                catalog=catalog,
                reference=reference,
                to_status=CaseStatus.DIPROSES,
                actor="staff:ani",
                note=None,
                at=now,
            ),
            t("notify.diproses", reference=reference, kind=t("kind.message")),
        )
        await staff(
            partial(
                send_reply,
                catalog=catalog,
                reference=reference,
                text="Sembako dibagikan Sabtu pagi.",
                actor="staff:ani",
                at=now,
            ),
            t("notify.staff_reply", reference=reference, text="Sembako dibagikan Sabtu pagi."),
        )


# ---------------------------------------------------------------------------------- WhatsApp


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def serve(app: Any) -> AsyncIterator[str]:
    """Serve an ASGI app on 127.0.0.1; its base URL."""
    server = _Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def test_whatsapp_suara_then_register_every_question_with_a_voice_note(
    tmp_path: Path, clock: Clock
) -> None:
    fake = FakeGraph()
    async with serve(fake.app) as graph:
        settings = make_settings(tmp_path / "data")
        settings.whatsapp = WhatsAppSettings(
            access_token=TOKEN,
            phone_number_id=PHONE_NUMBER_ID,
            app_secret=APP_SECRET,
            verify_token="verify",
            graph_base_url=graph,
            retry_base_seconds=0.01,
            order_hold_ms=10,
        )
        service = await build_service(settings, {}, clock=clock)
        wa = await build(settings, service)
        service.dispatcher.channels[wa.channel.scheme] = wa.channel
        [worker] = wa.runtime.tasks
        running = asyncio.create_task(worker)
        http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=build_asgi(wa.runtime.routes)), base_url="http://service.test"
        )
        counter = iter(range(1, 1000))
        try:

            async def send(message: dict[str, Any]) -> list[Sent]:
                before = len(fake.to(WA_ID))
                body = json.dumps(
                    webhook_body({"id": f"wamid.V{next(counter)}", **message}, wa_id=WA_ID)
                ).encode()
                response = await http.post(
                    "/webhooks/whatsapp", content=body, headers={"X-Hub-Signature-256": sign(body)}
                )
                assert response.status_code == 200
                await wa.worker.drain()
                replies = fake.to(WA_ID)[before:]
                # Each message is followed by its voice note: an audio message marked as voice.
                assert replies and [s.type == "audio" for s in replies] == [False, True] * (len(replies) // 2)
                assert len(replies) % 2 == 0
                for audio in replies[1::2]:
                    assert audio.body["audio"]["voice"] is True
                    assert_voice_note(fake.voice_bytes(audio))
                return replies[0::2]

            async def say(text: str) -> list[Sent]:
                return await send({"type": "text", "text": {"body": text}})

            async def tap(title: str, last: list[Sent]) -> list[Sent]:
                for sent in reversed(last):
                    for option in sent.options:
                        shown = re.sub(r"^\d+\. ", "", option["title"])  # rows carry their numbers
                        if shown.lower().startswith(title.lower()):
                            kind = "button_reply" if sent.interactive_type == "button" else "list_reply"
                            pick = {"id": option["id"], "title": option["title"]}
                            return await send(
                                {"type": "interactive", "interactive": {"type": kind, kind: pick}}
                            )
                raise AssertionError(f"no option {title!r}")

            last = await say("SUARA")
            assert [s.text for s in last] == [t("voice.on"), t("consent.notice")]
            last = await tap(t("consent.agree"), last)
            last = await tap(t("menu.registration"), last)
            last = await tap(t("reg.for_self"), last)
            last = await say("siti aminah")
            last = await say("3674 0157 0885 0001")  # it answers the birth date and sex questions too
            last = await tap(t("reg.phone_use_known"), last)
            assert last[-1].text == t("reg.q.kecamatan.self")
            last = await tap("Pondok Aren", last)
            rows = last[-1].text.splitlines()
            number = next(row.split(".")[0] for row in rows if row.endswith("Jurangmangu Timur"))
            last = await say(number)
            last = await send({"type": "location", "location": {"latitude": -6.2754, "longitude": 106.7174}})
            last = await say("Jl. H. Sarmili RT 03/RW 05")
            last = await say("5")
            last = await say("1 2")
            last = await say("ya")
            last = await tap(t("doc.kk"), last)
            last = await tap(t("received.none"), last)
            last = await tap(t("form.send"), last)
            assert "REG-2026-000001" in last[0].text
            # Sentences already uploaded are sent again by media id; an id Meta forgot is uploaded again.
            uploads = len(fake.uploads)
            await say("menu")
            await say("menu")
            assert len(fake.uploads) == uploads + 1
            fake.expired_media.update(fake.uploads)
            await say("menu")
            assert len(fake.uploads) == uploads + 2 and fake.refused[-1][1] == 131053
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
            await wa.stop()
            await http.aclose()
            await service.close()


# ---------------------------------------------------------------------------------- synthesis


async def test_the_same_sentence_is_synthesised_once(tmp_path: Path) -> None:
    bank = VoiceBank(tmp_path, CATALOG)
    sentence = "Selamat pagi Bapak dan Ibu, terima kasih sudah menghubungi Dinas Sosial."
    first = await bank.synthesise(sentence, "id")
    second = await bank.synthesise(sentence, "id")
    assert first == second and bank.syntheses == 1
    # Three asking at once still make it once; another voice is another sentence.
    other = "Sentence number two, asked three times at once."
    made = await asyncio.gather(*(bank.synthesise(other, "en") for _ in range(3)))
    assert len(set(made)) == 1 and bank.syntheses == 2
    assert_voice_note(first.read_bytes())
    # A new bank over the same data directory (a restart) finds them made.
    again = VoiceBank(tmp_path, CATALOG)
    assert await again.synthesise(sentence, "id") == first and again.syntheses == 0


async def test_a_recorded_piece_speaks_with_the_synthesised_value(tmp_path: Path) -> None:
    bank = VoiceBank(tmp_path, CATALOG)
    tone = await asyncio.to_thread(
        subprocess.run,
        [
            "ffmpeg",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:duration=1.2",
            "-f",
            "wav",
            "-",
        ],
        capture_output=True,
        check=True,
    )
    slot = bank.slot("id", "voice.choice~1")
    assert slot is not None and slot.text == "Ketik"
    seconds = await bank.store_recording("id", "voice.choice~1", tone.stdout)
    assert seconds == pytest.approx(1.2, abs=0.1)
    choice = Spoken(
        text=t("voice.choice", number="satu", label="Daftar"),
        key="voice.choice",
        params=(("number", "satu"), ("label", "Daftar")),
    )
    plan = bank.plan(Voice(language="id", parts=(choice,)))
    assert plan[0] == ("file", bank.recording_path("id", "voice.choice~1"), False)
    assert plan[1][0] == "tts" and plan[1][1] == "satu untuk Daftar"
    made = await bank.render(Voice(language="id", parts=(choice,)))
    assert made is not None
    _, _, total = probe(made.read_bytes())
    assert total > seconds + 0.5
    # Nonsense is refused with a clear error and nothing is kept.
    with pytest.raises(Exception, match="failed"):
        await bank.store_recording("id", "menu.prompt", b"not audio at all")
    assert bank.recording("id", "menu.prompt") is None


async def simulate(
    tmp_path: Path, clock: Clock, lines: list[dict[str, Any]], **voice: Any
) -> list[dict[str, Any]]:
    settings = make_settings(tmp_path / "data")
    settings.voice = VoiceSettings(**voice)
    from bot.channels.console import JsonLinesChannel

    out = io.StringIO()
    channel = JsonLinesChannel(out)
    service = await build_service(settings, {channel.scheme: channel}, clock=clock)
    try:
        stdin = io.StringIO("".join(json.dumps(line) + "\n" for line in lines))
        await run_simulation(service, stdin=stdin, stdout=out, clock=clock)
    finally:
        await service.close()
    return [json.loads(line) for line in out.getvalue().splitlines()]


async def test_simulate_adds_the_voice_file_to_a_reply_line(tmp_path: Path, clock: Clock) -> None:
    lines = await simulate(
        tmp_path, clock, [{"from": "u1", "text": "VOICE"}, {"from": "u1", "choice": "consent:yes"}]
    )
    replies = [line for line in lines if "to" in line]
    assert replies[0]["text"] == t("voice.on") and replies[1]["text"] == t("consent.notice")
    for reply in replies:
        assert_voice_note(await asyncio.to_thread(Path(reply["voice"]).read_bytes))
    # The menu entry switches it off again.
    lines = await simulate(tmp_path, clock, [{"from": "u1", "choice": "menu:voice"}])
    replies = [line for line in lines if "to" in line]
    assert replies[0]["text"].startswith(t("voice.off")) and "voice" not in replies[0]


async def test_a_broken_synthesiser_leaves_the_conversation_in_text(
    tmp_path: Path, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    lines = await simulate(
        tmp_path,
        clock,
        [{"from": "u2", "text": "SUARA"}, {"from": "u2", "choice": "consent:yes"}],
        espeak="/nonexistent/espeak-ng",
    )
    replies = [line for line in lines if "to" in line]
    assert [r["text"] for r in replies][:2] == [t("voice.on"), t("consent.notice")]
    assert t("menu.prompt") in replies[-1]["text"] and all("voice" not in r for r in replies)
    assert "voice note not made" in caplog.text and "espeak-ng cannot run" in caplog.text
