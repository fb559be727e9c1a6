"""Bad input at the doors: simulate lines, a poison WhatsApp body, huge ids in URLs, long log values."""

import asyncio
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from bot.logs import RedactingFilter
from bot.web import build_asgi
from handlers.i18n import Catalog
from tests.fake_graph import webhook_body
from tests.support import TEST_KEY, Clock
from tests.test_whatsapp import WA_ID, Harness

CATALOG = Catalog.load()


def simulate(data_dir: Path, lines: list[bytes]) -> list[dict[str, object]]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DINSOS_")}
    environ["DINSOS_SECRET_KEY"] = TEST_KEY
    result = subprocess.run(
        [sys.executable, "-m", "bot", "simulate", "--data-dir", str(data_dir)],
        input=b"\n".join(lines) + b"\n",
        capture_output=True,
        env=environ,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert b"Traceback" not in result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_simulate_answers_each_malformed_line_and_goes_on(tmp_path: Path) -> None:
    out = simulate(
        tmp_path / "data",
        [
            b'{"from": "\xff\xfeu1", "text": "halo"}',  # bytes that are not UTF-8
            b'{"from": "\\udc80", "text": "halo"}',  # a lone surrogate escape
            b'{"from": "u2", "text": ' + b"9" * 5000 + b"}",  # over Python's 4,300-digit limit
            b"[" * 1000 + b"]" * 1000,  # nested 1,000 deep
            b'{"from": "u3", "text": "halo"}',
        ],
    )
    errors = [item for item in out if "error" in item]
    acks = [item["ack"] for item in out if "ack" in item]
    assert acks == [1, 2, 3, 4, 5]
    assert len(errors) == 4
    assert "UTF-8" in str(errors[0]["error"]) and "UTF-8" in str(errors[1]["error"])
    assert "nested too deeply" in str(errors[3]["error"])
    assert any(item.get("to") == "u3" for item in out)  # the line after them is handled


def test_simulate_event_ids_belong_to_their_contact(tmp_path: Path) -> None:
    out = simulate(
        tmp_path / "data",
        [
            b'{"from": "u1", "text": "halo", "id": "e1"}',
            b'{"from": "u2", "text": "halo", "id": "e1"}',
            b'{"from": "u1", "text": "halo", "id": "e1"}',
        ],
    )
    replies = [item["to"] for item in out if "to" in item]
    assert "u2" in replies  # another contact's line with the same id is not dropped
    assert replies.count("u1") == replies.count("u2")  # u1's repeated id was handled once


async def test_a_poison_whatsapp_body_is_set_aside_once_and_its_healthy_messages_handled(
    tmp_path: Path, clock: Clock
) -> None:
    poison = webhook_body(
        {"id": "wamid.P1", "type": "text", "text": {"body": "halo"}, "timestamp": "9" * 30},
        wa_id="6281111111111",
    )
    healthy = webhook_body({"id": "wamid.H1", "type": "text", "text": {"body": "halo"}}, wa_id=WA_ID)
    value = poison["entry"][0]["changes"][0]["value"]
    other = healthy["entry"][0]["changes"][0]["value"]
    value["contacts"] += other["contacts"]
    value["messages"] += other["messages"]
    harness = await Harness.start(tmp_path / "data", clock)
    try:
        await harness.deliver(poison)
        assert [s.text for s in harness.fake.to(WA_ID)] == [CATALOG.text("id", "consent.notice")]
        assert harness.fake.to("6281111111111") == []
        (row,) = await harness.db.fetchall("SELECT processed_at, error FROM webhook_inbox")
        assert row["processed_at"] is not None
        assert "unreadable item" in row["error"]
    finally:
        await harness.close()
    again = await Harness.start(tmp_path / "data", clock)  # a restart does not redo it
    try:
        await again.wa.worker.drain()
        await asyncio.sleep(0.05)
        assert again.fake.to(WA_ID) == [] and again.fake.to("6281111111111") == []
        assert await again.count("webhook_inbox") == 1
    finally:
        await again.close()


def test_logged_values_are_cut_short() -> None:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "field %s", ("x" * 200_000,), None)
    RedactingFilter().filter(record)
    message = record.getMessage()
    assert len(message) < 5000 and "[+" in message


@pytest.mark.parametrize("path", ["/persons/", "/broadcasts/", "/programmes/", "/cases/"])
async def test_huge_ids_in_urls_are_not_found_not_a_crash(tmp_path: Path, clock: Clock, path: str) -> None:
    from tests.dashboard_support import open_desk

    async with open_desk(tmp_path / "data", clock) as desk:
        await desk.signed_in("admin")
        for tail in ("9" * 30, "9" * 5000, "-1", "1e9"):
            response = await desk.client.get(path + tail)
            assert response.status_code in (400, 404), (path, tail[:10], response.status_code)
            assert response.headers["x-content-type-options"] == "nosniff"


async def test_viewers_see_phone_numbers_masked_on_the_case_page_and_in_exports(
    tmp_path: Path, clock: Clock
) -> None:
    from tests.dashboard_support import SeedCase, open_desk, sign_in

    phone = "+6281234567890"
    async with open_desk(tmp_path / "data", clock) as desk:
        (ref,) = await desk.seed(SeedCase("Siti Aminah", answers={"phone": phone}))
        await desk.user("rina", "viewer")
        await desk.user("budi", "petugas")
        await sign_in(desk.client, "rina")
        page = await desk.client.get(f"/cases/{ref}")
        assert page.status_code == 200
        assert phone not in page.text and "+6281******890" in page.text
        for export in ("/cases/export.csv", "/cases/export.xlsx"):
            response = await desk.client.get(export)
            assert response.status_code == 200
            assert phone.encode() not in response.content
        csv_text = (await desk.client.get("/cases/export.csv")).text
        assert "+6281******890" in csv_text
        transport = httpx.ASGITransport(app=build_asgi(desk.dashboard.routes()))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as officer:
            await sign_in(officer, "budi")  # staff who act see the number to call it
            shown = (await officer.get(f"/cases/{ref}")).text
            assert "3456" in shown and "+6281******890" not in shown
            assert phone in (await officer.get("/cases/export.csv")).text
