"""Stored deliveries another process left: with several processes on one store, each webhook body (or
polled update) is stored by the process that received it, and handled by that process. If it dies in
between (after the platform was told "received"), nobody else knows the body is there, and a restart of
that same process may never come. `Adoption` watches the bodies still waiting: one still waiting a full
check later and never taken by this process is taken over.

A body its own process is still handling (a long backlog) may then be handled by both, which changes
nothing: the store records each message or update id in the same transaction as its effects, so the
second handling finds it done and sends nothing.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class Adoption:
    """Which stored bodies this process took, and a watch that takes over the others' leftovers."""

    def __init__(
        self,
        what: str,
        waiting: Callable[[], Awaitable[set[int]]],
        adopt: Callable[[set[int]], Awaitable[int]],
    ) -> None:
        self.what = what  # for the log: "WhatsApp webhooks", "Telegram updates"
        self._waiting = waiting  # ids of every stored body not yet handled, whoever stored it
        self._adopt = adopt  # queue these ids here; return how many were queued
        self._taken: set[int] = set()

    def took(self, inbox_id: int) -> None:
        """This process is handling the body `inbox_id`."""
        self._taken.add(inbox_id)

    async def check(self, seen_before: set[int]) -> set[int]:
        """One check: take over the bodies waiting now that were already waiting, untaken, at the check
        before (`seen_before`); return the untaken bodies waiting now, for the next check."""
        now_waiting = await self._waiting()
        self._taken &= now_waiting  # forget what is finished
        orphans = (seen_before & now_waiting) - self._taken
        if orphans:
            taken = await self._adopt(orphans)
            if taken:
                log.warning("%d %s another process stored were taken over", taken, self.what)
        return now_waiting - self._taken

    async def run(self, every: float) -> None:
        """Check every `every` seconds until cancelled (a body is taken over 1-2 periods after it was
        stored unhandled)."""
        seen: set[int] = set()
        while True:
            await asyncio.sleep(every)
            try:
                seen = await self.check(seen)
            except Exception:
                log.exception("stored %s of other processes could not be checked", self.what)
