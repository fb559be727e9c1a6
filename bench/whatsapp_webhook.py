"""Benchmark: WhatsApp webhook acknowledgement under a steady load of signed deliveries.

Three processes on 127.0.0.1: the real service (`python -m bot`, uvicorn, SQLite with FULL sync, the
WhatsApp channel), a fake Graph API (`python -m tests.fake_graph`) that receives the replies, and this
process, which posts signed webhooks at a fixed rate (open loop: a slow answer does not slow the load)
and measures each acknowledgement from its scheduled send time. The messages are complete citizen
registrations (19 messages each, buttons and lists tapped by id, typed answers), many people at once.

After the load it waits until everything is answered, then checks that no event was lost or answered
twice: every wamid recorded once, every person received exactly the messages a reference run of the same
conversation produces, every outbox row sent once (the fake's message ids equal the outbox's), every
complete script produced a case.

    python bench/whatsapp_webhook.py --rate 200 --seconds 30 [--graph-latency-ms 0]
"""

import argparse
import asyncio
import contextlib
import json
import math
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as a script: tests.fake_graph lives in the repository

from bot.app import build_service  # noqa: E402
from bot.channels.whatsapp.payloads import parse_webhook  # noqa: E402
from bot.channels.whatsapp.render import Wording, render  # noqa: E402
from bot.outbox import SendResult  # noqa: E402
from bot.settings import ServiceSettings, Settings, StoreSettings  # noqa: E402
from handlers.i18n import Catalog  # noqa: E402
from handlers.types import Reply  # noqa: E402
from storage.crypto import generate_key_text  # noqa: E402
from storage.records import OutboxStatus  # noqa: E402
from tests.fake_graph import APP_SECRET, PHONE_NUMBER_ID, TOKEN, sign, webhook_body  # noqa: E402
from tests.whatsapp_scripts import registration_script as script  # noqa: E402

VERIFY_TOKEN = "bench-verify-token"  # noqa: S105  (a fake for the local run)


def wa_id(index: int) -> str:
    return f"62812{index:08d}"


class Counting:
    """The reference run's channel: counts the WhatsApp messages each reply becomes."""

    scheme = "whatsapp"

    def __init__(self) -> None:
        self.catalog = Catalog.load()
        self.messages = 0

    async def send(self, contact_id: str, reply: Reply) -> SendResult:
        wording = Wording(
            list_button=self.catalog.text("id", "whatsapp.list_button"),
            section_title=self.catalog.text("id", "whatsapp.list_section"),
            numbered_hint=self.catalog.text("id", "whatsapp.numbered_hint"),
        )
        self.messages += len(render(reply, wording).messages)
        return SendResult(OutboxStatus.SENT, external_id=f"ref{self.messages}")


async def reference_counts(index: int) -> list[int]:
    """WhatsApp messages each step of the script is answered with, from an in-process run."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            store=StoreSettings(
                data_dir=Path(tmp), secret_key=generate_key_text(), sqlite_synchronous="NORMAL"
            ),
            service=ServiceSettings(),
        )
        channel = Counting()
        service = await build_service(settings, {"whatsapp": channel})
        counts = []
        for number, message in enumerate(script(index)):
            body = webhook_body({"id": f"wamid.ref{number}", **message}, wa_id=wa_id(index))
            [incoming] = parse_webhook(body).messages
            before = channel.messages
            await service.receive(incoming.to_inbound())
            counts.append(channel.messages - before)
        await service.close()
    return counts


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_http(url: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        time.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


def percentile(sorted_values: list[float], fraction: float) -> float:
    return sorted_values[max(0, math.ceil(fraction * len(sorted_values)) - 1)]


async def load(
    url: str, bodies: list[bytes], rate: float
) -> tuple[list[float], list[float], Counter[int], float]:
    """Post every body at its scheduled time; return ack latencies, scheduled times, statuses, duration."""
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    latencies: list[float] = [0.0] * len(bodies)
    scheduled: list[float] = [0.0] * len(bodies)
    statuses: Counter[int] = Counter()
    async with httpx.AsyncClient(limits=limits, timeout=30.0) as client:
        start = time.monotonic() + 0.5

        async def one(index: int, raw: bytes) -> None:
            at = start + index / rate
            scheduled[index] = at
            await asyncio.sleep(max(0.0, at - time.monotonic()))
            headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(raw)}
            try:
                response = await client.post(url, content=raw, headers=headers)
                statuses[response.status_code] += 1
            except httpx.HTTPError as error:
                statuses[-1] += 1
                print(f"request {index} failed: {type(error).__name__}", file=sys.stderr)
            latencies[index] = time.monotonic() - at

        await asyncio.gather(*(one(i, raw) for i, raw in enumerate(bodies)))
        duration = time.monotonic() - start
    return latencies, scheduled, statuses, duration


def read_db(path: Path, sql: str) -> Any:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=200.0, help="signed webhooks per second")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--graph-latency-ms", type=float, default=0.0, help="fake Graph API answer delay")
    parser.add_argument("--keep", action="store_true", help="keep the data directory and logs")
    args = parser.parse_args()

    total = int(args.rate * args.seconds)
    steps = len(script(0))
    people = math.ceil(total / steps)
    # Round robin over people: each person's messages are spread over the run, in order.
    plan = [(p, s) for s in range(steps) for p in range(people)][:total]
    bodies = [
        json.dumps(
            webhook_body({"id": f"wamid.B{p:05d}.{s:02d}", **script(p)[s]}, wa_id=wa_id(p), name="Warga")
        ).encode()
        for p, s in plan
    ]
    sent_steps = Counter(p for p, _ in plan)
    reference = asyncio.run(reference_counts(0))

    work = Path(tempfile.mkdtemp(prefix="wa-bench-"))
    graph_port, service_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DINSOS_TELEGRAM_", "DINSOS_WHATSAPP_"))}
    env |= {
        "DINSOS_SECRET_KEY": generate_key_text(),
        "DINSOS_LOG_LEVEL": "WARNING",
        "DINSOS_WEB_PORT": str(service_port),
        "DINSOS_WHATSAPP_ACCESS_TOKEN": TOKEN,
        "DINSOS_WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
        "DINSOS_WHATSAPP_APP_SECRET": APP_SECRET,
        "DINSOS_WHATSAPP_VERIFY_TOKEN": VERIFY_TOKEN,
        "DINSOS_WHATSAPP_GRAPH_BASE_URL": f"http://127.0.0.1:{graph_port}",
        "DINSOS_WHATSAPP_RATE_PER_SECOND": "1000",  # the fake has no limit; measure the service
    }
    latency = str(args.graph_latency_ms)
    graph_log = (work / "graph.log").open("wb")
    service_log = (work / "service.log").open("wb")
    graph = subprocess.Popen(
        [sys.executable, "-m", "tests.fake_graph", "--port", str(graph_port), "--latency-ms", latency],
        cwd=ROOT,
        stdout=graph_log,
        stderr=subprocess.STDOUT,
    )
    service = subprocess.Popen(
        [sys.executable, "-m", "bot", "--data-dir", str(work / "data"), "run"],
        cwd=work,
        env=env,
        stdout=service_log,
        stderr=subprocess.STDOUT,
    )
    db_path = work / "data" / "intake.sqlite3"
    try:
        wait_http(f"http://127.0.0.1:{graph_port}/_fake/sent")
        wait_http(f"http://127.0.0.1:{service_port}/health")
        url = f"http://127.0.0.1:{service_port}/webhooks/whatsapp"
        latencies, scheduled, statuses, duration = asyncio.run(load(url, bodies, args.rate))
        load_end = time.monotonic()
        deadline = load_end + 180
        while True:
            handled = read_db(db_path, "SELECT COUNT(*) FROM inbound")[0][0]
            busy = read_db(db_path, "SELECT COUNT(*) FROM outbox WHERE status IN ('queued', 'sending')")[0][0]
            inbox = read_db(db_path, "SELECT COUNT(*) FROM webhook_inbox")[0][0]
            if handled >= total and not busy and not inbox:
                break
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
        drained = time.monotonic() - load_end
        time.sleep(1.0)  # anything sent twice would show up now
        sent = httpx.get(f"http://127.0.0.1:{graph_port}/_fake/sent", timeout=30).json()
        outbox = read_db(db_path, "SELECT status, external_id FROM outbox")
        cases = read_db(db_path, "SELECT COUNT(*) FROM cases")[0][0]
        inbound_ids = read_db(db_path, "SELECT COUNT(*) FROM inbound WHERE id LIKE 'whatsapp:wamid.B%'")[0][0]
    finally:
        for process in (service, graph):
            process.send_signal(signal.SIGTERM)
        for process in (service, graph):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        graph_log.close()
        service_log.close()

    # ---------------------------------------------------------------- checks
    per_person = Counter(item["to"] for item in sent)
    expected = {wa_id(p): sum(reference[: sent_steps[p]]) for p in range(people)}
    wrong = {k: (per_person.get(k, 0), v) for k, v in expected.items() if per_person.get(k, 0) != v}
    wamids = [item["wamid"] for item in sent]
    outbox_ids = sorted(row[1] for row in outbox if row[1])
    complete = sum(1 for p in range(people) if sent_steps[p] == steps)
    problems = []
    if statuses.get(200, 0) != total:
        problems.append(f"not every webhook was acknowledged with 200: {dict(statuses)}")
    if inbound_ids != total:
        problems.append(f"{total - inbound_ids} inbound events lost")
    if wrong:
        problems.append(
            f"{len(wrong)} people got a different number of messages, e.g. {list(wrong.items())[:3]}"
        )
    if len(set(wamids)) != len(wamids) or sorted(wamids) != outbox_ids:
        problems.append("sent messages and outbox rows differ (a message sent twice or not recorded)")
    if any(row[0] != "sent" for row in outbox):
        problems.append(f"outbox rows not sent: {Counter(row[0] for row in outbox)}")
    if cases != complete:
        problems.append(f"{complete} registrations completed but {cases} cases stored")

    # Answer latency: the first reply to each message, from its scheduled post time (same host clock).
    first_reply: dict[tuple[int, int], float] = {}
    by_person: dict[str, list[float]] = {}
    for item in sent:
        by_person.setdefault(item["to"], []).append(item["at"])
    for p in range(people):
        times = sorted(by_person.get(wa_id(p), []))
        cursor = 0
        for s in range(sent_steps[p]):
            if reference[s] and cursor < len(times):
                first_reply[(p, s)] = times[cursor]
            cursor += reference[s]
    answer = sorted(
        first_reply[(p, s)] - scheduled[i] for i, (p, s) in enumerate(plan) if (p, s) in first_reply
    )
    acks = sorted(latencies)
    print(
        "command             python bench/whatsapp_webhook.py"
        f" --rate {args.rate:g} --seconds {args.seconds:g} --graph-latency-ms {args.graph_latency_ms:g}"
    )
    print(f"machine             {os.cpu_count()} CPUs; service, fake Graph API and load in 3 processes")
    print(f"webhooks sent       {total} in {duration:.1f} s ({total / duration:.0f}/s), {people} people")
    print(f"ack statuses        {dict(statuses)}")
    print(f"ack latency p50     {percentile(acks, 0.50) * 1000:.1f} ms")
    print(f"ack latency p95     {percentile(acks, 0.95) * 1000:.1f} ms")
    print(f"ack latency p99     {percentile(acks, 0.99) * 1000:.1f} ms")
    print(f"ack latency max     {acks[-1] * 1000:.1f} ms")
    print(f"answer latency p50  {percentile(answer, 0.50) * 1000:.1f} ms (post -> first reply at the fake)")
    print(f"answer latency p99  {percentile(answer, 0.99) * 1000:.1f} ms")
    print(f"drained after load  {drained:.1f} s")
    print(f"events handled      {inbound_ids} of {total} (each wamid once)")
    print(f"replies sent        {len(sent)} (expected {sum(expected.values())}), outbox rows {len(outbox)}")
    print(f"registrations       {cases} cases for {complete} complete scripts")
    if args.keep or problems:
        print(f"data and logs       {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    if problems:
        raise SystemExit("FAILED:\n  " + "\n  ".join(problems))
    if percentile(acks, 0.99) > 0.050:
        raise SystemExit("FAILED: ack p99 over 50 ms")
    print("OK")


if __name__ == "__main__":
    main()
