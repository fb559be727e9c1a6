"""A stop always stops: a loop that waits for a wake-up with a timeout ends when it is cancelled, also
when the cancellation lands at the very moment it is woken.

Python 3.11's `asyncio.wait_for` loses a cancellation that arrives just as what it waits for is done:
a polling loop then never ends and a shutdown hangs (seen as tests stuck until their 300 s limit, and as
a service that does not stop on SIGTERM). The loops wait with `asyncio.timeout` instead."""

import asyncio
import random
from pathlib import Path

from tests.support import Clock, start_service

ATTEMPTS = 150


async def test_the_outbox_sender_stops_when_cancelled_whenever_the_cancel_lands(
    tmp_path: Path, clock: Clock
) -> None:
    service, _ = await start_service(tmp_path / "data", clock, outbox_poll_seconds=0.001)
    rng = random.Random(7)
    try:
        for attempt in range(ATTEMPTS):
            runner = asyncio.create_task(service.dispatcher.run())
            await asyncio.sleep(rng.uniform(0.0, 0.004))  # somewhere in its poll cycle
            # A wake-up (a row queued, a send finished) lands together with the stop.
            service.dispatcher.wake()
            await asyncio.sleep(0)
            runner.cancel()
            done, _ = await asyncio.wait({runner}, timeout=2)
            assert done, f"the sender did not stop after a cancel (attempt {attempt + 1})"
    finally:
        await service.close()
