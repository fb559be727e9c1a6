"""This process among the others serving the same database.

On SQLite one process owns the store (the `service.lock` file lock): it is alone, so it plays every role
and writes no leases. On PostgreSQL several processes (replicas behind a load balancer) share it; each
holds a lease of its own while it lives (`replica:<host>:<pid>:<token>`, the name its outbox claims carry),
and what only one of them may do belongs to the holder of a named lease:

- `outreach`: ticking the outreach scheduler (broadcasts, reminders, nudges, the history prune);
- `telegram-poller`: polling Telegram's getUpdates (the Bot API allows one consumer);
- `telegram-staff-poster`: posting new-case cards and citizens' messages in the staff group (each once).

Every lease is renewed every `lease_renew_seconds` and lasts `lease_seconds`: when its holder dies,
another process takes it within `lease_seconds + lease_renew_seconds`. A holder counts a lease as its
own only until the expiry it wrote, measured from before the write on its own monotonic clock, so it
stops acting before anyone else may start.
"""

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial

from storage import leases
from storage.contract import Store

log = logging.getLogger(__name__)

OUTREACH = "outreach"
TELEGRAM_POLLER = "telegram-poller"
STAFF_POSTER = "telegram-staff-poster"


def replica_name() -> str:
    """A name for this process, unique among the processes sharing a database, past and present."""
    host = socket.gethostname().split(".", 1)[0][:40]
    return f"{leases.REPLICA_PREFIX}{host}:{os.getpid()}:{secrets.token_hex(4)}"


class LeaseKeeper:
    """One named lease this process tries to hold (and renews while it does)."""

    def __init__(
        self,
        db: Store,
        name: str,
        holder: str,
        *,
        clock: Callable[[], datetime],
        ttl: timedelta,
    ) -> None:
        self.db = db
        self.name = name
        self.holder = holder
        self.clock = clock
        self.ttl = ttl
        self._until = 0.0  # monotonic time the lease is ours until (0: not ours)
        self._changed = asyncio.Event()

    @property
    def held(self) -> bool:
        """Whether this process holds the lease right now."""
        return time.monotonic() < self._until

    async def renew(self) -> bool:
        """Take or renew the lease; return whether it is ours."""
        started = time.monotonic()
        was = self.held
        try:
            ours = await self.db.write(
                partial(leases.acquire, name=self.name, holder=self.holder, at=self.clock(), ttl=self.ttl)
            )
        except Exception:
            log.exception("lease %s could not be renewed", self.name)
            ours = False
        self._until = started + self.ttl.total_seconds() if ours else 0.0
        if ours and not was:
            log.info("this process now holds the %s lease", self.name)
        elif was and not ours:
            log.warning("this process lost the %s lease", self.name)
        if ours:
            self._changed.set()
        return ours

    async def wait_held(self, poll: float) -> None:
        """Return once this process holds the lease (trying every `poll` seconds)."""
        while not self.held:
            self._changed.clear()
            if await self.renew():
                return
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(poll):
                    await self._changed.wait()

    async def release(self) -> None:
        """Give the lease up at once, so another process takes it without waiting for the expiry."""
        was = self._until > 0
        self._until = 0.0
        if was:
            with contextlib.suppress(Exception):
                await self.db.write(partial(leases.release, name=self.name, holder=self.holder))


class Replicas:
    """This process's own lease and the roles it may hold (see the module's text)."""

    def __init__(
        self,
        db: Store,
        *,
        clock: Callable[[], datetime],
        lease_seconds: float = 30.0,
        renew_seconds: float = 10.0,
        name: str | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.name = name or replica_name()
        self.shared = db.dialect != "sqlite"
        self.ttl = timedelta(seconds=lease_seconds)
        self.renew_seconds = min(renew_seconds, lease_seconds / 2)
        self.alive = LeaseKeeper(db, self.name, self.name, clock=clock, ttl=self.ttl)
        self._roles: dict[str, LeaseKeeper] = {}
        self._running: asyncio.Task[None] | None = None

    def role(self, role: str) -> LeaseKeeper:
        """The keeper of the role's lease (renewed by `run` from the first time it is asked for)."""
        keeper = self._roles.get(role)
        if keeper is None:
            keeper = self._roles[role] = LeaseKeeper(self.db, role, self.name, clock=self.clock, ttl=self.ttl)
        return keeper

    def holds(self, role: str) -> bool:
        """Whether this process may play `role` now (always, when it is alone on the store)."""
        return not self.shared or self.role(role).held

    async def take(self, role: str) -> bool:
        """Try to take `role` now (it is then renewed, or tried again, with the others); whether held."""
        if not self.shared:
            return True
        return await self.role(role).renew()

    async def wait_for(self, role: str) -> None:
        """Return once this process may play `role` (at once when it is alone on the store)."""
        if self.shared:
            await self.role(role).wait_held(self.renew_seconds)

    async def start(self) -> None:
        """Announce this process (its own lease) and keep its leases renewed in the background."""
        if not self.shared or self._running is not None:
            return
        await self.alive.renew()
        self._running = asyncio.create_task(self._renew_forever(), name="leases")

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self.renew_seconds)
            await self.alive.renew()
            for keeper in list(self._roles.values()):
                await keeper.renew()

    async def stop(self) -> None:
        """Stop renewing and give every lease up (the others take the roles at once)."""
        if self._running is not None:
            self._running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._running
            self._running = None
        for keeper in [*self._roles.values(), self.alive]:
            await keeper.release()
