"""A 300-recipient broadcast to Telegram and to WhatsApp (fakes on 127.0.0.1, no idempotency keys), the
real service killed -9 early, midway and late, or stopped with SIGTERM, then restarted.

Neither platform can be asked whether a message arrived, so a row that was on the wire when the process
died stays in doubt (`unknown`, never re-sent by itself). What must hold: nobody gets it twice, and the
people left without it are at most the requests really in flight (the outbox's in-flight bound); after
SIGTERM nobody is left without it.
"""

import asyncio
import contextlib
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest
import uvicorn

from bot.app import DB_FILE_NAME
from storage.db import Database
from tests import fake_graph
from tests.fake_graph import FakeGraph
from tests.fake_telegram import TOKEN, FakeTelegram, _Server
from tests.outreach_support import seed_broadcast
from tests.service_proc import service_env

RECIPIENTS = 300
IN_FLIGHT = 4  # the outbox's bound on rows `sending` at once, set for these runs
RATE = 150  # messages per second, the fakes' limit and the senders' setting (real pacing, quicker runs)
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Platform:
    """A fake platform on 127.0.0.1 and how the service reaches it."""

    scheme: str
    env: dict[str, str]
    recipients: Callable[[], list[str]]  # who received a message, one entry per message
    times: Callable[[], list[float]]  # when each arrived (time.monotonic)
    limited: Callable[[], int]  # rate-limit answers (429 / 130429) given
    refusals: Callable[[], list[float]] = list  # when each throughput refusal was answered (WhatsApp)


@contextlib.asynccontextmanager
async def telegram(rate: float = RATE) -> AsyncIterator[Platform]:
    fake = FakeTelegram(limit_per_second=rate, latency=0.02)
    await fake.start()
    try:
        yield Platform(
            "telegram",
            {
                "DINSOS_TELEGRAM_TOKEN": TOKEN,
                "DINSOS_TELEGRAM_BASE_URL": fake.base_url,
                "DINSOS_TELEGRAM_BASE_FILE_URL": fake.base_file_url,
                "DINSOS_TELEGRAM_RATE_PER_SECOND": str(rate),
                "DINSOS_TELEGRAM_POLL_TIMEOUT_SECONDS": "1",
            },
            lambda: [f"telegram:{sent.chat_id}" for sent in fake.sent],
            lambda: [sent.at for sent in fake.sent],
            lambda: fake.limited,
        )
    finally:
        await fake.stop()


@contextlib.asynccontextmanager
async def whatsapp(rate: float = RATE, latency: float = 0.03) -> AsyncIterator[Platform]:
    fake = FakeGraph(latency=latency, limit_per_second=rate)
    server = _Server(uvicorn.Config(fake.app, host="127.0.0.1", port=0, log_config=None, lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield Platform(
            "whatsapp",
            {
                "DINSOS_WHATSAPP_ACCESS_TOKEN": fake_graph.TOKEN,
                "DINSOS_WHATSAPP_PHONE_NUMBER_ID": fake_graph.PHONE_NUMBER_ID,
                "DINSOS_WHATSAPP_APP_SECRET": fake_graph.APP_SECRET,
                "DINSOS_WHATSAPP_VERIFY_TOKEN": "verify",
                "DINSOS_WHATSAPP_GRAPH_BASE_URL": f"http://127.0.0.1:{port}",
                "DINSOS_WHATSAPP_TEMPLATE_NAME": "pengumuman",
                "DINSOS_WHATSAPP_RATE_PER_SECOND": str(rate),
            },
            lambda: [f"whatsapp:{sent.to}" for sent in fake.sent],
            lambda: [sent.at for sent in fake.sent],
            lambda: len(fake.refused),
            lambda: fake.rejected(130429),
        )
    finally:
        server.should_exit = True
        await task


PLATFORMS = {"telegram": telegram, "whatsapp": whatsapp}
PREFIX = {"telegram": "1000", "whatsapp": "62811000"}


def start(
    data_dir: Path, platform: Platform, log: IO[bytes], in_flight: int = IN_FLIGHT
) -> subprocess.Popen[bytes]:
    env = service_env(data_dir, **platform.env, DINSOS_OUTBOX_IN_FLIGHT=str(in_flight))
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "run"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log
    )


def log_tail(tmp_path: Path) -> str:
    return (tmp_path / "service.log").read_text(errors="replace")[-2000:]


async def until(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.005)
    return condition()


async def exited(process: subprocess.Popen[bytes], seconds: float) -> int:
    if not await until(lambda: process.poll() is not None, seconds):
        process.kill()
    return process.wait(5)


async def prepare(data_dir: Path, scheme: str, recipients: int = RECIPIENTS) -> int:
    return await seed_broadcast(data_dir, recipients, scheme=scheme, prefix=PREFIX[scheme])


async def statuses(data_dir: Path, broadcast_id: int) -> dict[str, int]:
    db = await Database.open(data_dir / DB_FILE_NAME)
    try:
        rows = await db.fetchall(
            "SELECT status, COUNT(*) FROM outbox WHERE broadcast_id = ? GROUP BY status", (broadcast_id,)
        )
        return {row[0]: row[1] for row in rows}
    finally:
        await db.close()


@pytest.mark.parametrize("scheme", ["telegram", "whatsapp"])
@pytest.mark.parametrize(("how", "after"), [("kill", 10), ("kill", 150), ("kill", 280), ("term", 120)])
async def test_a_broadcast_survives_a_crash_or_a_stop(
    tmp_path: Path, scheme: str, how: str, after: int
) -> None:
    data_dir = tmp_path / "data"
    broadcast_id = await prepare(data_dir, scheme)
    async with PLATFORMS[scheme]() as platform:
        with (tmp_path / "service.log").open("ab") as log:
            first = start(data_dir, platform, log)
            try:
                reached = await until(lambda: len(platform.recipients()) >= after, 60)
                assert reached, f"only {len(platform.recipients())} sent: {log_tail(tmp_path)}"
                first.send_signal(signal.SIGKILL if how == "kill" else signal.SIGTERM)
                await exited(first, 20)
            finally:
                if first.poll() is None:
                    first.kill()
            at_stop = len(platform.recipients())
            assert at_stop < RECIPIENTS, "stopped too late to test anything"
            left = await statuses(data_dir, broadcast_id)
            in_doubt = left.get("sending", 0)
            if how == "kill":
                assert in_doubt <= IN_FLIGHT, f"{in_doubt} rows left in doubt"
            else:
                assert set(left) <= {"sent", "queued"}, f"a graceful stop left {left}"

            second = start(data_dir, platform, log)
            try:
                done = await until(lambda: len(set(platform.recipients())) >= RECIPIENTS - in_doubt, 60)
                assert done, f"the restarted service did not finish the broadcast: {log_tail(tmp_path)}"
                await asyncio.sleep(0.5)  # anything sent twice would arrive now
            finally:
                second.send_signal(signal.SIGTERM)
                await exited(second, 20)

        received = Counter(platform.recipients())
        assert max(received.values()) == 1, "somebody got the broadcast twice"
        missed = RECIPIENTS - len(received)
        assert missed <= in_doubt <= IN_FLIGHT
        final_statuses = await statuses(data_dir, broadcast_id)
        assert final_statuses.get("sent", 0) + final_statuses.get("unknown", 0) == RECIPIENTS
        assert final_statuses.get("unknown", 0) == in_doubt
        if how == "term":
            assert final_statuses == {"sent": RECIPIENTS} and missed == 0
