"""Telegram's global budget (30 messages/s) goes to what people wait for: replies and questions.

The "✅ <choice>" edit under a pressed question and the removal of an old keyboard are cosmetic: they
take a slot only when no reply is waiting for it, and are skipped (counted) when the budget is tight.
An old button left on screen stays harmless: a tap on it is answered "that question is over" and changes
nothing.

The load test runs 100 people chatting at once under the shipped limits (the fake answers 429 beyond 30
messages/s overall and beyond one per second per chat with short bursts). Each person takes a few
seconds to answer, as people do; to keep the test within a minute they go through the first six steps
of a registration (greeting, consent, menu, for whom, name, NIK: three button presses, three typed
answers), not all seventeen. `bench/reply_latency.py --ramp` measures whole registrations.
"""

import asyncio
import random
import time
from pathlib import Path
from typing import Any

import pytest

from bench.telegram_updates import script
from bot.channels.telegram.sender import KeyboardTracker
from tests.fake_telegram import FakeTelegram, Sent
from tests.support import Clock
from tests.test_telegram import t, world
from tests.test_telegram_pace import more_than

# Measures time or load against a bound: run by itself, after the other tests (scripts/check).
pytestmark = pytest.mark.alone

PEOPLE = 100
STEPS = 6  # greeting, consent, menu, for whom, name, NIK
PRESSES = 3  # consent, menu, for whom
FIRST_USER = 30_000
SPREAD = 4.0  # seconds over which the people start
THINK = (3.0, 7.0)  # seconds a person takes to answer a message (uniform)


async def person(
    fake: FakeTelegram,
    user: int,
    steps: list[dict[str, Any]],
    rng: random.Random,
    latencies: list[float],
    *,
    spread: float = SPREAD,
    think: tuple[float, float] = THINK,
) -> None:
    """One person answering at a human pace; each reply timed from the update to its last bubble."""
    await asyncio.sleep(rng.uniform(0, spread))
    read = 0
    pushed = 0.0
    for number, step in enumerate(steps):
        if number:
            await more_than(fake, user, read)
            first = fake.to(user)[read]
            await asyncio.sleep(max(0.0, first.at + rng.uniform(*think) - time.monotonic()))
            unit: list[Sent] = fake.to(user)[read:]
            read += len(unit)
            latencies.append(unit[-1].at - pushed)
            if "choice" in step:
                carrier = next((s for s in reversed(unit) if s.buttons), None)
                assert carrier is not None and any(d == step["choice"] for _, d in carrier.buttons)
                update = fake.press(user, carrier, step["choice"])
            elif "contact" in step:
                update = fake.contact(user, step["contact"])
            elif "location" in step:
                update = fake.location(user, *step["location"])
            else:
                update = fake.text(user, step["text"])
        else:
            update = fake.text(user, step["text"])
        pushed = time.monotonic()
        await fake.push(update)
    await more_than(fake, user, read)
    await asyncio.sleep(1.0)  # the rest of the last reply
    latencies.append(fake.to(user)[-1].at - pushed)


async def test_a_hundred_people_at_once_get_answers_within_a_second_and_skipped_edits_are_counted(
    tmp_path: Path, clock: Clock
) -> None:
    fake = await FakeTelegram(limit_per_second=30, chat_interval=1.0, chat_burst=20, latency=0.02).start()
    try:
        # The shipped limits: 30 messages/s overall, one per second per chat with its burst.
        async with world(tmp_path, clock, fake=fake, staff_chat_id=None, rate_per_second=30,
                         per_chat_interval_seconds=1.0, per_chat_burst=20) as w:  # fmt: skip
            rng = random.Random(17)
            latencies: list[float] = []
            users = [FIRST_USER + i for i in range(PEOPLE)]
            people = (person(fake, u, script(i)[:STEPS], rng, latencies) for i, u in enumerate(users))
            await asyncio.wait_for(asyncio.gather(*people), 120)
            latencies.sort()
            p95 = latencies[int(len(latencies) * 0.95) - 1]
            assert len(latencies) == PEOPLE * STEPS
            assert p95 <= 1.0, f"answers p95 {p95:.2f} s (p50 {latencies[len(latencies) // 2]:.2f} s)"
            for user in users:  # everyone reached the question after the NIK
                assert fake.to(user)[-1].text == t("reg.q.phone.self"), fake.to(user)[-1].text
            edits = fake.calls["editMessageText"]
            skipped = w.adapter.channel.cosmetic_skipped
            assert edits + skipped == PEOPLE * PRESSES, (edits, skipped)
            exported = w.service.metrics.registry.get_sample_value(
                "dinsos_telegram_cosmetic_skipped_total", {"kind": "chosen"}
            )
            assert exported == skipped
            assert fake.chat_limited == 0
    finally:
        await fake.stop()


async def test_a_tap_on_a_button_whose_choice_was_never_marked_is_answered_and_changes_nothing(
    tmp_path: Path, clock: Clock
) -> None:
    async with world(tmp_path, clock, staff_chat_id=None) as w:
        user = 31_001

        async def never_spare(wait: float) -> bool:
            return False  # the budget is tight at every press: every cosmetic edit is skipped

        w.adapter.channel.pacer.acquire_spare = never_spare  # type: ignore[method-assign]
        await w.say(user, "halo")
        consent = w.last_with_buttons(user)
        await w.tap(user, t("consent.agree"))
        menu = w.last_with_buttons(user)
        await w.tap(user, t("menu.registration"))
        for_whom = w.last_with_buttons(user)
        await w.tap(user, t("reg.for_self"))
        sent = await w.say(user, "siti aminah")
        assert sent[-1].text == t("reg.q.nik.self")
        await asyncio.sleep(0.2)
        # The pressed questions still show their buttons (their edits were skipped, and counted).
        assert consent.buttons and menu.buttons and w.fake.calls["editMessageText"] == 0
        assert w.adapter.channel.cosmetic_skipped == 3
        state = "SELECT flow, step, data FROM conversations WHERE contact_id = ?"
        before = tuple(await w.service.db.fetchone(state, (f"telegram:{user}",)) or ())
        seen = len(w.fake.to(user))
        for old, data in ((consent, "consent:yes"), (menu, "menu:aid"), (menu, "menu:registration")):
            answer = await w.press(user, old, data)
            assert answer.get("text") == t("tg.button_old")
        await asyncio.sleep(0.3)
        assert len(w.fake.to(user)) == seen  # nothing asked again, nothing sent
        assert tuple(await w.service.db.fetchone(state, (f"telegram:{user}",)) or ()) == before
        # After a restart the service no longer remembers which keyboard is current: the store tells.
        w.adapter.channel.keyboards = KeyboardTracker()
        for old, data in ((menu, "menu:registration"), (for_whom, "for_whom:self")):
            answer = await w.press(user, old, data)
            assert answer.get("text") == t("tg.button_old")
        await asyncio.sleep(0.3)
        assert len(w.fake.to(user)) == seen
        assert tuple(await w.service.db.fetchone(state, (f"telegram:{user}",)) or ()) == before
        sent = await w.say(user, "3674015708850001")
        assert sent[-1].text == t("reg.q.phone.self")  # the registration went on where it was
