"""The service's ASGI app: `/health`, `/metrics`, the routes each channel contributes (webhooks) and the
dashboard; security headers on every response (errors and 404s included) and webhook timing."""

import hmac
import ipaddress
import logging
from collections.abc import Callable
from dataclasses import dataclass
from time import perf_counter
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.engine import Clock
from bot.metrics import Metrics, read_store_figures
from storage.contract import Store

log = logging.getLogger(__name__)

# The dashboard sets its own, stricter page policy; these go on everything else (JSON, 404s, errors).
BASE_HEADERS = [
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'; base-uri 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]
FORWARDING_HEADERS = ("x-forwarded-for", "forwarded", "x-real-ip")
SQLITE_MAX_INT = 2**63 - 1


def _huge_number_in(path: str) -> bool:
    """Whether a path segment is a number no stored id can be (SQLite integers end at 2^63 - 1)."""
    return any(part.isdigit() and (len(part) > 19 or int(part) > SQLITE_MAX_INT) for part in path.split("/"))


@dataclass
class Probes:
    """What `/health` and `/metrics` look at in a running service."""

    db: Store
    metrics: Metrics
    clock: Clock
    channels: Callable[[], dict[str, bool]]
    scheduler_running: Callable[[], bool]
    metrics_token: str | None = None


class Hardened:
    """Outermost layer: base security headers on every response and webhook latency."""

    def __init__(self, app: ASGIApp, metrics: Metrics | None) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = perf_counter()
        path: str = scope.get("path", "")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                headers += [pair for pair in BASE_HEADERS if pair[0] not in names]
                if b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        if _huge_number_in(path):
            # `/persons/99999999999999999999` names nothing: not found, before any route reads it.
            scope = {**scope, "path": "/.not-found", "raw_path": b"/.not-found"}
        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            if self.metrics is not None and path.startswith("/webhooks/"):
                channel = path.split("/")[2] or "unknown"
                self.metrics.webhook_seconds.labels(channel[:20]).observe(perf_counter() - started)


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(text: str) -> list[Network]:
    """ "127.0.0.1, ::1, 10.0.0.0/8" as networks (a bad entry is a settings error, said at start)."""
    return [ipaddress.ip_network(part.strip(), strict=False) for part in text.split(",") if part.strip()]


def _in(address: str, networks: list[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_address(request: Request, trusted: list[Network]) -> str:
    """The client's address: the connecting one, unless that is a trusted proxy; then the right-most
    address in X-Forwarded-For that is not a trusted proxy (what the proxy itself saw; addresses a
    client wrote into the header sit to its left and are ignored)."""
    peer = request.client.host if request.client else "unknown"
    if not trusted or not _in(peer, trusted):
        return peer
    header = request.headers.get("x-forwarded-for", "")
    forwarded = [part.strip() for part in header.split(",") if part.strip()]
    for candidate in reversed(forwarded):
        if not _in(candidate, trusted):
            try:
                return str(ipaddress.ip_address(candidate))
            except ValueError:
                return peer  # a malformed entry: fall back to the proxy's own address
    return peer


def _is_loopback(request: Request) -> bool:
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def metrics_allowed(request: Request, token: str | None) -> bool:
    """With a token: only `Authorization: Bearer <token>`. Without: only from this machine, and not
    through a proxy (a proxy on this machine would make every outside request look local)."""
    if token:
        given = request.headers.get("authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())
    return _is_loopback(request) and not any(name in request.headers for name in FORWARDING_HEADERS)


def _routes(probes: Probes | None) -> list[BaseRoute]:
    async def health(request: Request) -> JSONResponse:
        """What is up: the store, each channel, the scheduler, the outbox backlog."""
        if probes is None:
            return JSONResponse({"status": "ok"})
        body: dict[str, Any] = {}
        healthy = True
        try:
            figures = await read_store_figures(probes.db, probes.clock())
            body["store"] = "ok"
        except Exception as error:
            log.warning("health: the store did not answer: %s", type(error).__name__)
            body["store"] = "error"
            healthy = False
            figures = None
        channels = probes.channels()
        body["channels"] = {name: "up" if up else "down" for name, up in channels.items()}
        body["scheduler"] = "running" if probes.scheduler_running() else "stopped"
        healthy = healthy and all(channels.values()) and probes.scheduler_running()
        if figures is not None:
            body["outbox"] = {
                "backlog": sum(b.queued for b in figures.backlog.values()),
                "oldest_age_seconds": round(
                    max((b.oldest_age_seconds for b in figures.backlog.values()), default=0.0), 1
                ),
                "by_channel": {name: b.queued for name, b in figures.backlog.items()},
            }
            body["broadcasts_in_progress"] = figures.broadcasts_in_progress
        body = {"status": "ok" if healthy else "degraded", **body}
        return JSONResponse(body, status_code=200 if healthy else 503)

    async def metrics(request: Request) -> Response:
        """Prometheus text format; loopback only, or behind DINSOS_WEB_METRICS_TOKEN."""
        if probes is None:
            return PlainTextResponse("not found\n", status_code=404)
        if not metrics_allowed(request, probes.metrics_token):
            return PlainTextResponse("forbidden\n", status_code=403)
        probes.metrics.update(await read_store_figures(probes.db, probes.clock()))
        return Response(generate_latest(probes.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return [Route("/health", health), Route("/metrics", metrics)]


def build_asgi(routes: list[BaseRoute], probes: Probes | None = None) -> ASGIApp:
    """Assemble the app from the channels' and dashboard's routes."""
    app = Starlette(routes=[*_routes(probes), *routes])
    return Hardened(app, probes.metrics if probes else None)
