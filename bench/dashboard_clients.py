"""Live dashboard clients for bench/test_bench_dashboard.py, in a process of their own (as
browsers would be): ``python bench/dashboard_clients.py URL COUNT OUT.json``. Each client records
when (time.monotonic, one clock system-wide) each block frame arrived and the height it names;
when the bench writes a line to stdin, OUT.json gets [[[height, seconds], ...] per client]."""

from __future__ import annotations

import asyncio
import json
import sys

import aiohttp


async def main(url: str, count: int, out: str) -> None:
    import time

    arrivals: list[list[tuple[int, float]]] = []

    async def client(session: aiohttp.ClientSession) -> None:
        mine: list[tuple[int, float]] = []
        arrivals.append(mine)
        async with session.ws_connect(url, max_msg_size=0) as ws:
            async for message in ws:
                now = time.monotonic()
                event = json.loads(message.data)
                if event.get("type") == "block":
                    mine.append((event["height"], now))

    async with aiohttp.ClientSession() as session:
        tasks = [asyncio.create_task(client(session)) for _ in range(count)]
        print("ready", flush=True)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.readline)  # the bench says when to stop
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    with open(out, "w") as f:
        json.dump(arrivals, f)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
