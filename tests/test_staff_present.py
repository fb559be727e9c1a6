"""A case's answers in words come from one presenter in the staff service, and the command line
(`staff show`), the Telegram staff group (the case card) and the dashboard (the case page) say the same
thing about the same case: labels in the order of the form, answers in words (names, not codes), an
answer given by voice note flagged "dijawab dengan pesan suara" with the file, the phone number masked
where the reader may not dial it."""

import html
import io
import re
from datetime import datetime
from functools import partial
from pathlib import Path

import httpx

from bot import staff_cli
from bot.__main__ import _parser
from bot.dashboard import Dashboard, WebChatChannel
from bot.web import build_asgi
from handlers.forms import FLAGS
from handlers.staff.present import Presenter, case_answers
from storage import contacts, repo
from storage.contract import Tx
from tests.dashboard_support import add_user, sign_in
from tests.support import Clock
from tests.test_telegram import CITIZEN, PETUGAS, STAFF_CHAT, World, card_of, register, t, world

ADDRESS_BY_VOICE = {"why": "media", "kind": "voice", "ref": "telegram:voice-address-1", "mime": "audio/ogg"}


def answered_by_voice(tx: Tx, *, case_id: int, at: datetime) -> None:
    """The address question was answered with a voice note nobody has listened to yet."""
    answers = contacts.case_answers(tx, case_id)
    assert answers is not None
    answers[FLAGS] = {"address": ADDRESS_BY_VOICE}
    contacts.set_case_answers(tx, case_id, answers, at)


def page_lines(page: str) -> list[tuple[str, str]]:
    return [
        (html.unescape(label).strip(), html.unescape(said).strip())
        for label, said in re.findall(r"<dt>(.*?)</dt>\s*<dd>([^<\n]*)", page)
    ]


async def through_the_command_line(w: World, reference: str) -> str:
    args = _parser().parse_args(["staff", "--as", "siti", "show", reference])
    out = io.StringIO()
    assert await staff_cli.run(args, w.settings, out=out) == 0
    return out.getvalue()


async def through_the_dashboard(w: World, clock: Clock, reference: str) -> str:
    web = WebChatChannel()
    dashboard = Dashboard(w.service, w.settings, web_channel=web, clock=clock)
    transport = httpx.ASGITransport(app=build_asgi(dashboard.routes()))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        await w.service.db.write(partial(add_user, username="vera", role="viewer"))
        await sign_in(client, "vera")
        page = await client.get(f"/cases/{reference}")
        assert page.status_code == 200
        return page.text


async def test_one_case_reads_the_same_on_the_command_line_the_staff_group_and_the_dashboard(
    tmp_path: Path, clock: Clock
) -> None:
    async with world(tmp_path, clock) as w:
        reference = await register(w, CITIZEN)
        await card_of(w, reference)
        case = await repo.get_case(w.service.db, reference)
        assert case is not None and case.id is not None
        await w.service.db.write(partial(answered_by_voice, case_id=case.id, at=clock.now))
        case = await repo.get_case(w.service.db, reference)
        assert case is not None
        services = w.service.services
        words = Presenter(services.catalog, "id", services.places, clock.now, services.timezone)
        masked = case_answers(case, words, mask_phones=True)
        plain = case_answers(case, words, mask_phones=False)

        # The presenter's words: labels in the form's order, names not codes, the voice answer flagged.
        pairs = [(a.label, a.text) for a in masked]
        assert pairs[:2] == [
            (t("reg.label.for_whom"), t("reg.for_self")),
            (t("reg.label.full_name"), "Siti Aminah"),
        ]
        assert (t("reg.label.kecamatan"), "Pondok Aren") in pairs
        assert (t("reg.label.address"), t("form.flag.voice")) in pairs
        voice = next(a for a in masked if a.field == "address")
        assert voice.to_hear and voice.media_ref == ADDRESS_BY_VOICE["ref"]
        assert (t("reg.label.phone"), "+6281******890") in pairs
        assert (t("reg.label.phone"), "0812-3456-7890") in [(a.label, a.text) for a in plain]
        assert not any("36.74" in said for _, said in pairs)  # no place codes

        # The staff group's card: the same words (the place has its own line; the phone is masked).
        shown = await w.exchange(
            STAFF_CHAT, w.fake.group_text(STAFF_CHAT, PETUGAS, f"/kasus {reference}", "Budi")
        )
        card = next(s.text or "" for s in shown if reference in (s.text or ""))
        on_card = [a for a in masked if a.field not in ("kecamatan", "kelurahan", "location")]
        assert card.splitlines()[-len(on_card) :] == [f"{a.label}: {a.text}" for a in on_card]

        # The dashboard's case page, read by a viewer: the same words, the phone masked.
        page = await through_the_dashboard(w, clock, reference)
        on_page = page_lines(page)
        first = on_page.index(pairs[0])
        assert on_page[first : first + len(pairs)] == pairs

        # The command line (staff who may dial): the same words, the phone in full, the file named.
        printed = await through_the_command_line(w, reference)
        for answer in plain:
            if answer.field == "address":
                continue
            assert f"  {answer.label}: {answer.text}\n" in printed
        assert f"  {voice.label}: {voice.text}  [{voice.media_ref}] (perlu didengar)\n" in printed
        assert "{" not in printed.split("Jawaban:")[1].split("Riwayat:")[0]  # no raw JSON
