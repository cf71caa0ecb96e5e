"""Logging for the node: everything to ``debug.log`` in the datadir, progress to the terminal.

``debug.log`` rotates: past ``DEBUG_LOG_MAX_BYTES`` it becomes ``debug.log.1`` (the older ones
move up, the oldest of ``DEBUG_LOG_BACKUPS`` is deleted), so the log never takes more than
(1 + backups) x the limit, whatever a client or peer makes the node log. bitcoind shrinks
debug.log only at start (``-shrinkdebugfile``); a rotating file bounds it while running too.
"""

from __future__ import annotations

import logging
import sys
from logging.handlers import RotatingFileHandler
from pathlib import Path

FILE_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
DEBUG_LOG_MAX_BYTES = 16 << 20
DEBUG_LOG_BACKUPS = 3
# Libraries that log a traceback per malformed request or connection at DEBUG: client input.
_QUIET_LIBRARIES = ("aiohttp.server", "aiohttp.access", "aiohttp.web", "asyncio")


def configure_logging(datadir: Path, level: str, console: bool,
                      max_bytes: int = DEBUG_LOG_MAX_BYTES,
                      backups: int = DEBUG_LOG_BACKUPS) -> None:  # fmt: skip
    root = logging.getLogger()
    root.setLevel(logging.DEBUG)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    datadir.mkdir(parents=True, exist_ok=True)
    file_handler = RotatingFileHandler(datadir / "debug.log", maxBytes=max_bytes,
                                       backupCount=backups, encoding="utf-8")  # fmt: skip
    file_handler.setFormatter(logging.Formatter(FILE_FORMAT))
    file_handler.setLevel(logging.DEBUG)
    root.addHandler(file_handler)
    for name in _QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(logging.WARNING)
    if console:
        if sys.stderr.isatty():
            from rich.logging import RichHandler

            term: logging.Handler = RichHandler(show_path=False, log_time_format="%H:%M:%S")
        else:
            term = logging.StreamHandler(sys.stderr)
            term.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s",
                                                "%H:%M:%S"))  # fmt: skip
        term.setLevel(getattr(logging, level.upper()))
        root.addHandler(term)
