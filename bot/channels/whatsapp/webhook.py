"""The WhatsApp webhook: verify, store, acknowledge at once; then process the stored bodies in the background.

POST order matters: the size is checked before the body is read whole, the signature over the raw bytes
before anything is parsed, and the body is committed (sealed) to `webhook_inbox` before the 200 goes out,
so Meta's retries are only needed when this service did not answer. Processing deduplicates by `wamid`
in the engine's own commit, so a body delivered three times is answered once.
"""

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from bot.adoption import Adoption
from bot.app import Service
from bot.channels.whatsapp import store
from bot.channels.whatsapp.payloads import IncomingMessage, ParsedWebhook, StatusUpdate, parse_webhook
from bot.channels.whatsapp.sender import WhatsAppChannel
from bot.engine import mark_flooding
from bot.ordering import OrderedLanes
from storage.contract import Store
from storage.crypto import BlobCipher

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "x-hub-signature-256"
# Held messages are sent when the person writes again, unless they are older than this (then stale).
HELD_RELEASE_WINDOW = timedelta(days=7)
_STATUS_RETRY_DELAYS = (1.0, 5.0, 30.0)


def signature_valid(secret: bytes, body: bytes, header: str | None) -> bool:
    """Whether `header` is `sha256=<hex HMAC-SHA256(secret, body)>`, compared in constant time."""
    if not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest().encode()
    return hmac.compare_digest(expected, header[len("sha256=") :].strip().lower().encode())


class TooLarge(Exception):
    """The request body is over the size limit."""


async def read_capped(request: Request, limit: int) -> bytes:
    """The request body, refusing (TooLarge) as soon as it passes `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        raise TooLarge
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise TooLarge
    return bytes(body)


@dataclass
class _Body:
    """A stored body being processed: parts (messages, statuses) left, and what failed."""

    left: int
    errors: set[str] = field(default_factory=set)


class InboxWorker:
    """Processes stored webhook bodies: messages to the engine, statuses to the outbox.

    Messages go into per-contact lanes (`OrderedLanes` over `FairLanes`): one person's messages in
    WhatsApp's order (timestamp, then the order the deliveries were stored in) after a short hold
    (`hold` seconds) that lets a late delivery of an earlier message go first; different people
    concurrently and in turn. A person who floods the number keeps only `backlog` messages in memory;
    the rest stay in the inbox and are read back when their turn comes.
    """

    def __init__(
        self,
        service: Service,
        channel: WhatsAppChannel,
        cipher: BlobCipher,
        *,
        concurrency: int,
        backlog: int = 16,
        hold: float = 0.0,
    ) -> None:
        self.service = service
        self.channel = channel
        self.cipher = cipher
        self.phone_number_id = channel.settings.phone_number_id
        self.queue: asyncio.Queue[tuple[int, dict[str, Any]]] = asyncio.Queue()
        self.lanes = OrderedLanes(
            concurrency,
            hold=hold,
            backlog=backlog,
            reload=self._reload,
            on_flood=partial(mark_flooding, service.db, channel.clock, "whatsapp"),
            name="WhatsApp",
            acks=service.acks,
        )
        self._bodies: dict[int, _Body] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.adoption = Adoption("WhatsApp webhooks", self._waiting, self._adopt)

    @property
    def db(self) -> Store:
        """The service's store."""
        return self.service.db

    def submit(self, inbox_id: int, body: dict[str, Any]) -> None:
        """Process a stored body soon."""
        self.adoption.took(inbox_id)
        self.queue.put_nowait((inbox_id, body))

    async def recover(self, only: set[int] | None = None) -> int:
        """Queue the bodies a previous run stored but did not finish (those of `only`, when given);
        return how many."""
        pending = [(i, blob) for i, blob in await store.pending_inbox(self.db) if only is None or i in only]
        for inbox_id, blob in pending:
            try:
                body = json.loads(self.cipher.open(blob))
            except Exception as error:  # a key change or a damaged row: keep it, say so, go on
                await self.db.write(
                    partial(store.fail_inbox, inbox_id=inbox_id, error=type(error).__name__, at=self.now())
                )
                log.error("stored WhatsApp webhook %d could not be read (%s)", inbox_id, type(error).__name__)
                continue
            self.submit(inbox_id, body)
        if pending:
            log.info("%d stored WhatsApp webhooks queued again after a restart", len(pending))
        return len(pending)

    async def _waiting(self) -> set[int]:
        return await store.pending_ids(self.db)

    async def _adopt(self, orphans: set[int]) -> int:
        return await self.recover(only=orphans)

    async def run(self) -> None:
        """Take stored bodies in arrival order until cancelled (and, when other processes share the store,
        take over the bodies a dead one left)."""
        if self.db.dialect != "sqlite":
            self._spawn(self.adoption.run(self.service.settings.service.lease_seconds))
        while True:
            inbox_id, body = await self.queue.get()
            try:
                self._dispatch(inbox_id, body)
            except Exception:
                log.exception("WhatsApp webhook %d could not be dispatched", inbox_id)
                self._bodies.pop(inbox_id, None)
                self.queue.task_done()

    async def drain(self) -> None:
        """Wait until every body submitted so far is processed (tests and benchmarks)."""
        await self.queue.join()

    async def stop(self) -> None:
        """Cancel work in progress; unfinished bodies stay stored and are redone at the next start."""
        await self.lanes.close(grace=10)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def now(self) -> datetime:
        """The service's clock."""
        return self.channel.clock()

    def _spawn(self, coro: Any) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _ours(self, phone_number_id: str | None) -> bool:
        return not self.phone_number_id or not phone_number_id or phone_number_id == self.phone_number_id

    def _dispatch(self, inbox_id: int, body: dict[str, Any]) -> None:
        parsed, poison = _parse_leniently(body)
        state = self._bodies[inbox_id] = _Body(left=1)  # one part for the dispatch itself
        if poison:
            # Set aside once, with its reason (not redone at every start); its healthy items go on.
            log.warning("WhatsApp webhook %d: %s; its other items are handled", inbox_id, poison)
            state.errors.add(poison)
        for index, message in enumerate(parsed.messages):
            if not self._ours(message.phone_number_id):
                log.info("ignored a WhatsApp message sent to another business number")
                continue
            state.left += 1
            self.lanes.submit(
                message.address,
                (message.at, inbox_id, index),
                partial(self._message, inbox_id, message),
                token=(inbox_id, index),
            )
        for status in parsed.statuses:
            if self._ours(status.phone_number_id):
                state.left += 1
                self._spawn(self._status_part(inbox_id, status))
        self._spawn(self._part_done(inbox_id, None))

    async def _reload(self, token: object) -> Callable[[], Awaitable[None]] | None:
        """A flooding contact's message, read back from the inbox when its turn comes."""
        assert isinstance(token, tuple)
        inbox_id, index = token
        blob = await store.inbox_body(self.db, inbox_id)
        message: IncomingMessage | None = None
        if blob is not None:
            try:
                message = _parse_leniently(json.loads(self.cipher.open(blob)))[0].messages[index]
            except Exception as error:  # a key change or a damaged row: keep it, say so, go on
                log.error("stored WhatsApp webhook %d could not be read (%s)", inbox_id, type(error).__name__)
        if message is None:
            await self._part_done(inbox_id, "unreadable")
            return None
        return partial(self._message, inbox_id, message)

    async def _part_done(self, inbox_id: int, error: str | None) -> None:
        state = self._bodies.get(inbox_id)
        if state is None:
            return
        if error:
            state.errors.add(error)
        state.left -= 1
        if state.left > 0:
            return
        del self._bodies[inbox_id]
        try:
            if state.errors:
                await self.db.write(
                    partial(
                        store.fail_inbox,
                        inbox_id=inbox_id,
                        error=", ".join(sorted(state.errors)),
                        at=self.now(),
                    )
                )
            else:
                await self.db.write(partial(store.finish_inbox, inbox_id=inbox_id))
        finally:
            self.queue.task_done()

    async def _status_part(self, inbox_id: int, status: StatusUpdate) -> None:
        error: str | None = None
        try:
            await self._status(status)
        except Exception as exc:
            log.exception("WhatsApp status could not be applied")
            error = type(exc).__name__
        await self._part_done(inbox_id, error)

    async def _message(self, inbox_id: int, message: IncomingMessage) -> None:
        error: str | None = None
        try:
            await self._handle(message)
        except Exception as exc:
            log.exception("WhatsApp message could not be handled")
            error = type(exc).__name__
        await self._part_done(inbox_id, error)

    async def _handle(self, message: IncomingMessage) -> None:
        known = await store.find_contact(self.db, message.address, message.other_address)
        contact_id = known.id if known else message.address
        media = None
        if message.media is not None:
            if await store.seen(self.db, message.event_id):
                return  # a redelivery: the file was fetched the first time
            media = await self.channel.download(message.media, self.now())
        await self.service.receive(message.to_inbound(contact=contact_id, media=media))
        # The address not used as the contact's id is remembered as its alternative (alt_id), so the
        # person is the same contact whichever id WhatsApp shows next time.
        other = next((a for a in (message.address, message.other_address) if a and a != contact_id), None)
        needs_link = other is not None and (known is None or known.alt_id is None)
        if needs_link or (known is not None and known.has_held):
            now = self.now()
            released = await self.db.write(
                partial(
                    store.link_contact,
                    contact_id=contact_id,
                    other=other,
                    release_since=now - HELD_RELEASE_WINDOW,
                    at=now,
                )
            )
            if released:
                log.info("%d held WhatsApp messages queued again: the person wrote", released)
                self.service.dispatcher.wake()

    async def _status(self, update: StatusUpdate, attempt: int = 0) -> None:
        outcome = await self.db.write(partial(store.apply_status, update=update, at=self.now()))
        if outcome == "resend":
            log.info("a WhatsApp message refused as outside the window is queued again for the template")
            self.service.dispatcher.wake()
        elif outcome == "missing" and attempt < len(_STATUS_RETRY_DELAYS):
            # The status can overtake the sender's own record of the message id: look again later.
            self._spawn(self._later_status(update, attempt))

    async def _later_status(self, update: StatusUpdate, attempt: int) -> None:
        await asyncio.sleep(_STATUS_RETRY_DELAYS[attempt])
        await self._status(update, attempt + 1)


def _single_items(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The body cut into bodies of one message or status each (same entry, metadata and contacts)."""
    singles = []
    for entry in body.get("entry") or []:
        changes = entry.get("changes") if isinstance(entry, dict) else None
        for change in changes if isinstance(changes, list) else []:
            value = change.get("value") if isinstance(change, dict) else None
            if not isinstance(value, dict):
                continue
            for key in ("messages", "statuses"):
                items = value.get(key)
                for item in items if isinstance(items, list) else []:
                    one = {**value, "messages": [], "statuses": [], key: [item]}
                    singles.append({**body, "entry": [{**entry, "changes": [{**change, "value": one}]}]})
    return singles


def _parse_leniently(body: dict[str, Any]) -> tuple[ParsedWebhook, str | None]:
    """Parse a body; if it cannot be parsed whole, parse item by item, keeping the healthy ones and
    naming what failed (e.g. a timestamp out of range)."""
    try:
        return parse_webhook(body), None
    except Exception as whole:
        log.debug("WhatsApp body not parsed whole: %s", type(whole).__name__)
    messages: list[IncomingMessage] = []
    statuses: list[StatusUpdate] = []
    failures: list[str] = []
    for single in _single_items(body):
        try:
            parsed = parse_webhook(single)
        except Exception as error:
            failures.append(type(error).__name__)
            continue
        messages += parsed.messages
        statuses += parsed.statuses
    reason = f"{len(failures)} unreadable item(s): {', '.join(sorted(set(failures)))}" if failures else None
    return ParsedWebhook(tuple(messages), tuple(statuses)), reason


class Webhook:
    """The HTTP side: GET verification and POST receipt."""

    def __init__(
        self,
        *,
        path: str,
        verify_token: str,
        app_secret: str,
        max_body_bytes: int,
        worker: InboxWorker,
    ) -> None:
        self.path = path
        self._verify_token = verify_token.encode()
        self._secret = app_secret.encode()
        self.max_body_bytes = max_body_bytes
        self.worker = worker

    def routes(self) -> list[BaseRoute]:
        """The webhook's routes for the service's ASGI app."""
        return [
            Route(self.path, self.verify, methods=["GET"]),
            Route(self.path, self.receive, methods=["POST"]),
        ]

    async def verify(self, request: Request) -> Response:
        """Meta's subscription handshake: echo `hub.challenge` when the verify token matches."""
        query = request.query_params
        token = query.get("hub.verify_token", "")
        challenge = query.get("hub.challenge", "")
        if (
            query.get("hub.mode") == "subscribe"
            and hmac.compare_digest(token.encode(), self._verify_token)
            and 0 < len(challenge) <= 1000
        ):
            return PlainTextResponse(challenge)
        log.warning("WhatsApp webhook verification refused")
        return PlainTextResponse("forbidden", status_code=403)

    async def receive(self, request: Request) -> Response:
        """Verify, store and acknowledge one webhook delivery; processing happens afterwards (and gives
        way meanwhile: `AckFirst`)."""
        with self.worker.service.acks.receiving():
            return await self._receive(request)

    async def _receive(self, request: Request) -> Response:
        try:
            raw = await read_capped(request, self.max_body_bytes)
        except TooLarge:
            log.warning("WhatsApp webhook refused: body over %d bytes", self.max_body_bytes)
            return PlainTextResponse("payload too large", status_code=413)
        if not signature_valid(self._secret, raw, request.headers.get(SIGNATURE_HEADER)):
            log.warning("WhatsApp webhook refused: missing or wrong signature")
            return PlainTextResponse("invalid signature", status_code=403)
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            log.warning("WhatsApp webhook refused: signed body is not JSON")
            return PlainTextResponse("malformed JSON", status_code=400)
        if not isinstance(body, dict) or not isinstance(body.get("entry"), list):
            log.warning("WhatsApp webhook refused: not a WhatsApp notification")
            return PlainTextResponse("not a WhatsApp notification", status_code=400)
        worker = self.worker
        sealed = worker.cipher.seal(raw)
        # Urgent: stored before any queued handling work, so the answer does not wait behind it.
        inbox_id = await worker.db.submit(
            partial(store.insert_inbox, body=sealed, at=worker.now()), urgent=True
        )
        worker.submit(inbox_id, body)
        return PlainTextResponse("ok")
