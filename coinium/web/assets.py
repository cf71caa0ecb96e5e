"""Bootstrap 5 and Font Awesome, served by the node from the packages pip installed.

Bootstrap 5.3 comes from ``django-js-lib-bootstrap5`` (a plain wheel of Bootstrap's dist files;
it needs nothing from Django: we read its files only) and Font Awesome from
``xstatic-font-awesome``. ``xstatic-bootstrap`` ships Bootstrap 5 only as a source package that
no longer builds with current setuptools, so it cannot be the one. Nothing comes from a CDN: a
node may be offline. Our own small script and style sheet live in ``coinium/web/static``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


# URL prefix -> folder on disk.
def asset_folders() -> dict[str, Path]:
    bootstrap = resources.files("js_lib_bootstrap5") / "static" / "js-lib-bootstrap5"
    font_awesome = resources.files("xstatic.pkg.font_awesome") / "data"
    own = resources.files("coinium.web") / "static"
    return {
        "/static/bootstrap": Path(str(bootstrap)),
        "/static/fontawesome": Path(str(font_awesome)),
        "/static/coinium": Path(str(own)),
    }
