"""Mempool test fixtures (the helpers are in pool_helpers.py)."""

from __future__ import annotations

import pytest

from coinium.chain.builder import generate


@pytest.fixture
def funded(chain, alice, bob):
    """alice and bob hold one block reward each."""
    generate(chain, 1, alice.account)
    generate(chain, 1, bob.account)
    return chain
