"""Dashboard users: names with Argon2id password hashes, in ``<datadir>/dashboard_users.json``.

The file is written owner-only (0600) and replaced atomically, as the RPC cookie is. Each user has
a role: ``admin`` may use the admin panel's actions, ``viewer`` may only look (which matters when
the dashboard is served beyond loopback, where every page needs a login).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

USERS_FILE = "dashboard_users.json"
ROLES = ("admin", "viewer")
USER_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 1024  # Argon2 hashes anything, but a login form is no place for a megabyte

# argon2-cffi's defaults are RFC 9106's low-memory recommendation for Argon2id.
_HASHER = PasswordHasher()


class UserError(ValueError):
    """A user name, role or password that cannot be used, or a users file that cannot be read."""


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: str  # one of ROLES
    password_hash: str  # Argon2id, in the PHC string format ($argon2id$v=19$...)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def users_path(datadir: Path) -> Path:
    return datadir / USERS_FILE


def load_users(datadir: Path) -> dict[str, User]:
    path = users_path(datadir)
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
        users = {
            name: User(name, entry["role"], entry["hash"])
            for name, entry in data["users"].items()
        }
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UserError(f"{path}: not a dashboard users file ({exc})") from None
    for user in users.values():
        if user.role not in ROLES or not user.password_hash.startswith("$argon2id$"):
            raise UserError(f"{path}: user {user.name!r} has a bad role or hash")
    return users


def add_user(datadir: Path, name: str, password: str, role: str = "admin") -> User:
    """Create or replace a user (a new password for an existing name replaces the old one)."""
    if not USER_NAME.match(name):
        raise UserError("a user name is 1 to 64 letters, digits, '.', '_' or '-'")
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}")
    if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        raise UserError(f"a password has {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters")
    users = load_users(datadir)
    user = User(name, role, _HASHER.hash(password))
    users[name] = user
    _save(datadir, users)
    return user


def verify_password(user: User | None, password: str) -> bool:
    """True if ``password`` is the user's. An unknown user still costs one hash, so the time
    taken does not tell which names exist."""
    if len(password) > MAX_PASSWORD_CHARS:
        return False
    target = user.password_hash if user is not None else _DUMMY_HASH
    try:
        ok = _HASHER.verify(target, password)
    except (VerificationError, InvalidHashError):
        return False
    return ok and user is not None


_DUMMY_HASH = _HASHER.hash("not a password anyone has")


def _save(datadir: Path, users: dict[str, User]) -> None:
    """Owner-only from the first byte, renamed into place so a reader never sees half a file."""
    datadir.mkdir(parents=True, exist_ok=True)
    path = users_path(datadir)
    tmp = path.with_name(USERS_FILE + ".tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    body = {"users": {u.name: {"role": u.role, "hash": u.password_hash} for u in users.values()}}
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, (json.dumps(body, indent=2) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
