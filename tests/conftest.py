"""Shared fixtures: regtest chains in temporary LMDB datadirs and deterministic keys."""

from __future__ import annotations

import pytest
from helpers import key

from coinium.chain.chainstate import ChainState
from coinium.core.params import REGTEST
from coinium.crypto.keys import PrivateKey  # noqa: F401 (fixtures return keys)


@pytest.fixture
def alice() -> PrivateKey:
    return key(1)


@pytest.fixture
def bob() -> PrivateKey:
    return key(2)


@pytest.fixture
def chain(tmp_path):
    state = ChainState(tmp_path / "datadir", REGTEST)
    yield state
    state.close()
