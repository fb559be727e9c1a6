"""The dashboard's frame: sessions, roles, CSRF, language, templates and security headers.

Every page is a plain async function of a `Ctx`; `Dashboard.route` wraps it so that it only runs for a
signed-in staff member whose role allows it, and, for a form post, only with the session's CSRF token.
A refusal (wrong role, missing token) changes nothing and is written to the audit log.
"""

import asyncio
import logging
import secrets
import sys
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from time import perf_counter
from typing import IO, Any, TypeVar
from urllib.parse import quote
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route, Router
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.app import Service
from bot.dashboard import accounts
from bot.dashboard.accounts import Session, StaffUser
from bot.engine import Clock, utcnow
from bot.scheduler import outreach_times
from bot.settings import Settings
from bot.web import parse_networks
from handlers.i18n import LANGUAGES, Catalog
from handlers.staff.errors import StaffError
from storage import cases as case_store
from storage import repo

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
LOCALES = HERE / "locales"

SESSION_COOKIE = "dinsos_session"
ANON_CSRF_COOKIE = "dinsos_csrf"
LANG_COOKIE = "dinsos_lang"
CSRF_FIELD = "csrf_token"
TOUCH_EVERY = timedelta(minutes=5)
# What a staff member who must change their password may still reach.
OPEN_WHILE_CHANGING = frozenset({"/password", "/logout", "/lang"})

R = TypeVar("R", bound=Response)

# No script or style from anywhere but this server, no inline script, no framing.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self' blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    # The microphone for this site only: the "Suara" page records the office's voice.
    (b"permissions-policy", b"camera=(), microphone=(self), geolocation=()"),
]


class SecurityHeaders:
    """Adds the security headers, `Cache-Control: no-store` (pages hold personal data) and the time taken."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = perf_counter()
        static = scope["path"].startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                headers += [pair for pair in SECURITY_HEADERS if pair[0] not in names]
                if b"cache-control" not in names:
                    headers.append((b"cache-control", b"public, max-age=3600" if static else b"no-store"))
                elapsed = (perf_counter() - started) * 1000
                headers.append((b"server-timing", f"app;dur={elapsed:.1f}".encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class Refused(Exception):
    """A request the dashboard turns down with a page (status and catalog key of the reason)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass
class Ctx:
    """One dashboard request: who asks, in which language, with which form."""

    d: "Dashboard"
    request: Request
    session: Session | None
    lang: str
    form: FormData | None = None
    anon_csrf: str | None = None
    cookies: list[tuple[str, str, int | None]] = field(default_factory=list)
    my_unread: int = 0  # cases assigned to this officer with replies nobody has read (the badge)

    @property
    def user(self) -> StaffUser:
        """The signed-in staff member (pages behind a role only)."""
        assert self.session is not None
        return self.session.user

    @property
    def csrf(self) -> str:
        """The token forms must carry back."""
        if self.session is not None:
            return self.session.csrf
        if self.anon_csrf is None:
            self.anon_csrf = secrets.token_urlsafe(32)
            self.cookies.append((ANON_CSRF_COOKIE, self.anon_csrf, None))
        return self.anon_csrf

    def msg(self, key: str, **params: object) -> str:
        """A dashboard sentence in the staff member's language."""
        return self.d.ui.text(self.lang, key, **params)

    def problem(self, error: StaffError) -> str:
        """A staff-service error in the dashboard's words (its code; never the English message)."""
        key = f"staff_error.{error.code}"
        if not self.d.ui.has(key):
            key = "staff_error.refused"
        try:
            return self.msg(key, **error.params)
        except KeyError:
            return self.msg("staff_error.refused")

    def field(self, name: str, default: str = "", limit: int = 5000) -> str:
        """A text field of the posted form, trimmed (files and missing fields give `default`)."""
        value = self.form.get(name) if self.form is not None else None
        return value.strip()[:limit] if isinstance(value, str) else default

    def fields(self, name: str) -> list[str]:
        """Every value of a repeated form field (checkboxes, multiple selects)."""
        if self.form is None:
            return []
        return [v.strip() for v in self.form.getlist(name) if isinstance(v, str) and v.strip()]

    def upload(self, name: str) -> UploadFile | None:
        """A posted file, if one was chosen."""
        value = self.form.get(name) if self.form is not None else None
        return value if isinstance(value, UploadFile) and value.filename else None

    def query(self, name: str, default: str = "") -> str:
        """A query-string value, trimmed and bounded."""
        return self.request.query_params.get(name, default).strip()[:200]

    @property
    def now(self) -> datetime:
        """The dashboard's clock."""
        return self.d.clock()

    async def audit(self, action: str, target: str | None = None, detail: str | None = None) -> None:
        """Write one line of the audit log for this staff member."""
        actor = self.session.user.actor if self.session is not None else "anonymous"
        await self.d.db.write(
            partial(repo.audit, actor=actor, action=action, at=self.now, target=target, detail=detail)
        )

    def render(self, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        """A page from its template, with the frame's values."""
        return self.finish(HTMLResponse(self.d.render_text(self, template, **values), status_code=status))

    def redirect(self, path: str, done: str | None = None) -> Response:
        """Back to a page after a form (303, so a reload does not post again), with what was done."""
        if done:
            path += ("&" if "?" in path else "?") + "done=" + quote(done)
        return self.finish(RedirectResponse(path, status_code=303))

    def finish(self, response: R) -> R:
        """Attach cookies set while handling the request."""
        for name, value, max_age in self.cookies:
            self.d.set_cookie(self.request, response, name, value, max_age=max_age)
        return response


Handler = Callable[[Ctx], Awaitable[Response]]


def safe_next(path: str | None) -> str:
    """A local path to return to (never another site)."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/"
    return path


class Dashboard:
    """The staff web app over a running service."""

    def __init__(
        self,
        service: Service,
        settings: Settings,
        *,
        web_channel: Any = None,
        clock: Clock = utcnow,
    ) -> None:
        self.service = service
        self.db = service.db
        self.settings = settings
        self.config = settings.dashboard
        self.ui = Catalog.load(LOCALES)
        self.catalog = service.services.catalog
        self.places = service.services.places
        self.sealer = service.services.sealer
        self.tz: ZoneInfo = service.services.timezone
        self.times = outreach_times(settings.outreach, self.tz)
        self.media = service.media
        self.web_channel = web_channel
        self.clock = clock
        self.login_policy = accounts.LoginPolicy(
            per_account_address=self.config.login_attempts,
            per_address=self.config.login_attempts_per_address,
            max_delay=timedelta(minutes=self.config.login_window_minutes),
        )
        self.trusted_proxies = parse_networks(settings.web.trusted_proxies)
        self.env = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=True,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["local"] = self.local
        self.env.filters["local_date"] = self.local_date
        # The kelurahan outlines, for the maps drawn in templates.
        self.env.globals["kelurahan_map"] = service.services.boundaries
        self._routes: list[BaseRoute] = []
        self._register()

    # ------------------------------------------------------------ assembly

    def _register(self) -> None:
        from bot.dashboard import (
            admin,
            cases,
            conversation,
            in_doubt,
            listen,
            outreach,
            siks,
            simulator,
            voice,
        )

        admin.register(self)
        cases.register(self)
        conversation.register(self)
        outreach.register(self)
        voice.register(self)
        in_doubt.register(self)
        listen.register(self)
        siks.register(self)
        if self.config.simulator and self.web_channel is not None:
            simulator.register(self)

    def routes(self) -> list[BaseRoute]:
        """The dashboard's routes, behind its security headers; mount them after the webhooks."""
        static = Mount("/static", app=StaticFiles(directory=STATIC), name="static")
        return [Mount("", app=SecurityHeaders(Router(routes=[static, *self._routes])))]

    def route(
        self,
        path: str,
        handler: Handler,
        *,
        role: str | None,
        methods: tuple[str, ...] = ("GET",),
        max_body: int | None = None,
    ) -> None:
        """Serve `handler` at `path` for staff of at least `role` (None: anyone, e.g. the sign-in page)."""
        limit = max_body or self.settings.web.max_body_bytes

        async def endpoint(request: Request) -> Response:
            ctx = Ctx(self, request, await self.session_of(request), self.language(request))
            try:
                if role is not None and ctx.session is None:
                    if request.method == "GET":
                        return RedirectResponse("/login?next=" + quote(request.url.path), status_code=303)
                    raise Refused(403, "refused.signed_out")
                if role is not None and not ctx.user.has(role):
                    await ctx.audit("denied", target=request.url.path, detail=f"role {ctx.user.role}")
                    raise Refused(403, "refused.role")
                if role is not None and ctx.user.must_change_password and path not in OPEN_WHILE_CHANGING:
                    # The first admin's made-up password is changed before anything else is done.
                    if request.method == "GET":
                        return RedirectResponse("/password", status_code=303)
                    raise Refused(403, "refused.change_password")
                if ctx.session is not None and request.method == "GET":
                    ctx.my_unread = await case_store.unread_count(self.db, assignee=ctx.user.id)
                if request.method == "POST":
                    ctx.form = await self._read_form(request, limit)
                    if not self._csrf_ok(ctx):
                        if ctx.session is not None:  # anonymous requests leave no rows behind
                            await ctx.audit(
                                "denied", target=request.url.path, detail="missing or wrong CSRF token"
                            )
                        raise Refused(403, "refused.csrf")
                return await handler(ctx)
            except Refused as refused:
                return ctx.render("refused.html", status=refused.status, reason=refused.reason)
            finally:
                if ctx.form is not None:
                    await ctx.form.close()  # uploaded files live in temporary files until closed

        self._routes.append(Route(path, endpoint, methods=list(methods)))

    async def _read_form(self, request: Request, limit: int) -> FormData:
        length = request.headers.get("content-length")
        if length is None or not length.isdigit() or int(length) > limit:
            raise Refused(413, "refused.too_large")
        try:
            return await request.form(max_files=2, max_fields=200, max_part_size=limit)
        except Exception as exc:  # a malformed body changes nothing
            log.info("unreadable form on %s: %s", request.url.path, type(exc).__name__)
            raise Refused(400, "refused.bad_form") from None

    def _csrf_ok(self, ctx: Ctx) -> bool:
        sent = ctx.field(CSRF_FIELD, limit=200) or ctx.request.headers.get("x-csrf-token", "")
        if ctx.session is not None:
            expected = ctx.session.csrf
        else:
            expected = ctx.request.cookies.get(ANON_CSRF_COOKIE, "")
        return bool(sent) and bool(expected) and secrets.compare_digest(sent, expected)

    # ------------------------------------------------------------ sessions, cookies, language

    async def session_of(self, request: Request) -> Session | None:
        """The live session of the request's cookie, noting activity every few minutes."""
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            return None
        now = self.clock()
        session = await accounts.find_session(
            self.db, token, now=now, idle=timedelta(hours=self.config.session_idle_hours)
        )
        if session is not None and now - session.seen_at > TOUCH_EVERY:
            await self.db.write(partial(accounts.touch_session, token_hash=session.token_hash, at=now))
        return session

    def language(self, request: Request) -> str:
        """The staff member's chosen language (Indonesian unless they switched)."""
        chosen = request.cookies.get(LANG_COOKIE, "")
        return chosen if chosen in LANGUAGES else "id"

    def secure(self, request: Request) -> bool:
        """Whether cookies get the Secure flag."""
        mode = self.config.secure_cookies
        return mode == "always" or (mode == "auto" and request.url.scheme == "https")

    def set_cookie(
        self, request: Request, response: Response, name: str, value: str, *, max_age: int | None
    ) -> None:
        """A cookie scripts cannot read, sent only to this site."""
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            httponly=True,
            samesite="strict" if name != LANG_COOKIE else "lax",
            secure=self.secure(request),
            path="/",
        )

    # ------------------------------------------------------------ rendering

    def words(self, lang: str, key: str, **params: object) -> str:
        """A dashboard sentence (not the citizens' catalog) in `lang`."""
        return self.ui.text(lang, key, **params)

    def local(self, value: str | datetime | None, fmt: str = "%d-%m-%Y %H:%M") -> str:
        """A stored UTC time as WIB."""
        if not value:
            return "-"
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        return moment.astimezone(self.tz).strftime(fmt)

    def local_date(self, value: str | datetime | None) -> str:
        """A stored UTC time as a WIB date."""
        return self.local(value, "%d-%m-%Y")

    def render_text(self, ctx: Ctx, template: str, **values: Any) -> str:
        """Render a template with what every page needs."""
        user = ctx.session.user if ctx.session is not None else None
        frame: dict[str, Any] = {
            "t": partial(self.ui.text, ctx.lang),
            "has": self.ui.has,
            # The citizens' catalog, for the words of their own answers (documents, aid received).
            "ct": partial(self.catalog.text, ctx.lang),
            "chas": self.catalog.has,
            "lang": ctx.lang,
            "user": user,
            "can_act": user is not None and user.can_act,
            "is_admin": user is not None and user.role == "admin",
            "csrf": ctx.csrf,
            "path": ctx.request.url.path,
            "full_path": ctx.request.url.path
            + (("?" + ctx.request.url.query) if ctx.request.url.query else ""),
            "simulator": self.config.simulator and self.web_channel is not None,
            "flash": self._flash(ctx),
            "my_unread": ctx.my_unread,
        }
        return self.env.get_template(template).render(frame | values)

    def _flash(self, ctx: Ctx) -> str | None:
        key = ctx.request.query_params.get("done", "")
        # Only known sentences: a crafted link cannot put its own words on the page.
        return ctx.msg(f"done.{key}") if key and self.ui.has(f"done.{key}") else None

    # ------------------------------------------------------------ first start

    async def ensure_admin(self, out: IO[str] | None = None) -> str | None:
        """With no account yet, create `admin` with a made-up password and print it once; else say how."""
        out = out or sys.stdout
        address = f"http://{self.settings.web.host}:{self.settings.web.port}/"
        if await accounts.count_users(self.db) > 0:
            print(
                f"Dasbor petugas / staff dashboard: {address}\n"
                "Masuk dengan akun petugas; akun baru: python -m bot staff create-user --username NAMA "
                "--role admin|petugas|viewer",
                file=out,
                flush=True,
            )
            return None
        password = accounts.new_password()
        hashed = await asyncio.to_thread(accounts.hash_password, password)
        await self.db.write(
            partial(
                accounts.create_user,
                username="admin",
                display_name="Admin",
                role="admin",
                password_hash=hashed,
                actor="system",
                at=self.clock(),
                must_change_password=True,
            )
        )
        print(
            f"Dasbor petugas / staff dashboard: {address}\n"
            f"Akun pertama dibuat / first account created:  nama pengguna admin,  kata sandi {password}\n"
            "Kata sandi ini hanya ditampilkan sekali dan harus diganti saat pertama masuk; lalu buat akun "
            "untuk tiap petugas.\n"
            "This password is shown only once and must be changed at the first sign-in; then create an "
            "account for each officer.",
            file=out,
            flush=True,
        )
        return password


def form_values(form: Mapping[str, Any] | None) -> dict[str, str]:
    """The text fields of a form, to fill it in again after a refusal."""
    if form is None:
        return {}
    return {k: v for k, v in form.items() if isinstance(v, str) and k != CSRF_FIELD}
