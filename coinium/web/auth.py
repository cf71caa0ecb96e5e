"""Logins, sessions and CSRF tokens for the dashboard.

A login checks a dashboard user's Argon2id hash (`coinium.web.users`) or, as the issue allows, the
node's ``rpcauth`` credentials (an admin). A session is a random token in a cookie that is
HttpOnly and SameSite=Strict, and Secure when the request came over HTTPS (directly or through a
TLS proxy on this machine: `came_over_https`), held in memory only:
a node restart logs everyone out. Each session carries its own CSRF token, which every form posts
back; before login, the login form's token is a random cookie of its own (double submit). Tokens
are compared in constant time.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from coinium.web import users as user_store

log = logging.getLogger("coinium.web")

SESSION_COOKIE = "coinium_session"
LOGIN_CSRF_COOKIE = "coinium_login_csrf"
CSRF_FIELD = "csrf_token"
SESSION_LIFETIME_S = 12 * 3600
MAX_SESSIONS = 1000  # the oldest is dropped past this: logins cannot grow memory without bound
WRONG_PASSWORD_DELAY_S = 0.25  # bitcoind's brake on guessing, per attempt, on this request only
# A login-form token minted for this request, which `server.render` then sets as a cookie.
NEW_LOGIN_CSRF: Any = (web.RequestKey("coinium_new_login_csrf", str)
                       if hasattr(web, "RequestKey") else "coinium_new_login_csrf")  # fmt: skip


@dataclass(slots=True)
class Session:
    token: str
    user: str
    role: str
    csrf: str
    expires: float  # time.monotonic()

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class Sessions:
    def __init__(self, datadir: Any, rpc_auth_lines: list[Any]):
        self.datadir = datadir
        self.rpc_auth_lines = rpc_auth_lines
        self._sessions: OrderedDict[str, Session] = OrderedDict()

    # --- login --------------------------------------------------------------------------------
    async def login(self, name: str, password: str) -> Session | None:
        """A new session for right credentials; None (after a short delay) for wrong ones."""
        role = await asyncio.get_running_loop().run_in_executor(None, self._check, name, password)
        if role is None:
            log.warning("dashboard: failed login for %r", name[:64])
            await asyncio.sleep(WRONG_PASSWORD_DELAY_S)
            return None
        session = Session(secrets.token_urlsafe(32), name, role, secrets.token_urlsafe(32),
                          time.monotonic() + SESSION_LIFETIME_S)  # fmt: skip
        self._sessions[session.token] = session
        while len(self._sessions) > MAX_SESSIONS:
            self._sessions.popitem(last=False)
        log.info("dashboard: %s logged in (%s)", name, role)
        return session

    def _check(self, name: str, password: str) -> str | None:
        """The role these credentials have, or None. Runs off the event loop (Argon2 is slow)."""
        users = user_store.load_users(self.datadir)
        user = users.get(name)
        if user_store.verify_password(user, password):
            return user.role  # type: ignore[union-attr]
        if any([line.accepts(name, password) for line in self.rpc_auth_lines]):  # no early exit
            return "admin"
        return None

    def logout(self, token: str | None) -> None:
        if token:
            self._sessions.pop(token, None)

    # --- per request --------------------------------------------------------------------------
    def current(self, request: web.Request) -> Session | None:
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            return None
        session = self._sessions.get(token)
        if session is None:
            return None
        if session.expires < time.monotonic():
            del self._sessions[token]
            return None
        return session

    def csrf_for(self, request: web.Request) -> str:
        """The token the page's forms carry: the session's, or the login form's cookie."""
        session = self.current(request)
        if session is not None:
            return session.csrf
        token = request.cookies.get(LOGIN_CSRF_COOKIE)
        if not token or len(token) > 100:
            token = secrets.token_urlsafe(32)
            request[NEW_LOGIN_CSRF] = token  # the page's renderer sets the cookie
        return token

    def check_csrf(self, request: web.Request, posted: str | None) -> bool:
        session = self.current(request)
        expected = session.csrf if session is not None else request.cookies.get(LOGIN_CSRF_COOKIE)
        if not expected or not posted:
            return False
        return hmac.compare_digest(expected.encode(), posted.encode())


def set_cookie(response: web.StreamResponse, request: web.Request, name: str, value: str,
               max_age: int | None = None) -> None:  # fmt: skip
    response.set_cookie(name, value, max_age=max_age, path="/", httponly=True,
                        samesite="Strict", secure=came_over_https(request))  # fmt: skip


def came_over_https(request: web.Request) -> bool:
    """TLS to us, or to a TLS proxy on this machine that says so (X-Forwarded-Proto). Only then
    are cookies marked Secure: a browser would not send a Secure cookie back over plain HTTP."""
    if request.secure:
        return True
    local_proxy = request.remote in ("127.0.0.1", "::1")
    return local_proxy and request.headers.get("X-Forwarded-Proto", "").lower() == "https"
