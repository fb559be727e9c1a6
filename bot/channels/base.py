"""What a platform channel hands the composition root when it starts."""

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
