"""The ``run_node`` fixture: run ``async body(harness)`` against a fresh in-process regtest node."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from rpc_harness import Harness, with_node

from coinium.node import Node


@pytest.fixture
def run_node(tmp_path):
    """``run_node(body, **flags)``: start a node (flags over the test defaults), run the body."""

    def run(body: Callable[[Harness], Awaitable[None]], **flags: Any) -> Node:
        return asyncio.run(with_node(tmp_path, body, flags))

    return run
