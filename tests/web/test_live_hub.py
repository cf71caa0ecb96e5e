"""The live hub's fan-out over real WebSockets (aiohttp server and clients on 127.0.0.1): a
client that does not read is shed once its unsent bytes pass the bound, while a reading client
gets every frame; nothing is buffered without bound. The frame encoder against aiohttp's reader."""

from __future__ import annotations

import asyncio
import json

import aiohttp
from aiohttp import web

from coinium.web import live
from coinium.web.live import LiveHub

FRAME_BYTES = 256 * 1024  # large frames fill the stalled client's socket buffers quickly


async def _serve(hub: LiveHub) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_get("/ws", hub.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"ws://127.0.0.1:{port}/ws"


def test_a_stalled_client_is_shed_and_a_reading_one_gets_everything():
    async def scenario():
        hub = LiveHub(node=None)  # broadcast needs no node; start() (peer polling) is not run
        runner, url = await _serve(hub)
        try:
            async with aiohttp.ClientSession() as session:
                stalled = await session.ws_connect(url, max_msg_size=0)
                reader = await session.ws_connect(url, max_msg_size=0)
                for _ in range(100):
                    if len(hub.clients) == 2:
                        break
                    await asyncio.sleep(0.01)
                received = 0
                sent = 0
                padding = "x" * FRAME_BYTES
                while hub.shed_count == 0 and sent < 5000:
                    hub.broadcast({"type": "test", "n": sent, "pad": padding})
                    sent += 1
                    message = await asyncio.wait_for(reader.receive(), 10)
                    assert json.loads(message.data)["n"] == received
                    received += 1
                assert hub.shed_count == 1, "the stalled client was never shed"
                assert len(hub.clients) == 1  # the reader is still there
                # The hub dropped the stalled client's connection: it sees the close after
                # whatever part of its backlog had reached it.
                while True:
                    message = await asyncio.wait_for(stalled.receive(), 10)
                    if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                                        aiohttp.WSMsgType.ERROR):
                        break
                # What was held for it never passed the bound (plus the kernel's socket buffers).
                assert sent * FRAME_BYTES > live.CLIENT_BUFFER_BYTES
                await reader.close()
        finally:
            await runner.cleanup()

    asyncio.run(scenario())


def test_text_frames_read_back_whole_at_every_length_encoding():
    async def scenario():
        hub = LiveHub(node=None)
        runner, url = await _serve(hub)
        try:
            async with aiohttp.ClientSession() as session:
                ws = await session.ws_connect(url, max_msg_size=0)
                while not hub.clients:
                    await asyncio.sleep(0.01)
                # Every length encoding; all of them together stay under the shed bound.
                sizes = [0, 1, 100, 125, 126, 1000, 65535, 65536, 100_000]
                for size in sizes:
                    hub.broadcast({"type": "t", "pad": "é" * size})
                for size in sizes:
                    message = await asyncio.wait_for(ws.receive(), 10)
                    assert message.type == aiohttp.WSMsgType.TEXT
                    assert json.loads(message.data)["pad"] == "é" * size
                await ws.close()
        finally:
            await runner.cleanup()

    asyncio.run(scenario())
