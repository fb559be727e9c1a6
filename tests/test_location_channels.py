"""A shared location answers both place questions with one yes, on each channel as it really behaves:
Telegram's location button (fake Bot API on 127.0.0.1), a WhatsApp location message (fake Graph API on
127.0.0.1) and `python -m bot simulate` with {"location": [lat, lon]}. Turns are counted."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

from handlers.geo import Boundaries
from storage import repo
from tests.fake_graph import Sent
from tests.support import Clock
from tests.test_simulate import Simulator, simulate  # noqa: F401  (the fixture)
from tests.test_telegram import CITIZEN, world
from tests.test_whatsapp import WA_ID, Harness, Person, harness, t  # noqa: F401  (the fixture)

JURANGMANGU_TIMUR, PONDOK_AREN = "36.74.03.1011", "36.74.03"
PROPOSAL = t("form.located", kelurahan="Jurangmangu Timur", kecamatan="Pondok Aren")


def inside(code: str) -> tuple[float, float]:
    point = Boundaries.shared().area(code).geometry.representative_point()
    return round(point.y, 6), round(point.x, 6)


async def test_telegram_location_button_answers_the_place_with_one_yes(tmp_path: Path, clock: Clock) -> None:
    async with world(tmp_path, clock) as w:
        user = CITIZEN
        turns = 0

        async def say(text: str) -> None:
            nonlocal turns
            turns += 1
            await w.say(user, text)

        await w.say(user, "halo")
        await w.tap(user, t("consent.agree"))
        await w.tap(user, t("menu.registration"))
        await w.tap(user, t("reg.for_self"))
        for answer in ("siti aminah", "0", "17-08-1985", "perempuan"):
            await say(answer)
        sent = await w.say(user, "0")  # no phone
        # The question with its 7 kecamatan buttons, after the offer that carries the location button.
        assert sent[-1].text == t("reg.q.kecamatan.self") and len(sent[-1].buttons) == 7
        offer = next(s for s in sent if s.text == t("form.share_place"))
        assert offer.request == "location"
        sent = await w.exchange(user, w.fake.location(user, *inside(JURANGMANGU_TIMUR)))
        assert sent[-1].text == PROPOSAL
        sent = await w.tap(user, t("common.yes"))
        assert sent[-1].text == t("reg.q.address_located.self")
        place_turns = 2  # the location and its yes
        await say("Jl. H. Sarmili RT 03/RW 05")
        assert w.fake.to(user)[-1].text == t("reg.q.household_size.self")  # no location question left
        await say("5")
        await say("1 2")
        await w.tap(user, t("common.yes"))
        await w.tap(user, t("doc.kk"))
        await w.tap(user, t("received.none"))
        sent = await w.tap(user, t("form.send"))
        assert "REG-2026-000001" in (sent[0].text or "")
        case = await repo.get_case(w.service.db, "REG-2026-000001")
        assert case is not None
        assert (case.kecamatan_code, case.kelurahan_code) == (PONDOK_AREN, JURANGMANGU_TIMUR)
        assert (case.latitude, case.longitude) == inside(JURANGMANGU_TIMUR)
        # Typed, the same answers take the kecamatan, the kelurahan and the location shared with the
        # address: three turns for what the location and its yes gave here.
        assert place_turns == 3 - 1 and turns == 7


async def test_whatsapp_location_message_answers_the_place_with_one_yes(
    harness: Harness,  # noqa: F811
) -> None:
    siti = Person(harness)
    await siti.say("halo")
    await siti.tap(t("consent.agree"))
    await siti.tap(t("menu.registration"))
    await siti.tap(t("reg.for_self"))
    await siti.say("siti aminah")
    await siti.say("3674 0157 0885 0001")  # it answers the birth date and sex questions too
    await siti.tap(t("reg.phone_use_known"))
    # WhatsApp's own "send location" request, then the kecamatan list.
    assert [s.interactive_type for s in siti.replies][-2:] == ["location_request_message", "list"]
    assert siti.replies[-2].text == t("form.share_place")
    assert siti.last.text == t("reg.q.kecamatan.self")
    before = len(siti.inbox)
    await siti.share_location(*inside(JURANGMANGU_TIMUR))
    assert siti.last.text == PROPOSAL and siti.last.interactive_type == "button"
    await siti.tap(t("common.yes"))
    assert siti.last.text == t("reg.q.address_located.self")
    place_messages = len(siti.inbox) - before
    assert place_messages == 2  # two turns, one answer each: the proposal, then the address question
    await siti.say("Jl. H. Sarmili RT 03/RW 05")
    assert siti.last.text == t("reg.q.household_size.self")  # the location question is answered
    await siti.say("5 orang")
    await siti.say("1 2")
    await siti.say("ya")
    await siti.tap(t("doc.kk"))
    await siti.tap(t("received.none"))
    await siti.tap(t("form.send"))
    assert "REG-2026-000001" in siti.replies[0].text
    case = await repo.get_case(harness.service.db, "REG-2026-000001")
    assert case is not None and (case.kecamatan_code, case.kelurahan_code) == (PONDOK_AREN, JURANGMANGU_TIMUR)
    [person] = await repo.persons_of_contact(harness.service.db, f"whatsapp:{WA_ID}")
    assert (person.latitude, person.longitude) == inside(JURANGMANGU_TIMUR)


async def test_whatsapp_location_at_the_menu_starts_a_registration_there(
    harness: Harness,  # noqa: F811
) -> None:
    class Counted(Person):
        turns = 0

        async def send(self, message: dict[str, Any], wamid: str | None = None) -> list[Sent]:
            self.turns += 1
            return await super().send(message, wamid)

    siti = Counted(harness)
    await siti.say("halo")
    await siti.tap(t("consent.agree"))
    await siti.share_location(*inside(JURANGMANGU_TIMUR))
    proposal = t("located.ask", kelurahan="Jurangmangu Timur", kecamatan="Pondok Aren")
    assert siti.last.text == proposal and siti.last.interactive_type == "list"  # four options
    await siti.tap(t("located.registration"))
    await siti.tap(t("reg.for_self"))
    await siti.say("siti aminah")
    await siti.say("3674 0157 0885 0001")
    await siti.tap(t("reg.phone_use_known"))
    assert siti.last.text == t("reg.q.address_located.self")  # neither place question, nor the location again
    for answer in ("Jl. H. Sarmili RT 03/RW 05", "5 orang", "1 2", "ya"):
        await siti.say(answer)
    await siti.tap(t("doc.kk"))
    await siti.tap(t("received.none"))
    await siti.tap(t("form.send"))
    assert "REG-2026-000001" in siti.replies[0].text
    # 15 turns from "halo" to the reference, one fewer than the 16 of the test above (which shares the
    # location at the kecamatan question), two fewer than typing the place and sharing at the address.
    assert siti.turns == 15
    case = await repo.get_case(harness.service.db, "REG-2026-000001")
    assert case is not None and (case.kecamatan_code, case.kelurahan_code) == (PONDOK_AREN, JURANGMANGU_TIMUR)
    assert (case.latitude, case.longitude) == inside(JURANGMANGU_TIMUR)


def test_simulate_location_answers_the_place_with_one_yes(
    tmp_path: Path,
    simulate: Callable[[Path], Simulator],  # noqa: F811
) -> None:
    sim = simulate(tmp_path / "data")
    turns = 0

    def send(event: dict[str, object]) -> list[dict[str, object]]:
        nonlocal turns
        turns += 1
        return sim.replies({"from": "u1", **event})

    send({"text": "halo"})
    send({"choice": "consent:yes"})
    send({"choice": "menu:registration"})
    for text in ("1", "Siti Aminah", "0", "17-08-1985", "perempuan"):
        send({"text": text})
    asked = send({"text": "0"})
    assert [r["text"] for r in asked][-2:] == [t("form.share_place"), t("reg.q.kecamatan.self")]
    assert asked[-2].get("request") == "location"
    proposal = send({"location": list(inside(JURANGMANGU_TIMUR))})
    assert proposal[-1]["text"] == PROPOSAL
    answered = send({"text": "ya"})
    assert answered[-1]["text"] == t("reg.q.address_located.self")
    for text in ("Jl. H. Sarmili RT 03/RW 05", "3", "7", "tidak", "5", "5"):
        send({"text": text})
    done = send({"text": "kirim"})
    assert "REG-2026-000001" in str(done[0]["text"])
    sim.close()
    # Typed, the same answers take the kecamatan, the kelurahan and the location shared with the
    # address: 19 turns in all.
    assert turns == 18
