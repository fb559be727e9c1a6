"""Two service processes (`python -m bot`, WhatsApp webhook mode) on one PostgreSQL database behind a
round-robin client on 127.0.0.1, as behind a load balancer: 200 people register at once, each message
of a person going to the next process in turn. Halfway one process is killed -9; the client then sends
only to the survivor (retrying there what the dead one did not answer, as WhatsApp retries a webhook),
and the survivor carries on: it takes over what the dead one had stored or queued.

Every registration ends complete and correct, every message is handled once (0 lost answers), nobody
gets a reply twice (0 duplicate replies); the few replies that were on the wire when the process died
are the only ones allowed missing, and each of them is marked in doubt for staff.
"""

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

from bench.whatsapp_webhook import free_port, post_webhook, reference_counts
from storage.contract import Store
from storage.postgres import PostgresStore
from tests.fake_graph import APP_SECRET, PHONE_NUMBER_ID, TOKEN, webhook_body
from tests.support import TEST_KEY
from tests.test_replicas_leader import staff_account
from tests.whatsapp_scripts import letters
from tests.whatsapp_scripts import registration_script as script

# Measures time or load against a bound: run by itself, after the other tests (scripts/check).
pytestmark = pytest.mark.alone

PEOPLE = 200
IN_FLIGHT = 8  # outbound messages on the wire per process: the most a kill -9 leaves in doubt
LEASE_SECONDS = 3.0
STEP_WAIT = 20.0  # a person waits this long for the bot's answer before answering anyway
ROOT = Path(__file__).resolve().parent.parent


def wa_id(index: int) -> str:
    return f"62813{index:08d}"


def start_service(
    data_dir: Path, port: int, graph_port: int, database_url: str, log: IO[bytes]
) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DINSOS_TELEGRAM_", "DINSOS_WHATSAPP_"))}
    env |= {
        "DINSOS_DATABASE_URL": database_url,
        "DINSOS_SECRET_KEY": TEST_KEY,
        "DINSOS_LOG_LEVEL": "WARNING",
        "DINSOS_WEB_PORT": str(port),
        "DINSOS_BACKUP_KEEP": "0",
        "DINSOS_OUTBOX_POLL_SECONDS": "0.1",
        "DINSOS_OUTBOX_IN_FLIGHT": str(IN_FLIGHT),
        "DINSOS_LEASE_SECONDS": str(LEASE_SECONDS),
        "DINSOS_LEASE_RENEW_SECONDS": "0.5",
        "DINSOS_OUTREACH_QUIET_START": "00:00",
        "DINSOS_OUTREACH_QUIET_END": "00:00",
        "DINSOS_WHATSAPP_ACCESS_TOKEN": TOKEN,
        "DINSOS_WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
        "DINSOS_WHATSAPP_APP_SECRET": APP_SECRET,
        "DINSOS_WHATSAPP_VERIFY_TOKEN": "replicas-verify-token",
        "DINSOS_WHATSAPP_GRAPH_BASE_URL": f"http://127.0.0.1:{graph_port}",
        "DINSOS_WHATSAPP_RATE_PER_SECOND": "1000",
        # Each person here sends after the bot's answer, so deliveries never overtake one another: a
        # short hold for an earlier delivery to arrive first is enough.
        "DINSOS_WHATSAPP_ORDER_HOLD_MS": "50",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "--data-dir", str(data_dir), "run"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def start_fake(port: int, log: IO[bytes]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.fake_graph", "--port", str(port)], cwd=ROOT, stdout=log, stderr=log
    )


async def wait_http(url: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(timeout=1.0) as client:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(url)).status_code < 500:
                    return
            await asyncio.sleep(0.1)
    raise AssertionError(f"{url} did not come up")


class Balancer:
    """Round-robin over the live processes; a delivery a process does not answer goes to the next."""

    def __init__(self, ports: list[int], halfway: int) -> None:
        self.halfway = halfway
        self.half = asyncio.Event()
        self.urls = [f"http://127.0.0.1:{port}/webhooks/whatsapp" for port in ports]
        self.live = list(self.urls)
        self.turn = 0
        self.clients = {url: httpx.AsyncClient(timeout=10.0) for url in self.urls}
        self.acked = 0
        self.retried = 0

    def drop(self, index: int) -> None:
        """The load balancer stops sending to a dead process."""
        url = self.urls[index]
        if url in self.live:
            self.live.remove(url)

    async def post(self, body: dict[str, Any]) -> None:
        for attempt in range(20):
            url = self.live[self.turn % len(self.live)]
            self.turn += 1
            with contextlib.suppress(httpx.HTTPError):
                response = await post_webhook(self.clients[url], url, body)
                if response.status_code == 200:
                    self.acked += 1
                    if self.acked >= self.halfway:
                        self.half.set()
                    return
            self.retried += 1  # not answered: WhatsApp delivers it again (here: to the next process)
            await asyncio.sleep(0.05 * (attempt + 1))
        raise AssertionError("a webhook was never answered")

    async def close(self) -> None:
        for client in self.clients.values():
            await client.aclose()


class Graph:
    """What the fake Graph API received, refreshed by one reader for every waiting person."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/_fake/sent"
        self.per_person: Counter[str] = Counter()
        self.sent: list[dict[str, Any]] = []
        self.changed = asyncio.Event()

    async def follow(self) -> None:
        async with httpx.AsyncClient(timeout=30.0) as client:
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    new = (await client.get(self.url, params={"since": len(self.sent)})).json()
                    if new:
                        self.sent += new
                        self.per_person.update(item["to"] for item in new)
                        self.changed.set()
                        self.changed = asyncio.Event()
                await asyncio.sleep(0.05)

    async def wait_for(self, person: str, count: int, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while self.per_person[person] < count:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), left)
        return True


async def person(index: int, counts: list[int], balancer: Balancer, graph: Graph, late: list[int]) -> None:
    """One person registering: each message after the bot's answer to the one before."""
    expected = 0
    for number, message in enumerate(script(index)):
        body = webhook_body({"id": f"wamid.R{index}-{number}", **message}, wa_id=wa_id(index))
        await balancer.post(body)
        expected += counts[number]
        if not await graph.wait_for(wa_id(index), expected, STEP_WAIT):
            # The answer was on the wire when its process died (or is very slow): they answer anyway. Its
            # loss is checked at the end: only answers in doubt may be missing.
            late.append(index)
            expected = graph.per_person[wa_id(index)]


async def test_two_processes_serve_200_registrations_and_one_survives_a_kill_9(
    tmp_path: Path, postgres_url: str
) -> None:
    counts = await reference_counts(0)
    db = await PostgresStore.open(postgres_url)
    await db.write(staff_account)
    graph_port, ports = free_port(), [free_port(), free_port()]
    log = (tmp_path / "processes.log").open("wb")
    fake = start_fake(graph_port, log)
    services = [
        start_service(tmp_path / f"data{n}", port, graph_port, postgres_url, log)
        for n, port in enumerate(ports)
    ]
    balancer = Balancer(ports, halfway=PEOPLE * len(counts) // 2)
    graph = Graph(graph_port)
    follower: asyncio.Task[None] | None = None
    try:
        await wait_http(f"http://127.0.0.1:{graph_port}/_fake/sent")
        for port in ports:
            await wait_http(f"http://127.0.0.1:{port}/health")
        follower = asyncio.create_task(graph.follow())
        late: list[int] = []
        started = time.monotonic()
        people = [asyncio.create_task(person(i, counts, balancer, graph, late)) for i in range(PEOPLE)]
        total = PEOPLE * len(counts)
        await balancer.half.wait()
        halfway = time.monotonic() - started
        services[0].send_signal(signal.SIGKILL)
        services[0].wait(10)
        balancer.drop(0)
        await asyncio.wait_for(asyncio.gather(*people), timeout=120)
        elapsed = time.monotonic() - started
        assert services[1].poll() is None, "the survivor stopped"
        await settle(db)
        await check(db, counts, graph)
        print(
            f"{total} messages from {PEOPLE} people in {elapsed:.1f} s (killed one at {halfway:.1f} s); "
            f"{balancer.retried} deliveries retried; {len(set(late))} people waited out an answer"
        )
    finally:
        if follower is not None:
            follower.cancel()
        await balancer.close()
        for process in [*services, fake]:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()
        log.close()
        await db.close()


async def settle(db: Store) -> None:
    """Wait until the survivor has handled and sent everything."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        busy = await db.fetchval("SELECT COUNT(*) FROM outbox WHERE status IN ('queued', 'sending')")
        inbox = await db.fetchval("SELECT COUNT(*) FROM webhook_inbox WHERE processed_at IS NULL")
        if not busy and not inbox:
            return
        await asyncio.sleep(0.2)
    raise AssertionError("the survivor did not finish")


async def check(db: Store, counts: list[int], graph: Graph) -> None:
    await asyncio.sleep(1.0)  # anything sent twice would reach the fake now
    async with httpx.AsyncClient(timeout=30.0) as client:
        sent = (await client.get(graph.url)).json()
    # 0 lost answers: every message of every person handled once, nothing left unprocessed
    handled = await db.fetchval("SELECT COUNT(*) FROM inbound WHERE id LIKE ?", ("whatsapp:wamid.R%",))
    assert handled == PEOPLE * len(counts)
    # every registration complete and correct
    rows = await db.fetchall("SELECT subject_name FROM cases WHERE kind = 'registration'")
    assert sorted(str(row[0]) for row in rows) == sorted(f"Warga {letters(i)}" for i in range(PEOPLE))
    # 0 duplicate replies: each outbox row reached the fake at most once, nobody got more than the script
    wamids = Counter(item["wamid"] for item in sent)
    assert max(wamids.values()) == 1
    per_person = Counter(item["to"] for item in sent)
    expected = sum(counts)
    assert all(per_person[wa_id(i)] <= expected for i in range(PEOPLE)), "somebody got a reply twice"
    # the only replies missing are those on the wire when the process died, each marked in doubt
    missing = sum(expected - per_person[wa_id(i)] for i in range(PEOPLE))
    in_doubt = await db.fetchval("SELECT COUNT(*) FROM outbox WHERE status = 'unknown'")
    assert in_doubt <= IN_FLIGHT
    assert missing <= 3 * in_doubt  # a reply is at most a few WhatsApp messages
    statuses = {
        row[0]: row[1] for row in await db.fetchall("SELECT status, COUNT(*) FROM outbox GROUP BY status")
    }
    assert set(statuses) <= {"sent", "unknown"}, statuses
