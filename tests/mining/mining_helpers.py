"""Helpers for the mining tests: event collectors with deadlines, process checks."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from helpers import wait_until  # noqa: F401 (the mining tests import it from here)


class Collector:
    """A thread-safe event sink; ``wait_for(predicate)`` returns the predicate's first truthy
    value over the events so far, or raises TimeoutError at the deadline."""

    def __init__(self):
        self.items: list[Any] = []
        self.cond = threading.Condition()

    def __call__(self, event: Any) -> None:
        with self.cond:
            self.items.append(event)
            self.cond.notify_all()

    def wait_for(self, predicate: Callable[[list[Any]], Any], timeout: float = 20.0,
                 what: str = "events") -> Any:  # fmt: skip
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                found = predicate(self.items)
                if found:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"timed out waiting for {what}; last: {self.items[-15:]}")
                self.cond.wait(remaining)

    def snapshot(self) -> list[Any]:
        with self.cond:
            return list(self.items)


def alive(pid: int) -> bool:
    """Whether a process exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return False
    return state != "Z"
