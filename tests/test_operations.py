"""What the IT person sees: start-up failures in one line, /health, /metrics, headers everywhere."""

import os
import socket
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import httpx

from bot.app import Service
from bot.web import Probes, build_asgi
from tests.dashboard_support import free_port, live_service
from tests.support import TEST_KEY, Chat, Clock, RecordingChannel, start_service


def start(data_dir: Path, **env: str) -> tuple[int, str, float]:
    """Run `python -m bot` until it exits by itself (at most 60 s); its exit code, stderr, seconds."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DINSOS_")}
    environ.update({"DINSOS_SECRET_KEY": TEST_KEY, **env})
    began = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "bot", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        env=environ,
        timeout=60,
        check=False,
    )
    return result.returncode, result.stderr, time.monotonic() - began


def test_a_busy_port_is_one_clear_line_and_a_quick_exit(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, err, seconds = start(tmp_path / "data", DINSOS_WEB_PORT=str(port))
    assert code != 0
    assert "Traceback" not in err and "listening on" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines == [line for line in lines if "dinsos-intake:" in line] and len(lines) == 1, err
    assert f"port {port}" in lines[0] and "already in use" in lines[0] and "DINSOS_WEB_PORT" in lines[0]
    assert seconds < 30  # seconds, not a hang (generous: the machine is shared)


def test_a_channel_that_cannot_start_is_one_clear_line(tmp_path: Path) -> None:
    code, err, seconds = start(
        tmp_path / "data",
        DINSOS_WEB_PORT=str(free_port()),
        DINSOS_WHATSAPP_ACCESS_TOKEN="token-for-a-test",  # no phone number id, app secret, verify token
    )
    assert code != 0 and seconds < 30
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "DINSOS_WHATSAPP_PHONE_NUMBER_ID" in lines[0], err


def test_health_reports_store_scheduler_and_backlog_and_404s_carry_headers(tmp_path: Path) -> None:
    with live_service(tmp_path / "data") as live, httpx.Client(base_url=live.url) as client:
        health = client.get("/health")
        assert health.status_code == 200
        body = health.json()
        assert body["status"] == "ok" and body["store"] == "ok" and body["scheduler"] == "running"
        assert body["channels"] == {}
        assert body["outbox"]["backlog"] == 0
        for path in ("/health", "/no-such-page", "/persons/1", "/static/nothing.css"):
            response = client.get(path)
            assert response.headers["x-content-type-options"] == "nosniff", path
            assert "frame-ancestors 'none'" in response.headers["content-security-policy"], path
            assert response.headers["x-frame-options"] == "DENY", path
        # From this machine, /metrics answers; through a proxy it does not.
        assert client.get("/metrics").status_code == 200
        assert client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 403


def _queue(conn: sqlite3.Connection, contact: str, status: str, created: str) -> None:
    conn.execute(
        "INSERT OR IGNORE INTO contacts (id, channel, created_at, updated_at) VALUES (?, ?, ?, ?)",
        (contact, contact.split(":")[0], created, created),
    )
    conn.execute(
        "INSERT INTO outbox (contact_id, origin, payload, status, created_at, updated_at) "
        "VALUES (?, 'reply', '{}', ?, ?, ?)",
        (contact, status, created, created),
    )


async def metrics_text(
    service: Service, *, client: tuple[str, int] = ("127.0.0.1", 5000), **kw: str
) -> httpx.Response:
    probes = Probes(
        db=service.db,
        metrics=service.metrics,
        clock=lambda: datetime(2026, 11, 20, 2, 10, tzinfo=UTC),
        channels=lambda: {"whatsapp": True},
        scheduler_running=lambda: True,
        metrics_token=kw.get("token"),
    )
    transport = httpx.ASGITransport(app=build_asgi([], probes), client=client)
    async with httpx.AsyncClient(transport=transport, base_url="http://dinsos") as http:
        headers = {"Authorization": kw["headers"]} if "headers" in kw else None
        return await http.get("/metrics", headers=headers)


async def test_metrics_count_inbound_outbound_backlog_and_broadcasts(tmp_path: Path) -> None:
    clock = Clock()
    service, channel = await start_service(tmp_path / "data", clock)
    try:
        chat = Chat(service, channel, clock)
        await chat.say("halo")
        await chat.say("halo lagi")
        # Two messages still queued for WhatsApp, the oldest queued 10 minutes before the scrape.
        await service.db.write(
            partial(_queue, contact="whatsapp:6281", status="queued", created="2026-11-20T02:00:00+00:00")
        )
        await service.db.write(
            partial(_queue, contact="whatsapp:6282", status="queued", created="2026-11-20T02:05:00+00:00")
        )
        await service.db.write(
            lambda conn: conn.execute(
                "INSERT INTO broadcasts (created_by, created_at, segment, text_id, send_at, status) "
                "VALUES ('staff:rina', '2026-11-20', '{}', 'Halo', '2026-11-20', 'sending')"
            )
        )
        response = await metrics_text(service)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain; version=")
        text = response.text
        assert 'dinsos_inbound_events_total{channel="console",status="replied"} 2.0' in text
        assert 'dinsos_conversation_step_seconds_count{channel="console"} 2.0' in text
        assert 'dinsos_outbound_messages{channel="console",status="sent"}' in text
        assert 'dinsos_outbound_messages{channel="whatsapp",status="queued"} 2.0' in text
        assert 'dinsos_outbox_backlog{channel="whatsapp"} 2.0' in text
        assert 'dinsos_outbox_oldest_age_seconds{channel="whatsapp"} 600.0' in text
        assert "dinsos_broadcasts_in_progress 1.0" in text
        assert "dinsos_webhook_seconds" in text
        # Not from elsewhere, and with a token only with the token.
        assert (await metrics_text(service, client=("203.0.113.9", 5000))).status_code == 403
        assert (await metrics_text(service, token="s3cret-token")).status_code == 403
        allowed = await metrics_text(
            service, client=("203.0.113.9", 5000), token="s3cret-token", headers="Bearer s3cret-token"
        )
        assert allowed.status_code == 200
    finally:
        await service.close()


async def test_health_is_degraded_when_a_channel_or_the_scheduler_is_down(tmp_path: Path) -> None:
    service, _ = await start_service(tmp_path / "data", Clock(), RecordingChannel())
    try:
        probes = Probes(
            db=service.db,
            metrics=service.metrics,
            clock=Clock(),
            channels=lambda: {"telegram": True, "whatsapp": False},
            scheduler_running=lambda: False,
        )
        transport = httpx.ASGITransport(app=build_asgi([], probes))
        async with httpx.AsyncClient(transport=transport, base_url="http://dinsos") as http:
            response = await http.get("/health")
        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "degraded"
        assert body["channels"] == {"telegram": "up", "whatsapp": "down"}
        assert body["scheduler"] == "stopped" and body["store"] == "ok"
    finally:
        await service.close()
