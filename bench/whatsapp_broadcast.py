"""Benchmark: a WhatsApp broadcast at Meta's throughput limit, against a fake that enforces it strictly.

The real service (`python -m bot run`) sends a broadcast to N people through the fake Graph API
(tests/fake_graph.py on 127.0.0.1), which allows `--rate` requests in any sliding second (refused ones
counted too) and answers 130429 beyond, with `--latency-ms` per request; the service's own setting is the
same rate. Prints, per run: the refusals (130429 in all and after the first second), rows failed, people
reached, the most requests in any sliding second, and the delivery rate as a fraction of the limit
(first to last message).

    python bench/whatsapp_broadcast.py                       # 2,000 people at 80/s, 3 runs
    python bench/whatsapp_broadcast.py --recipients 500 --rate 80 --runs 1
"""

import argparse
import asyncio
import os
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.settings import ServiceSettings  # noqa: E402
from tests.test_crash_platforms import exited, prepare, start, statuses, until, whatsapp  # noqa: E402
from tests.test_whatsapp_pacing import most_in_any_second  # noqa: E402


async def run(recipients: int, rate: float, latency: float, in_flight: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        broadcast_id = await prepare(data_dir, "whatsapp", recipients)
        async with whatsapp(rate, latency=latency) as platform:
            with (Path(tmp) / "service.log").open("ab") as log:
                service = start(data_dir, platform, log, in_flight)
                began = time.monotonic()
                try:
                    await until(
                        lambda: len(set(platform.recipients())) >= recipients, recipients / rate * 3 + 60
                    )
                    await until(lambda: False, 0.5)  # anything sent twice arrives now
                finally:
                    service.send_signal(signal.SIGTERM)
                    await exited(service, 30)
            times = sorted(platform.times())
            refusals = platform.refusals()
            received = Counter(platform.recipients())
        final = await statuses(data_dir, broadcast_id)
    late = [at for at in refusals if times and at > times[0] + 1.0]
    achieved = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0
    figures = {
        "reached": len(received),
        "duplicates": sum(n - 1 for n in received.values()),
        "failed": final.get("failed", 0),
        "refused": len(refusals),
        "refused_late": len(late),
        "most_in_1s": most_in_any_second(times) if times else 0,
        "ratio": achieved / rate,
        "wall": time.monotonic() - began,
    }
    print(
        f"  {recipients} people at {rate:g}/s: reached {figures['reached']}, failed {figures['failed']}, "
        f"duplicates {figures['duplicates']}, 130429 refusals {figures['refused']} "
        f"({figures['refused_late']} after the first second), most in any sliding second "
        f"{figures['most_in_1s']}, delivery {achieved:.1f}/s = {figures['ratio']:.3f} of the limit; "
        f"final rows {final}",
        flush=True,
    )
    return figures


async def main(args: argparse.Namespace) -> None:
    print(
        f"command  python bench/whatsapp_broadcast.py --recipients {args.recipients} --rate {args.rate:g} "
        f"--latency-ms {args.latency_ms:g} --in-flight {args.in_flight} --runs {args.runs}"
    )
    print(f"machine  {os.cpu_count()} CPUs; service and fake Graph API in 2 processes")
    results = [
        await run(args.recipients, args.rate, args.latency_ms / 1000, args.in_flight)
        for _ in range(args.runs)
    ]
    ratios = [r["ratio"] for r in results]
    print(
        f"summary  delivery ratio median {statistics.median(ratios):.3f} (min {min(ratios):.3f}), "
        f"failed {sum(r['failed'] for r in results)}, refusals {sum(r['refused'] for r in results)} "
        f"({sum(r['refused_late'] for r in results)} after the first second)"
    )
    ok = all(
        r["failed"] == 0 and r["reached"] == args.recipients and r["ratio"] >= 0.95 and r["refused_late"] == 0
        for r in results
    )
    print("OK" if ok else "FAILED: a run lost, refused late or delivered under 0.95 of the limit")
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipients", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=80.0, help="the fake's limit and the service's setting")
    parser.add_argument("--latency-ms", type=float, default=30.0, help="the fake's answer time per request")
    parser.add_argument(
        "--in-flight",
        type=int,
        default=ServiceSettings.model_fields["outbox_in_flight"].default,
        help="DINSOS_OUTBOX_IN_FLIGHT (default: the service's own)",
    )
    parser.add_argument("--runs", type=int, default=3)
    asyncio.run(main(parser.parse_args()))
