"""Kill -9 the service in the middle of a 2,000-recipient broadcast (600 on PostgreSQL); after a restart
everyone has it once."""

import asyncio
import json
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qs, urlparse

import pytest

from storage.contract import Store
from storage.location import open_store
from tests.outreach_support import seed_broadcast
from tests.service_proc import service_env
from tests.support import on_both_backends

# On PostgreSQL the same crash with fewer recipients: the test stays a few seconds on a busy machine.
RECIPIENTS_ON = {"sqlite": 2000, "postgresql": 600}


class Sink:
    """The fake platform: records every complete message POST, answers whether a key arrived."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.posts: list[dict[str, Any]] = []
        self.keys: set[str] = set()

    def handler(self) -> type[BaseHTTPRequestHandler]:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                try:
                    body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                except ValueError:  # the sender was killed mid-request: nothing arrived
                    self.send_response(400)
                    self.end_headers()
                    return
                time.sleep(0.001)  # a little platform latency keeps several sends in flight
                with sink.lock:
                    sink.posts.append(body)
                    sink.keys.add(body["key"])
                self._json({"ok": True})

            def do_GET(self) -> None:
                key = parse_qs(urlparse(self.path).query)["key"][0]
                with sink.lock:
                    known = key in sink.keys
                self._json({"delivered": known})

            def _json(self, body: dict[str, Any]) -> None:
                raw = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        return Handler


@pytest.fixture
def sink() -> Iterator[tuple[Sink, str]]:
    state = Sink()
    ThreadingHTTPServer.request_queue_size = 256  # the sender opens dozens of connections at once
    server = ThreadingHTTPServer(("127.0.0.1", 0), state.handler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def start(
    data_dir: Path, url: str, log: IO[bytes], database_url: str | None = None
) -> subprocess.Popen[bytes]:
    # On PostgreSQL a process's lease runs out 2 s after it dies (30 s in production), so the survivor
    # takes over its rows within the test.
    shared: dict[str, str] = {}
    if database_url:
        shared = {
            "DINSOS_DATABASE_URL": database_url,
            "DINSOS_LEASE_SECONDS": "2",
            "DINSOS_LEASE_RENEW_SECONDS": "0.5",
        }
    env = service_env(data_dir, **shared)
    return subprocess.Popen(
        [sys.executable, "-m", "tests.service_proc", url],
        cwd=Path(__file__).resolve().parent.parent,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )


def wait_for(condition: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


@on_both_backends
async def test_kill_9_mid_broadcast_then_restart_delivers_each_exactly_once(
    tmp_path: Path, sink: tuple[Sink, str], database_url: str | None
) -> None:
    state, url = sink
    data_dir = tmp_path / "data"
    recipients = RECIPIENTS_ON["postgresql" if database_url else "sqlite"]
    broadcast_id = await seed_broadcast(data_dir, recipients, delay=1, database_url=database_url)

    log = (tmp_path / "service.log").open("ab")
    first = start(data_dir, url, log, database_url)
    try:
        assert wait_for(lambda: len(state.posts) >= recipients // 3, 60), "the broadcast did not start"
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    delivered_at_kill = len(state.posts)
    assert delivered_at_kill < recipients, "killed too late to test anything"

    second = start(data_dir, url, log, database_url)
    db = await open_store(database_url, data_dir)
    try:
        assert wait_for(lambda: len(state.keys) >= recipients, 60), "not everyone got the broadcast"
        await asyncio.sleep(0.5)  # anything sent twice would arrive now
        # The rows the killed process had on the wire are settled by the survivor: at once on SQLite (one
        # process), once the dead process's lease has run out on PostgreSQL (replicas share the store).
        statuses = await broadcast_statuses(db, broadcast_id)
        for _ in range(300):
            if statuses == {"sent": recipients}:
                break
            await asyncio.sleep(0.1)
            statuses = await broadcast_statuses(db, broadcast_id)
        assert statuses == {"sent": recipients}
    finally:
        await db.close()
        second.send_signal(signal.SIGTERM)
        try:
            second.wait(10)
        except subprocess.TimeoutExpired:
            second.kill()
        log.close()

    per_recipient = Counter(post["to"] for post in state.posts)
    assert len(per_recipient) == recipients
    assert set(per_recipient.values()) == {1}, "somebody got the message twice"
    assert len(state.posts) == recipients


async def broadcast_statuses(db: Store, broadcast_id: int) -> dict[str, int]:
    rows = await db.fetchall(
        "SELECT status, COUNT(*) FROM outbox WHERE broadcast_id = ? GROUP BY status", (broadcast_id,)
    )
    return {row[0]: row[1] for row in rows}
