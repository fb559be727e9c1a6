"""Benchmark: WhatsApp webhook acknowledgement under a steady load of signed deliveries.

Three processes on 127.0.0.1: the real service (`python -m bot`, uvicorn, SQLite with FULL sync, the
WhatsApp channel), a fake Graph API (`python -m tests.fake_graph`) that receives the replies, and this
process, which posts signed webhooks at a fixed rate (open loop: a slow answer does not slow the load)
and measures each acknowledgement from its scheduled send time. The messages are complete citizen
registrations (17 messages each, buttons and lists tapped by id, typed answers), many people at once.

After the load it waits until everything is answered, then checks that no event was lost or answered
twice: every wamid recorded once, every person received exactly the messages a reference run of the same
conversation produces, every outbox row sent once (the fake's message ids equal the outbox's), every
complete script produced a case.

    python bench/whatsapp_webhook.py --rate 200 --seconds 30 [--graph-latency-ms 0]
"""

import argparse
import asyncio
import contextlib
import gc
import itertools
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
        catalog = Catalog.load()
        self.wording = Wording(
            list_button=catalog.text("id", "whatsapp.list_button"),
            section_title=catalog.text("id", "whatsapp.list_section"),
            numbered_hint=catalog.text("id", "whatsapp.numbered_hint"),
        )
        self.messages = 0

    async def send(self, contact_id: str, reply: Reply) -> SendResult:
        self.messages += len(render(reply, self.wording).messages)
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


async def post_webhook(client: httpx.AsyncClient, url: str, body: dict[str, Any]) -> httpx.Response:
    """Post one WhatsApp webhook delivery as Meta does: the JSON body signed with the app secret."""
    raw = json.dumps(body).encode()
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(raw)}
    return await client.post(url, content=raw, headers=headers)


def percentile(sorted_values: list[float], fraction: float) -> float:
    return sorted_values[max(0, math.ceil(fraction * len(sorted_values)) - 1)]


CONNECTIONS = 64  # Meta's deliveries at once (each connection waits for its answer)


async def load(
    url: str, plan: list[tuple[int, int]], rate: float
) -> tuple[list[float], list[float], Counter[int], float, list[float]]:
    """Post every delivery at its scheduled time; return ack latencies, scheduled times, statuses,
    duration, and how late each request left this process (its own lag: part of its ack latency).

    Open loop: each delivery is due at its time and measured from it, so a slow answer shows as latency
    and never lowers the load. `CONNECTIONS` connections take the deliveries in order, each its own
    client with one connection: a client whose pool holds thousands of waiting requests spends its time
    re-scanning them (httpcore assigns connections by walking the whole queue for every request), which
    made this load generator itself fall behind at 200/s and deliver out of order. Each message carries
    its own WhatsApp timestamp: the second it is due.
    """
    latencies: list[float] = [0.0] * len(plan)
    lags: list[float] = [0.0] * len(plan)
    scheduled: list[float] = [0.0] * len(plan)
    statuses: Counter[int] = Counter()
    # The clients exist before the clock starts (making one builds an SSL context: 64 of them at the
    # first scheduled post would hold this process up for a second or more).
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    clients = [httpx.AsyncClient(limits=limits, timeout=60.0) for _ in range(CONNECTIONS)]
    start = time.monotonic() + 0.5
    wall = time.time() + 0.5
    next_index = 0

    async def connection(client: httpx.AsyncClient) -> None:
        nonlocal next_index
        async with client:
            while next_index < len(plan):
                index = next_index
                next_index += 1
                at = start + index / rate
                scheduled[index] = at
                await asyncio.sleep(max(0.0, at - time.monotonic()))
                p, s = plan[index]
                message = {"id": f"wamid.B{p:05d}.{s:02d}", "timestamp": str(int(wall + index / rate))}
                body = webhook_body(message | script(p)[s], wa_id=wa_id(p), name="Warga")
                lags[index] = time.monotonic() - at
                try:
                    response = await post_webhook(client, url, body)
                    statuses[response.status_code] += 1
                except httpx.HTTPError as error:
                    statuses[-1] += 1
                    print(f"request {index} failed: {type(error).__name__}", file=sys.stderr)
                latencies[index] = time.monotonic() - at

    await asyncio.gather(*(connection(client) for client in clients))
    duration = time.monotonic() - start
    return latencies, scheduled, statuses, duration, lags


def server_answer_times(url: str) -> str:
    """The service's own webhook answer times (its /metrics histogram): the share within 50 ms and the
    bucket holding the 99th percentile; the rest of an ack's latency is the network and this load."""
    text = httpx.get(url, timeout=30).text
    buckets = []
    for line in text.splitlines():
        if line.startswith('dinsos_webhook_seconds_bucket{channel="whatsapp"'):
            bound = line.split('le="')[1].split('"')[0]
            buckets.append((float(bound), float(line.rsplit(" ", 1)[1])))
    if not buckets or not buckets[-1][1]:
        return "not reported"
    count = buckets[-1][1]
    within = next(n for bound, n in buckets if bound >= 0.05) / count
    p99 = next(bound for bound, n in buckets if n >= 0.99 * count)
    return f"{within * 100:.1f} % within 50 ms, p99 <= {p99 * 1000:g} ms"


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
    parser.add_argument("--concurrency", type=int, default=None, help="DINSOS_WHATSAPP_CONCURRENCY")
    parser.add_argument("--runs", type=int, default=1, help="repeat the whole run; each run's checks printed")
    args = parser.parse_args()

    total = int(args.rate * args.seconds)
    steps = len(script(0))
    people = math.ceil(total / steps)
    # Round robin over people: each person's messages are spread over the run, in order.
    plan = [(p, s) for s in range(steps) for p in range(people)][:total]
    sent_steps = Counter(p for p, _ in plan)
    reference = asyncio.run(reference_counts(0))

    print(
        "command             python bench/whatsapp_webhook.py"
        f" --rate {args.rate:g} --seconds {args.seconds:g} --graph-latency-ms {args.graph_latency_ms:g}"
        f" --runs {args.runs}"
    )
    print(f"machine             {os.cpu_count()} CPUs; service, fake Graph API and load in 3 processes")
    passed = sum(run_once(args, plan, reference, sent_steps, number) for number in range(1, args.runs + 1))
    print(f"runs passed         {passed} of {args.runs}")
    if passed != args.runs:
        raise SystemExit(1)


def run_once(
    args: argparse.Namespace,
    plan: list[tuple[int, int]],
    reference: list[int],
    sent_steps: Counter[int],
    number: int,
) -> bool:
    """One run on a fresh store: the load, then the checks; whether they passed."""
    total = len(plan)
    steps = len(script(0))
    people = len(sent_steps)
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
    if args.concurrency is not None:
        env["DINSOS_WHATSAPP_CONCURRENCY"] = str(args.concurrency)
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
        # The load's own collector pauses (a full pass over this process's heap took up to 340 ms) would
        # count as the service's ack latency: the collector waits until the load is over.
        gc.collect()
        gc.disable()
        try:
            latencies, scheduled, statuses, duration, lags = asyncio.run(load(url, plan, args.rate))
        finally:
            gc.enable()
        load_end = time.monotonic()
        server_side = server_answer_times(f"http://127.0.0.1:{service_port}/metrics")
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
        handled_at = read_db(db_path, "SELECT id, received_at FROM inbound WHERE id LIKE 'whatsapp:wamid.B%'")
        inbound_ids = len(handled_at)
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
    # Order: each person's messages handled in the order they were sent (the engine's commit times).
    steps_at: dict[int, list[tuple[int, str]]] = {}
    for event_id, received_at in handled_at:
        person, step = event_id.removeprefix("whatsapp:wamid.B").split(".")
        steps_at.setdefault(int(person), []).append((int(step), received_at))
    inversions = 0
    out_of_order = 0
    for handled in steps_at.values():
        order = [step for step, _ in sorted(handled, key=lambda item: item[1])]
        wrong_pairs = sum(1 for a, b in itertools.pairwise(order) if a > b)
        inversions += wrong_pairs
        out_of_order += wrong_pairs > 0
    if inversions:
        problems.append(f"{out_of_order} people had messages handled out of order ({inversions} inversions)")

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
    print(f"run                 {number}")
    print(f"webhooks sent       {total} in {duration:.1f} s ({total / duration:.0f}/s), {people} people")
    print(f"ack statuses        {dict(statuses)}")
    print(f"ack latency p50     {percentile(acks, 0.50) * 1000:.1f} ms")
    print(f"ack latency p95     {percentile(acks, 0.95) * 1000:.1f} ms")
    print(f"ack latency p99     {percentile(acks, 0.99) * 1000:.1f} ms")
    print(f"ack latency max     {acks[-1] * 1000:.1f} ms")
    print(f"ack in the service  {server_side} (its own /metrics: receipt to answer)")
    slow = Counter(int(index / args.rate) for index, latency in enumerate(latencies) if latency > 0.05)
    print(f"acks over 50 ms     {sum(slow.values())}; by second of the load: {dict(sorted(slow.items()))}")
    lags.sort()
    print(
        f"load's own lag      p50 {percentile(lags, 0.5) * 1000:.1f} ms, "
        f"p99 {percentile(lags, 0.99) * 1000:.1f} ms "
        "(a request leaving this process late: counted in the ack latency above)"
    )
    print(f"answer latency p50  {percentile(answer, 0.50) * 1000:.1f} ms (post -> first reply at the fake)")
    print(f"answer latency p99  {percentile(answer, 0.99) * 1000:.1f} ms")
    print(f"drained after load  {drained:.1f} s")
    print(f"events handled      {inbound_ids} of {total} (each wamid once)")
    print(f"replies sent        {len(sent)} (expected {sum(expected.values())}), outbox rows {len(outbox)}")
    print(f"registrations       {cases} cases for {complete} complete scripts")
    print(
        f"handled in order    {len(steps_at) - out_of_order} of {len(steps_at)} people "
        f"({inversions} inversions)"
    )
    if args.keep or problems:
        print(f"data and logs       {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    if percentile(acks, 0.99) > 0.050:
        problems.append("ack p99 over 50 ms")
    print(
        "checks              " + ("OK" if not problems else "FAILED:\n  " + "\n  ".join(problems)), flush=True
    )
    return not problems


if __name__ == "__main__":
    main()
