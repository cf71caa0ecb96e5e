"""Logging for the node: everything to ``debug.log`` in the datadir, progress to the terminal.

``debug.log`` rotates: past ``DEBUG_LOG_MAX_BYTES`` it becomes ``debug.log.1`` (the older ones
move up, the oldest of ``DEBUG_LOG_BACKUPS`` is deleted), so the log never takes more than
(1 + backups) x the limit, whatever a client or peer makes the node log. bitcoind shrinks
debug.log only at start (``-shrinkdebugfile``); a rotating file bounds it while running too.
"""

from __future__ import annotations

import logging
import sys
import time
from logging.handlers import RotatingFileHandler
from pathlib import Path

FILE_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
DEBUG_LOG_MAX_BYTES = 16 << 20
DEBUG_LOG_BACKUPS = 3
LOG_RETRY_S = 30.0  # after a failed write (a full disk), lines are dropped this long


class DebugLogHandler(RotatingFileHandler):
    """A rotating file that, when it cannot be written (a full disk), says so once on stderr and
    drops lines for a while, instead of a "--- Logging error ---" traceback per line."""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self._failing_since: float | None = None
        self._failed = False

    def emit(self, record: logging.LogRecord) -> None:
        since = self._failing_since
        if since is not None and time.monotonic() - since < LOG_RETRY_S:
            return
        self._failed = False
        super().emit(record)
        if not self._failed and since is not None:
            self._failing_since = None
            sys.stderr.write(f"coinium: writing {self.baseFilename} again\n")

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        self._failed = True
        if self._failing_since is None:
            error = sys.exc_info()[1]
            sys.stderr.write(f"coinium: cannot write {self.baseFilename} ({error}); log lines are "
                             f"dropped, retrying every {LOG_RETRY_S:.0f} s\n")
        self._failing_since = time.monotonic()


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
    file_handler = DebugLogHandler(datadir / "debug.log", maxBytes=max_bytes,
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
