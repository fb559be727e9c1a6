"""Group commit, shared by both backends' writer threads.

Write functions are queued (`WriteQueue.submit`) and run on writer thread(s) (`WriteQueue.serve`). A
writer takes every job waiting (up to `MAX_BATCH`), runs them in one transaction and commits once, so
many conversations share one commit while each job stays atomic: if the batch fails it is rolled back
and each job is run again in a transaction of its own, so a bad job fails alone. Urgent jobs
(`submit(..., urgent=True)`: a webhook body stored before its acknowledgement) do not wait behind the
queue: the batch being gathered is committed and the urgent ones go next, in a batch of their own; a
batch already running stops at the next job once it has run `URGENT_WAIT_SECONDS`, commits what ran, and
its other jobs follow right after the urgent batch (so an acknowledgement never waits for a whole batch).
Results go back to each event loop with one wake-up per batch (not one per job).

Under load a writer gathers a little longer (`GATHER_SECONDS`, as PostgreSQL's `commit_delay`): when the
last batch held more than one job, others are surely on their way, and waiting a millisecond for them
turns several commits (each a disk flush, the writer's largest cost) into one. A lone write (a quiet
service, a test) never waits; an urgent job ends the wait at once.

What differs between backends is how a transaction begins, commits and rolls back: the writer is given
a `Transaction`, a context manager factory that begins a transaction and gives the `Tx` the jobs run
against, commits when the block ends and rolls back when it raises.
"""

import asyncio
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
# A write function: of a `storage.contract.Tx`. Typed loosely so functions still written against
# `sqlite3.Connection` and those written against `Tx` are both accepted.
WriteFn = Callable[[Any], T]
# Begins a transaction and yields the Tx the jobs run against; commits at the end, rolls back on error.
Transaction = Callable[[], AbstractContextManager[Any]]
# Whether an error means the connection itself is gone (then the batch's jobs fail with it at once,
# rather than each trying again alone on a dead connection).
Lost = Callable[[BaseException], bool]

MAX_BATCH = 256
# A batch of ordinary jobs that has run this long stops at the next job once urgent work waits: it
# commits what ran, the urgent batch goes, and the rest of the batch follows first thing after it.
URGENT_WAIT_SECONDS = 0.005
GATHER_SECONDS = 0.001


@dataclass(slots=True)
class Job:
    """One queued write function and where its result goes."""

    fn: WriteFn[Any]
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop


Outcome = tuple[Job, bool, Any]


def _settle(outcomes: list[Outcome]) -> None:
    """On the loop: hand each job its result (or exception)."""
    for job, ok, value in outcomes:
        if job.future.done():
            continue
        if ok:
            job.future.set_result(value)
        else:
            job.future.set_exception(value)


def resolve_all(outcomes: list[Outcome]) -> None:
    """Hand a batch's results back with one wake-up of each loop (not one per job)."""
    by_loop: dict[asyncio.AbstractEventLoop, list[Outcome]] = {}
    for outcome in outcomes:
        by_loop.setdefault(outcome[0].loop, []).append(outcome)
    for loop, items in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle, items)
        except RuntimeError:  # that loop is closed: nobody waits for these results any more
            log.debug("results for a closed event loop dropped")


def _never_lost(error: BaseException) -> bool:
    return False


class WriteQueue:
    """The jobs waiting for a writer, and the writer's loop (one or more threads may serve it)."""

    def __init__(self, *, gather: float = GATHER_SECONDS) -> None:
        self.gather = gather  # how long a writer under load waits for more jobs before it commits
        self._queue: queue.SimpleQueue[Job | bool | None] = queue.SimpleQueue()  # True: wake up
        self._urgent: deque[Job] = deque()
        self._urgent_lock = threading.Lock()

    def submit(self, fn: WriteFn[T], *, urgent: bool = False) -> "asyncio.Future[T]":
        """Queue `fn` (an `urgent` one goes before every job not yet begun); the future resolves with
        its result once committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        if urgent:
            with self._urgent_lock:
                self._urgent.append(Job(fn, future, loop))
            self._queue.put(True)  # wakes a writer if all wait
        else:
            self._queue.put(Job(fn, future, loop))
        return future

    def stop(self, writers: int = 1) -> None:
        """Ask `writers` serving threads to finish what is queued and return."""
        for _ in range(writers):
            self._queue.put(None)

    def _take_urgent(self) -> list[Job]:
        with self._urgent_lock:
            taken: list[Job] = []
            while self._urgent and len(taken) < MAX_BATCH:
                taken.append(self._urgent.popleft())
            return taken

    def serve(self, transaction: Transaction, lost: Lost = _never_lost) -> None:
        """Run queued jobs in group-committed batches until `stop`; on the writer's own thread."""
        running = True
        left: list[Job] = []  # the rest of a batch cut short for urgent work: they go next, in order
        busy = False  # the last batch held more than one job: more are on their way
        while running or left:
            urgent = self._take_urgent()
            if urgent:
                run_batch(transaction, urgent, lost)
                continue
            batch, left = left, []
            if not batch:
                first = self._queue.get()
                if first is None:
                    break
                batch = [first] if isinstance(first, Job) else []
            deadline = time.monotonic() + self.gather if busy else 0.0
            while running and len(batch) < MAX_BATCH and not self._urgent:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    try:
                        job = self._queue.get(timeout=remaining)
                    except queue.Empty:
                        break
                if job is None:
                    running = False
                    break
                if isinstance(job, Job):
                    batch.append(job)
            busy = len(batch) > 1
            if batch:
                left = run_batch(transaction, batch, lost, self._urgent_waits)
        while urgent := self._take_urgent():  # closing: what was queued still commits
            run_batch(transaction, urgent, lost)

    def _urgent_waits(self) -> bool:
        return bool(self._urgent)


def run_batch(
    transaction: Transaction,
    batch: list[Job],
    lost: Lost = _never_lost,
    urgent_waits: Callable[[], bool] | None = None,
) -> list[Job]:
    """Run `batch` in one transaction; if it fails, each job again alone (a bad job fails alone;
    then every job of the batch is settled here).

    With `urgent_waits`: once the batch has run `URGENT_WAIT_SECONDS` and urgent work waits, it stops
    before the next job and commits what ran; the jobs not run are returned (to go right after)."""
    results: list[Outcome] = []
    started = time.perf_counter()
    try:
        with transaction() as tx:
            for job in batch:
                if (
                    results
                    and urgent_waits is not None
                    and time.perf_counter() - started >= URGENT_WAIT_SECONDS
                    and urgent_waits()
                ):
                    break
                results.append((job, True, job.fn(tx)))
    except Exception as exc:
        if len(batch) == 1 or lost(exc):  # its error is the job's own, or nothing can run now
            resolve_all([(job, False, exc) for job in batch])
            return []
        resolve_all([run_alone(transaction, job) for job in batch])
        return []
    resolve_all(results)
    return batch[len(results) :]


def run_alone(transaction: Transaction, job: Job) -> Outcome:
    """Run one job in a transaction of its own."""
    try:
        with transaction() as tx:
            value = job.fn(tx)
    except Exception as exc:
        return (job, False, exc)
    return (job, True, value)
