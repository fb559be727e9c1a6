"""What a platform channel hands the composition root when it starts, and what its sender shares."""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from starlette.routing import BaseRoute

from bot.outbox import Channel


@dataclass
class ChannelRuntime:
    """A started channel: its sender, its HTTP routes (webhooks), background tasks, and how to stop."""

    channel: Channel
    routes: list[BaseRoute] = field(default_factory=list)
    tasks: list[Coroutine[Any, Any, None]] = field(default_factory=list)
    stop: Callable[[], Awaitable[None]] | None = None


class InFlight:
    """A platform channel's requests being made (`with` around each), so that a closing channel waits
    for them before its HTTP client is shut."""

    def __init__(self) -> None:
        self.count = 0
        self._settled = asyncio.Event()
        self._settled.set()

    def __enter__(self) -> None:
        self.count += 1
        self._settled.clear()

    def __exit__(self, *exc_info: object) -> None:
        self.count -= 1
        if not self.count:
            self._settled.set()

    async def settle(self, seconds: float) -> None:
        """Return once no request is in flight, or after `seconds`."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._settled.wait()
