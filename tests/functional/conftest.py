"""Fixtures that start real node processes and always stop them."""

from __future__ import annotations

import pytest
from nodeproc import NodeProcess


@pytest.fixture
def start_node(tmp_path):
    """start_node(name="n0", network="regtest", extra_args=(), wait=True) -> NodeProcess."""
    nodes: list[NodeProcess] = []

    def start(name: str = "n0", network: str = "regtest", extra_args=(), wait: bool = True,
              env=None) -> NodeProcess:  # fmt: skip
        node = NodeProcess(tmp_path / name, network, tuple(extra_args), env)
        nodes.append(node)
        return node.start(wait=wait)

    yield start
    for node in nodes:
        node.stop()
