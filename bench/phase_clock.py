"""CPU time of the calling thread spent in chosen functions, by label (the profile scripts'
phases): no profiler, so the figures are those of a normal run, wrappers aside."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any


class PhaseClock:
    def __init__(self) -> None:
        self.spent: dict[str, float] = {}

    def add(self, label: str, seconds: float) -> None:
        self.spent[label] = self.spent.get(label, 0.0) + seconds

    def wrap(self, label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``fn`` timed under ``label`` (`time.thread_time`); for a coroutine function, only its
        own steps: the time it is suspended is other work's."""
        if asyncio.iscoroutinefunction(fn):

            async def timed_async(*args, **kwargs):  # type: ignore[no-untyped-def]
                coro = fn(*args, **kwargs)
                value = None
                error: BaseException | None = None
                while True:
                    started = time.thread_time()
                    try:
                        future = coro.throw(error) if error is not None else coro.send(value)
                    except StopIteration as stop:
                        return stop.value
                    finally:
                        self.add(label, time.thread_time() - started)
                    try:
                        value, error = await _Yield(future), None
                    except BaseException as exc:  # noqa: BLE001 - handed back to the coroutine
                        value, error = None, exc

            return timed_async

        def timed(*args, **kwargs):  # type: ignore[no-untyped-def]
            started = time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                self.add(label, time.thread_time() - started)

        return timed


class _Yield:
    """Awaits what a coroutine driven by hand yielded (a future), as its task would have."""

    def __init__(self, future: object) -> None:
        self.future = future

    def __await__(self):  # type: ignore[no-untyped-def]
        return (yield self.future)
