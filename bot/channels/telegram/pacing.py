"""Pacing for the Bot API limits: about 30 messages/s overall, about 1/s per chat, 20/min per group.

The global pacer spaces sends evenly with the generic cell rate algorithm (GCRA: a theoretical arrival
time advances by one interval per send; a send may start once the clock is within `burst` intervals of
it), and on top keeps a hard cap: never more than `rate` sends in any one-second window. The spacing
keeps the flow smooth (bunched requests arrive squeezed together, and Telegram counts arrivals); the
small burst makes up for short stalls (the outbox committing a batch); the window cap holds whatever
the burst.

It serves urgent sends (replies to someone who is chatting, staff messages) before bulk ones
(broadcasts, reminders), so a broadcast never makes a conversation wait behind it. Cosmetic calls (the
"chosen" edit under a pressed question, taking an old keyboard away) come last: they get a slot only
when nobody else is waiting for it, within a few seconds, or are skipped, so under load the whole
budget goes to messages people wait for.

After a 429 it pauses everyone for `retry_after`, halves its rate, and takes what it sent in the last
second, less 5%, as the limit it has met; it climbs back by a tenth of the setting per quiet second up
to that learnt limit, which itself creeps back up slowly (a tenth of a percent of the setting per quiet
second). So each 429 is answered by waiting, and a rate set too high settles just under the real limit.

The per-chat pacer is a GCRA too: one message per interval to each chat over time, with a burst that a
quick conversation may use (Telegram tolerates short bursts in a private chat; its per-chat limit is
about sustained sending). The bubbles of one reply are booked together, so they leave back to back and
arrive as one unit; bulk messages get no burst (at most one per interval to a chat).
"""

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from functools import partial


class Pacer:
    """At most `rate` starts in any second, evenly spaced, urgent waiters first, paused after a 429."""

    def __init__(self, rate: float, *, burst: int = 1, clock: Callable[[], float] | None = None) -> None:
        self.rate = rate
        self.current = rate
        self.ceiling = rate  # the limit learnt from 429 answers
        self.burst = max(1, burst)
        self._clock = clock
        self._tat = 0.0  # theoretical arrival time of the next send
        self._window: deque[float] = deque()  # start times of the sends of the last second
        self._paused_until = 0.0
        self._last_limited = 0.0
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._bulk: deque[asyncio.Future[None]] = deque()
        self._spare: deque[tuple[asyncio.Future[bool], float]] = deque()  # (waiter, deadline)
        self._pump: asyncio.Task[None] | None = None
        self._closed = False
        self.limited = 0  # 429 answers seen

    def _now(self) -> float:
        return self._clock() if self._clock else asyncio.get_running_loop().time()

    def _last_second(self, now: float) -> int:
        window = self._window
        while window and window[0] <= now - 1.0:
            window.popleft()
        return len(window)

    def _free_at(self, now: float) -> float:
        interval = 1.0 / self.current
        window = self._window
        full = window[0] + 1.0 if self._last_second(now) >= max(1, int(self.current)) else 0.0
        return max(self._tat - (self.burst - 1) * interval, full, self._paused_until)

    def _take(self, now: float) -> None:
        self._recover(now)
        self._tat = max(self._tat, now) + 1.0 / self.current
        self._window.append(now)

    def _recover(self, now: float) -> None:
        if self._last_limited and (self.current < self.rate or self.ceiling < self.rate):
            quiet = now - max(self._last_limited, self._paused_until)
            if quiet > 0:
                self.ceiling = min(self.rate, self.ceiling + self.rate * 0.001 * quiet)
                self.current = min(self.ceiling, self.current + self.rate * 0.1 * quiet)
                self._last_limited = now

    async def acquire(self, *, urgent: bool = True) -> None:
        """Wait for a slot."""
        if self._closed:
            return  # the caller sees that its channel is closing
        now = self._now()
        if not self._urgent and not self._bulk and now >= self._free_at(now):
            self._take(now)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        (self._urgent if urgent else self._bulk).append(future)
        self._start_pump()
        await future

    async def acquire_spare(self, wait: float) -> bool:
        """A slot nobody else is waiting for, within `wait` seconds; False (skip it) when there is none."""
        if self._closed:
            return False
        now = self._now()
        if not self._urgent and not self._bulk and not self._spare and now >= self._free_at(now):
            self._take(now)
            return True
        if wait <= 0:
            return False
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._spare.append((future, now + wait))
        self._start_pump()
        return await future

    def _start_pump(self) -> None:
        if self._pump is None or self._pump.done():
            self._pump = asyncio.create_task(self._run(), name="telegram-pacer")

    def limited_for(self, seconds: float) -> None:
        """The Bot API answered 429: pause everyone for `seconds` and slow down."""
        now = self._now()
        self.limited += 1
        if now >= self._paused_until:  # the other in-flight sends' 429s belong to the same burst
            floor = self.rate / 16
            met = self._last_second(now)
            if met >= 10:  # a real flow met the limit (not one chat flooded by a few messages)
                self.ceiling = max(floor, min(self.ceiling, met * 0.95))
            self.current = max(floor, min(self.current / 2, self.ceiling))
        self._paused_until = max(self._paused_until, now + seconds)
        self._last_limited = now

    def _next_waiter(self) -> Callable[[], None] | None:
        """How to wake the next waiter (urgent, then bulk, then cosmetic), None when nobody waits."""
        for queue in (self._urgent, self._bulk):
            while queue:
                future = queue.popleft()
                if not future.done():  # a cancelled waiter gave up its place
                    return partial(future.set_result, None)
        while self._spare:
            spare, _ = self._spare.popleft()
            if not spare.done():
                return partial(spare.set_result, True)
        return None

    def _expire_spare(self, now: float) -> None:
        """Cosmetic waiters past their deadline are told to skip."""
        while self._spare and (self._spare[0][1] <= now or self._spare[0][0].done()):
            future, _ = self._spare.popleft()
            if not future.done():
                future.set_result(False)

    async def _run(self) -> None:
        while self._urgent or self._bulk or self._spare:
            now = self._now()
            self._expire_spare(now)
            wait = self._free_at(now) - now
            if wait > 0:
                if not self._urgent and not self._bulk and self._spare:
                    wait = min(wait, max(0.0, self._spare[0][1] - now))  # wake to expire the oldest
                # A 429 meanwhile only moves the schedule later: it is read again on waking.
                await asyncio.sleep(wait)
                continue
            wake = self._next_waiter()
            if wake is None:
                break
            self._take(now)
            wake()
            # Let the woken sender run before the next slot is handed out.
            await asyncio.sleep(0)

    async def close(self) -> None:
        """Stop pacing: waiters are let go at once (their channel tells them it is closing)."""
        self._closed = True
        for queue in (self._urgent, self._bulk):
            while queue:
                future = queue.popleft()
                if not future.done():
                    future.set_result(None)
        while self._spare:
            spare, _ = self._spare.popleft()
            if not spare.done():
                spare.set_result(False)
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump


class ChatPacer:
    """One send per `interval` seconds to each chat over time, with bursts of up to `burst`."""

    def __init__(self, interval: float, *, burst: int = 1, clock: Callable[[], float] | None = None) -> None:
        self.interval = interval
        self.burst = max(1, burst)
        self._clock = clock
        self._tat: dict[int, float] = {}

    def _now(self) -> float:
        return self._clock() if self._clock else asyncio.get_running_loop().time()

    def reserve(self, chat_id: int, count: int = 1, *, burst: int | None = None) -> float:
        """Book `count` slots in a row for the chat; return how many seconds to wait for the first.

        `burst` (default: the pacer's) is how far ahead of the steady pace the chat may be.
        """
        if self.interval <= 0:
            return 0.0
        allowed = max(count, burst if burst is not None else self.burst)
        now = self._now()
        tat = max(self._tat.get(chat_id, now), now)
        start = max(now, tat + (count - allowed) * self.interval)
        self._tat[chat_id] = max(tat, start) + count * self.interval
        if len(self._tat) > 50_000:
            self._tat = {chat: t for chat, t in self._tat.items() if t > now}
        return start - now

    async def acquire(self, chat_id: int, count: int = 1, *, burst: int | None = None) -> None:
        """Wait for the chat's next `count` slots."""
        wait = self.reserve(chat_id, count, burst=burst)
        if wait > 0:
            await asyncio.sleep(wait)
