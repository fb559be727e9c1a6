"""Staff replies from every surface reach the citizen on every channel, and citizens' quoted replies land.

WhatsApp: signed webhooks into the service; pywa sends to the fake Graph API served on 127.0.0.1. Inside
the 24-hour window a reply is free text; outside it, the configured reply template carries it, or (with
no template) it is held at once and the dashboard says so. Telegram: real python-telegram-bot against the
fake Bot API on 127.0.0.1; an officer replies to the case card in the staff group; the case's officer,
linked to their Telegram user, hears of a new citizen message directly.
"""

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from bot import staff_cli
from bot.__main__ import _parser
from bot.app import Service, build_service
from bot.channels.whatsapp import build
from bot.dashboard import Dashboard
from bot.settings import WhatsAppSettings
from bot.web import build_asgi
from handlers.i18n import Catalog
from storage import repo, threads
from tests.dashboard_support import add_user, sign_in
from tests.fake_graph import APP_SECRET, PHONE_NUMBER_ID, TOKEN, FakeGraph
from tests.support import Clock, make_settings
from tests.test_telegram import CITIZEN, PETUGAS, STAFF_CHAT, VIEWER, World, card_of, within, world
from tests.test_whatsapp import VERIFY_TOKEN, WA_ID, Harness, Person, agree

CATALOG = Catalog.load()
UI = Catalog.load(Path(__file__).resolve().parent.parent / "bot" / "dashboard" / "locales")
REPLY = "Sembako dibagikan hari Senin jam 9 di kantor kelurahan."


def t(key: str, lang: str = "id", **params: object) -> str:
    return CATALOG.text(lang, key, **params)


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:  # the test runner owns signals
        yield


@contextlib.asynccontextmanager
async def graph_on_loopback(fake: FakeGraph) -> AsyncIterator[str]:
    """Serve the fake Graph API on 127.0.0.1; yield its base URL (start and stop are bounded in time)."""
    config = uvicorn.Config(
        fake.app,
        host="127.0.0.1",
        port=0,
        log_config=None,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=1,
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started or task.done():
            break
        await asyncio.sleep(0.01)
    if task.done():
        task.result()
    assert server.started, "the fake Graph API did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


class Office:
    """The dashboard and the staff CLI over a running service."""

    def __init__(self, service: Service, client: httpx.AsyncClient, csrf: str) -> None:
        self.service = service
        self.client = client
        self.csrf = csrf

    async def reply(self, reference: str, text: str) -> httpx.Response:
        return await self.client.post(
            f"/cases/{reference}/reply", data={"csrf_token": self.csrf, "text": text}
        )

    async def cli(self, *argv: str) -> tuple[int, str]:
        data_dir = self.service.settings.store.data_dir
        args = _parser().parse_args(["--data-dir", str(data_dir), "staff", "--as", "rina", *argv])
        out = StringIO()
        code = await staff_cli.run(args, self.service.settings, out=out)
        return code, out.getvalue()

    async def reference(self, contact_id: str) -> str:
        row = await self.service.db.fetchone(
            "SELECT reference FROM cases WHERE contact_id = ? ORDER BY id DESC LIMIT 1", (contact_id,)
        )
        assert row is not None
        return str(row[0])

    async def thread(self, reference: str) -> list[threads.ThreadLine]:
        case = await repo.get_case(self.service.db, reference)
        assert case is not None and case.id is not None
        return await threads.thread(self.service.db, case.id)


@contextlib.asynccontextmanager
async def office_for(service: Service, clock: Clock) -> AsyncIterator[Office]:
    dashboard = Dashboard(service, service.settings, clock=clock)
    transport = httpx.ASGITransport(app=build_asgi(dashboard.routes()))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        await service.db.write(functools.partial(add_user, username="rina", role="petugas", name="Rina"))
        yield Office(service, client, await sign_in(client, "rina"))


# ---------------------------------------------------------------- WhatsApp


@contextlib.asynccontextmanager
async def whatsapp(tmp_path: Path, clock: Clock, **options: Any) -> AsyncIterator[tuple[Harness, Office]]:
    fake = FakeGraph()
    async with graph_on_loopback(fake) as base_url:
        settings = make_settings(tmp_path / "data")
        settings.whatsapp = WhatsAppSettings(
            access_token=TOKEN,
            phone_number_id=PHONE_NUMBER_ID,
            app_secret=APP_SECRET,
            verify_token=VERIFY_TOKEN,
            graph_base_url=base_url,
            retry_base_seconds=0.01,
            order_hold_ms=10,
            **options,
        )
        service = await build_service(settings, {}, clock=clock)
        wa = await build(settings, service)  # no transport: real HTTP to 127.0.0.1
        service.dispatcher.channels[wa.channel.scheme] = wa.channel
        http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=build_asgi(wa.runtime.routes)), base_url="http://service.test"
        )
        harness = Harness(service, wa, fake, http, clock)
        [worker] = wa.runtime.tasks
        harness._worker = asyncio.create_task(worker)
        try:
            async with office_for(service, clock) as office:
                yield harness, office
        finally:
            await harness.close()


async def leave_message(person: Person, office: Office, text: str = "Kapan sembako dibagikan?") -> str:
    await agree(person)
    await person.say("petugas")
    await person.say(text)
    return await office.reference(f"whatsapp:{WA_ID}")


async def test_whatsapp_replies_from_the_dashboard_and_the_cli_then_the_template_outside_the_window(
    tmp_path: Path, clock: Clock
) -> None:
    async with whatsapp(tmp_path, clock, reply_template_name="dinsos_balasan") as (harness, office):
        siti = Person(harness)
        reference = await leave_message(siti, office)

        answered = await office.reply(reference, REPLY)
        assert answered.status_code == 303 and "done=reply" in answered.headers["location"]
        await harness.flush_outbox()
        assert siti.inbox[-1].type == "text"
        assert siti.inbox[-1].text == t("notify.staff_reply", reference=reference, text=REPLY)

        code, out = await office.cli("reply", reference, "--text", "Bawa KTP ya, Bu.")
        assert code == 0, out
        await harness.flush_outbox()
        assert siti.inbox[-1].text == t("notify.staff_reply", reference=reference, text="Bawa KTP ya, Bu.")

        # The citizen quotes the officer's message (WhatsApp context): it reaches this case's thread.
        quoted = siti.inbox[-1].wamid
        await siti.send(
            {"type": "text", "text": {"body": "Baik, terima kasih Pak."}, "context": {"id": quoted}}
        )
        assert siti.replies[0].text == t("info.forwarded", reference=reference)
        assert (await office.thread(reference))[-1].body == "Baik, terima kasih Pak."

        clock.advance(hours=25)  # the window has closed (and the officer signs in again)
        office.csrf = await sign_in(office.client, "rina")
        late = await office.reply(reference, "Apakah Ibu sudah menerima sembakonya?")
        assert "done=reply" in late.headers["location"] and "held" not in late.headers["location"]
        await harness.flush_outbox()
        sent = siti.inbox[-1]
        assert sent.type == "template" and sent.body["template"]["name"] == "dinsos_balasan"
        assert "Apakah Ibu sudah menerima sembakonya?" in sent.text
        assert [line.status for line in await office.thread(reference) if line.kind == "reply"] == [
            "sent",
            "sent",
            "sent",
        ]


async def test_whatsapp_reply_outside_the_window_without_a_template_is_held_and_shown_at_once(
    tmp_path: Path, clock: Clock
) -> None:
    async with whatsapp(tmp_path, clock) as (harness, office):
        siti = Person(harness)
        reference = await leave_message(siti, office)
        before = len(siti.inbox)
        clock.advance(hours=25)
        office.csrf = await sign_in(office.client, "rina")
        held = await office.reply(reference, REPLY)
        assert held.status_code == 303 and "done=reply_held" in held.headers["location"]
        page = await office.client.get(held.headers["location"])
        assert UI.text("id", "done.reply_held") in page.text  # the officer sees why, at once
        assert UI.text("id", "thread.held") in page.text
        await harness.flush_outbox()
        assert len(siti.inbox) == before  # nothing went out
        [line] = [line for line in await office.thread(reference) if line.kind == "reply"]
        assert line.status == "held" and line.error is not None and "24-hour" in line.error

        await siti.say("Halo Pak, saya masih menunggu.")  # she writes again: the held reply goes
        await harness.flush_outbox()
        assert t("notify.staff_reply", reference=reference, text=REPLY) in [s.text for s in siti.inbox]


# ---------------------------------------------------------------- Telegram


async def until(w: World, predicate: Any, seconds: float = 5.0) -> None:
    """Wait (bounded) until the fake Bot API has seen what `predicate` looks for."""
    await within(w.fake.wait_for(predicate), seconds)


async def telegram_message(w: World, user: int, text: str = "Kapan sembako dibagikan?") -> str:
    await w.say(user, "halo")
    await w.tap(user, t("consent.agree"))
    await w.tap(user, t("menu.talk"))
    await w.say(user, text)
    row = await w.service.db.fetchone(
        "SELECT reference FROM cases WHERE contact_id = ?", (f"telegram:{user}",)
    )
    assert row is not None
    return str(row[0])


def texts(w: World, chat: int) -> list[str]:
    return [s.text or "" for s in w.fake.to(chat)]


async def test_telegram_replies_from_the_card_the_dashboard_and_the_cli_reach_the_citizen(
    tmp_path: Path, clock: Clock
) -> None:
    async with world(tmp_path, clock) as w, office_for(w.service, clock) as office:
        reference = await telegram_message(w, CITIZEN)
        card = await card_of(w, reference)

        told = await w.exchange(STAFF_CHAT, w.fake.group_text(STAFF_CHAT, PETUGAS, REPLY, reply_to=card))
        assert told[-1].text == t("staff.reply_sent", reference=reference)
        expected = t("notify.staff_reply", reference=reference, text=REPLY)
        await until(w, lambda: expected in texts(w, CITIZEN))

        refused = await w.exchange(STAFF_CHAT, w.fake.group_text(STAFF_CHAT, VIEWER, "Halo", reply_to=card))
        assert refused[-1].text == t("staff.refused_viewer")  # a viewer cannot write to citizens

        await office.reply(reference, "Dari dasbor: bawa KTP.")
        await until(
            w,
            lambda: (
                t("notify.staff_reply", reference=reference, text="Dari dasbor: bawa KTP.")
                in texts(w, CITIZEN)
            ),
        )
        code, _ = await office.cli("reply", reference, "--text", "Dari CLI: sampai jumpa.")
        assert code == 0
        await until(
            w,
            lambda: (
                t("notify.staff_reply", reference=reference, text="Dari CLI: sampai jumpa.")
                in texts(w, CITIZEN)
            ),
        )
        replies = [line for line in await office.thread(reference) if line.kind == "reply"]
        assert [line.author for line in replies] == [f"telegram:{PETUGAS}", "staff:rina", "staff:rina"]


async def test_telegram_a_quoted_answer_and_the_officer_told_directly(tmp_path: Path, clock: Clock) -> None:
    async with world(tmp_path, clock) as w, office_for(w.service, clock) as office:
        reference = await telegram_message(w, CITIZEN)
        await w.service.db.write(
            lambda conn: conn.execute(
                "UPDATE staff_users SET telegram_user_id = ? WHERE username = 'rina'", (PETUGAS,)
            )
        )
        await w.service.db.write(
            lambda conn: conn.execute(
                "UPDATE cases SET assignee_id = (SELECT id FROM staff_users) WHERE reference = ?",
                (reference,),
            )
        )
        code, _ = await office.cli(
            "set-status", reference, "perlu_info", "--note", "Ibu tinggal di RT berapa?"
        )
        assert code == 0
        question_text = t("notify.perlu_info", reference=reference, question="Ibu tinggal di RT berapa?")
        await until(w, lambda: question_text in texts(w, CITIZEN))
        question = next(s for s in w.fake.to(CITIZEN) if s.text == question_text)

        await w.say(CITIZEN, "menu")
        await w.tap(CITIZEN, t("menu.registration"))  # a form's question is now on screen
        sent = await w.exchange(CITIZEN, w.fake.text(CITIZEN, "RT 03, Pak.", reply_to=question))
        assert sent[0].text == t("info.thanks", reference=reference)  # quoting the question answers it
        assert sent[-1].text == t("reg.q.for_whom")  # and the form asks its question again
        assert (await office.thread(reference))[-1].question == "Ibu tinggal di RT berapa?"

        notice = t("staff.direct_notice", reference=reference, name="Warga", text="RT 03, Pak.")
        await until(w, lambda: notice in texts(w, PETUGAS))  # the officer of the case, directly
        posted = next(s for s in w.fake.to(STAFF_CHAT) if "RT 03, Pak." in (s.text or ""))
        told = await w.exchange(
            STAFF_CHAT, w.fake.group_text(STAFF_CHAT, PETUGAS, "Terima kasih, Bu.", reply_to=posted)
        )
        assert told[-1].text == t(
            "staff.reply_sent", reference=reference
        )  # replying to her message works too


async def test_a_reply_to_the_card_in_the_telegram_group_reaches_a_whatsapp_citizen(
    tmp_path: Path, clock: Clock
) -> None:
    fake_graph = FakeGraph()
    async with world(tmp_path, clock) as w, graph_on_loopback(fake_graph) as base_url:
        w.settings.whatsapp = WhatsAppSettings(
            access_token=TOKEN,
            phone_number_id=PHONE_NUMBER_ID,
            app_secret=APP_SECRET,
            verify_token=VERIFY_TOKEN,
            graph_base_url=base_url,
            retry_base_seconds=0.01,
        )
        wa = await build(w.settings, w.service)
        w.service.dispatcher.channels[wa.channel.scheme] = wa.channel
        http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=build_asgi(wa.runtime.routes)), base_url="http://service.test"
        )
        harness = Harness(w.service, wa, fake_graph, http, clock)
        [worker] = wa.runtime.tasks
        harness._worker = asyncio.create_task(worker)
        try:
            siti = Person(harness)
            await agree(siti)
            await siti.say("petugas")
            await siti.say("Kapan sembako dibagikan?")
            row = await w.service.db.fetchone(
                "SELECT reference FROM cases WHERE contact_id = ?", (f"whatsapp:{WA_ID}",)
            )
            assert row is not None
            reference = str(row[0])
            card = await card_of(w, reference)
            told = await w.exchange(STAFF_CHAT, w.fake.group_text(STAFF_CHAT, PETUGAS, REPLY, reply_to=card))
            assert told[-1].text == t("staff.reply_sent", reference=reference)
            expected = t("notify.staff_reply", reference=reference, text=REPLY)

            for _ in range(200):  # the dispatcher sends it (bounded wait)
                if expected in [s.text for s in siti.inbox]:
                    break
                await asyncio.sleep(0.05)
            assert expected in [s.text for s in siti.inbox]
        finally:
            harness._worker.cancel()
            await asyncio.gather(harness._worker, return_exceptions=True)
            await wa.stop()
            await http.aclose()
