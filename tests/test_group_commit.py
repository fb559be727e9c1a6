"""Group commit: an urgent write (a webhook body stored before its acknowledgement) is not held behind a
large batch of ordinary writes already running; the ordinary writes still commit, each once, in order."""

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from storage.group_commit import URGENT_WAIT_SECONDS, WriteQueue

ORDINARY = 200
WAIT = 20.0  # seconds at most for anything here (each step takes milliseconds)


class Recorder:
    """A transaction that records what each commit held."""

    def __init__(self) -> None:
        self.commits: list[list[str]] = []
        self._open: list[str] | None = None

    @contextmanager
    def transaction(self) -> Iterator["Recorder"]:
        self._open = []
        yield self
        self.commits.append(self._open)
        self._open = None

    def run(self, name: str) -> str:
        assert self._open is not None
        self._open.append(name)
        return name


def ordinary(name: str) -> Callable[[Any], str]:
    def write(tx: Any) -> str:
        return str(tx.run(name))

    return write


async def test_an_urgent_write_goes_before_the_rest_of_a_running_batch() -> None:
    writes = WriteQueue()
    recorder = Recorder()
    running, urgent_queued = threading.Event(), threading.Event()

    def first(tx: Any) -> str:  # the batch is running when the urgent write arrives
        running.set()
        assert urgent_queued.wait(WAIT)
        time.sleep(URGENT_WAIT_SECONDS * 2)
        return str(tx.run("o0"))

    futures = [writes.submit(first)]
    futures += [writes.submit(ordinary(f"o{n}")) for n in range(1, ORDINARY)]
    writer = threading.Thread(target=writes.serve, args=(recorder.transaction,))
    writer.start()
    try:
        assert await asyncio.to_thread(running.wait, WAIT)
        stored = writes.submit(lambda tx: tx.run("urgent"), urgent=True)
        urgent_queued.set()
        assert await asyncio.wait_for(stored, WAIT) == "urgent"
        results = await asyncio.wait_for(asyncio.gather(*futures), WAIT)
    finally:
        writes.stop()
        await asyncio.to_thread(writer.join, WAIT)
    # The urgent write committed right after the one job running when it came, not after all 200.
    assert recorder.commits[0] == ["o0"]
    assert recorder.commits[1] == ["urgent"]
    # The ordinary writes all committed once, in the order they were queued.
    assert [name for commit in recorder.commits if commit != ["urgent"] for name in commit] == results
    assert results == [f"o{n}" for n in range(ORDINARY)]


async def test_without_urgent_work_a_batch_takes_every_job_waiting() -> None:
    writes = WriteQueue()
    recorder = Recorder()
    futures = [writes.submit(ordinary(f"o{n}")) for n in range(ORDINARY)]
    writer = threading.Thread(target=writes.serve, args=(recorder.transaction,))
    writer.start()
    try:
        await asyncio.wait_for(asyncio.gather(*futures), WAIT)
    finally:
        writes.stop()
        await asyncio.to_thread(writer.join, WAIT)
    assert recorder.commits == [[f"o{n}" for n in range(ORDINARY)]]
