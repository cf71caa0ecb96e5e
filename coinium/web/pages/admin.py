"""Login, logout and the admin panel: ban/unban, disconnect, invalidate/reconsider a block,
start/stop mining, the log level and the log tail.

Every action is a POST carrying the session's CSRF token, from a session whose user is an admin;
anything else is refused (403) before the action runs. Each action is the RPC method of the same
job (`coinium.web.rpc_bridge`), so its checks and effects are exactly the RPC's.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from aiohttp import web

from coinium.rpc.errors import RpcError
from coinium.web import auth
from coinium.web.pages import NavItem
from coinium.web.rpc_bridge import call
from coinium.web.server import DASHBOARD_KEY, NODE_KEY, error_page, render

log = logging.getLogger("coinium.web")

routes = web.RouteTableDef()
NAV = [NavItem("Admin", "/admin", "user-shield")]
LOG_TAIL_BYTES = 16 * 1024
LOG_LEVELS = ("debug", "info", "warning", "error")


def _safe_next(target: str) -> str:
    """Only a path on this site (no open redirect to another host)."""
    return target if target.startswith("/") and not target.startswith("//") else "/admin"


# --- login ------------------------------------------------------------------------------------
@routes.get("/login")
async def login_form(request: web.Request) -> web.Response:
    return render(request, "login.html", {"next": _safe_next(request.query.get("next", "/admin")),
                                          "failed": False})  # fmt: skip


@routes.post("/login")
async def login(request: web.Request) -> web.Response:
    sessions = request.app[DASHBOARD_KEY].sessions
    form = await request.post()
    if not sessions.check_csrf(request, _text(form, auth.CSRF_FIELD)):
        return error_page(request, 403, "Refused", "The form's CSRF token is missing or wrong: "
                          "reload the login page and try again.")  # fmt: skip
    session = await sessions.login(_text(form, "user"), _text(form, "password"))
    target = _safe_next(_text(form, "next") or "/admin")
    if session is None:
        return render(request, "login.html", {"next": target, "failed": True}, status=401)
    response = web.HTTPFound(target)
    auth.set_cookie(response, request, auth.SESSION_COOKIE, session.token,
                    max_age=auth.SESSION_LIFETIME_S)  # fmt: skip
    response.del_cookie(auth.LOGIN_CSRF_COOKIE, path="/")
    raise response


@routes.post("/logout")
async def logout(request: web.Request) -> web.Response:
    sessions = request.app[DASHBOARD_KEY].sessions
    form = await request.post()
    if not sessions.check_csrf(request, _text(form, auth.CSRF_FIELD)):
        return error_page(request, 403, "Refused", "The form's CSRF token is missing or wrong.")
    sessions.logout(request.cookies.get(auth.SESSION_COOKIE))
    response = web.HTTPFound("/")
    response.del_cookie(auth.SESSION_COOKIE, path="/")
    raise response


# --- the panel --------------------------------------------------------------------------------
@routes.get("/admin")
async def panel(request: web.Request) -> web.Response:
    session = request.app[DASHBOARD_KEY].sessions.current(request)
    if session is None:
        raise web.HTTPFound("/login?next=/admin")
    if not session.is_admin:
        return error_page(request, 403, "Admins only", f"{session.user} is a read-only viewer.")
    node = request.app[NODE_KEY]
    context = {
        "log_level": logging.getLevelName(_console_level()).lower(),
        "log_levels": LOG_LEVELS,
        "log_tail": _log_tail(node.options.datadir / "debug.log"),
        "mining": node.miner is not None,
        "miner_address": node.options.miner_address,
    }
    return render(request, "admin.html", context)


def _console_level() -> int:
    """The level of the first handler that filters (the terminal), else the root logger's."""
    root = logging.getLogger()
    levels = [h.level for h in root.handlers if h.level > logging.NOTSET]
    return max(levels) if levels else root.level


def _log_tail(path: Any) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            end = f.tell()
            f.seek(max(0, end - LOG_TAIL_BYTES))
            data = f.read()
    except OSError as exc:
        return f"(cannot read {path}: {exc.strerror})"
    text = data.decode("utf-8", errors="replace")
    return text.split("\n", 1)[1] if end > LOG_TAIL_BYTES and "\n" in text else text


# --- actions ----------------------------------------------------------------------------------
Action = Callable[[Any, Any], Awaitable[str]]
ACTIONS: dict[str, Action] = {}


def action(name: str) -> Callable[[Action], Action]:
    def register(fn: Action) -> Action:
        ACTIONS[name] = fn
        return fn

    return register


@routes.post("/admin/{action}")
async def run_action(request: web.Request) -> web.Response:
    dashboard = request.app[DASHBOARD_KEY]
    session = dashboard.sessions.current(request)
    if session is None:
        return error_page(request, 403, "Refused", "Log in as an admin first.")
    if not session.is_admin:
        return error_page(request, 403, "Refused", f"{session.user} is a read-only viewer.")
    form = await request.post()
    if not dashboard.sessions.check_csrf(request, _text(form, auth.CSRF_FIELD)):
        return error_page(request, 403, "Refused", "The form's CSRF token is missing or wrong.")
    fn = ACTIONS.get(request.match_info["action"])
    if fn is None:
        raise web.HTTPNotFound()
    back = _safe_next(_text(form, "back") or "/admin")
    joiner = "&" if "?" in back else "?"
    try:
        done = await fn(request.app[NODE_KEY], form)
    except RpcError as exc:
        raise web.HTTPFound(f"{back}{joiner}error={quote(exc.message[:300])}") from None
    log.info("dashboard: %s: %s", session.user, done)
    raise web.HTTPFound(f"{back}{joiner}done={quote(done)}")


@action("ban")
async def ban(node: Any, form: Any) -> str:
    subject = _text(form, "subject")
    await call(node, "setban", subject, "add", _int(form, "bantime"))
    return f"banned {subject}"


@action("unban")
async def unban(node: Any, form: Any) -> str:
    subject = _text(form, "subject")
    await call(node, "setban", subject, "remove")
    return f"unbanned {subject}"


@action("disconnect")
async def disconnect(node: Any, form: Any) -> str:
    peer_id = _int(form, "nodeid")
    await call(node, "disconnectnode", "", peer_id)
    return f"disconnected peer {peer_id}"


@action("invalidate")
async def invalidate(node: Any, form: Any) -> str:
    block_hash = _text(form, "blockhash")
    await call(node, "invalidateblock", block_hash)
    return f"invalidated block {block_hash}"


@action("reconsider")
async def reconsider(node: Any, form: Any) -> str:
    block_hash = _text(form, "blockhash")
    await call(node, "reconsiderblock", block_hash)
    return f"reconsidered block {block_hash}"


@action("mining")
async def mining(node: Any, form: Any) -> str:
    on = _text(form, "generate") == "on"
    await call(node, "setgenerate", on)
    return "mining started" if on else "mining stopped"


@action("loglevel")
async def loglevel(node: Any, form: Any) -> str:
    """The terminal's level (debug.log always gets everything, as the node sets it up)."""
    level = _text(form, "level").lower()
    if level not in LOG_LEVELS:
        raise RpcError(-8, f"log level must be one of {', '.join(LOG_LEVELS)}")
    for handler in logging.getLogger().handlers:
        if not isinstance(handler, logging.FileHandler):
            handler.setLevel(getattr(logging, level.upper()))
    return f"log level set to {level}"


def _text(form: Any, key: str) -> str:
    value = form.get(key, "")
    return value.strip() if isinstance(value, str) else ""


def _int(form: Any, key: str) -> int:
    text = _text(form, key) or "0"
    if not text.isdigit() or len(text) > 12:
        raise RpcError(-8, f"{key} must be a whole number")
    return int(text)
