"""Benchmark: a broadcast killed -9 midway, on Telegram and WhatsApp, at the default settings.

For each platform the fake (tests/fake_telegram.py, tests/fake_graph.py on 127.0.0.1, no idempotency,
a rate limit answered with 429 / 130429 at the configured rate, 20-30 ms per call) receives a broadcast
to N recipients from the real service (`python -m bot run`). The service is killed -9 once about half
have arrived, and restarted. Prints the rows left in doubt (`sending` at the kill) against the in-flight
bound (`--in-flight`, default 8, given to the service as DINSOS_OUTBOX_IN_FLIGHT), the people who
never got it, duplicates, and the pacing of the restarted service against the configured rate
(Telegram 30/s, WhatsApp 80/s).

    python bench/broadcast_crash.py --recipients 300
    python bench/broadcast_crash.py --recipients 300 --in-flight 4
"""

import argparse
import asyncio
import signal
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.test_crash_platforms import PLATFORMS, exited, prepare, start, statuses, until  # noqa: E402

RATES = {"telegram": 30.0, "whatsapp": 80.0}  # the settings' defaults


async def run(scheme: str, recipients: int, in_flight: int) -> None:
    rate = RATES[scheme]
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        broadcast_id = await prepare(data_dir, scheme, recipients)
        async with PLATFORMS[scheme](rate) as platform:
            with (Path(tmp) / "service.log").open("ab") as log:
                first = start(data_dir, platform, log, in_flight)
                if not await until(lambda: len(platform.recipients()) >= recipients // 2, 120):
                    raise SystemExit(f"{scheme}: the broadcast did not start")
                first.send_signal(signal.SIGKILL)
                await exited(first, 20)
                at_kill = len(platform.recipients())
                in_doubt = (await statuses(data_dir, broadcast_id)).get("sending", 0)
                second = start(data_dir, platform, log, in_flight)
                await until(lambda: len(set(platform.recipients())) >= recipients - in_doubt, 120)
                await asyncio.sleep(1.0)  # anything sent twice would arrive now
                second.send_signal(signal.SIGTERM)
                await exited(second, 30)
            received = Counter(platform.recipients())
            after = sorted(platform.times()[at_kill:])
            limited = platform.limited()
        final = await statuses(data_dir, broadcast_id)
    achieved = (len(after) - 1) / (after[-1] - after[0]) if len(after) > 1 else 0.0
    print(
        f"{scheme}: {recipients} recipients, killed -9 after {at_kill}: in doubt {in_doubt} "
        f"(bound {in_flight}), never got it {recipients - len(received)}, "
        f"duplicates {sum(n - 1 for n in received.values())}; final {final}"
    )
    print(
        f"{scheme}: after the restart {len(after)} sent at {achieved:.1f}/s = {achieved / rate:.3f} of the "
        f"configured {rate:.0f}/s; rate-limit answers {limited}"
    )


async def main(recipients: int, in_flight: int) -> None:
    for scheme in PLATFORMS:
        await run(scheme, recipients, in_flight)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipients", type=int, default=300)
    parser.add_argument("--in-flight", type=int, default=8)
    args = parser.parse_args()
    asyncio.run(main(args.recipients, args.in_flight))
