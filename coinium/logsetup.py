"""Logging for the node: everything to ``debug.log`` in the datadir, progress to the terminal."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

FILE_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def configure_logging(datadir: Path, level: str, console: bool) -> None:
    root = logging.getLogger()
    root.setLevel(logging.DEBUG)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    datadir.mkdir(parents=True, exist_ok=True)
    file_handler = logging.FileHandler(datadir / "debug.log", encoding="utf-8")
    file_handler.setFormatter(logging.Formatter(FILE_FORMAT))
    file_handler.setLevel(logging.DEBUG)
    root.addHandler(file_handler)
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
