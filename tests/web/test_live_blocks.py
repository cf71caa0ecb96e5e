"""Block frames from a real in-process regtest node with the dashboard: tips that connect back to
back (a sync) share frames, each naming the newest tip and how many tips it covers; a lone block
gets its own frame at once."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import aiohttp

from coinium.chain.builder import generate
from coinium.chain.chainstate import AcceptStatus, ChainState
from coinium.config import build_options
from coinium.core.params import REGTEST
from coinium.crypto.keys import PrivateKey
from coinium.node import Node
from coinium.web.live import BLOCK_COALESCE_S

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "functional"))
from nodeproc import free_port  # noqa: E402

MINER = PrivateKey(b"\xe0" + bytes(31))
SYNC_BLOCKS = 30


def test_a_burst_of_tips_shares_frames_and_a_lone_tip_goes_at_once(tmp_path):
    with ChainState(tmp_path / "source", REGTEST, sync=False) as source:
        blocks = generate(source, SYNC_BLOCKS + 1, MINER.account)

    async def scenario() -> tuple[list[dict], dict]:
        port = free_port()
        options = build_options("regtest", tmp_path / "node", {
            "dashboard": True, "dashboard_port": port, "rpc_port": free_port(),
            "p2p_port": free_port(), "bind": "127.0.0.1", "persistmempool": False,
        })  # fmt: skip
        node = Node(options)
        await node.start()
        try:
            async with aiohttp.ClientSession() as session:
                ws = await session.ws_connect(f"http://127.0.0.1:{port}/ws")
                while not node.dashboard.hub.clients:
                    await asyncio.sleep(0.01)
                for block in blocks[:SYNC_BLOCKS]:
                    assert (await node.submit_block(block)).status == AcceptStatus.NEW_TIP
                burst = []
                while not burst or burst[-1]["height"] < SYNC_BLOCKS:
                    frame = json.loads((await asyncio.wait_for(ws.receive(), 10)).data)
                    if frame["type"] == "block":
                        burst.append(frame)
                await asyncio.sleep(2 * BLOCK_COALESCE_S)
                await node.submit_block(blocks[SYNC_BLOCKS])
                while True:
                    lone = json.loads((await asyncio.wait_for(ws.receive(), 10)).data)
                    if lone["type"] == "block":
                        break
                await ws.close()
                return burst, lone
        finally:
            await node.shutdown()

    burst, lone = asyncio.run(scenario())
    assert sum(frame["tips"] for frame in burst) == SYNC_BLOCKS  # every tip accounted for
    assert len(burst) < SYNC_BLOCKS  # but not a frame each
    heights = [frame["height"] for frame in burst]
    assert heights == sorted(heights) and heights[-1] == SYNC_BLOCKS
    assert burst[-1]["hash"] == blocks[SYNC_BLOCKS - 1].hash.hex()
    assert (lone["height"], lone["tips"]) == (SYNC_BLOCKS + 1, 1)
