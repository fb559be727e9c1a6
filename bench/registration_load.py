"""Benchmark: N simulated contacts complete registrations concurrently, in-process, on a SQLite file
(or on PostgreSQL: `--postgres` starts a throwaway local cluster, fsync and synchronous commit on;
`--database-url` uses a server of yours, creating and dropping one database per run).

Every reply is committed to the store (state, answers, outbox row) before it is handed to the channel,
and its outbox row is marked sent afterwards, exactly as in production. Each contact sends its next
message about `interval` seconds after the last (jittered 50-150 %), so the offered load is
contacts / interval messages/s whatever the service manages.

By default it steps the offered load up (a fresh store per step) and prints, per step, the offered
load, the load sustained, p99 of the handling latency (receive -> reply delivered) and peak RSS, then
the capacity: the highest offered load whose p99 stays within 25 ms. `--interval` makes one run. Each
run in one process also prints the write round trips behind a message, p50 and p99 by kind: its
conversation step committed (its replies written `sending` in it), the mark of a reply the step could
not take (no in-flight slot free), and each reply's result, recorded after the reply has left (the
message does not wait for it). Before each run it times a fixed Python loop ("machine speed", also the
table's last column): this machine is 30-40 % slower at some hours than at others. It also prints the
cycle collector's passes during the run (each stops the event loop and the writer).

    python bench/registration_load.py                        # 1,000 contacts, 600..1,200 msgs/s
    python bench/registration_load.py --rates 400,500,600,700,800,1000
    python bench/registration_load.py --contacts 1000 --interval 1.0   # one run at 1,000 msgs/s
    python bench/registration_load.py --postgres --contacts 1000 --interval 1.0
    python bench/registration_load.py --postgres --contacts 1000 --interval 1.0 --replicas 2

`--replicas R` (PostgreSQL) runs R service processes on the one database, each serving its share of the
contacts (contact i on process i mod R, as behind a load balancer keeping each person on one process);
the figures are over all messages of all processes, CPU summed over them.
"""

import argparse
import asyncio
import gc
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.app import Service, build_service
from bot.outbox import SendResult
from bot.runner import started_up
from bot.settings import ServiceSettings, Settings, StoreSettings
from handlers.types import Inbound, Reply
from storage.crypto import generate_key_text
from storage.location import redacted
from storage.records import OutboxStatus

COMPLETIONS: list[float] = []  # wall-clock time (time.time) each reply was delivered


class CountingChannel:
    """Accepts every message at once (no platform limits), counting them."""

    scheme = "console"

    def __init__(self) -> None:
        self.sent = 0

    async def send(self, contact_id: str, reply: Reply) -> SendResult:
        self.sent += 1
        return SendResult(OutboxStatus.SENT)


def letters(index: int) -> str:
    """A name part made of letters only (names with digits are refused, rightly)."""
    syllables = ["ba", "di", "ku", "ma", "ni", "ra", "sa", "ti", "wa", "yu"]
    return "".join(syllables[int(d)] for d in str(index)).capitalize()


def script(index: int) -> list[dict[str, object]]:
    """The events of one complete self-registration."""
    day = 1 + index % 28
    return [
        {"text": "halo"},
        {"choice": "consent:yes"},
        {"choice": "menu:registration"},
        {"choice": "for_whom:self"},
        {"text": f"Warga {letters(index)}"},
        {"text": f"367401{day + 40:02d}0885{index % 9999 + 1:04d}"},  # gives the birth date and sex too
        {"text": f"0812{index:08d}"},
        {"choice": "kecamatan:36.74.03"},
        {"choice": "kelurahan:36.74.03.1011"},
        {"text": "Jl. H. Sarmili RT 03/05"},
        {"text": "4"},
        {"text": "1 3"},
        {"text": "tidak"},
        {"text": "1 2"},
        {"choice": "aid_received:none"},
        {"choice": "summary:send"},
    ]


async def contact_run(service: Service, index: int, latencies: list[float], interval: float) -> None:
    """One person typing: a message, the reply, a pause of about `interval` s between sends."""
    contact = f"console:bench{index}"
    await asyncio.sleep(random.random() * max(interval, 0.2))  # arrivals spread over time
    asked = 0  # the hash of the question the last answer brought
    for number, step in enumerate(script(index)):
        sent_at = time.perf_counter()
        event = Inbound(
            contact=contact,
            at=service.engine.clock(),
            event_id=f"bench:{index}:{number}",
            text=step.get("text"),  # type: ignore[arg-type]
            choice=step.get("choice"),  # type: ignore[arg-type]
        )
        started = time.perf_counter()
        records = await service.receive(event)
        latencies.append(time.perf_counter() - started)
        COMPLETIONS.append(time.time())
        if not records:
            raise RuntimeError(f"contact {index} got no reply at step {number}")
        # Each answer must bring the next question: the same question again means the script answered
        # something the form did not ask (it is out of step with the form), and the run measures refusals.
        question = hash(records[-1].payload)
        if question == asked:
            raise RuntimeError(f"contact {index} was asked the same question again after step {number}")
        # Only that hash is kept: a person's phone does not hold the service's records through the pause
        # (kept, they would be a thousand people's worth for the collector).
        asked, records = question, []
        if interval:
            pause = interval * random.uniform(0.5, 1.5) - (time.perf_counter() - sent_at)
            await asyncio.sleep(max(0.0, pause))


if TYPE_CHECKING:  # psycopg and the cluster helper are loaded only for runs on PostgreSQL
    from tests import pg


class Databases:
    """Where each run's fresh PostgreSQL database comes from (None: runs use a SQLite file)."""

    def __init__(self, cluster: "pg.Cluster | None" = None, server_url: str | None = None) -> None:
        self.cluster = cluster
        self.server_url = server_url
        self._made = 0

    @contextmanager
    def fresh(self) -> Iterator[str]:
        """An empty database for one run, dropped after it."""
        if self.cluster is not None:
            url = self.cluster.create()
            try:
                yield url
            finally:
                self.cluster.drop(url)
            return
        import psycopg

        assert self.server_url is not None
        self._made += 1
        name = f"dinsos_bench_{self._made}"
        base, _, _ = self.server_url.rpartition("/")
        with psycopg.connect(self.server_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
            admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"{base}/{name}"
        finally:
            with psycopg.connect(self.server_url, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def store_url(databases: Databases | None) -> Iterator[str | None]:
    if databases is None:
        yield None
        return
    with databases.fresh() as url:
        yield url


def settings_for(
    data_dir: Path, secret_key: str, synchronous: str, url: str | None, writers: int
) -> Settings:
    return Settings(
        store=StoreSettings(
            data_dir=data_dir,
            secret_key=secret_key,
            sqlite_synchronous=synchronous,
            database_url=SecretStr(url) if url else None,
            database_writers=writers,
        ),
        service=ServiceSettings(),
    )


async def serve(service: Service, indices: range, interval: float) -> tuple[list[float], float]:
    """Every contact of `indices` registers on `service`: their latencies, and the CPU it took."""
    latencies: list[float] = []
    cpu_before = time.process_time()
    people = [asyncio.create_task(contact_run(service, i, latencies, interval)) for i in indices]
    try:
        await asyncio.gather(*people)
    except BaseException:  # one person's script failed: the others stop too, and the run fails
        for person in people:
            person.cancel()
        await asyncio.gather(*people, return_exceptions=True)
        raise
    return latencies, time.process_time() - cpu_before


async def replica_main(args: argparse.Namespace) -> dict[str, object]:
    """One of `--replicas` processes: build the service, say ready, start at the time given on stdin,
    serve contacts i with i mod R == index; its figures."""
    count, index = args.replica
    with tempfile.TemporaryDirectory() as tmp:
        key = os.environ["BENCH_SECRET_KEY"]
        settings = settings_for(Path(tmp), key, args.synchronous, args.replica_url, args.writers)
        channel = CountingChannel()
        service = await build_service(settings, {"console": channel})
        started_up()  # as `python -m bot` does once started
        print("ready", flush=True)
        start_at = float(await asyncio.to_thread(sys.stdin.readline))
        await asyncio.sleep(max(0.0, start_at - time.time()))
        try:
            latencies, cpu = await serve(service, range(index, args.contacts, count), args.interval)
        finally:
            await service.close()
    return {"latencies": latencies, "completions": COMPLETIONS, "cpu": cpu, "sent": channel.sent}


def run_replicas(
    url: str, contacts: int, interval: float, synchronous: str, writers: int, replicas: int
) -> tuple[list[float], list[float], float, int, float]:
    """Run `replicas` service processes on one database; their merged latencies, completion times,
    summed CPU, replies delivered and wall time."""
    env = {**os.environ, "BENCH_SECRET_KEY": generate_key_text()}
    with tempfile.TemporaryDirectory() as tmp:
        outs = [Path(tmp) / f"replica{number}.json" for number in range(replicas)]
        workers = [
            subprocess.Popen(
                [sys.executable, __file__, "--contacts", str(contacts), "--interval", str(interval),
                 "--synchronous", synchronous, "--writers", str(writers), "--replica-url", url,
                 "--replica", str(replicas), str(number), "--replica-out", str(out)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=env,
                text=True,
            )
            for number, out in enumerate(outs)
        ]  # fmt: skip
        for worker in workers:
            assert worker.stdout is not None
            if worker.stdout.readline().strip() != "ready":
                raise SystemExit("a replica did not start")
        start_at = time.time() + 0.5
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write(f"{start_at}\n")
            worker.stdin.close()
        for worker in workers:
            if worker.wait() != 0:
                raise SystemExit("a replica failed")
        elapsed = time.time() - start_at
        latencies: list[float] = []
        COMPLETIONS.clear()
        cpu = 0.0
        sent = 0
        for out in outs:
            figures = json.loads(out.read_text())
            latencies += figures["latencies"]
            COMPLETIONS.extend(figures["completions"])
            cpu += figures["cpu"]
            sent += figures["sent"]
    return latencies, COMPLETIONS, cpu, sent, elapsed


# What each write a message waits for does, by the write function's name.
WRITE_KINDS = {
    "Engine._commit_turn": "conversation step committed (state, answers, replies sending)",
    "take": "reply marked sending by a write of its own",
    "_TakeResults": "replies' results recorded, many per write (not waited for)",
}


def time_writes(db: object) -> dict[str, list[float]]:
    """Time every write of `db` from submit until its awaiting coroutine can go on (the committed result
    is back on the event loop), by kind: the round trips a message's latency is made of."""
    trips: dict[str, list[float]] = {}
    submit = db.submit  # type: ignore[attr-defined]

    def timed(fn: Any, *, urgent: bool = False) -> "asyncio.Future[Any]":
        target = fn.func if isinstance(fn, partial) else fn
        name = getattr(target, "__qualname__", type(target).__qualname__).split(".<locals>")[0]
        label = WRITE_KINDS.get(name, "other writes")
        future: asyncio.Future[Any] = submit(fn, urgent=urgent)
        started = time.perf_counter()
        future.add_done_callback(lambda _: trips.setdefault(label, []).append(time.perf_counter() - started))
        return future

    db.submit = timed  # type: ignore[attr-defined]  # `write` goes through `submit`
    return trips


class CollectorPauses:
    """The cycle collector's passes during a run (each stops the event loop and the writer)."""

    def __init__(self) -> None:
        self.pauses: list[float] = []
        self._started = 0.0

    def __enter__(self) -> "CollectorPauses":
        gc.callbacks.append(self._seen)
        return self

    def __exit__(self, *_: object) -> None:
        gc.callbacks.remove(self._seen)

    def _seen(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses.append(time.perf_counter() - self._started)

    def summary(self) -> str:
        if not self.pauses:
            return "none"
        total, longest = sum(self.pauses) * 1000, max(self.pauses) * 1000
        return f"{len(self.pauses)} passes, {total:.0f} ms in all, the longest {longest:.1f} ms"


def print_round_trips(trips: dict[str, list[float]]) -> None:
    print("write round trips   submit -> committed result back on the loop (a message waits for its")
    print("                    step, and for the mark of a reply the step could not take)")
    for label in [*WRITE_KINDS.values(), "other writes"]:
        times = sorted(trips.get(label, []))
        if times:
            n = len(times)
            print(
                f"  {label:<62} {n:>6}  p50 {times[n // 2] * 1000:5.2f} ms  "
                f"p99 {times[min(n - 1, int(n * 0.99))] * 1000:6.2f} ms"
            )


async def count_rows(url: str) -> tuple[int, int]:
    """Cases stored and outbox rows not sent, read through the store after the replicas' run."""
    from storage.postgres import PostgresStore

    store = await PostgresStore.open(url)
    try:
        cases = await store.fetchval("SELECT COUNT(*) FROM cases")
        queued = await store.fetchval("SELECT COUNT(*) FROM outbox WHERE status != 'sent'")
    finally:
        await store.close()
    return int(cases), int(queued)


def machine_speed() -> float:
    """Milliseconds of CPU a fixed pure-Python loop takes now: the same machine runs 30-40 % slower at
    some hours than at others, so figures from different runs compare only with this beside them."""
    started = time.process_time()
    total = 0
    for number in range(2_000_000):
        total += number
    return (time.process_time() - started) * 1000


async def run_once(
    contacts: int,
    synchronous: str,
    interval: float,
    databases: Databases | None = None,
    writers: int = 1,
    replicas: int = 1,
) -> dict[str, float]:
    """One run on a fresh store: every contact registers; returns its figures (and prints them)."""
    COMPLETIONS.clear()
    trips: dict[str, list[float]] = {}
    speed = machine_speed()
    collector = CollectorPauses()
    with tempfile.TemporaryDirectory() as tmp, store_url(databases) as url:
        if replicas > 1:
            if url is None:
                raise SystemExit("--replicas needs PostgreSQL (--postgres or --database-url)")
            latencies, _, cpu, sent, elapsed = await asyncio.to_thread(
                run_replicas, url, contacts, interval, synchronous, writers, replicas
            )
            cases, queued = await count_rows(url)
        else:
            settings = settings_for(Path(tmp), generate_key_text(), synchronous, url, writers)
            channel = CountingChannel()
            service = await build_service(settings, {"console": channel})
            started_up()  # as `python -m bot` does once started
            trips = time_writes(service.db)
            started = time.perf_counter()
            try:
                with collector:
                    latencies, cpu = await serve(service, range(contacts), interval)
                elapsed = time.perf_counter() - started
                sent = channel.sent
                await service.dispatcher.recorded()  # the last replies' results, queued, are committed
                cases = await service.db.fetchval("SELECT COUNT(*) FROM cases")
                queued = await service.db.fetchval("SELECT COUNT(*) FROM outbox WHERE status != 'sent'")
            finally:
                await service.close()  # also when a contact's script failed: its threads would hold the run
    latencies.sort()
    count = len(latencies)
    done = sorted(COMPLETIONS)
    low, high = done[int(count * 0.1)], done[int(count * 0.9)]
    sustained = (0.8 * count) / (high - low)
    offered = contacts / interval if interval else float("nan")
    p99 = latencies[int(count * 0.99) - 1] * 1000
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if replicas > 1:
        rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"contacts            {contacts}")
    print(f"machine speed       {speed:.0f} ms for a fixed Python loop before the run (lower: faster)")
    if url is None:
        print(f"sqlite synchronous  {synchronous}")
    else:
        print(f"store               PostgreSQL {redacted(url)} (synchronous commit on, {writers} writer(s))")
        print(f"service processes   {replicas} (contact i served by process i mod {replicas})")
    print(f"send interval       {interval:.2f} s per contact (0 = as fast as replies come)")
    print(f"offered load        {offered:.0f} msgs/s (contacts / interval)")
    print(f"inbound messages    {count}")
    print(f"replies delivered   {sent}")
    print(f"cases created       {cases}  (unsent outbox rows: {queued})")
    print(f"wall time           {elapsed:.2f} s")
    print(f"throughput          {count / elapsed:.0f} msgs/s over the whole run")
    print(f"sustained           {sustained:.0f} msgs/s (middle 80% of messages, ramp-up excluded)")
    print(f"latency p50         {statistics.median(latencies) * 1000:.1f} ms")
    print(f"latency p99         {p99:.1f} ms")
    print(f"latency max         {latencies[-1] * 1000:.1f} ms")
    print(
        f"CPU per message     {cpu / count * 1000:.2f} ms (service process(es), all threads, "
        "simulated people included)"
    )
    print(f"peak RSS            {rss_mb:.0f} MB" + (" (largest process)" if replicas > 1 else ""))
    if replicas == 1:
        print(f"collector pauses    {collector.summary()}")
        print_round_trips(trips)
    if cases != contacts:
        raise SystemExit(f"FAILED: {contacts} registrations expected, {cases} cases stored")
    return {
        "offered": offered,
        "sustained": sustained,
        "p99": p99,
        "rss": rss_mb,
        "cpu": cpu / count * 1000,
        "speed": speed,
    }


async def capacity(
    contacts: int,
    synchronous: str,
    rates: list[float],
    target_ms: float,
    databases: Databases | None = None,
    writers: int = 1,
    replicas: int = 1,
) -> None:
    """Step the offered load up (each step a fresh store) until p99 passes `target_ms`; print the table
    and the capacity: the highest offered load whose p99 stayed within the target."""
    rows: list[dict[str, float]] = []
    for rate in sorted(rates):
        print(f"--- offered {rate:.0f} msgs/s")
        row = await run_once(contacts, synchronous, contacts / rate, databases, writers, replicas)
        rows.append(row)
        if row["p99"] > target_ms:
            break
    passed = [row["offered"] for row in rows if row["p99"] <= target_ms]
    print()
    header = f"{'offered msgs/s':>15} {'sustained':>10} {'p99 ms':>9} {'CPU ms/msg':>11} {'RSS MB':>7}"
    print(f"{header} {'speed':>6}")
    for row in rows:
        mark = "ok" if row["p99"] <= target_ms else "over"
        figures = f"{row['offered']:>15.0f} {row['sustained']:>10.0f} {row['p99']:>9.1f} {row['cpu']:>11.2f}"
        figures += f" {row['rss']:>7.0f} {row['speed']:>6.0f}"
        print(f"{figures}  {mark}")
    figure = f"{max(passed):.0f} msgs/s" if passed else f"below {min(rates):.0f} msgs/s"
    stepped = ", ".join(f"{row['offered']:.0f}" for row in rows)
    print(f"capacity at p99 <= {target_ms:.0f} ms: {figure} (offered loads stepped: {stepped} msgs/s)")
    print(f"peak RSS            {max(row['rss'] for row in rows):.0f} MB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--contacts", type=int, default=1000)
    parser.add_argument("--synchronous", choices=["NORMAL", "FULL"], default="FULL")
    parser.add_argument(
        "--interval",
        type=float,
        default=None,
        help="one run: mean seconds between one contact's messages (jittered 50-150%%); 0 = saturate",
    )
    parser.add_argument(
        "--rates",
        default="600,800,1000,1200",
        help="offered loads (msgs/s) to step through when no --interval is given",
    )
    parser.add_argument("--target-ms", type=float, default=25.0, help="the p99 a capacity must keep")
    parser.add_argument(
        "--postgres", action="store_true", help="run on a throwaway local PostgreSQL cluster (fsync on)"
    )
    parser.add_argument(
        "--database-url",
        help="run on this PostgreSQL server: a database per run is created beside this one and dropped",
    )
    parser.add_argument("--writers", type=int, default=1, help="PostgreSQL writer connections")
    parser.add_argument(
        "--replicas", type=int, default=1, help="service processes sharing the PostgreSQL database"
    )
    # How --replicas starts each of its processes (not for direct use).
    parser.add_argument("--replica", type=int, nargs=2, metavar=("COUNT", "INDEX"), help=argparse.SUPPRESS)
    parser.add_argument("--replica-url", help=argparse.SUPPRESS)
    parser.add_argument("--replica-out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.replica:
        Path(args.replica_out).write_text(json.dumps(asyncio.run(replica_main(args))))
        raise SystemExit(0)
    cluster = None
    if args.postgres:
        from tests import pg

        cluster = pg.Cluster.start(fsync=True)
    databases = Databases(cluster, args.database_url) if cluster or args.database_url else None
    try:
        if args.interval is not None:
            asyncio.run(
                run_once(
                    args.contacts, args.synchronous, args.interval, databases, args.writers, args.replicas
                )
            )
        else:
            rates = [float(rate) for rate in args.rates.split(",")]
            asyncio.run(
                capacity(
                    args.contacts,
                    args.synchronous,
                    rates,
                    args.target_ms,
                    databases,
                    args.writers,
                    args.replicas,
                )
            )
    finally:
        if cluster is not None:
            cluster.stop()
