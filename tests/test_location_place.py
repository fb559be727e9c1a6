"""A shared location answers the place questions: the kelurahan it falls in, and so the kecamatan, is
proposed ("Jurangmangu Timur, Pondok Aren, betul?") and a yes answers both. Transcripts in both languages,
in registration, lost KTP and aid; a location outside the city; the turns saved."""

from collections.abc import Awaitable, Callable

import pytest

from bot.app import Service
from handlers.geo import Boundaries
from handlers.types import Inbound, Reply
from tests.flow_steps import agree, case, person_named, reference_in, register, t
from tests.support import Chat, Clock, RecordingChannel

JURANGMANGU_TIMUR, PONDOK_AREN = "36.74.03.1011", "36.74.03"
BENDA_BARU, PAMULANG = "36.74.06.1002", "36.74.06"
JAKARTA = (-6.2000, 106.8450)
JAVA_SEA = (-5.9500, 106.7500)


def inside(code: str) -> tuple[float, float]:
    """A point well inside a kelurahan."""
    point = Boundaries.shared().area(code).geometry.representative_point()
    return round(point.y, 6), round(point.x, 6)


class CountingChat(Chat):
    """A chat that counts the person's turns (each message, tap or shared location is one)."""

    turns = 0

    async def send(self, event: Inbound) -> list[Reply]:
        self.turns += 1
        return await super().send(event)


@pytest.fixture
def person(service: Service, channel: RecordingChannel, clock: Clock) -> CountingChat:
    return CountingChat(service, channel, clock)


Place = Callable[[Chat, str], Awaitable[None]]


async def typed_place(chat: Chat, lang: str) -> None:
    """The place typed as the questions ask it: kecamatan, then kelurahan."""
    await chat.say("Pondok Aren")
    assert chat.last.text == t("reg.q.kelurahan", lang, kecamatan="Pondok Aren")
    await chat.say("Jurangmangu Timur")


async def shared_place(chat: Chat, lang: str) -> None:
    """A location shared at the place question, then one yes."""
    await chat.share_location(*inside(JURANGMANGU_TIMUR))
    proposal = t("form.located", lang, kelurahan="Jurangmangu Timur", kecamatan="Pondok Aren")
    assert chat.last.text == proposal
    await chat.tap(t("common.yes", lang))


ABOUT_ME = ("1", "Siti Aminah", "0", "17-08-1985", "perempuan", "0")  # for whom, name, NIK, birth, sex, phone


async def answer_about_me(chat: Chat) -> None:
    """The answers before the place questions: oneself, the name, no NIK, the birth date, sex, no phone."""
    for answer in ABOUT_ME:
        await chat.say(answer)


async def ask_aid_for_myself(chat: Chat) -> None:
    """Basic needs for oneself, this week, for four people: up to the place question."""
    await chat.tap(t("aid.for_self"))
    await chat.tap(t("aid.kind.basic"))
    await chat.say("Beras habis sejak kemarin")
    await chat.tap(t("aid.urgency.week"))
    await chat.say("4")


async def register_with(
    chat: CountingChat, place: Place, lang: str = "id", *, location_at_address: bool = False
) -> tuple[int, str]:
    """Register oneself from the menu to the reference, the place answered by `place` (and, if asked, the
    location shared with the address); the turns taken."""
    start = chat.turns
    await chat.tap(t("menu.registration", lang))
    await answer_about_me(chat)
    assert chat.last.text == t("reg.q.kecamatan.self", lang)
    offer = next(r for r in chat.replies if r.text == t("form.share_place", lang))
    assert offer.request == "location"  # offered with the place question, on a channel that can share
    await place(chat, lang)
    shared = place is shared_place
    assert chat.last.text == t("reg.q.address_located.self" if shared else "reg.q.address.self", lang)
    # The address question offers to share the location only when the place did not bring one.
    assert chat.last.request == (None if shared else "location")
    if location_at_address:
        await chat.share_location(*inside(JURANGMANGU_TIMUR))
        assert chat.last.text == t("form.address_after_location", lang)
    await chat.say("Jl. H. Sarmili RT 03/RW 05")
    for answer in ("3", "7", "tidak", "5", "5"):
        await chat.say(answer)
    await chat.say("kirim")
    return chat.turns - start, reference_in(chat.replies[0].text, "REG")


async def test_a_shared_location_answers_both_place_questions_with_one_yes(
    person: CountingChat, service: Service
) -> None:
    await agree(person)
    turns, reference = await register_with(person, shared_place)
    stored = await case(service, reference)
    assert (stored.kecamatan_code, stored.kelurahan_code) == (PONDOK_AREN, JURANGMANGU_TIMUR)
    lat, lon = inside(JURANGMANGU_TIMUR)
    assert (stored.latitude, stored.longitude) == (lat, lon)
    me = await person_named(service, person.contact, "Siti Aminah")
    assert (me.kelurahan_code, me.latitude, me.longitude) == (JURANGMANGU_TIMUR, lat, lon)
    assert turns == 16


async def test_sharing_the_location_takes_fewer_turns_than_typing_the_place(
    service: Service, channel: RecordingChannel, clock: Clock
) -> None:
    typist = CountingChat(service, channel, clock, name="pengetik")
    sharer = CountingChat(service, channel, clock, name="pembagi")
    await agree(typist)
    await agree(sharer)
    typed, typed_ref = await register_with(typist, typed_place, location_at_address=True)
    shared, shared_ref = await register_with(sharer, shared_place)
    # The same answers (kecamatan, kelurahan and the map location): typed, the kecamatan, the kelurahan
    # and the location shared with the address; shared first, the location and its one yes.
    assert (typed, shared) == (17, 16)
    for reference in (typed_ref, shared_ref):
        stored = await case(service, reference)
        assert (stored.kelurahan_code, stored.latitude) == (JURANGMANGU_TIMUR, inside(JURANGMANGU_TIMUR)[0])


async def test_in_english_too(person: CountingChat, service: Service) -> None:
    await agree(person, "en")
    _, reference = await register_with(person, shared_place, "en")
    stored = await case(service, reference)
    assert (stored.kecamatan_code, stored.kelurahan_code) == (PONDOK_AREN, JURANGMANGU_TIMUR)


@pytest.mark.parametrize(("where", "point"), [("Jakarta", JAKARTA), ("the Java Sea", JAVA_SEA)])
async def test_a_location_outside_the_city_is_said_kindly_and_the_place_is_asked_as_usual(
    person: CountingChat, service: Service, where: str, point: tuple[float, float]
) -> None:
    await agree(person)
    await person.tap(t("menu.registration"))
    await answer_about_me(person)
    await person.share_location(*point)
    assert [r.text for r in person.replies] == [t("form.located_outside"), t("reg.q.kecamatan.self")], where
    assert len(person.last.choices) == 7 and person.last.request is None  # not offered again at once
    await typed_place(person, "id")
    assert person.last.text == t("reg.q.address.self")


async def test_no_to_the_proposal_asks_the_place_again_and_keeps_nothing(person: CountingChat) -> None:
    await agree(person)
    await person.tap(t("menu.registration"))
    await answer_about_me(person)
    await person.share_location(*inside(JURANGMANGU_TIMUR))
    await person.tap(t("common.no"))
    assert person.last.text == t("reg.q.kecamatan.self") and len(person.last.choices) == 7
    await person.say("Pamulang")
    await person.say("Benda Baru")
    assert person.last.text == t("reg.q.address.self")
    assert person.last.request == "location"  # the refused location was not kept


async def test_a_location_at_the_kelurahan_question_answers_it_and_corrects_the_kecamatan(
    person: CountingChat, service: Service
) -> None:
    await agree(person)
    await person.tap(t("menu.registration"))
    for answer in ("1", "Siti Aminah", "0", "17-08-1985", "perempuan", "0", "Pondok Aren"):
        await person.say(answer)
    assert person.last.text == t("reg.q.kelurahan", kecamatan="Pondok Aren")
    await person.share_location(*inside(BENDA_BARU))
    assert person.last.text == t("form.located", kelurahan="Benda Baru", kecamatan="Pamulang")
    await person.tap(t("common.yes"))
    assert person.last.text == t("reg.q.address_located.self")
    for answer in ("Gang Mawar 2", "3", "7", "tidak", "5", "5", "kirim"):
        await person.say(answer)
    stored = await case(service, reference_in(person.replies[0].text, "REG"))
    assert (stored.kecamatan_code, stored.kelurahan_code) == (PAMULANG, BENDA_BARU)


async def test_lost_ktp_and_aid_take_the_place_from_a_location(
    person: CountingChat, service: Service
) -> None:
    await agree(person)
    await register(person, name="Siti Aminah")
    await person.tap(t("menu.aid"))
    await ask_aid_for_myself(person)
    assert person.last.text == t("aid.q.kecamatan.self")
    assert any(r.request == "location" and r.text == t("form.share_place") for r in person.replies)
    await person.share_location(*inside(BENDA_BARU))
    assert person.last.text == t("form.located", kelurahan="Benda Baru", kecamatan="Pamulang")
    await person.tap(t("common.yes"))
    assert person.last.text == t("aid.q.photo")
    await person.say("0")
    await person.tap(t("form.send"))
    aid = await case(service, reference_in(person.replies[0].text, "BAN"))
    assert (aid.kecamatan_code, aid.kelurahan_code) == (PAMULANG, BENDA_BARU)
    assert (aid.latitude, aid.longitude) == inside(BENDA_BARU)

    await person.tap(t("menu.lost_ktp"))
    while person.last.text not in (t("ktp.q.kecamatan.self"), t("ktp.q.kecamatan.other", name="Siti Aminah")):
        reply = person.last
        if reply.choices:
            await person.choose(reply.choices[0].id)
        else:
            await person.say("0" if reply.request else "Siti Aminah")
    await person.share_location(*inside(JURANGMANGU_TIMUR))
    assert person.last.text == t("form.located", kelurahan="Jurangmangu Timur", kecamatan="Pondok Aren")
    await person.tap(t("common.yes"))
    assert t("reg.q.kelurahan", kecamatan="Pondok Aren") not in person.text


async def register_from_location(chat: CountingChat, lang: str = "id") -> tuple[int, str]:
    """A registration that starts with a location shared at the menu: the place by name, one tap on
    "Daftar di sini", and the questions without the place ones; the turns taken."""
    start = chat.turns
    await chat.share_location(*inside(JURANGMANGU_TIMUR))
    proposal = chat.last
    assert proposal.text == t("located.ask", lang, kelurahan="Jurangmangu Timur", kecamatan="Pondok Aren")
    assert [c.label for c in proposal.choices] == [
        t(f"located.{key}", lang) for key in ("registration", "lost_ktp", "aid", "not_here")
    ]
    await chat.tap(t("located.registration", lang))
    await answer_about_me(chat)
    # No kecamatan, no kelurahan, and no second offer of the location at the address.
    assert chat.last.text == t("reg.q.address_located.self", lang) and chat.last.request is None
    assert not any(r.text == t("form.share_place", lang) for r in chat.replies)
    await chat.say("Jl. H. Sarmili RT 03/RW 05")
    for answer in ("3", "7", "tidak", "5", "5"):
        await chat.say(answer)
    await chat.say("kirim")
    return chat.turns - start, reference_in(chat.replies[0].text, "REG")


@pytest.mark.parametrize("lang", ["id", "en"])
async def test_a_registration_that_starts_with_a_location_takes_two_turns_fewer(
    service: Service, channel: RecordingChannel, clock: Clock, lang: str
) -> None:
    typist = CountingChat(service, channel, clock, name="pengetik")
    sharer = CountingChat(service, channel, clock, name="pembagi")
    await agree(typist, lang)
    await agree(sharer, lang)
    typed, typed_ref = await register_with(typist, typed_place, lang, location_at_address=True)
    shared, shared_ref = await register_from_location(sharer, lang)
    # The same record (kecamatan, kelurahan and the map location): typed, the menu tap, the kecamatan,
    # the kelurahan and the location at the address; started from the location, the location and one
    # tap that is both the yes to the place and the choice of what to do there.
    assert (typed, shared) == (17, 15)
    typed_case, shared_case = await case(service, typed_ref), await case(service, shared_ref)
    for stored in (typed_case, shared_case):
        assert (stored.kecamatan_code, stored.kelurahan_code) == (PONDOK_AREN, JURANGMANGU_TIMUR)
        assert (stored.latitude, stored.longitude) == inside(JURANGMANGU_TIMUR)
    assert typed_case.answers == shared_case.answers


async def test_a_location_at_the_menu_starts_lost_ktp_and_aid_there_too(
    person: CountingChat, service: Service
) -> None:
    await agree(person)
    await register(person, name="Siti Aminah")
    await person.share_location(*inside(BENDA_BARU))
    await person.tap(t("located.aid"))
    await ask_aid_for_myself(person)
    assert person.last.text == t("aid.q.photo")  # the place is not asked
    await person.say("0")
    await person.tap(t("form.send"))
    aid = await case(service, reference_in(person.replies[0].text, "BAN"))
    assert (aid.kecamatan_code, aid.kelurahan_code) == (PAMULANG, BENDA_BARU)
    assert (aid.latitude, aid.longitude) == inside(BENDA_BARU)


async def test_not_here_and_outside_the_city_keep_nothing_and_show_the_menu(person: CountingChat) -> None:
    await agree(person)
    await person.share_location(*inside(BENDA_BARU))
    await person.tap(t("located.not_here"))
    assert person.last.text.startswith(t("located.dropped")) and person.last.text.endswith(t("menu.prompt"))
    await person.share_location(*JAKARTA)
    assert person.last.text.startswith(t("located.outside")) and person.last.text.endswith(t("menu.prompt"))
    await person.tap(t("menu.registration"))
    await answer_about_me(person)
    assert person.last.text == t("reg.q.kecamatan.self")  # asked as usual: nothing was kept


async def test_typing_at_the_proposal_is_read_as_the_menu(person: CountingChat) -> None:
    await agree(person)
    await person.share_location(*inside(BENDA_BARU))
    await person.say("cek status")
    assert person.last.text != t("located.ask", kelurahan="Benda Baru", kecamatan="Pamulang")
    await person.share_location(*inside(BENDA_BARU))
    await person.say("daftar")  # the word picks "Daftar di sini"
    await answer_about_me(person)
    assert person.last.text == t("reg.q.address_located.self")


async def test_while_writing_with_staff_a_location_goes_to_them(person: CountingChat, clock: Clock) -> None:
    await agree(person)
    await person.tap(t("menu.talk"))
    await person.say("Lapak saya kebakaran tadi malam, mohon bantuan")
    reference = reference_in(person.replies[0].text, "PSN")
    await person.share_location(*inside(BENDA_BARU))  # where the lapak is: for the officer
    assert person.replies[0].text == t("info.forwarded", reference=reference)
    clock.advance(minutes=31)  # the conversation with staff is over: the location names the place
    await person.share_location(*inside(BENDA_BARU))
    assert person.last.text == t("located.ask", kelurahan="Benda Baru", kecamatan="Pamulang")
