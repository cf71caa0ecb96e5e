"""The dashboard's HTTP server: the aiohttp app factory, its middlewares and its lifecycle.

It runs in the node's process and event loop, off by default (``--dashboard``). Pages are
registered by the modules of `coinium.web.pages` (one per page), the live hub is a chain and
mempool listener like the ZMQ publisher, and ``/metrics`` serves Prometheus text.

Bound to 127.0.0.1 unless ``--dashboard-bind`` says otherwise; on any other address it refuses to
start unless a dashboard user (``coinium dashboard adduser``) or an rpcauth line exists, and then
every page needs a login. On loopback the read-only pages are open (as the node's own machine
is), and the admin panel always needs an admin login.
"""

from __future__ import annotations

import base64
import binascii
import logging
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web

from coinium.config import LOOPBACK_HOSTS, ConfigError
from coinium.rpc.errors import RpcError
from coinium.web import auth, pages
from coinium.web.assets import asset_folders
from coinium.web.formats import FILTERS
from coinium.web.live import LiveHub
from coinium.web.metrics import CONTENT_TYPE, Metrics
from coinium.web.page_args import PageError

log = logging.getLogger("coinium.web")

NODE_KEY: web.AppKey[Any] = web.AppKey("node", object)
DASHBOARD_KEY: web.AppKey[Any] = web.AppKey("dashboard", object)
PORT_OFFSET = 1000  # default dashboard port: the network's RPC port + this
MAX_REQUEST_BYTES = 64 * 1024  # forms are small; nothing larger is read
OPEN_PATHS = ("/login", "/static/")  # reachable without a session when every page needs one
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
       "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; form-action 'self'")


class DashboardRefused(ConfigError):
    """The dashboard will not start as configured (a public address without any login)."""


class DashboardServer:
    def __init__(self, node: Any):
        self.node = node
        self.options = node.options.dashboard
        self.sessions = auth.Sessions(node.options.datadir, getattr(node.rpc, "auth_lines", []))
        self.hub = LiveHub(node)
        self.metrics = Metrics(node)
        self.port: int | None = None
        self._runner: web.AppRunner | None = None

    @property
    def public(self) -> bool:
        """Served beyond loopback: every page then needs a login."""
        return self.options.bind not in LOOPBACK_HOSTS

    async def start(self) -> None:
        refuse_without_password(self.node.options)
        node = self.node
        node.listeners.extend([self.hub, self.metrics])
        node.mempool.listeners.append(self.hub)
        node.connect_timers.append(self.metrics.block_timed)
        if node.rpc is not None:
            node.rpc.call_timers.append(self.metrics.rpc_timed)
        self.hub.start()
        app = build_app(self)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        port = self.options.port or node.params.rpc_port + PORT_OFFSET
        try:
            await web.TCPSite(runner, self.options.bind, port).start()
        except BaseException:
            await runner.cleanup()
            await self.hub.stop()
            raise
        self._runner = runner
        self.port = runner.addresses[0][1]
        log.info("dashboard on http://%s:%d/", self.options.bind, self.port)

    async def stop(self) -> None:
        await self.hub.stop()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
        node = self.node
        for listener in (self.hub, self.metrics):
            if listener in node.listeners:
                node.listeners.remove(listener)
        if self.hub in node.mempool.listeners:
            node.mempool.listeners.remove(self.hub)
        if self.metrics.block_timed in node.connect_timers:
            node.connect_timers.remove(self.metrics.block_timed)
        if node.rpc is not None and self.metrics.rpc_timed in node.rpc.call_timers:
            node.rpc.call_timers.remove(self.metrics.rpc_timed)


def refuse_without_password(options: Any) -> None:
    """Raise `DashboardRefused` for a dashboard beyond loopback with no login to protect it.
    The node calls this before it starts anything else, so a refusal leaves nothing behind."""
    from coinium.web.users import load_users

    dashboard = options.dashboard
    if dashboard.bind in LOOPBACK_HOSTS or options.rpc_auth or load_users(options.datadir):
        return
    raise DashboardRefused(
        f"the dashboard would listen on {dashboard.bind}, beyond this machine, with no "
        "password set: add a user with `coinium dashboard adduser` first, or keep "
        "--dashboard-bind 127.0.0.1")  # fmt: skip


def build_app(dashboard: DashboardServer) -> web.Application:
    """The aiohttp application: middlewares, templates, assets, pages, live socket, metrics."""
    app = web.Application(client_max_size=MAX_REQUEST_BYTES,
                          middlewares=[_headers, _errors, _login_wall])  # fmt: skip
    app[NODE_KEY] = dashboard.node
    app[DASHBOARD_KEY] = dashboard
    aiohttp_jinja2.setup(
        app, loader=jinja2.PackageLoader("coinium.web", "templates"), autoescape=True,
        context_processors=[_page_context],
    )  # fmt: skip
    aiohttp_jinja2.get_env(app).filters.update(FILTERS)
    for prefix, folder in asset_folders().items():
        app.router.add_static(prefix, folder, append_version=False)
    app.router.add_get("/ws", dashboard.hub.handle)
    app.router.add_get("/metrics", _metrics)
    pages.install(app)
    return app


# --- rendering --------------------------------------------------------------------------------
async def _page_context(request: web.Request) -> dict[str, Any]:
    dashboard: DashboardServer = request.app[DASHBOARD_KEY]
    session = dashboard.sessions.current(request)
    return {
        "nav": pages.NAV,
        "path": request.path,
        "network": dashboard.node.params.name,
        "session": session,
        "csrf_token": dashboard.sessions.csrf_for(request),
        "csrf_field": auth.CSRF_FIELD,
        # What an admin action just did (or why it failed), after its redirect back.
        "flash_done": request.query.get("done", "")[:300],
        "flash_error": request.query.get("error", "")[:300],
    }


def render(request: web.Request, template: str, context: dict[str, Any],
           status: int = 200) -> web.Response:  # fmt: skip
    response = aiohttp_jinja2.render_template(template, request, context, status=status)
    token = request.get(auth.NEW_LOGIN_CSRF)
    if token:
        auth.set_cookie(response, request, auth.LOGIN_CSRF_COOKIE, token)
    return response


def error_page(request: web.Request, status: int, title: str, message: str) -> web.Response:
    return render(request, "error.html", {"title": title, "message": message}, status=status)


# --- middlewares ------------------------------------------------------------------------------
@web.middleware
async def _headers(request: web.Request, handler: Any) -> web.StreamResponse:
    response = await handler(request)
    if not response.prepared:  # a WebSocket has sent its headers already
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


@web.middleware
async def _errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """Unknown pages 404 with a page; an RPC error a page raised is shown, not a traceback."""
    try:
        return await handler(request)
    except web.HTTPNotFound:
        return error_page(request, 404, "Not found",
                          f"There is no page at {request.path}.")  # fmt: skip
    except web.HTTPMethodNotAllowed:
        return error_page(request, 405, "Method not allowed",
                          f"{request.method} is not allowed here.")  # fmt: skip
    except PageError as exc:  # a bad parameter (400) or nothing at it (404)
        return error_page(request, exc.status, exc.title, exc.message)
    except RpcError as exc:
        return error_page(request, 400, "Cannot show that", exc.message)
    except web.HTTPException:
        raise
    except Exception:  # a bug in a page: say so, log it, keep serving
        log.exception("dashboard: %s %s failed", request.method, request.path)
        return error_page(request, 500, "Internal error", "This page failed; the node's log "
                          "has the details.")  # fmt: skip


@web.middleware
async def _login_wall(request: web.Request, handler: Any) -> web.StreamResponse:
    """Beyond loopback, every page needs a session; /metrics also takes HTTP Basic of a user.
    On loopback, a request must name a loopback host: a web page whose name was re-pointed at
    127.0.0.1 (DNS rebinding) cannot read the dashboard through the visitor's browser."""
    dashboard: DashboardServer = request.app[DASHBOARD_KEY]
    if not dashboard.public:
        if (request.url.host or "").strip("[]") not in LOOPBACK_HOSTS:
            return web.Response(status=421, text="this dashboard answers to 127.0.0.1 only")
        return await handler(request)
    if request.path.startswith(OPEN_PATHS):
        return await handler(request)
    if dashboard.sessions.current(request) is not None:
        return await handler(request)
    if request.path == "/metrics" and await _basic_auth_ok(dashboard, request):
        return await handler(request)
    if request.path in ("/metrics", "/ws"):
        raise web.HTTPUnauthorized(headers={"WWW-Authenticate": 'Basic realm="coinium"'})
    raise web.HTTPFound("/login?next=" + request.path)


async def _basic_auth_ok(dashboard: DashboardServer, request: web.Request) -> bool:
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    if scheme != "Basic":
        return False
    try:
        name, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    session = await dashboard.sessions.login(name, password)
    if session is None:
        return False
    dashboard.sessions.logout(session.token)  # a scrape needs no session kept
    return True


async def _metrics(request: web.Request) -> web.Response:
    dashboard: DashboardServer = request.app[DASHBOARD_KEY]
    body = await dashboard.metrics.scrape(len(dashboard.hub.clients), dashboard.hub.shed_count)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})
