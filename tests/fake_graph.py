"""The fake Meta side of WhatsApp for tests and benchmarks.

`FakeGraph` is a Graph API that records sends, serves media and fails on cue. In tests it runs in-process
(`httpx.ASGITransport(app=fake.app)`); the benchmark serves it with uvicorn on 127.0.0.1
(`python -m tests.fake_graph --port 8799`) and reads what it recorded from `/_fake/sent`. Answers use the
shapes of the recorded bodies in tests/data/whatsapp (send_response_*.json, graph_error_131047.json).
`webhook_body` and `sign` build and sign webhook deliveries the way Meta does.
"""

import argparse
import asyncio
import hashlib
import hmac
import itertools
import json
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

DATA = Path(__file__).parent / "data" / "whatsapp"
TOKEN = "test-access-token"
APP_SECRET = "test-app-secret"
PHONE_NUMBER_ID = "1122334455667"

ERRORS: dict[int, tuple[str, str]] = {
    131047: (
        "(#131047) Re-engagement message",
        "Message failed to send because more than 24 hours have passed since the customer last replied "
        "to this number.",
    ),
    130429: ("(#130429) Rate limit hit", "Cloud API message throughput has been reached."),
    131056: (
        "(#131056) (Business Account, Consumer Account) pair rate limit hit",
        "Too many messages sent from the sender phone number to the same recipient phone number in a "
        "short period of time.",
    ),
    131026: ("(#131026) Message undeliverable", "Unable to deliver message."),
    131053: ("(#131053) Media upload error", "Unable to retrieve media: the media id is unknown or expired."),
}


def load(name: str) -> dict[str, Any]:
    """A recorded payload from tests/data/whatsapp."""
    body: dict[str, Any] = json.loads((DATA / name).read_text())
    return body


def error_body(code: int) -> dict[str, Any]:
    """A Graph error body in the recorded shape, for `code`."""
    body = load("graph_error_131047.json")
    message, details = ERRORS[code]
    body["error"].update(code=code, message=message)
    body["error"]["error_data"]["details"] = details
    return body


@dataclass(frozen=True, slots=True)
class Sent:
    """One message the fake accepted."""

    wamid: str
    to: str
    type: str
    body: dict[str, Any]
    at: float

    @property
    def text(self) -> str:
        """The visible body text (text, interactive body, or the template's first parameter)."""
        if self.type == "text":
            return str(self.body["text"]["body"])
        if self.type == "interactive":
            return str(self.body["interactive"]["body"]["text"])
        if self.type == "template":
            components = self.body["template"].get("components") or [{"parameters": [{"text": ""}]}]
            return str(components[0]["parameters"][0]["text"])
        return ""

    @property
    def interactive_type(self) -> str | None:
        """`button`, `list` or `location_request_message` for interactive messages."""
        return str(self.body["interactive"]["type"]) if self.type == "interactive" else None

    @property
    def options(self) -> list[dict[str, Any]]:
        """Buttons ({id, title}) or list rows ({id, title, description?}) offered."""
        if self.interactive_type == "button":
            return [b["reply"] for b in self.body["interactive"]["action"]["buttons"]]
        if self.interactive_type == "list":
            return [row for s in self.body["interactive"]["action"]["sections"] for row in s["rows"]]
        return []


@dataclass
class FakeGraph:
    """The fake's state: what was sent, media it can serve, and errors queued for the next sends."""

    phone_number_id: str = PHONE_NUMBER_ID
    latency: float = 0.0
    # Cloud API throughput per business number: a send that finds `limit_per_second` requests already
    # in the last second (a sliding window, refused ones counted too: at least as strict as Meta) gets
    # 130429 and is itself counted.
    limit_per_second: float | None = None
    # The pair rate (one number to one person): a burst of `pair_burst` sends, then one per
    # `pair_interval` seconds (a token bucket per recipient); beyond it 131056. None: not enforced.
    pair_burst: int | None = None
    pair_interval: float = 6.0
    sent: list[Sent] = field(default_factory=list)
    media: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    # Errors answered to the next sends (any recipient), in order.
    fail_next: list[int] = field(default_factory=list)
    # Recipients whose 24-hour window is closed: free-form sends to them get 131047.
    closed_windows: set[str] = field(default_factory=set)
    refused: list[tuple[str, int]] = field(default_factory=list)
    refused_at: list[float] = field(default_factory=list)  # when each refusal was answered (monotonic)
    requests: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    # Uploaded media ids Meta no longer keeps: a message using one is refused with 131053.
    expired_media: set[str] = field(default_factory=set)
    uploads: list[str] = field(default_factory=list)
    _ids: "itertools.count[int]" = field(default_factory=lambda: itertools.count(1))
    _window: deque[float] = field(default_factory=deque)
    _pairs: dict[str, tuple[float, float]] = field(default_factory=dict)  # recipient -> (tokens, at)

    def __post_init__(self) -> None:
        self.app = Starlette(
            routes=[
                Route("/_fake/sent", self._dump, methods=["GET"]),
                Route("/media-files/{media_id}", self._media_file, methods=["GET"]),
                Route("/{version}/{phone_id}/messages", self._messages, methods=["POST"]),
                Route("/{version}/{phone_id}/media", self._upload, methods=["POST"]),
                Route("/{version}/{media_id}", self._media_url, methods=["GET"]),
            ]
        )

    def to(self, recipient: str) -> list[Sent]:
        """Messages sent to one recipient (wa_id or BSUID), in order."""
        return [s for s in self.sent if s.to == recipient]

    def add_media(self, media_id: str, data: bytes, mime: str) -> None:
        """Make a media id downloadable."""
        self.media[media_id] = (data, mime)

    @staticmethod
    def _authorised(request: Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {TOKEN}"

    async def _messages(self, request: Request) -> Response:
        self.requests["messages"] += 1
        throttled = self._over_throughput()  # counted as the request arrives
        if self.latency:
            await asyncio.sleep(self.latency)
        if not self._authorised(request):
            return JSONResponse({"error": {"message": "Invalid OAuth access token", "code": 190}}, 401)
        if request.path_params["phone_id"] != self.phone_number_id:
            return JSONResponse({"error": {"message": "Unknown phone number id", "code": 100}}, 400)
        body = await request.json()
        recipient = body.get("to") or body.get("recipient")
        code = None
        if self.fail_next:
            code = self.fail_next.pop(0)
        elif throttled:
            code = 130429
        elif not self._pair_allows(str(recipient)):
            code = 131056
        elif recipient in self.closed_windows and body.get("type") != "template":
            code = 131047
        elif body.get("type") == "audio" and not self._known_media(str(body["audio"].get("id"))):
            code = 131053
        if code is not None:
            self.refused.append((recipient, code))
            self.refused_at.append(time.monotonic())
            return JSONResponse(error_body(code), status_code=400)
        wamid = f"wamid.FAKE{next(self._ids):08d}"
        self.sent.append(Sent(wamid, recipient, body.get("type", ""), body, time.monotonic()))
        shape = "send_response_phone.json" if "to" in body else "send_response_bsuid.json"
        answer = load(shape)
        answer["contacts"][0]["input"] = recipient
        answer["messages"][0]["id"] = wamid
        return JSONResponse(answer)

    def _over_throughput(self) -> bool:
        if not self.limit_per_second:
            return False
        now = time.monotonic()
        window = self._window
        while window and window[0] <= now - 1.0:
            window.popleft()
        window.append(now)  # refused requests count as well
        return len(window) > self.limit_per_second

    def _pair_allows(self, recipient: str) -> bool:
        if self.pair_burst is None:
            return True
        now = time.monotonic()
        tokens, at = self._pairs.get(recipient, (float(self.pair_burst), now))
        tokens = min(float(self.pair_burst), tokens + (now - at) / self.pair_interval)
        allowed = tokens >= 1.0
        self._pairs[recipient] = (tokens - 1.0 if allowed else tokens, now)
        return allowed

    def rejected(self, code: int) -> list[float]:
        """When each refusal with `code` was answered."""
        return [at for (_, c), at in zip(self.refused, self.refused_at, strict=True) if c == code]

    def _known_media(self, media_id: str) -> bool:
        return media_id in self.media and media_id not in self.expired_media

    async def _upload(self, request: Request) -> Response:
        """POST /{phone id}/media (multipart: messaging_product, type, file) -> {"id": ...}."""
        self.requests["media_upload"] += 1
        if not self._authorised(request):
            return JSONResponse({"error": {"message": "Invalid OAuth access token", "code": 190}}, 401)
        async with request.form() as form:
            upload = form.get("file")
            if form.get("messaging_product") != "whatsapp" or upload is None or isinstance(upload, str):
                error = {"message": "(#100) The parameter file is required", "code": 100}
                return JSONResponse({"error": error}, 400)
            data = await upload.read()
            mime = upload.content_type or str(form.get("type") or "")
        media_id = str(900_000_000 + next(self._ids))
        self.media[media_id] = (data, mime)
        self.uploads.append(media_id)
        return JSONResponse({"id": media_id})

    def voice_bytes(self, sent: Sent) -> bytes:
        """The file an audio message refers to."""
        return self.media[str(sent.body["audio"]["id"])][0]

    async def _media_url(self, request: Request) -> Response:
        self.requests["media_url"] += 1
        media_id = request.path_params["media_id"]
        if not self._authorised(request) or media_id not in self.media:
            return JSONResponse({"error": {"message": "Unsupported get request", "code": 100}}, 400)
        data, mime = self.media[media_id]
        return JSONResponse(
            {
                "messaging_product": "whatsapp",
                "url": f"{request.base_url}media-files/{media_id}",
                "mime_type": mime,
                "sha256": "0" * 64,
                "file_size": len(data),
                "id": media_id,
            }
        )

    async def _media_file(self, request: Request) -> Response:
        self.requests["media_file"] += 1
        media_id = request.path_params["media_id"]
        if not self._authorised(request) or media_id not in self.media:
            return Response(status_code=404)
        data, mime = self.media[media_id]
        return Response(data, media_type=mime)

    async def _dump(self, request: Request) -> Response:
        since = int(request.query_params.get("since", "0"))  # only the messages after the first `since`
        sent = [{"wamid": s.wamid, "to": s.to, "type": s.type, "at": s.at} for s in self.sent[since:]]
        if request.query_params.get("refused"):
            pairs = zip(self.refused, self.refused_at, strict=True)
            refused = [{"to": to, "code": code, "at": at} for (to, code), at in pairs]
            return JSONResponse({"sent": sent, "refused": refused})
        return JSONResponse(sent)


def sign(body: bytes, secret: str = APP_SECRET) -> str:
    """The X-Hub-Signature-256 header Meta would send with `body`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhook_body(
    message: dict[str, Any],
    *,
    wa_id: str | None,
    user_id: str | None = None,
    name: str = "Warga",
    phone_number_id: str = PHONE_NUMBER_ID,
) -> dict[str, Any]:
    """A messages webhook in Meta's shape (as in tests/data/whatsapp/text.json) carrying `message`."""
    contact: dict[str, Any] = {"profile": {"name": name}}
    message = dict(message)
    if wa_id:
        contact["wa_id"] = message["from"] = wa_id
    if user_id:
        contact["user_id"] = message["from_user_id"] = user_id
    message.setdefault("timestamp", str(int(time.time())))
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "6281100000000", "phone_number_id": phone_number_id},
        "contacts": [contact],
        "messages": [message],
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"value": value, "field": "messages"}]}],
    }


def status_body(wamid: str, status: str, recipient: str, *, error: int | None = None) -> dict[str, Any]:
    """A statuses webhook for a message the service sent; failed ones without contacts[] (2026 form)."""
    entry: dict[str, Any] = {
        "id": wamid,
        "status": status,
        "timestamp": str(int(time.time())),
        "recipient_id": recipient,
    }
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "6281100000000", "phone_number_id": PHONE_NUMBER_ID},
        "statuses": [entry],
    }
    if error is not None:
        message, details = ERRORS[error]
        title = message.split(") ", 1)[1]
        entry["errors"] = [
            {"code": error, "title": title, "message": title, "error_data": {"details": details}}
        ]
    else:
        value["contacts"] = [{"profile": {"name": "Warga"}, "wa_id": recipient}]
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"value": value, "field": "messages"}]}],
    }


def main() -> None:
    """Serve the fake on 127.0.0.1 (for the benchmark)."""
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8799)
    parser.add_argument("--latency-ms", type=float, default=0.0, help="delay before answering each send")
    parser.add_argument("--phone-number-id", default="1122334455667")
    parser.add_argument("--limit", type=float, default=None, help="messages per sliding second (130429)")
    parser.add_argument("--pair-burst", type=int, default=None, help="pair-rate burst per person (131056)")
    args = parser.parse_args()
    fake = FakeGraph(
        phone_number_id=args.phone_number_id,
        latency=args.latency_ms / 1000,
        limit_per_second=args.limit,
        pair_burst=args.pair_burst,
    )
    uvicorn.run(fake.app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
