"""Dashboard users: Argon2id hashes in an owner-only file, checked by the real argon2-cffi."""

from __future__ import annotations

import json
import stat

import pytest

from coinium.web.users import UserError, add_user, load_users, users_path, verify_password


def test_adduser_stores_an_argon2id_hash_owner_only(tmp_path):
    add_user(tmp_path, "alice", "a long password", "admin")
    path = users_path(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    stored = json.loads(path.read_text())["users"]["alice"]
    assert stored["hash"].startswith("$argon2id$") and "a long password" not in path.read_text()
    users = load_users(tmp_path)
    assert verify_password(users["alice"], "a long password")
    assert not verify_password(users["alice"], "a long passworD")
    assert not verify_password(None, "a long password")  # unknown user
    assert not verify_password(users["alice"], "x" * 5000)  # over the limit: refused unhashed


def test_a_new_password_replaces_the_old_and_roles_are_kept(tmp_path):
    add_user(tmp_path, "alice", "first password", "admin")
    add_user(tmp_path, "bob", "bobs password", "viewer")
    add_user(tmp_path, "alice", "second password", "admin")
    users = load_users(tmp_path)
    assert not verify_password(users["alice"], "first password")
    assert verify_password(users["alice"], "second password")
    assert users["bob"].role == "viewer" and not users["bob"].is_admin


@pytest.mark.parametrize("name,password,role,message", [
    ("", "long enough", "admin", "user name"),
    ("a b", "long enough", "admin", "user name"),
    ("x" * 65, "long enough", "admin", "user name"),
    ("alice", "short", "admin", "password"),
    ("alice", "long enough", "root", "role"),
])  # fmt: skip
def test_bad_users_are_refused(tmp_path, name, password, role, message):
    with pytest.raises(UserError, match=message):
        add_user(tmp_path, name, password, role)
    assert not users_path(tmp_path).exists()


def test_a_damaged_users_file_is_an_error_not_an_empty_list(tmp_path):
    users_path(tmp_path).write_text('{"users": {"alice": {"role": "admin", "hash": "plain"}}}')
    with pytest.raises(UserError, match="bad role or hash"):
        load_users(tmp_path)
    users_path(tmp_path).write_text("not json")
    with pytest.raises(UserError, match="not a dashboard users file"):
        load_users(tmp_path)
