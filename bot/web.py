"""The service's ASGI app: health, plus the routes each channel contributes (webhooks)."""

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route


async def health(request: Request) -> JSONResponse:
    """Liveness for the operator's monitoring."""
    return JSONResponse({"status": "ok"})


def build_asgi(routes: list[BaseRoute]) -> Starlette:
    """Assemble the app from the channels' routes."""
    return Starlette(routes=[Route("/health", health), *routes])
