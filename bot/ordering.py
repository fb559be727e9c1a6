"""One contact's inbound events in the platform's order, whatever order their deliveries arrive in.

Webhooks are delivered concurrently and retried, so a person's second message can arrive before the
first. `OrderedLanes` sits in front of the per-contact lanes (`bot.engine.FairLanes`): each event waits
in its contact's buffer, ordered by the platform's own order (WhatsApp: the message timestamp, then the
order the deliveries were stored in; Telegram: `update_id`), and each turn of the contact's lane takes
the earliest event buffered at that moment. An event enters the lane only after a short hold (`hold`
seconds), so an earlier event delivered a little later still goes first; a caller that can tell no
earlier event is missing (Telegram's consecutive `update_id`) passes a hold of 0. An event that arrives
after a later one of its contact was already handled is handled at once (a conversation cannot be
rewound) and counted in `late`.

Memory stays bounded as in FairLanes: a contact keeps at most `backlog` events in memory; beyond that
only their order and a token are kept, and `reload` reads the event back from the store on its turn.
"""

import asyncio
import contextlib
import heapq
import itertools
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from bot.engine import FairLanes, Job, OnFlood

log = logging.getLogger(__name__)

ReloadEvent = Callable[[object], Awaitable[Job | None]]
_REMEMBERED = 10_000  # contacts whose last handled order is kept (to notice late events)


class AckFirst:
    """Webhook acknowledgements before processing, so they stay fast under overload.

    A webhook is answered once its body is stored; handling it (the conversation step, the replies)
    costs far more of the one event loop. When deliveries come faster than they can be handled, the
    loop would share its time between both and every acknowledgement would wait behind the handling:
    the platform then retries, and the backlog grows. So while a webhook is being received
    (`receiving`), new handling work waits (`turn`) until no delivery is in progress, up to `max_wait`
    seconds, so handling still moves on when deliveries never stop. Nothing is dropped: what waits is
    already stored, and the backlog is handled as soon as the deliveries leave room.
    """

    def __init__(self, max_wait: float = 0.2) -> None:
        self.max_wait = max_wait
        self._receiving = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self.waited = 0  # turns that gave way to a delivery

    @contextlib.contextmanager
    def receiving(self) -> Iterator[None]:
        """Around the receipt of one webhook delivery (store, then answer)."""
        self._receiving += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._receiving -= 1
            if not self._receiving:
                self._idle.set()

    async def turn(self) -> None:
        """Before a unit of handling work: give way to deliveries being received."""
        if self._receiving:
            self.waited += 1
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.max_wait):
                    await self._idle.wait()


@dataclass(order=True, slots=True)
class _Held:
    order: tuple[Any, ...]
    seq: int
    token: object = field(compare=False)
    job: Job | None = field(compare=False)  # None: read back with `reload` when its turn comes


class OrderedLanes:
    """Per-contact buffers in the platform's order in front of `FairLanes`."""

    def __init__(
        self,
        concurrency: int,
        *,
        hold: float,
        reload: ReloadEvent,
        backlog: int = 16,
        on_flood: OnFlood | None = None,
        name: str = "lane",
        acks: AckFirst | None = None,
    ) -> None:
        self.hold = hold
        self.acks = acks
        self.backlog = max(1, backlog)
        self._reload = reload
        self._name = name
        self.lanes = FairLanes(
            concurrency, backlog=backlog, reload=self._lane_reload, on_flood=on_flood, name=name
        )
        self._held: dict[Hashable, list[_Held]] = {}
        self._last: OrderedDict[Hashable, tuple[Any, ...]] = OrderedDict()
        self._seq = itertools.count()
        self._closed = False
        self.late = 0  # events handled after a later event of the same contact
        self.reordered = 0  # events handled before an event that had arrived earlier

    def submit(
        self, key: Hashable, order: tuple[Any, ...], job: Job, token: object, *, hold: float | None = None
    ) -> None:
        """Buffer `job` of contact `key` by its platform `order`; it enters the lane after `hold`
        seconds (default: the configured hold). `token` lets `reload` read it back after a flood."""
        held = self._held.setdefault(key, [])
        heapq.heappush(held, _Held(order, next(self._seq), token, job if len(held) < self.backlog else None))
        wait = self.hold if hold is None else hold
        if wait > 0:
            asyncio.get_running_loop().call_later(wait, self._enter, key, token)
        else:
            self._enter(key, token)

    def _enter(self, key: Hashable, token: object) -> None:
        if not self._closed:
            self.lanes.submit(key, partial(self._turn, key), token=token)

    async def _lane_reload(self, key: Hashable, token: object) -> Job | None:
        return partial(self._turn, key)  # a turn holds nothing itself: it takes the earliest event

    async def _turn(self, key: Hashable) -> None:
        """One turn of the contact's lane: the earliest event buffered now."""
        if self.acks is not None:
            await self.acks.turn()
        held = self._held.get(key)
        if not held:
            return
        arrived_first = min(h.seq for h in held)
        item = heapq.heappop(held)
        if item.seq != arrived_first:
            self.reordered += 1
        if not held:
            del self._held[key]
        last = self._last.get(key)
        if last is not None and item.order < last:
            self.late += 1
            log.info("a %s event arrived after a later one of the same person was handled", self._name)
        else:
            self._last[key] = item.order
            self._last.move_to_end(key)
            if len(self._last) > _REMEMBERED:
                self._last.popitem(last=False)
        job = item.job if item.job is not None else await self._reload(item.token)
        if job is not None:
            await job()

    @property
    def pending(self) -> int:
        """Events buffered or queued, not yet handled."""
        return sum(len(held) for held in self._held.values())

    @property
    def in_memory(self) -> int:
        """Buffered events held in memory (the others are tokens read back from the store)."""
        return sum(1 for held in self._held.values() for item in held if item.job is not None)

    def waiting(self, key: Hashable) -> int:
        """Events of one contact buffered (held or queued in its lane)."""
        return len(self._held.get(key, ()))

    async def wait_below(self, limit: int) -> None:
        """Back-pressure for a reader: wait until fewer than `limit` jobs are in the lanes' memory."""
        await self.lanes.wait_below(limit)

    async def close(self, grace: float = 0.0) -> None:
        """Stop: held events are dropped from memory (they are in the store and redone at the next
        start); running ones may finish within `grace` seconds."""
        self._closed = True
        await self.lanes.close(grace=grace)
