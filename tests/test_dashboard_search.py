"""Finding anyone from the dashboard: the queue and the persons page search a name (or part of it), a
case number, a NIK or KK number (by keyed hash: they are sealed) and a phone number however it is
spelled, through indexes; a viewer, who only ever sees these numbers masked, cannot search by them."""

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.dashboard.queries import search_kind
from handlers.validators import phone_key
from storage.records import CaseKind
from tests.dashboard_support import Desk, SeedCase, open_desk
from tests.flow_steps import KK, KK_TYPED, NIK
from tests.support import Clock
from tests.test_dashboard import listed, ui

PERSON_LINK = re.compile(r'href="/persons/(\d+)"')


@pytest.fixture
async def desk(tmp_path: Path, clock: Clock) -> AsyncIterator[Desk]:
    async with open_desk(tmp_path / "data", clock) as opened:
        yield opened


async def shown(desk: Desk, q: str) -> list[str]:
    response = await desk.client.get("/cases", params={"q": q})
    assert response.status_code == 200
    return listed(response.text)


async def people(desk: Desk, q: str) -> list[str]:
    response = await desk.client.get("/persons", params={"q": q})
    assert response.status_code == 200
    ids = list(dict.fromkeys(PERSON_LINK.findall(response.text)))
    rows = [await desk.rows("SELECT full_name FROM persons WHERE id = ?", int(i)) for i in ids]
    return [row[0]["full_name"] for row in rows]


@pytest.mark.parametrize(
    ("typed", "key"),
    [
        ("0812-3456-7890", "6281234567890"),
        ("62812 3456 7890", "6281234567890"),
        ("+62 812-3456-7890", "6281234567890"),
        ("(0812) 3456.7890", "6281234567890"),
        ("812 3456 7890", "6281234567890"),
        ("+1 415 555 0100", "14155550100"),
        ("Siti", None),
        ("12345", None),
    ],
)
def test_a_phone_number_has_one_key_however_it_is_spelled(typed: str, key: str | None) -> None:
    assert phone_key(typed) == key


def test_what_a_search_text_is() -> None:
    assert search_kind("reg-2026-000001") == "reference"
    assert search_kind("3674 0157 0885 0001") == "number"
    assert search_kind("0812-3456-7890") == "phone"
    assert search_kind("siti aminah") == "name"


async def test_a_phone_number_in_three_spellings_finds_the_person_and_their_cases(desk: Desk) -> None:
    await desk.signed_in("petugas")
    ani, budi, citra, dedi = await desk.seed(
        SeedCase("Ani Lestari", phone="+6281234567890"),  # the person's number, as the bot stores it
        SeedCase("Budi Santoso", contact="whatsapp:6285711112222"),  # only the WhatsApp number
        SeedCase("Citra Dewi", answers={"phone": "0813-1111-2222"}),  # typed into an older answer
        SeedCase("Dedi Kurnia", phone="+6281299998888"),
    )
    for typed in ("0812-3456-7890", "6281234567890", "+62 812 3456 7890"):
        assert await shown(desk, typed) == [ani], typed
        assert await people(desk, typed) == ["Ani Lestari"], typed
    assert await shown(desk, "0857 1111 2222") == [budi]
    assert await people(desk, "+62 857-1111-2222") == ["Budi Santoso"]
    assert await shown(desk, "+62 813 1111 2222") == [citra]
    assert await shown(desk, "0812-0000-0000") == []
    assert dedi not in await shown(desk, "0812-3456-7890")


async def test_a_kk_number_finds_the_person_and_their_cases(desk: Desk) -> None:
    await desk.signed_in("petugas")
    sealer = desk.service.services.sealer
    ani, _, lost = await desk.seed(
        SeedCase("Ani Lestari", kk=KK),
        SeedCase("Budi Santoso"),
        SeedCase("Citra Dewi", kind=CaseKind.LOST_KTP, answers={"kk": sealer.seal(KK).model_dump()}),
    )
    assert await shown(desk, KK_TYPED) == [lost, ani]
    assert await people(desk, KK) == ["Ani Lestari"]
    assert await shown(desk, NIK) == []


async def test_names_and_case_numbers_are_found_in_part_and_in_any_case(desk: Desk) -> None:
    await desk.signed_in("petugas")
    ani, budi, citra = await desk.seed(
        SeedCase("Ani Lestari"), SeedCase("Budi Santoso"), SeedCase("Citra Lestariani")
    )
    assert await shown(desk, "LESTARI") == [citra, ani]
    assert await shown(desk, "ni lest") == [ani]
    assert await shown(desk, "bu") == [budi]  # shorter than a trigram: still found
    assert await shown(desk, budi[-6:]) == [budi]
    assert await shown(desk, 'Ani "Lestari') == []
    assert await people(desk, "santo") == ["Budi Santoso"]


async def test_a_viewer_cannot_search_by_nik_kk_or_phone(desk: Desk) -> None:
    await desk.signed_in("viewer")
    (ani,) = await desk.seed(SeedCase("Ani Lestari", nik=NIK, kk=KK, phone="+6281234567890"))
    for number in (NIK, KK_TYPED, "0812-3456-7890"):
        response = await desk.client.get("/cases", params={"q": number})
        assert listed(response.text) == [] and ui("queue.search_refused") in response.text
        persons = await desk.client.get("/persons", params={"q": number})
        assert "Ani Lestari" not in persons.text and ui("persons.search_refused") in persons.text
        export = await desk.client.get("/cases/export.csv", params={"q": number})
        assert export.status_code == 200 and ani not in export.text
    assert await shown(desk, "lestari") == [ani]
    assert await shown(desk, ani) == [ani]
