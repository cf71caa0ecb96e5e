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
        """``method`` with a handler that is listed while it runs."""
        handler: Handler = method.handler

        async def run(ctx: Any, **kwargs: Any) -> Any:
            call = next(self._ids)
            self._running[call] = (method.name, time.monotonic())
            try:
                return await handler(ctx, **kwargs)
            finally:
                del self._running[call]

        return dataclasses.replace(method, handler=run)
