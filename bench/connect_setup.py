"""Shared setup for the connect benchmark and its profile: a regtest datadir in which 5,000
distinct accounts are funded, and a mined block (not yet connected) holding one signed transfer
from each of them.

Funding: one block pays 50 coins to a rich key; the next holds 5,000 transfers from it (nonces
0..4999) to the 5,000 senders. The benchmark block then has sender i pay sender i+1 (a ring), so
it touches 5,000 existing accounts plus the miner's.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from coinium.chain.builder import build_block, generate, mine
from coinium.chain.chainstate import ChainState
from coinium.core.block import Block
from coinium.core.params import REGTEST
from coinium.core.transaction import sign_transfer
from coinium.crypto.keys import PrivateKey

N_TRANSFERS = 5_000
RICH = PrivateKey(b"\xb0" + bytes(31))


def sender_keys(count: int = N_TRANSFERS) -> list[PrivateKey]:
    return [PrivateKey(b"\xb1" + i.to_bytes(31, "big")) for i in range(count)]


def build_datadir(datadir: Path, count: int = N_TRANSFERS) -> bytes:
    """Fund ``count`` senders in a fresh regtest ``datadir``; return the serialized block of
    ``count`` transfers on its tip (built and mined, not connected)."""
    senders = sender_keys(count)
    cid = REGTEST.chain_id
    # sync=False: durability of the setup does not matter, only of the timed connect.
    with ChainState(datadir, REGTEST, sync=False) as chain:
        generate(chain, 1, RICH.account)
        funding = [
            sign_transfer(RICH, cid, s.account, 100_000, 1, nonce)
            for nonce, s in enumerate(senders)
        ]
        generate(chain, 1, RICH.account, funding)
        transfers = [
            sign_transfer(s, cid, senders[(i + 1) % count].account, 1_000, 10, 0)
            for i, s in enumerate(senders)
        ]
        block = mine(build_block(chain, transfers, RICH.account))
    return block.encode()


def fresh_copy(template: Path, target: Path) -> Path:
    """A copy of the template datadir, so every round connects onto the same state."""
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(template, target)
    return target


def decode(raw: bytes) -> Block:
    return Block.decode(raw)
