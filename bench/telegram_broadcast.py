"""Benchmark: a broadcast through the outbox to Telegram, paced under a rate limit the fake enforces.

A child process runs the fake Bot API (tests/fake_telegram.py) answering 429 with `retry_after` to any
send beyond L per second (sliding one-second window). This process queues one broadcast row per
contact in the outbox and runs the real dispatcher with the Telegram sender, its rate set just under L
(Telegram's 30/s scaled by ten, so the run is short). Prints the sustained delivery rate against L, the
429 answers, duplicates and what every outbox row became.

    python bench/telegram_broadcast.py --messages 5000 --limit 300
    python bench/telegram_broadcast.py --messages 2000 --limit 300 --rate 600   # set too high on purpose
"""

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.app import build_service  # noqa: E402
from bot.channels import telegram  # noqa: E402
from bot.outbox import Channel  # noqa: E402
from bot.settings import OutreachSettings, ServiceSettings, Settings, StoreSettings, TelegramSettings  # noqa: E402
from storage import repo  # noqa: E402
from storage.contract import Tx  # noqa: E402
from storage.crypto import generate_key_text  # noqa: E402
from tests.fake_telegram import TOKEN  # noqa: E402

FIRST_CHAT = 200_000


def stats(port: int) -> dict[str, object]:
    """The fake's counters."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_control/stats", timeout=10) as answer:
        return dict(json.loads(answer.read()))


def start_fake(limit: float, latency: float) -> tuple[subprocess.Popen[str], int]:
    """The fake Bot API in its own process (its own core); returns it and its port."""
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.fake_telegram", "--limit", str(limit), "--latency", str(latency)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert child.stdout is not None
    return child, int(child.stdout.readline().split()[1])


async def main(messages: int, limit: float, rate: float, latency: float) -> None:
    child, port = start_fake(limit, latency)
    assert child.stdin is not None
    loop = asyncio.get_running_loop()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            store=StoreSettings(data_dir=Path(tmp), secret_key=generate_key_text()),
            service=ServiceSettings(outbox_poll_seconds=0.2),
            telegram=TelegramSettings(
                token=TOKEN,
                base_url=f"http://127.0.0.1:{port}/bot",
                base_file_url=f"http://127.0.0.1:{port}/file/bot",
                rate_per_second=rate,
                poll_timeout_seconds=1,
            ),
            outreach=OutreachSettings(quiet_start="00:00", quiet_end="00:00"),  # no quiet hours here
        )
        channels: dict[str, Channel] = {}
        service = await build_service(settings, channels)
        adapter = await telegram.start(settings, service)
        channels[adapter.channel.scheme] = adapter.channel
        now = service.engine.clock()
        text = json.dumps({"text": "Info Dinsos: pendaftaran pelatihan menjahit dibuka minggu depan."})

        def queue(conn: Tx) -> None:
            for index in range(messages):
                contact = f"telegram:{FIRST_CHAT + index}"
                conn.execute(
                    "INSERT INTO contacts (id, channel, consent, created_at, updated_at) "
                    "VALUES (?, 'telegram', 'granted', ?, ?)",
                    (contact, repo.iso(now), repo.iso(now)),
                )
                repo.insert_outbox(conn, contact_id=contact, payload=text, origin="broadcast", at=now)

        await service.db.write(queue)
        started = time.monotonic()
        sender = asyncio.create_task(service.dispatcher.run())
        while True:
            await asyncio.sleep(0.5)
            left = await service.db.fetchval(
                "SELECT COUNT(*) FROM outbox WHERE status IN ('queued', 'sending')"
            )
            if left == 0 or time.monotonic() - started > messages / limit * 4 + 30:
                break
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)
        rows = await service.db.fetchall("SELECT status, COUNT(*) AS n FROM outbox GROUP BY status")
        outcome = {row["status"]: row["n"] for row in rows}
        figures = await loop.run_in_executor(None, stats, port)
        pacer = adapter.channel.pacer
        await adapter.stop()
        await service.close()
    child.stdin.close()
    child.wait(timeout=30)
    sent = int(figures["sent"])  # type: ignore[call-overload]
    span = float(figures["span"])  # type: ignore[arg-type]
    sustained = (sent - 1) / span if span else 0.0
    print(f"messages queued        {messages} (one broadcast row per contact)")
    print(f"fake limit L           {limit:.0f} msg/s (429 + retry_after beyond it)")
    print(f"Bot API latency        {latency * 1000:.0f} ms per call (fake)")
    print(f"sender rate setting    {rate:.0f} msg/s")
    print(f"delivered              {sent}  (chats reached: {figures['chats']})")
    print(f"most to one chat       {figures['max_per_chat']}")
    print(f"duplicates             {figures['duplicates']}")
    print(f"429 answers            {figures['limited']}  (sender's own count: {pacer.limited})")
    print(f"first -> last send     {span:.2f} s")
    print(f"sustained delivery     {sustained:.1f} msg/s = {sustained / limit:.3f} L")
    print(f"outbox rows            {outcome}")
    ok = sent == messages and figures["duplicates"] == 0 and outcome == {"sent": messages}
    if not ok:
        raise SystemExit("FAILED: every row sent exactly once was expected")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--limit", type=float, default=300.0, help="L: sends per second the fake allows")
    parser.add_argument("--rate", type=float, default=None, help="sender setting (default 0.97 L)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds the fake adds to every call")
    args = parser.parse_args()
    asyncio.run(main(args.messages, args.limit, args.rate or args.limit * 0.97, args.latency))
