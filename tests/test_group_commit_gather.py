"""Group commit under load (`storage.group_commit`): the writer gathers a little longer so concurrent
writes share a disk flush; a lone write never waits, and an urgent one ends the wait."""

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

from storage.group_commit import WriteQueue


class Transactions:
    """A stand-in for a backend's transaction: counts commits and which jobs each held."""

    def __init__(self) -> None:
        self.commits: list[list[str]] = []
        self._current: list[str] = []

    @contextmanager
    def transaction(self) -> Iterator["Transactions"]:
        self._current = []
        yield self
        self.commits.append(self._current)

    def write(self, name: str) -> str:
        self._current.append(name)
        return name


@asynccontextmanager
async def serving(writes: WriteQueue, transactions: Transactions) -> AsyncIterator[None]:
    """A writer thread serving `writes` for the duration of the block."""
    writer = threading.Thread(target=writes.serve, args=(transactions.transaction,), daemon=True)
    writer.start()
    try:
        yield
    finally:
        writes.stop()
        await asyncio.to_thread(writer.join)


async def test_writes_arriving_while_the_writer_is_busy_share_one_commit() -> None:
    writes, tx = WriteQueue(gather=0.3), Transactions()
    async with serving(writes, tx):
        # Two writes at once: a busy moment. The next writes, a little apart, are gathered into one
        # commit instead of one commit each.
        await asyncio.gather(writes.submit(lambda t: t.write("a")), writes.submit(lambda t: t.write("b")))
        first = writes.submit(lambda t: t.write("c"))
        await asyncio.sleep(0.05)
        second = writes.submit(lambda t: t.write("d"))
        assert list(await asyncio.gather(first, second)) == ["c", "d"]
        assert tx.commits[-1] == ["c", "d"]


async def test_a_lone_write_on_a_quiet_store_commits_at_once() -> None:
    writes, tx = WriteQueue(gather=2.0), Transactions()
    async with serving(writes, tx):
        await writes.submit(lambda t: t.write("a"))
        started = time.monotonic()
        assert await writes.submit(lambda t: t.write("b")) == "b"
        assert time.monotonic() - started < 1.0  # it did not wait for company
        assert tx.commits == [["a"], ["b"]]


async def test_an_urgent_write_ends_the_gathering_at_once() -> None:
    writes, tx = WriteQueue(gather=2.0), Transactions()
    async with serving(writes, tx):
        await asyncio.gather(writes.submit(lambda t: t.write("a")), writes.submit(lambda t: t.write("b")))
        ordinary = writes.submit(lambda t: t.write("c"))  # the writer now waits up to 2 s for more
        await asyncio.sleep(0.05)
        started = time.monotonic()
        assert await writes.submit(lambda t: t.write("urgent"), urgent=True) == "urgent"
        assert time.monotonic() - started < 1.0
        assert await ordinary == "c"
        assert ["urgent"] in tx.commits
