"""The metrics extension hook later parts use (staking adds its finality heights through it),
on a real in-process regtest node with the dashboard: a gauge read on the chain thread at each
scrape, absent while its reader says None, never a made-up value."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from coinium.config import build_options
from coinium.node import Node

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "functional"))
from nodeproc import free_port  # noqa: E402


def test_add_gauge_reads_the_chain_at_each_scrape(tmp_path):
    async def scenario() -> tuple[set[str], dict[str, float]]:
        options = build_options("regtest", tmp_path, {
            "dashboard": True, "dashboard_port": free_port(), "rpc_port": free_port(),
            "p2p_port": free_port(), "bind": "127.0.0.1", "persistmempool": False,
        })  # fmt: skip
        node = Node(options)
        await node.start()
        try:
            metrics = node.dashboard.metrics
            finalized: list[int | None] = [None]
            metrics.add_gauge("coinium_test_finalized_height", "A stand-in finality gauge",
                              lambda chain: finalized[0])  # fmt: skip
            metrics.add_gauge("coinium_test_tip_seen_on_chain_thread", "Height as read there",
                              lambda chain: chain.height)  # fmt: skip
            before = _names(await metrics.scrape(0, 0))
            finalized[0] = 0
            after = _values(await metrics.scrape(0, 0))
            return before, after
        finally:
            await node.shutdown()

    before, after = asyncio.run(scenario())
    assert "coinium_test_finalized_height" not in before  # None: not exported at all
    assert "coinium_test_tip_seen_on_chain_thread" in before
    assert after["coinium_test_finalized_height"] == 0
    assert after["coinium_tip_height"] == 0 == after["coinium_test_tip_seen_on_chain_thread"]


def _names(body: bytes) -> set[str]:
    return set(_values(body))


def _values(body: bytes) -> dict[str, float]:
    return {sample.name: sample.value
            for family in text_string_to_metric_families(body.decode())
            for sample in family.samples}  # fmt: skip
