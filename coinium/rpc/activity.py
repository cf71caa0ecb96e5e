"""The calls the RPC server is running now, for ``getrpcinfo``'s ``active_commands``."""

from __future__ import annotations

import dataclasses
import itertools
import time
from typing import Any

from coinium.rpc.registry import Handler, Method


class ActiveCommands:
    def __init__(self) -> None:
        self._running: dict[int, tuple[str, float]] = {}
        self._ids = itertools.count()

    def snapshot(self) -> list[dict[str, Any]]:
        now = time.monotonic()
        return [{"method": name, "duration": int((now - started) * 1_000_000)}
                for name, started in self._running.values()]  # fmt: skip

    def tracked(self, method: Method) -> Method:
        """``method`` with a handler (and batch runner) that is listed while it runs."""
        handler: Handler = method.handler

        async def run(ctx: Any, **kwargs: Any) -> Any:
            call = next(self._ids)
            self._running[call] = (method.name, time.monotonic())
            try:
                return await handler(ctx, **kwargs)
            finally:
                del self._running[call]

        run_batch = method.run_batch
        if run_batch is None:
            return dataclasses.replace(method, handler=run)

        async def run_many(ctx: Any, calls: list[dict[str, Any]]) -> list[Any]:
            call = next(self._ids)  # a batch's run of calls is listed once, while it runs
            self._running[call] = (method.name, time.monotonic())
            try:
                return await run_batch(ctx, calls)
            finally:
                del self._running[call]

        return dataclasses.replace(method, handler=run, run_batch=run_many)
