"""Benchmark: Telegram updates through python-telegram-bot into the engine and replied to.

Two processes, as in production: this one runs the service with its Telegram channel in polling mode
(real PTB `getUpdates`, `Update.de_json`, `sendMessage`, `answerCallbackQuery`, edits), and a child runs
the fake Bot API (tests/fake_telegram.py) together with the simulated people. Each person completes a
self-registration (19 updates: typed answers, pressed buttons, a shared contact and location), sending
the next update as soon as the bot has answered the last one. Limits are off on both sides (the fake
answers at once, the sender does not pace); `--latency 0.05` adds 50 ms to every Bot API call, about
the distance to Telegram's servers.

    python bench/telegram_updates.py --users 300
    python bench/telegram_updates.py --users 300 --latency 0.05

Prints updates/s (first update pushed -> last reply received), reply latency percentiles (update pushed
-> first reply seen by the fake), the service's CPU time per update, and the Bot API calls per update.
"""

import argparse
import asyncio
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.app import build_service  # noqa: E402
from bot.channels import telegram  # noqa: E402
from bot.outbox import Channel  # noqa: E402
from bot.settings import OutreachSettings, ServiceSettings, Settings, StoreSettings, TelegramSettings  # noqa: E402
from storage.crypto import generate_key_text  # noqa: E402
from tests.fake_telegram import TOKEN, FakeTelegram, Sent  # noqa: E402

FIRST_USER = 100_000


def letters(index: int) -> str:
    """A name part made of letters only (names with digits are refused, rightly)."""
    syllables = ["ba", "di", "ku", "ma", "ni", "ra", "sa", "ti", "wa", "yu"]
    return "".join(syllables[int(d)] for d in str(index)).capitalize()


def script(index: int) -> list[dict[str, Any]]:
    """The updates of one complete self-registration, as a person would send them."""
    day = 1 + index % 28
    return [
        {"text": "halo"},
        {"choice": "consent:yes"},
        {"choice": "menu:registration"},
        {"choice": "for_whom:self"},
        {"text": f"Warga {letters(index)}"},
        {"text": f"367401{day + 40:02d}0885{index % 9999 + 1:04d}"},
        {"contact": f"+62812{index:08d}"},
        {"choice": "kecamatan:36.74.03"},
        {"choice": "kelurahan:36.74.03.1011"},
        {"text": "Jl. H. Sarmili RT 03/05"},
        {"location": (-6.2754, 106.7174)},
        {"text": "4"},
        {"text": "1 3"},
        {"text": "tidak"},
        {"text": "1 2"},
        {"choice": "aid_received:none"},
        {"choice": "summary:send"},
    ]


# ---------------------------------------------------------------- the child: fake Bot API + people


def _cpu(usage: resource.struct_rusage) -> float:
    return usage.ru_utime + usage.ru_stime


class BenchFake(FakeTelegram):
    """The fake, telling each simulated person (by chat) when the bot sends them something."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.inboxes: dict[int, asyncio.Queue[Sent]] = {}

    async def _record(self, method: str, params: dict[str, Any], extra: dict[str, Any], size: int = 0) -> Any:
        message = await super()._record(method, params, extra, size)
        chat_id = int(params["chat_id"])
        queue = self.inboxes.get(chat_id)
        if queue is not None:
            queue.put_nowait(self.messages[(chat_id, message["message_id"])])
        return message


async def person(fake: BenchFake, index: int, latencies: list[float], stamps: list[float]) -> None:
    """One person registering: each update waits for the bot's answer to the previous one."""
    user = FIRST_USER + index
    inbox = fake.inboxes[user] = asyncio.Queue()
    seen: list[Sent] = []
    for step in script(index):
        if "choice" in step:
            # Press the button on the message that carries it (the answer to the previous update).
            while not any(data == step["choice"] for s in seen[-3:] for _, data in s.buttons):
                try:
                    seen.append(await asyncio.wait_for(inbox.get(), 30))
                except TimeoutError:
                    raise RuntimeError(
                        f"no button {step['choice']} in {[s.text for s in seen[-3:]]}"
                    ) from None
            message = next(s for s in reversed(seen) if any(d == step["choice"] for _, d in s.buttons))
            update = fake.press(user, message, step["choice"])
        elif "contact" in step:
            update = fake.contact(user, step["contact"])
        elif "location" in step:
            update = fake.location(user, *step["location"])
        else:
            update = fake.text(user, step["text"])
        pushed = time.monotonic()
        stamps.append(pushed)
        await fake.push(update)
        try:
            first = await asyncio.wait_for(inbox.get(), 30)
        except TimeoutError:
            raise RuntimeError(
                f"no answer to {step} after {[(s.text or '')[:40] for s in seen[-3:]]}"
            ) from None
        latencies.append(time.monotonic() - pushed)
        seen.append(first)
        while not inbox.empty():
            seen.append(inbox.get_nowait())
    # The last answer may come in several messages: let them arrive before the person is done.
    await asyncio.sleep(0)
    stamps.append(time.monotonic())


async def run_fake(users: int, latency: float) -> None:
    """The child process: serve, wait for GO, run the people, print the figures as JSON."""
    fake = BenchFake(latency=latency)
    await fake.start()
    print(f"PORT {fake.port}", flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)  # GO
    latencies: list[float] = []
    stamps: list[float] = []
    start_cpu = resource.getrusage(resource.RUSAGE_SELF)
    results = await asyncio.gather(
        *(person(fake, i, latencies, stamps) for i in range(users)), return_exceptions=True
    )
    failures = [result for result in results if isinstance(result, BaseException)]
    errors = len(failures)
    if failures:
        print(f"first failure: {failures[0]!r}", file=sys.stderr, flush=True)
    await asyncio.sleep(0.5)  # replies still on their way
    latencies.sort()
    texts: dict[tuple[int, str | None, int], int] = {}
    for sent in fake.sent:
        key = (sent.chat_id, sent.text, sent.message_id)
        texts[key] = texts.get(key, 0) + 1
    print(
        json.dumps(
            {
                "updates": len(latencies),
                "span": max(stamps) - min(stamps) if stamps else 0.0,
                "p50": statistics.median(latencies) if latencies else 0.0,
                "p99": latencies[int(len(latencies) * 0.99) - 1] if latencies else 0.0,
                "calls": dict(fake.calls),
                "sent": len(fake.sent),
                "errors": errors,
                "fake_cpu": _cpu(resource.getrusage(resource.RUSAGE_SELF)) - _cpu(start_cpu),
            }
        ),
        flush=True,
    )
    await loop.run_in_executor(None, sys.stdin.readline)  # wait until the parent is done
    await fake.stop()


# ---------------------------------------------------------------- the parent: the service


def start_fake(users: int, latency: float) -> tuple[subprocess.Popen[str], int]:
    """The fake Bot API and the people in their own process (their own core); returns it and its port."""
    child = subprocess.Popen(
        [sys.executable, __file__, "--role", "fake", "--users", str(users), "--latency", str(latency)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert child.stdout is not None
    return child, int(child.stdout.readline().split()[1])


async def run_service(users: int, latency: float, synchronous: str) -> None:
    child, port = start_fake(users, latency)
    assert child.stdin is not None and child.stdout is not None
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            store=StoreSettings(
                data_dir=Path(tmp), secret_key=generate_key_text(), sqlite_synchronous=synchronous
            ),
            service=ServiceSettings(),
            telegram=TelegramSettings(
                token=TOKEN,
                base_url=f"http://127.0.0.1:{port}/bot",
                base_file_url=f"http://127.0.0.1:{port}/file/bot",
                rate_per_second=1_000_000,  # limits off
                per_chat_interval_seconds=0,
                poll_timeout_seconds=1,
            ),
            outreach=OutreachSettings(quiet_start="00:00", quiet_end="00:00"),
        )
        channels: dict[str, Channel] = {}
        service = await build_service(settings, channels)
        adapter = await telegram.start(settings, service)
        channels[adapter.channel.scheme] = adapter.channel
        tasks = [asyncio.create_task(work) for work in adapter.tasks()]
        loop = asyncio.get_running_loop()
        before = resource.getrusage(resource.RUSAGE_SELF)
        child.stdin.write("GO\n")
        child.stdin.flush()
        line = await loop.run_in_executor(None, child.stdout.readline)
        after = resource.getrusage(resource.RUSAGE_SELF)
        figures = json.loads(line)
        cases = await service.db.fetchval("SELECT COUNT(*) FROM cases")
        unsent = await service.db.fetchval("SELECT COUNT(*) FROM outbox WHERE status != 'sent'")
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await adapter.stop()
        await service.close()
    child.stdin.write("done\n")
    child.stdin.flush()
    child.wait(timeout=30)
    updates = figures["updates"]
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    calls = figures["calls"]
    print(f"people                 {users} (each a 19-update registration)")
    print(f"Bot API latency        {latency * 1000:.0f} ms per call (fake), limits off")
    print(f"sqlite synchronous     {synchronous}")
    print(f"updates handled        {updates}  (people failed: {figures['errors']})")
    print(f"registrations stored   {cases}  (outbox rows not sent: {unsent})")
    print(f"wall time              {figures['span']:.2f} s")
    print(f"throughput             {updates / figures['span']:.0f} updates/s")
    print(f"reply latency p50      {figures['p50'] * 1000:.1f} ms")
    print(f"reply latency p99      {figures['p99'] * 1000:.1f} ms")
    per_update = cpu / max(updates, 1) * 1000
    print(f"service CPU            {per_update:.2f} ms per update ({cpu / figures['span']:.0%} of a core)")
    print(f"fake + people CPU      {figures['fake_cpu'] / figures['span']:.0%} of a core")
    api_calls = sum(count for name, count in calls.items() if name != "getUpdates")
    print(f"Bot API calls/update   {api_calls / max(updates, 1):.2f} (getUpdates not counted)")
    for name in ("sendMessage", "answerCallbackQuery", "editMessageText", "getUpdates"):
        print(f"  {name:<21}{calls.get(name, 0)}")
    if figures["errors"] or cases != users:
        raise SystemExit(
            f"FAILED: {users} registrations expected, {cases} stored, {figures['errors']} people stuck"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds the fake adds to every call")
    parser.add_argument("--synchronous", choices=["NORMAL", "FULL"], default="FULL")
    parser.add_argument("--role", choices=["service", "fake"], default="service", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "fake":
        asyncio.run(run_fake(args.users, args.latency))
    else:
        asyncio.run(run_service(args.users, args.latency, args.synchronous))
