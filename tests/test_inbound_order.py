"""A person's messages are handled in the platform's order, whatever order their deliveries arrive in
(WhatsApp: the message timestamp, then arrival; Telegram's webhook: update_id).

Meta delivers webhooks concurrently and retries them, so a person's second message can arrive before the
first, and the same message twice. Here one person's complete registration is delivered in bursts that
arrive shuffled, some parts up to 150 ms late and some twice: the conversation must see the messages in
WhatsApp's order (timestamp, then arrival) and store the registration exactly as an in-order delivery
does.
"""

import asyncio
import random
from pathlib import Path
from typing import Any

import pytest

from tests.fake_graph import webhook_body
from tests.support import Clock
from tests.test_telegram import CITIZEN, SECRET, World, within, world
from tests.test_whatsapp import WA_ID, Harness
from tests.whatsapp_scripts import letters, registration_nik, registration_script

# Measures time or load against a bound: run by itself, after the other tests (scripts/check).
pytestmark = pytest.mark.alone

PERSON = 7
BASE = 1_790_000_000  # WhatsApp timestamps of the script, one second apart


def bodies() -> list[dict[str, Any]]:
    return [
        webhook_body({"id": f"wamid.ORD{n:02d}", "timestamp": str(BASE + n), **message}, wa_id=WA_ID)
        for n, message in enumerate(registration_script(PERSON))
    ]


async def registration(harness: Harness) -> dict[str, Any]:
    rows = await harness.db.fetchall(
        "SELECT full_name, birth_date, sex, phone, kecamatan_code, kelurahan_code, address, household_size, "
        "skills, disaster_victim, documents, aid_received, nik_hash IS NOT NULL AS has_nik FROM persons"
    )
    cases = await harness.db.fetchall("SELECT kind, status FROM cases")
    return {"persons": [dict(row) for row in rows], "cases": [tuple(row) for row in cases]}


async def in_order(tmp_path: Path, clock: Clock) -> tuple[list[str], dict[str, Any]]:
    """The reference: the same messages delivered one by one, in order."""
    harness = await Harness.start(tmp_path / "reference", clock, order_hold_ms=0)
    try:
        for body in bodies():
            await harness.deliver(body)
        return [s.text for s in harness.fake.to(WA_ID)], await registration(harness)
    finally:
        await harness.close()


async def test_shuffled_late_and_redelivered_webhooks_are_handled_in_whatsapp_order(
    tmp_path: Path, clock: Clock
) -> None:
    expected_texts, expected = await in_order(tmp_path, clock)
    [person] = expected["persons"]
    assert person["full_name"] == f"Warga {letters(PERSON)}" and person["has_nik"]
    assert (person["birth_date"], person["sex"], person["kecamatan_code"]) == ("1985-08-08", "P", "36.74.03")
    assert person["address"] == "Jl. H. Sarmili RT 03/05" and person["household_size"] == 4
    assert expected["cases"] == [("registration", "baru")]

    harness = await Harness.start(tmp_path / "data", clock, order_hold_ms=300)
    rng = random.Random(17)
    try:
        script = bodies()

        async def post_after(delay: float, body: dict[str, Any]) -> None:
            await asyncio.sleep(delay)
            assert (await harness.post(body)).status_code == 200

        # The person sends three messages at a time; each burst arrives shuffled over 150 ms, with one
        # of them delivered twice and the previous burst's last message delivered again.
        for start in range(0, len(script), 3):
            burst = script[start : start + 3]
            deliveries = [*burst, rng.choice(burst), *script[max(0, start - 1) : start]]
            rng.shuffle(deliveries)
            await asyncio.gather(*(post_after(rng.uniform(0, 0.15), body) for body in deliveries))
            await harness.wa.worker.drain()
        assert [s.text for s in harness.fake.to(WA_ID)] == expected_texts
        assert await registration(harness) == expected
        assert await harness.count("inbound") == len(script)  # each message once
        assert harness.wa.worker.lanes.reordered > 0  # deliveries did overtake each other
        assert registration_nik(PERSON) not in str(await registration(harness))
    finally:
        await harness.close()


# ---------------------------------------------------------------------------------- Telegram (webhook)

TG_SCRIPT = [
    "halo",
    "1",  # Setuju
    "1",  # Daftar
    "1",  # Diri sendiri
    "Siti Aminah",
    "3674015708850001",
    "081234567890",
    "pondok aren",
    "6",
    "Jl. H. Sarmili RT 03/05",
    "4",
    "1 3",
    "tidak",
    "1 2",
    "1",  # PKH
    "1",  # Kirim
]


async def telegram_registration(w: World) -> dict[str, Any]:
    rows = await w.service.db.fetchall(
        "SELECT full_name, birth_date, sex, phone IS NOT NULL AS has_phone, kecamatan_code, kelurahan_code, "
        "address, household_size, skills, disaster_victim, documents, aid_received FROM persons"
    )
    cases = await w.service.db.fetchall("SELECT kind, status FROM cases")
    return {"persons": [dict(row) for row in rows], "cases": [tuple(row) for row in cases]}


async def test_telegram_webhook_updates_overtaking_each_other_are_handled_in_update_id_order(
    tmp_path: Path, clock: Clock
) -> None:
    async with world(tmp_path / "reference", clock, "webhook", staff_chat_id=None) as w:
        for text in TG_SCRIPT:
            await w.say(CITIZEN, text)
        expected_texts = [s.text for s in w.fake.to(CITIZEN)]
        expected = await telegram_registration(w)
    [person] = expected["persons"]
    assert (person["full_name"], person["birth_date"], person["sex"]) == ("Siti Aminah", "1985-08-17", "P")
    assert person["address"] == "Jl. H. Sarmili RT 03/05" and person["household_size"] == 4
    assert expected["cases"] == [("registration", "baru")]

    rng = random.Random(17)
    async with world(tmp_path / "data", clock, "webhook", staff_chat_id=None, order_hold_ms=300) as w:
        assert w.client is not None
        client = w.client
        updates = [w.fake.text(CITIZEN, text) for text in TG_SCRIPT]

        async def post_after(delay: float, update: dict[str, Any]) -> None:
            await asyncio.sleep(delay)
            headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
            assert (await client.post("/webhooks/telegram", json=update, headers=headers)).status_code == 200

        await w.deliver(updates[0])  # the first after a start has nothing to compare with
        # Then bursts of three on concurrent connections: shuffled, up to 150 ms apart, one of each
        # burst delivered twice and the previous burst's last one again (Telegram retries).
        for start in range(1, len(updates), 3):
            burst = updates[start : start + 3]
            deliveries = [*burst, rng.choice(burst), updates[start - 1]]
            rng.shuffle(deliveries)
            await asyncio.gather(*(post_after(rng.uniform(0, 0.15), update) for update in deliveries))
            for update in burst:
                await within(w.adapter.wait_handled(update["update_id"]), 10)
        assert [s.text for s in w.fake.to(CITIZEN)] == expected_texts
        assert await telegram_registration(w) == expected
        assert w.adapter.lanes.reordered > 0  # deliveries did overtake each other
