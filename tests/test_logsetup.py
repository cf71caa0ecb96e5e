"""debug.log rotates and stays bounded, whatever is logged."""

from __future__ import annotations

import logging

from coinium.logsetup import configure_logging


def test_debug_log_rotates_within_its_bound(tmp_path):
    root = logging.getLogger()
    saved = list(root.handlers), root.level
    try:
        configure_logging(tmp_path, "info", console=False, max_bytes=20_000, backups=2)
        log = logging.getLogger("coinium.test")
        for i in range(2000):
            log.warning("incorrect password attempt from 127.0.0.%d", i % 250)
        files = sorted(p.name for p in tmp_path.iterdir())
        assert files == ["debug.log", "debug.log.1", "debug.log.2"]
        assert sum(p.stat().st_size for p in tmp_path.iterdir()) <= 3 * 20_000
        assert logging.getLogger("aiohttp.server").getEffectiveLevel() == logging.WARNING
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
            handler.close()
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
