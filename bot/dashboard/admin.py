"""Signing in and out, the language switch, and the admin pages: accounts, settings, the audit log."""

import asyncio
import math
from dataclasses import asdict
from datetime import timedelta
from functools import partial
from typing import Any

from pydantic import SecretStr
from starlette.responses import RedirectResponse, Response

from bot.dashboard import accounts
from bot.dashboard.accounts import AccountError
from bot.dashboard.app import LANG_COOKIE, SESSION_COOKIE, Ctx, Dashboard, safe_next
from bot.web import client_address
from handlers.i18n import LANGUAGES
from storage import dashboard as reads
from storage import repo

AUDIT_PAGE = 100


def register(d: Dashboard) -> None:
    """Add these pages to the dashboard."""
    d.route("/login", login_page, role=None)
    d.route("/login", login, role=None, methods=("POST",))
    d.route("/logout", logout, role="viewer", methods=("POST",))
    d.route("/password", password_page, role="viewer")
    d.route("/password", change_password, role="viewer", methods=("POST",))
    d.route("/lang", switch_language, role=None, methods=("POST",))
    d.route("/accounts", accounts_page, role="admin")
    d.route("/accounts", create_account, role="admin", methods=("POST",))
    d.route("/accounts/{user_id:int}", change_account, role="admin", methods=("POST",))
    d.route("/settings", settings_page, role="admin")
    d.route("/audit", audit_page, role="admin")


async def login_page(ctx: Ctx) -> Response:
    """The sign-in form (or on to the dashboard when already signed in)."""
    if ctx.session is not None:
        return RedirectResponse(safe_next(ctx.query("next")), status_code=303)
    return ctx.render("login.html", next=safe_next(ctx.query("next")), problem=None, username="")


def _wait_text(ctx: Ctx, seconds: float) -> str:
    if seconds < 60:
        return ctx.msg("login.too_many_seconds", seconds=max(1, math.ceil(seconds)))
    return ctx.msg("login.too_many", minutes=math.ceil(seconds / 60))


async def login(ctx: Ctx) -> Response:
    """Check the password, after the sign-in limits (so a held-back guess costs no argon2 work)."""
    username = ctx.field("username", limit=64).lower()
    password = ctx.field("password", limit=256)
    target = safe_next(ctx.field("next"))
    address = client_address(ctx.request, ctx.d.trusted_proxies)
    gate = partial(accounts.login_gate, username=username, address=address, policy=ctx.d.login_policy)
    wait = await ctx.d.db.write(partial(gate, at=ctx.now))
    if wait > 0:
        return ctx.render(
            "login.html", status=429, next=target, problem=_wait_text(ctx, wait), username=username
        )
    found = await accounts.password_hash_of(ctx.d.db, username) if username else None
    ok = await asyncio.to_thread(accounts.check_password, found[1] if found else None, password)
    if found is None or not ok:
        await ctx.audit("login.failed", target=f"user:{username}", detail=f"address {address}")
        problem = ctx.msg("login.wrong")
        return ctx.render("login.html", status=401, next=target, problem=problem, username=username)
    await ctx.d.db.write(partial(accounts.login_succeeded, username=username, address=address))
    lifetime = ctx.d.config.session_max_hours
    token, _ = await ctx.d.db.write(
        partial(accounts.start_session, user_id=found[0], at=ctx.now, lifetime=timedelta(hours=lifetime))
    )
    await ctx.d.db.write(
        partial(
            repo.audit,
            actor=f"staff:{username}",
            action="login",
            at=ctx.now,
            detail=f"address {address}",
        )
    )
    ctx.cookies.append((SESSION_COOKIE, token, int(lifetime * 3600)))
    return ctx.redirect(target)


async def password_page(ctx: Ctx) -> Response:
    """Change your own password (required first for the made-up first admin password)."""
    return ctx.render("password.html", problem=None, required=ctx.user.must_change_password)


async def change_password(ctx: Ctx) -> Response:
    """Check the current password (after the sign-in limits), then set the new one; sign in afresh."""
    current = ctx.field("current", limit=256)
    new = ctx.field("new", limit=256)
    repeat = ctx.field("repeat", limit=256)
    user = ctx.user
    address = client_address(ctx.request, ctx.d.trusted_proxies)

    def refuse(key: str, status: int = 400, **values: Any) -> Response:
        return ctx.render(
            "password.html", status=status, problem=ctx.msg(key, **values), required=user.must_change_password
        )

    gate = partial(accounts.login_gate, username=user.username, address=address, policy=ctx.d.login_policy)
    wait = await ctx.d.db.write(partial(gate, at=ctx.now))
    if wait > 0:
        return ctx.render(
            "password.html", status=429, problem=_wait_text(ctx, wait), required=user.must_change_password
        )
    found = await accounts.password_hash_of(ctx.d.db, user.username)
    if found is None or not await asyncio.to_thread(accounts.check_password, found[1], current):
        return refuse("password.wrong_current", status=401)
    await ctx.d.db.write(partial(accounts.login_succeeded, username=user.username, address=address))
    if new != repeat:
        return refuse("password.mismatch")
    if len(new) < accounts.MIN_PASSWORD:
        return refuse("password.too_short", minimum=accounts.MIN_PASSWORD)
    if new == current:
        return refuse("password.same")
    hashed = await asyncio.to_thread(accounts.hash_password, new)
    await ctx.d.db.write(
        partial(accounts.set_own_password, user_id=user.id, password_hash=hashed, at=ctx.now)
    )
    lifetime = ctx.d.config.session_max_hours
    token, _ = await ctx.d.db.write(
        partial(accounts.start_session, user_id=user.id, at=ctx.now, lifetime=timedelta(hours=lifetime))
    )
    ctx.cookies.append((SESSION_COOKIE, token, int(lifetime * 3600)))
    return ctx.redirect("/", done="password")


async def logout(ctx: Ctx) -> Response:
    """End the session."""
    assert ctx.session is not None
    await ctx.d.db.write(partial(accounts.end_session, token_hash=ctx.session.token_hash))
    await ctx.audit("logout")
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


async def switch_language(ctx: Ctx) -> Response:
    """Bahasa Indonesia or English for this browser."""
    chosen = ctx.field("lang")
    if chosen in LANGUAGES:
        ctx.cookies.append((LANG_COOKIE, chosen, 365 * 24 * 3600))
    return ctx.redirect(safe_next(ctx.field("next")))


async def _accounts(ctx: Ctx, status: int = 200, **values: Any) -> Response:
    users = await accounts.list_users(ctx.d.db)
    values.setdefault("problem", None)
    values.setdefault("created", None)
    values.setdefault("values", {})
    return ctx.render("accounts.html", status=status, users=users, roles=accounts.ROLES, **values)


async def accounts_page(ctx: Ctx) -> Response:
    """Every account, with forms to add one and to change one."""
    return await _accounts(ctx)


async def create_account(ctx: Ctx) -> Response:
    """Add an account; a password left empty is made up and shown once."""
    username = ctx.field("username", limit=64)
    role = ctx.field("role")
    display_name = ctx.field("display_name", limit=80)
    password = ctx.field("password", limit=256)
    generated = not password
    if generated:
        password = accounts.new_password()
    try:
        accounts.validate(username, role, password)
        hashed = await asyncio.to_thread(accounts.hash_password, password)
        await ctx.d.db.write(
            partial(
                accounts.create_user,
                username=username,
                display_name=display_name,
                role=role,
                password_hash=hashed,
                actor=ctx.user.actor,
                at=ctx.now,
            )
        )
    except AccountError as error:
        values = {"username": username, "display_name": display_name, "role": role}
        return await _accounts(ctx, 400, problem=ctx.msg(f"account.{error.reason}"), values=values)
    created = {"username": username.strip().lower(), "password": password if generated else None}
    return await _accounts(ctx, created=created)


async def change_account(ctx: Ctx) -> Response:
    """Change a role, switch an account off or on, or give it a new password (shown once)."""
    user_id = int(ctx.request.path_params["user_id"])
    action = ctx.field("action")
    changes: dict[str, Any] = {}
    password = None
    if action == "role":
        changes["role"] = ctx.field("role")
    elif action in ("disable", "enable"):
        changes["active"] = action == "enable"
    elif action == "password":
        password = accounts.new_password()
        changes["password_hash"] = await asyncio.to_thread(accounts.hash_password, password)
    else:
        return await _accounts(ctx, 400, problem=ctx.msg("refused.bad_form"))
    try:
        await ctx.d.db.write(
            partial(accounts.update_user, user_id=user_id, actor=ctx.user.actor, at=ctx.now, **changes)
        )
    except AccountError as error:
        return await _accounts(ctx, 400, problem=ctx.msg(f"account.{error.reason}"))
    if password is not None:
        username = next((u.username for u in await accounts.list_users(ctx.d.db) if u.id == user_id), "")
        return await _accounts(ctx, created={"username": username, "password": password})
    return ctx.redirect("/accounts", done="account")


def _setting_rows(ctx: Ctx) -> list[tuple[str, list[tuple[str, str]]]]:
    settings = ctx.d.settings
    groups = [
        ("store", settings.store),
        ("service", settings.service),
        ("web", settings.web),
        ("dashboard", settings.dashboard),
        ("outreach", settings.outreach),
        ("telegram", settings.telegram),
        ("whatsapp", settings.whatsapp),
    ]
    shown: list[tuple[str, list[tuple[str, str]]]] = []
    for name, group in groups:
        rows = []
        for key, value in group.model_dump().items():
            if isinstance(getattr(group, key), SecretStr) or "secret" in key or "token" in key:
                text = ctx.msg("settings.secret_set") if value else ctx.msg("settings.secret_empty")
            else:
                text = "-" if value in (None, "") else str(value)
            rows.append((key, text))
        shown.append((name, rows))
    return shown


async def settings_page(ctx: Ctx) -> Response:
    """The settings in force (secrets only say whether they are set); they change in the environment."""
    return ctx.render("settings.html", groups=_setting_rows(ctx))


def action_words(ctx: Ctx, action: str) -> str:
    """`case.view` -> "Membuka kasus"; an action the catalog does not know is shown as recorded."""
    key = f"audit_action.{action.replace('.', '_')}"
    return ctx.msg(key) if ctx.d.ui.has(key) else action


PARTY_KINDS = ("staff", "user", "telegram", "broadcast", "programme", "reminder", "outbox", "person")


def party_words(ctx: Ctx, value: str) -> str:
    """Who acted or what was acted on, in words: `contact:web:warga1` -> "Warga Simulator warga1".

    A citizen's phone number is shown masked; case references and anything unknown stay as they are."""
    kind, _, rest = value.partition(":")
    if kind == "contact" and ":" in rest:
        channel, _, who = rest.partition(":")
        name = ctx.msg(f"channel.{channel}") if ctx.d.ui.has(f"channel.{channel}") else channel
        masked = who if len(who) <= 8 else f"{who[:4]}{'*' * (len(who) - 8)}{who[-4:]}"
        return ctx.msg("audit_target.contact", channel=name, who=masked)
    if kind in PARTY_KINDS and rest:
        if kind in ("staff", "user", "telegram"):
            return ctx.msg(f"audit_target.{kind}", who=rest)
        return ctx.msg(f"audit_target.{kind}", id=rest)
    return value


async def audit_page(ctx: Ctx) -> Response:
    """The audit log, newest first, filtered by staff member or action."""
    actor = ctx.query("actor")
    action = ctx.query("action")
    before = ctx.query("before")
    rows = await reads.audit_lines(
        ctx.d.db,
        actor=(actor if ":" in actor else f"staff:{actor}") if actor else None,
        action_prefix=action or None,
        before_id=int(before) if before.isdigit() else None,
        limit=AUDIT_PAGE + 1,
    )
    more = len(rows) > AUDIT_PAGE
    rows = rows[:AUDIT_PAGE]
    worded = [
        asdict(row)
        | {
            "action_words": action_words(ctx, row.action),
            "actor_words": party_words(ctx, row.actor),
            "target_words": party_words(ctx, row.target) if row.target else "",
        }
        for row in rows
    ]
    return ctx.render(
        "audit.html",
        rows=worded,
        actor=actor,
        action=action,
        older=rows[-1].id if more and rows else None,
    )
