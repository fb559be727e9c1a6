"""A fake Telegram Bot API server on 127.0.0.1, for tests and benchmarks.

It speaks the wire format python-telegram-bot uses (form-encoded or multipart POSTs to
`/bot<token>/<method>`, files under `/file/bot<token>/<path>`), records what the bot sends, serves
`getUpdates` from a queue with long polling, and can misbehave on purpose: a global send limit answered
with 429 and `retry_after`, a per-call latency, chats that blocked the bot (403), and chats whose sends
hang past the client's timeout (delivered, but never answered).

In-process: `async with FakeTelegram() as fake: ...`. As its own process (benchmarks), with a small
control API (`/_control/...`): `python -m tests.fake_telegram --limit 300`, which prints its port.
"""

import argparse
import asyncio
import contextlib
import email.parser
import itertools
import json
import sys
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

TOKEN = "123456:TEST-token-for-the-fake"
BOT_ID = 123456
BOT_USERNAME = "dinsos_test_bot"
# Fields PTB sends JSON-encoded inside a form; the rest are plain strings or integers.
JSON_FIELDS = {
    "reply_markup",
    "allowed_updates",
    "entities",
    "reply_parameters",
    "commands",
    "link_preview_options",
}
INT_FIELDS = {"chat_id", "message_id", "offset", "limit", "timeout", "user_id"}
SEND_METHODS = {"sendMessage", "sendPhoto", "sendVoice", "sendAudio", "sendDocument", "sendVideo"}
LIMITED_METHODS = SEND_METHODS | {"editMessageText", "editMessageReplyMarkup"}


@dataclass
class Sent:
    """One message the bot sent (its current state: edits change it)."""

    message_id: int
    chat_id: int
    method: str
    text: str | None
    reply_markup: dict[str, Any] | None
    params: dict[str, Any]
    file_bytes: int = 0
    edits: list[str] = field(default_factory=list)

    @property
    def buttons(self) -> list[tuple[str, str]]:
        """(label, callback data) of its inline buttons, in order."""
        rows = (self.reply_markup or {}).get("inline_keyboard", [])
        return [(b["text"], b.get("callback_data", "")) for row in rows for b in row]

    @property
    def request(self) -> str | None:
        """ "contact" or "location" when it shows a share button."""
        for row in (self.reply_markup or {}).get("keyboard", []):
            for button in row:
                if isinstance(button, dict) and button.get("request_contact"):
                    return "contact"
                if isinstance(button, dict) and button.get("request_location"):
                    return "location"
        return None


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:  # the test runner owns signals
        yield


class FakeTelegram:
    """The fake server and its recorded state."""

    def __init__(
        self,
        *,
        token: str = TOKEN,
        limit_per_second: float | None = None,
        retry_after: int = 1,
        latency: float = 0.0,
        hang_seconds: float = 3.0,
    ) -> None:
        self.token = token
        self.limit_per_second = limit_per_second
        self.retry_after = retry_after
        self.latency = latency
        self.hang_seconds = hang_seconds
        self.blocked: set[int] = set()
        self.hanging: set[int] = set()
        self.sent: list[Sent] = []
        self.messages: dict[tuple[int, int], Sent] = {}
        self.calls: Counter[str] = Counter()
        self.answers: list[dict[str, Any]] = []
        self.files: dict[str, bytes] = {}
        # File ids Telegram no longer accepts (sending by them answers 400).
        self.expired_files: set[str] = set()
        self.webhook: dict[str, Any] | None = None
        self.commands: dict[str, Any] = {}
        self.limited = 0
        self.fetched_offsets: list[int] = []
        self.first_sent: float | None = None
        self.last_sent: float | None = None
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1000)
        self._message_ids = itertools.count(1)
        self._callback_ids = itertools.count(1)
        self._window: deque[float] = deque()
        self._changed = asyncio.Condition()
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None
        self.port = 0

    # ------------------------------------------------------------ server

    def app(self) -> Starlette:
        """The ASGI app (Bot API, files, control)."""
        return Starlette(
            routes=[
                Route("/bot{token}/{method}", self._method, methods=["GET", "POST"]),
                Route("/file/bot{token}/{path:path}", self._file, methods=["GET"]),
                Route("/_control/push", self._control_push, methods=["POST"]),
                Route("/_control/stats", self._control_stats, methods=["GET"]),
                Route("/_control/config", self._control_config, methods=["POST"]),
            ]
        )

    async def start(self, port: int = 0) -> "FakeTelegram":
        """Serve on 127.0.0.1 (a free port unless given)."""
        config = uvicorn.Config(
            self.app(),
            host="127.0.0.1",
            port=port,
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_keep_alive=60,
            backlog=4096,
        )
        self._server = _Server(config)
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.01)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        """Stop serving."""
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            async with self._changed:
                self._changed.notify_all()  # end pending long polls
            await self._task

    async def __aenter__(self) -> "FakeTelegram":
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        """For `DINSOS_TELEGRAM_BASE_URL`."""
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        """For `DINSOS_TELEGRAM_BASE_FILE_URL`."""
        return f"http://127.0.0.1:{self.port}/file/bot"

    # ------------------------------------------------------------ requests

    @staticmethod
    async def _params(request: Request) -> dict[str, Any]:
        body = await request.body()
        ctype = request.headers.get("content-type", "")
        raw: dict[str, Any] = {}
        if ctype.startswith("application/json"):
            raw = json.loads(body or b"{}")
        elif ctype.startswith("multipart/form-data"):
            parsed = email.parser.BytesParser().parsebytes(
                b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body
            )
            for part in parsed.walk():
                name = part.get_param("name", header="content-disposition")
                if not isinstance(name, str):
                    continue
                payload = part.get_payload(decode=True)
                assert isinstance(payload, bytes)
                raw[name] = payload if part.get_filename() else payload.decode()
        else:
            raw = dict(parse_qsl(body.decode())) if body else dict(request.query_params)
        params: dict[str, Any] = {}
        for key, value in raw.items():
            if key in JSON_FIELDS and isinstance(value, str):
                params[key] = json.loads(value)
            elif key in INT_FIELDS and isinstance(value, str):
                params[key] = int(value)
            else:
                params[key] = value
        return params

    def _over_limit(self) -> bool:
        if not self.limit_per_second:
            return False
        now = time.monotonic()
        while self._window and self._window[0] <= now - 1.0:
            self._window.popleft()
        if len(self._window) >= self.limit_per_second:
            return True
        self._window.append(now)
        return False

    @staticmethod
    def _error(code: int, description: str, **parameters: Any) -> JSONResponse:
        body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
        if parameters:
            body["parameters"] = parameters
        return JSONResponse(body, status_code=code)

    async def _method(self, request: Request) -> Response:
        if request.path_params["token"] != self.token:
            return self._error(401, "Unauthorized")
        method = request.path_params["method"]
        params = await self._params(request)
        self.calls[method] += 1
        if self.latency:
            await asyncio.sleep(self.latency)
        if method in LIMITED_METHODS and self._over_limit():
            self.limited += 1
            return self._error(
                429, f"Too Many Requests: retry after {self.retry_after}", retry_after=self.retry_after
            )
        chat_id = params.get("chat_id")
        if method in SEND_METHODS and chat_id in self.blocked:
            return self._error(403, "Forbidden: bot was blocked by the user")
        handler = getattr(self, f"_do_{method}", None)
        if handler is None:
            return self._error(404, "Not Found: method not found")
        result = await handler(params)
        if isinstance(result, Response):
            return result
        await self._notify()
        if method in SEND_METHODS and chat_id in self.hanging:
            await asyncio.sleep(self.hang_seconds)  # delivered, but the answer comes too late
        return JSONResponse({"ok": True, "result": result})

    async def _file(self, request: Request) -> Response:
        if request.path_params["token"] != self.token:
            return Response(status_code=401)
        file_id = request.path_params["path"].rsplit("/", 1)[-1]
        if file_id not in self.files:
            return Response(status_code=404)
        return Response(self.files[file_id], media_type="application/octet-stream")

    # ------------------------------------------------------------ Bot API methods

    def bot_user(self) -> dict[str, Any]:
        """The bot as a `User`."""
        return {"id": BOT_ID, "is_bot": True, "first_name": "Dinsos", "username": BOT_USERNAME}

    async def _do_getMe(self, params: dict[str, Any]) -> Any:
        return {**self.bot_user(), "can_join_groups": True, "can_read_all_group_messages": False}

    async def _do_setWebhook(self, params: dict[str, Any]) -> Any:
        self.webhook = params
        return True

    async def _do_deleteWebhook(self, params: dict[str, Any]) -> Any:
        self.webhook = None
        return True

    async def _do_setMyCommands(self, params: dict[str, Any]) -> Any:
        self.commands[params.get("language_code", "")] = params.get("commands")
        return True

    async def _do_getUpdates(self, params: dict[str, Any]) -> Any:
        if self.webhook is not None:
            return self._error(409, "Conflict: can't use getUpdates method while webhook is active")
        offset = params.get("offset")
        limit = int(params.get("limit") or 100)
        timeout = float(params.get("timeout") or 0)
        if offset is not None:
            self.fetched_offsets.append(offset)
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        deadline = time.monotonic() + timeout
        async with self._changed:
            while not self._updates and time.monotonic() < deadline:
                if self._server is not None and self._server.should_exit:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), deadline - time.monotonic())
        return self._updates[:limit]

    def _message(self, chat_id: int, extra: dict[str, Any]) -> dict[str, Any]:
        chat_type = "private" if chat_id > 0 else "supergroup"
        return {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": chat_type},
            "from": self.bot_user(),
            **extra,
        }

    async def _record(self, method: str, params: dict[str, Any], extra: dict[str, Any], size: int = 0) -> Any:
        chat_id = int(params["chat_id"])
        message = self._message(chat_id, extra)
        markup = params.get("reply_markup")
        if markup is not None and "inline_keyboard" in markup:  # Telegram echoes inline keyboards only
            message["reply_markup"] = markup
        sent = Sent(
            message_id=message["message_id"],
            chat_id=chat_id,
            method=method,
            text=extra.get("text") or extra.get("caption"),
            reply_markup=markup,
            params=params,
            file_bytes=size,
        )
        self.sent.append(sent)
        self.messages[(chat_id, sent.message_id)] = sent
        now = time.monotonic()
        self.first_sent = self.first_sent or now
        self.last_sent = now
        await self._notify()
        return message

    async def _do_sendMessage(self, params: dict[str, Any]) -> Any:
        return await self._record("sendMessage", params, {"text": params["text"]})

    async def _send_file(self, method: str, field_name: str, params: dict[str, Any]) -> Any:
        value = params.get(field_name)
        if isinstance(value, str) and value.startswith("attach://"):
            value = params.get(value.removeprefix("attach://"))
        size = len(value) if isinstance(value, bytes) else 0
        if isinstance(value, bytes):
            file_id = f"sent-{next(self._message_ids)}"
            self.files[file_id] = value  # sent again by its file_id, as Telegram allows
        elif isinstance(value, str) and value not in self.expired_files:
            file_id = value
            size = len(self.files.get(value, b""))
        else:
            return self._error(400, "Bad Request: wrong file identifier/HTTP URL specified")
        descriptor = {"file_id": file_id, "file_unique_id": file_id, "file_size": size}
        if field_name == "voice":
            descriptor["duration"] = 1
        if field_name == "photo":
            descriptor = [{**descriptor, "width": 100, "height": 100}]  # type: ignore[assignment]
        extra = {field_name: descriptor, "caption": params.get("caption")}
        return await self._record(method, params, extra, size)

    async def _do_sendPhoto(self, params: dict[str, Any]) -> Any:
        return await self._send_file("sendPhoto", "photo", params)

    async def _do_sendAudio(self, params: dict[str, Any]) -> Any:
        return await self._send_file("sendAudio", "audio", params)

    async def _do_sendVoice(self, params: dict[str, Any]) -> Any:
        return await self._send_file("sendVoice", "voice", params)

    async def _do_sendDocument(self, params: dict[str, Any]) -> Any:
        return await self._send_file("sendDocument", "document", params)

    def sent_file(self, sent: Sent, field_name: str = "voice") -> bytes:
        """The bytes of the file a send carried, whether uploaded or sent again by its file_id."""
        value = sent.params.get(field_name)
        if isinstance(value, str) and value.startswith("attach://"):
            value = sent.params.get(value.removeprefix("attach://"))
        return value if isinstance(value, bytes) else self.files[str(value)]

    def _find(self, params: dict[str, Any]) -> Sent | JSONResponse:
        found = self.messages.get((int(params["chat_id"]), int(params["message_id"])))
        if found is None:
            return self._error(400, "Bad Request: message to edit not found")
        return found

    async def _do_editMessageText(self, params: dict[str, Any]) -> Any:
        found = self._find(params)
        if isinstance(found, JSONResponse):
            return found
        if found.text == params["text"] and found.reply_markup == params.get("reply_markup"):
            return self._error(400, "Bad Request: message is not modified")
        found.edits.append(params["text"])
        found.text = params["text"]
        found.reply_markup = params.get("reply_markup")
        await self._notify()
        return self._message_dict(found)

    async def _do_editMessageReplyMarkup(self, params: dict[str, Any]) -> Any:
        found = self._find(params)
        if isinstance(found, JSONResponse):
            return found
        if found.reply_markup == params.get("reply_markup"):
            return self._error(400, "Bad Request: message is not modified")
        found.reply_markup = params.get("reply_markup")
        await self._notify()
        return self._message_dict(found)

    async def _do_answerCallbackQuery(self, params: dict[str, Any]) -> Any:
        self.answers.append(params)
        await self._notify()
        return True

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _do_getFile(self, params: dict[str, Any]) -> Any:
        file_id = params["file_id"]
        if file_id not in self.files:
            return self._error(400, "Bad Request: invalid file_id")
        return {
            "file_id": file_id,
            "file_unique_id": file_id,
            "file_size": len(self.files[file_id]),
            "file_path": f"files/{file_id}",
        }

    # ------------------------------------------------------------ what users do

    def _message_dict(self, sent: Sent) -> dict[str, Any]:
        chat_type = "private" if sent.chat_id > 0 else "supergroup"
        message: dict[str, Any] = {
            "message_id": sent.message_id,
            "date": int(time.time()),
            "chat": {"id": sent.chat_id, "type": chat_type},
            "from": self.bot_user(),
        }
        if sent.text is not None:
            message["text"] = sent.text
        if sent.reply_markup is not None and "inline_keyboard" in sent.reply_markup:
            message["reply_markup"] = sent.reply_markup
        return message

    @staticmethod
    def user(user_id: int, name: str = "Warga") -> dict[str, Any]:
        """A Telegram `User`."""
        return {"id": user_id, "is_bot": False, "first_name": name, "language_code": "id"}

    def _incoming(self, chat: dict[str, Any], user_id: int, name: str, **content: Any) -> dict[str, Any]:
        return {
            "update_id": next(self._update_ids),
            "message": {
                "message_id": next(self._message_ids),
                "date": int(time.time()),
                "chat": chat,
                "from": self.user(user_id, name),
                **content,
            },
        }

    def _private(self, user_id: int, name: str = "Warga", **content: Any) -> dict[str, Any]:
        return self._incoming(
            {"id": user_id, "type": "private", "first_name": name}, user_id, name, **content
        )

    def text(self, user_id: int, text: str, name: str = "Warga") -> dict[str, Any]:
        """A typed message (a command when it starts with /)."""
        entities = (
            [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
            if text.startswith("/")
            else None
        )
        return self._private(user_id, name, text=text, **({"entities": entities} if entities else {}))

    def contact(self, user_id: int, phone: str, *, own: bool = True) -> dict[str, Any]:
        """The user shares a contact card (their own through the share button)."""
        card = {"phone_number": phone, "first_name": "Warga"}
        if own:
            card["user_id"] = user_id  # type: ignore[assignment]
        return self._private(user_id, contact=card)

    def location(self, user_id: int, latitude: float, longitude: float) -> dict[str, Any]:
        """The user shares a location."""
        return self._private(user_id, location={"latitude": latitude, "longitude": longitude})

    def photo(self, user_id: int, data: bytes, caption: str | None = None) -> dict[str, Any]:
        """The user sends a photo (its bytes are served by getFile and the file URL)."""
        file_id = f"photo-{next(self._message_ids)}"
        self.files[file_id] = data
        sizes = [
            {
                "file_id": f"{file_id}-small",
                "file_unique_id": "s",
                "width": 90,
                "height": 90,
                "file_size": 10,
            },
            {
                "file_id": file_id,
                "file_unique_id": file_id,
                "width": 800,
                "height": 600,
                "file_size": len(data),
            },
        ]
        extra = {"caption": caption} if caption else {}
        return self._private(user_id, photo=sizes, **extra)

    def voice(self, user_id: int, data: bytes) -> dict[str, Any]:
        """The user sends a voice note."""
        file_id = f"voice-{next(self._message_ids)}"
        self.files[file_id] = data
        voice = {"file_id": file_id, "file_unique_id": file_id, "duration": 3, "mime_type": "audio/ogg"}
        return self._private(user_id, voice={**voice, "file_size": len(data)})

    def press(self, user_id: int, sent: Sent, data: str, name: str = "Warga") -> dict[str, Any]:
        """The user presses an inline button of a message the bot sent."""
        return {
            "update_id": next(self._update_ids),
            "callback_query": {
                "id": f"cb{next(self._callback_ids)}",
                "from": self.user(user_id, name),
                "message": self._message_dict(sent),
                "chat_instance": "ci",
                "data": data,
            },
        }

    def group_text(
        self, chat_id: int, user_id: int, text: str, name: str = "Petugas", reply_to: Sent | None = None
    ) -> dict[str, Any]:
        """A message in a group (a command, or a reply to one of the bot's messages)."""
        content: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        if reply_to is not None:
            content["reply_to_message"] = self._message_dict(reply_to)
        return self._incoming(
            {"id": chat_id, "type": "supergroup", "title": "Staf Dinsos"}, user_id, name, **content
        )

    def block_change(self, user_id: int, status: str) -> dict[str, Any]:
        """The user blocks ("kicked") or unblocks ("member") the bot."""
        chat = {"id": user_id, "type": "private", "first_name": "Warga"}
        member: dict[str, Any] = {"user": self.bot_user(), "status": status}
        if status == "kicked":
            member["until_date"] = 0
        return {
            "update_id": next(self._update_ids),
            "my_chat_member": {
                "chat": chat,
                "from": self.user(user_id),
                "date": int(time.time()),
                "old_chat_member": {"user": self.bot_user(), "status": "member"},
                "new_chat_member": member,
            },
        }

    async def push(self, *updates: dict[str, Any]) -> None:
        """Queue updates for getUpdates."""
        async with self._changed:
            self._updates.extend(updates)
            self._changed.notify_all()

    # ------------------------------------------------------------ what the test reads

    def to(self, chat_id: int) -> list[Sent]:
        """Messages sent to a chat, oldest first."""
        return [sent for sent in self.sent if sent.chat_id == chat_id]

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        """Wait until `predicate()` holds (checked at every bot call); the caller bounds the wait."""
        async with self._changed:
            await self._changed.wait_for(predicate)

    # ------------------------------------------------------------ control API (benchmarks)

    async def _control_push(self, request: Request) -> Response:
        await self.push(*json.loads(await request.body()))
        return JSONResponse({"ok": True})

    async def _control_stats(self, request: Request) -> Response:
        chats = Counter(sent.chat_id for sent in self.sent)
        return JSONResponse(
            {
                "sent": len(self.sent),
                "limited": self.limited,
                "calls": dict(self.calls),
                "chats": len(chats),
                "max_per_chat": max(chats.values(), default=0),
                "pending_updates": len(self._updates),
                "duplicates": sum(n - 1 for n in Counter((s.chat_id, s.text) for s in self.sent).values()),
                "span": (self.last_sent - self.first_sent) if self.first_sent and self.last_sent else 0.0,
            }
        )

    async def _control_config(self, request: Request) -> Response:
        body = json.loads(await request.body())
        for key in ("limit_per_second", "latency", "retry_after"):
            if key in body:
                setattr(self, key, body[key])
        return JSONResponse({"ok": True})


async def _serve(port: int, limit: float | None, latency: float) -> None:
    fake = FakeTelegram(limit_per_second=limit, latency=latency)
    await fake.start(port)
    print(f"PORT {fake.port}", flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)  # serve until the parent closes our stdin
    await fake.stop()


@contextlib.asynccontextmanager
async def running(**options: Any) -> AsyncIterator[FakeTelegram]:
    """A started fake for the length of the block."""
    fake = FakeTelegram(**options)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="fake Telegram Bot API on 127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--limit", type=float, default=None, help="sends per second before 429")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every call")
    args = parser.parse_args()
    asyncio.run(_serve(args.port, args.limit, args.latency))
