"""Helpers for the dashboard tests: a regtest node with ``--dashboard``, a dashboard user, a
headless Chromium (Debian's chromium and chromium-driver, driven by selenium), and plain HTTP
with cookies for the requests a browser would never send (missing or wrong CSRF tokens)."""

from __future__ import annotations

import http.cookiejar
import os
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from nodeproc import REPO_ROOT, NodeProcess, free_port

# Screenshots of every page land here (the CI log names the folder; look at them).
SCREENSHOT_DIR = REPO_ROOT / "test-output" / "dashboard-screenshots"
ADMIN, ADMIN_PASSWORD = "alice", "correct horse battery"
VIEWER, VIEWER_PASSWORD = "victor", "only looking here"
CHROMIUM_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
DRIVER_PATHS = ("/usr/bin/chromedriver",)


def add_user(node: NodeProcess, name: str, password: str, role: str = "admin") -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    subprocess.run([sys.executable, "-m", "coinium", "dashboard", "adduser", "--datadir",
                    str(node.base_dir), "--network", node.network, "--role", role,
                    "--password-stdin", name], input=password + "\n", text=True, check=True,
                   env=env, capture_output=True)  # fmt: skip


def dashboard_node(base_dir: Path, extra: tuple[str, ...] = ()) -> NodeProcess:
    """A node (not started) with the dashboard on a free port; ``node.dashboard_url``."""
    port = free_port()
    node = NodeProcess(base_dir, extra_args=("--dashboard", "--dashboard-port", str(port),
                                             *extra))  # fmt: skip
    node.dashboard_url = f"http://127.0.0.1:{port}"  # type: ignore[attr-defined]
    return node


def find_browser() -> tuple[str, str] | None:
    browser = next((p for p in CHROMIUM_PATHS if Path(p).exists()), shutil.which("chromium"))
    driver = next((p for p in DRIVER_PATHS if Path(p).exists()), shutil.which("chromedriver"))
    return (browser, driver) if browser and driver else None


def make_browser():
    """Headless Chromium; skipped where it is not installed, except in CI (.ci/run installs it:
    a missing browser there is a failure, not a skip)."""
    found = find_browser()
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium and chromium-driver are not installed (.ci/run installs them)")
        pytest.skip("chromium / chromium-driver not installed (apt-get install chromium "
                    "chromium-driver)")  # fmt: skip
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = found[0]
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1000", "--no-first-run", "--disable-extensions"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(found[1]), options=options)
    driver.set_page_load_timeout(30)
    return driver


def screenshot(driver, name: str) -> Path:
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOT_DIR / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


class WebClient:
    """A cookie-keeping HTTP client that does not follow redirects (tests look at them)."""

    def __init__(self, base: str):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar),
                                                  _NoRedirect())  # fmt: skip

    def request(self, path: str, form: dict[str, str] | None = None) -> tuple[int, dict, str]:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        request = urllib.request.Request(self.base + path, data=data)
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, dict(response.headers), response.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, dict(err.headers), err.read().decode(errors="replace")

    def csrf_token(self, path: str) -> str:
        _, _, body = self.request(path)
        match = re.search(r'name="csrf_token" value="([^"]+)"', body)
        assert match, f"no CSRF token on {path}"
        return match.group(1)

    def login(self, user: str, password: str) -> int:
        token = self.csrf_token("/login")
        status, _, _ = self.request("/login", {"csrf_token": token, "user": user,
                                               "password": password, "next": "/admin"})
        return status


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None
