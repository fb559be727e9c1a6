"""Pieces of the Telegram channel on their own: pacing, rendering, commands, roles, the HTTP backend."""

import asyncio
import logging
import socket
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, ReplyKeyboardMarkup, ReplyKeyboardRemove
from telegram.error import NetworkError

from bot.channels.telegram import build_bot
from bot.channels.telegram.inbound import parse_command
from bot.channels.telegram.pacing import ChatPacer, Pacer
from bot.channels.telegram.render import CALLBACK_LIMIT, callback_key, render, split_text, strip_number
from bot.channels.telegram.sender import classify
from bot.channels.telegram.staff import parse_roles
from bot.settings import TelegramSettings
from handlers.i18n import Catalog
from handlers.types import Choice, Reply
from storage.records import OutboxStatus
from tests.fake_telegram import TOKEN, FakeTelegram

CATALOG = Catalog.load()


# ---------------------------------------------------------------- pacing


async def test_pacer_never_exceeds_its_rate_in_any_second() -> None:
    pacer = Pacer(200, burst=4)
    starts: list[float] = []

    async def send() -> None:
        await pacer.acquire(urgent=False)
        starts.append(time.monotonic())

    await asyncio.gather(*(send() for _ in range(150)))
    await pacer.close()
    span = starts[-1] - starts[0]
    assert 0.65 <= span <= 1.5  # 150 sends at 200/s, the first few as a burst (slack for a busy machine)
    for i, start in enumerate(starts):
        in_window = sum(1 for other in starts[i:] if other - start < 0.25)
        assert in_window <= 200 * 0.25 + 4 + 1  # the rate plus the burst, in every quarter second


async def test_catching_up_never_breaks_the_one_second_cap() -> None:
    pacer = Pacer(40, burst=40)  # a burst as big as the rate: only the window cap holds it back
    starts: list[float] = []

    async def send() -> None:
        await pacer.acquire()
        starts.append(time.monotonic())

    await asyncio.gather(*(send() for _ in range(50)))
    await pacer.close()
    assert max(sum(1 for other in starts if 0 <= other - start < 0.99) for start in starts) <= 40
    assert starts[-1] - starts[0] >= 0.99


async def test_urgent_sends_go_before_bulk_ones() -> None:
    pacer = Pacer(100, burst=1)
    order: list[str] = []

    async def send(name: str, urgent: bool) -> None:
        await pacer.acquire(urgent=urgent)
        order.append(name)

    bulk = [asyncio.create_task(send(f"bulk{i}", False)) for i in range(10)]
    await asyncio.sleep(0.025)  # a broadcast is under way...
    urgent = asyncio.create_task(send("reply", True))  # ...when someone chats
    await asyncio.gather(*bulk, urgent)
    await pacer.close()
    assert order.index("reply") <= 4  # it jumped the queue of waiting bulk sends


async def test_cosmetic_calls_take_only_slots_nobody_waits_for_and_are_skipped_when_tight() -> None:
    pacer = Pacer(50, burst=1)
    order: list[str] = []

    async def send(name: str, urgent: bool) -> None:
        await pacer.acquire(urgent=urgent)
        order.append(name)

    async def edit(name: str, wait: float) -> bool:
        granted = await pacer.acquire_spare(wait)
        if granted:
            order.append(name)
        return granted

    replies = [asyncio.create_task(send(f"reply{i}", True)) for i in range(10)]
    bulk = [asyncio.create_task(send(f"bulk{i}", False)) for i in range(5)]
    await asyncio.sleep(0)
    late = asyncio.create_task(edit("late-edit", 0.1))  # 15 sends queued: no spare slot within 0.1 s
    edited = asyncio.create_task(edit("edit", 2.0))  # it waits for the queue to drain
    assert await late is False
    assert await edited is True
    await asyncio.gather(*replies, *bulk)
    assert order[-1] == "edit" and "late-edit" not in order
    await asyncio.sleep(0.05)
    assert await edit("idle-edit", 0.0) is True  # an idle budget: at once
    await pacer.close()


async def test_a_429_pauses_everyone_and_halves_the_rate() -> None:
    pacer = Pacer(30, burst=1)
    await pacer.acquire()
    pacer.limited_for(0.3)
    pacer.limited_for(0.3)  # other in-flight sends answered 429 too: one slow-down, not two
    assert pacer.current == 15 and pacer.limited == 2
    started = time.monotonic()
    await asyncio.gather(pacer.acquire(), pacer.acquire(urgent=False))
    assert time.monotonic() - started >= 0.29  # nobody went before the pause was over
    await pacer.close()


async def test_a_rate_set_too_high_learns_the_limit_from_the_first_429() -> None:
    now = [100.0]
    pacer = Pacer(600, burst=600, clock=lambda: now[0])
    for i in range(300):  # Telegram let 300 through in this second, then said 429
        now[0] = 100.0 + i / 600
        await pacer.acquire()
    pacer.limited_for(1.0)
    assert pacer.ceiling == pytest.approx(285) and pacer.current == pytest.approx(285)
    now[0] += 30.0  # long quiet: the pace is back at the learnt limit, which creeps up slowly
    await pacer.acquire()
    assert pacer.current == pacer.ceiling == pytest.approx(285 + 600 * 0.001 * 29, abs=1)
    await pacer.close()


async def test_after_a_429_the_rate_climbs_back_in_quiet_seconds() -> None:
    now = [100.0]
    pacer = Pacer(30, burst=1, clock=lambda: now[0])
    pacer.limited_for(1.0)
    assert pacer.current == 15
    now[0] += 2.0  # paused 1 s, then 1 quiet second: +3/s
    await pacer.acquire()
    assert pacer.current == pytest.approx(18)
    now[0] += 10.0
    await pacer.acquire()
    assert pacer.current == 30
    await pacer.close()


def test_chat_pacer_allows_a_short_burst_then_spaces_messages() -> None:
    now = [0.0]
    pacer = ChatPacer(1.0, burst=3, clock=lambda: now[0])
    assert [pacer.reserve(7) for _ in range(5)] == [0.0, 0.0, 0.0, 1.0, 2.0]
    assert pacer.reserve(8) == 0.0  # another chat is not held up
    now[0] = 10.0
    assert pacer.reserve(7) == 0.0
    assert ChatPacer(0).reserve(7) == 0.0  # off


# ---------------------------------------------------------------- rendering


def test_choices_become_numbered_inline_buttons_with_the_choice_id() -> None:
    reply = Reply(text="Setuju?", choices=(Choice("consent:yes", "Setuju"), Choice("consent:no", "Tidak")))
    rendered = render(reply, CATALOG, "id")
    [message] = rendered.messages
    assert isinstance(message.markup, InlineKeyboardMarkup)
    buttons = [b for row in message.markup.inline_keyboard for b in row]
    assert [(b.text, b.callback_data) for b in buttons] == [
        ("1. Setuju", "consent:yes"),
        ("2. Tidak", "consent:no"),
    ]
    assert rendered.keyboard_at == 0 and strip_number("12. Pondok Aren") == "Pondok Aren"


def test_long_choice_ids_get_short_stable_keys() -> None:
    long_id = "x:" + "é" * 40  # 82 bytes
    key = callback_key(long_id)
    assert key.startswith("~") and len(key.encode()) <= CALLBACK_LIMIT and key == callback_key(long_id)
    assert callback_key("menu:registration") == "menu:registration"
    rendered = render(Reply(text="?", choices=(Choice(long_id, "A"),)), CATALOG, "id")
    assert rendered.long_ids == {key: long_id}


def test_phone_and_location_requests_get_share_buttons() -> None:
    phone = render(Reply(text="Nomor HP?", request="phone"), CATALOG, "en").messages[-1]
    assert isinstance(phone.markup, ReplyKeyboardMarkup)
    assert phone.markup.keyboard[0][0].request_contact and phone.markup.keyboard[0][0].text == CATALOG.text(
        "en", "tg.share_phone"
    )
    # Location with a "skip" button: the question keeps its inline button, a hint brings the share one.
    location = render(
        Reply(text="Lokasi?", choices=(Choice("location:skip", "Lewati"),), request="location"), CATALOG, "id"
    )
    assert [type(m.markup) for m in location.messages] == [InlineKeyboardMarkup, ReplyKeyboardMarkup]
    assert location.keyboard_at == 0 and location.reply_keyboard
    plain = render(Reply(text="Terima kasih"), CATALOG, "id", remove_keyboard=True).messages[-1]
    assert isinstance(plain.markup, ReplyKeyboardRemove)


def test_long_texts_are_split_at_line_breaks() -> None:
    text = "\n".join(f"baris {i} " + "x" * 90 for i in range(100))
    parts = split_text(text, 4096)
    assert all(len(part) <= 4096 for part in parts) and "\n".join(parts) == text
    assert split_text("y" * 9000, 4096) == ["y" * 4096, "y" * 4096, "y" * 808]


# ---------------------------------------------------------------- commands, roles, masking


def test_commands_are_read_with_or_without_the_bot_name() -> None:
    assert parse_command("/menu", "dinsos_bot") == "menu"
    assert parse_command("/MENU@Dinsos_Bot", "dinsos_bot") == "menu"
    assert parse_command("/start abc123", "dinsos_bot") == "start"
    assert parse_command("/menu@other_bot", "dinsos_bot") is None
    assert parse_command("menu", "dinsos_bot") is None
    assert parse_command("/", "dinsos_bot") is None


def test_staff_roles_are_parsed_strictly() -> None:
    assert parse_roles("11:admin, 22:petugas,33:VIEWER,") == {11: "admin", 22: "petugas", 33: "viewer"}
    assert parse_roles("") == {}
    for bad in ("11", "11:boss", "abc:admin"):
        with pytest.raises(ValueError, match="staff entry"):
            parse_roles(bad)


# ---------------------------------------------------------------- the HTTP backend


async def test_an_unreachable_bot_api_is_a_plain_failure_without_the_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens here once the probe is closed
    bot = build_bot(TelegramSettings(token=TOKEN, base_url=f"http://127.0.0.1:{port}/bot"))
    await bot.request.initialize()
    try:
        with pytest.raises(NetworkError) as raised:
            await bot.send_message(1, "halo")
    finally:
        await bot.request.shutdown()
    result = classify(raised.value)
    assert result.status == OutboxStatus.FAILED  # never sent, so not "maybe delivered"
    assert TOKEN not in str(result.error) and TOKEN not in caplog.text


async def test_files_travel_as_multipart_and_answers_as_bot_objects(tmp_path: Path) -> None:
    async with FakeTelegram() as fake:
        bot = build_bot(
            TelegramSettings(token=TOKEN, base_url=fake.base_url, base_file_url=fake.base_file_url)
        )
        async with bot:
            assert bot.username == "dinsos_test_bot"
            sent = await bot.send_photo(-100, b"\xff\xd8" + b"p" * 500, caption="REG-1")
            assert sent.photo and sent.caption == "REG-1"
            fake.files["f1"] = b"voice bytes"
            file = await bot.get_file("f1")
            assert bytes(await file.download_as_bytearray()) == b"voice bytes"
        assert fake.sent[0].method == "sendPhoto" and fake.sent[0].file_bytes == 502


async def test_plain_calls_travel_form_encoded_without_a_multipart_writer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    writers: list[object] = []
    original = aiohttp.MultipartWriter.__init__

    def counted(self: aiohttp.MultipartWriter, *args: Any, **kwargs: Any) -> None:
        writers.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(aiohttp.MultipartWriter, "__init__", counted)
    async with FakeTelegram() as fake:
        bot = build_bot(TelegramSettings(token=TOKEN, base_url=fake.base_url))
        async with bot:
            keyboard = InlineKeyboardMarkup(
                [[InlineKeyboardButton("1. Setuju", callback_data="consent:yes")]]
            )
            await bot.send_message(42, "Halo & selamat datang = 100%?", reply_markup=keyboard)
        sent = fake.sent[0]
        assert sent.text == "Halo & selamat datang = 100%?"  # every character arrives as written
        assert sent.buttons == [("1. Setuju", "consent:yes")]
    assert writers == []  # no multipart writer (and its uuid4 boundary) per call
