"""Shared setup for the connect and sync benchmarks and the profile (all untimed).

Connect: a regtest datadir in which ``count`` (10,000) distinct accounts are funded, and a mined
block (not yet connected) holding one signed transfer from each of them. Funding: one block pays
50 coins to a rich key; the next holds ``count`` transfers from it (nonces 0..count-1) to the
senders. The benchmark block then has sender i pay sender i+1 (a ring), so it touches ``count``
existing accounts plus the miner's.

Sync: a source datadir holding a chain of 1,000,000 transfers in 500 blocks of 2,000 (plus one
coinbase-only block that funds the rich key): the first 5 blocks fund 10,000 senders, the next 495
have each sender pay another, every sender once in every 5 blocks. It takes a few minutes to build,
so it is kept under bench/out/ and built again only when missing or unreadable.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from coinium.chain.builder import build_block, generate, mine
from coinium.chain.chainstate import AcceptStatus, ChainState
from coinium.chain.sigcache import SignatureCache
from coinium.core.block import Block
from coinium.core.params import REGTEST
from coinium.core.transaction import Transaction, sign_transfer
from coinium.crypto.keys import PrivateKey

N_TRANSFERS = 10_000
RICH = PrivateKey(b"\xb0" + bytes(31))
SENDER_FUNDS = 200_000
TRANSFER_AMOUNT, TRANSFER_FEE = 1_000, 10

SYNC_BLOCKS = 500  # blocks of transfers in the sync chain
SYNC_BLOCK_TXS = 2_000
SYNC_SENDERS = 10_000
# v2: the chain format of the version-2 header (a v1 source cannot be opened any more)
SYNC_SOURCE = Path(__file__).resolve().parent / "out" / "sync-source-v2"


def sender_keys(count: int = N_TRANSFERS) -> list[PrivateKey]:
    return [PrivateKey(b"\xb1" + i.to_bytes(31, "big")) for i in range(count)]


def funding(senders: list[PrivateKey], first_nonce: int = 0) -> list[Transaction]:
    return [
        sign_transfer(RICH, REGTEST.chain_id, s.account, SENDER_FUNDS, 1, first_nonce + i)
        for i, s in enumerate(senders)
    ]


def build_datadir(datadir: Path, count: int = N_TRANSFERS) -> bytes:
    """Fund ``count`` senders in a fresh regtest ``datadir``; return the serialized block of
    ``count`` transfers on its tip (built and mined, not connected)."""
    senders = sender_keys(count)
    cid = REGTEST.chain_id
    # sync=False: durability of the setup does not matter, only of the timed connect.
    with ChainState(datadir, REGTEST, sync=False) as chain:
        generate(chain, 1, RICH.account)
        generate(chain, 1, RICH.account, funding(senders))
        transfers = [
            sign_transfer(s, cid, senders[(i + 1) % count].account, TRANSFER_AMOUNT,
                          TRANSFER_FEE, 0)  # fmt: skip
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


def warm_cache(block: Block) -> SignatureCache:
    """A signature cache holding every transfer of ``block``, as the mempool would leave it."""
    cache = SignatureCache()
    for tx in block.transactions[1:]:
        cache.add(tx)
    return cache


# --- the sync chain -----------------------------------------------------------------------------
def sync_blocks(source: Path = SYNC_SOURCE, limit: int | None = None) -> list[bytes]:
    """The source chain's blocks after genesis, as the raw bytes a peer would send, building the
    source datadir first if it is missing. ``limit`` keeps only the first blocks."""
    try:
        return _read_chain(source, limit)
    except Exception:  # noqa: BLE001 - missing, stale or half-built: build it again
        build_sync_source(source)
        return _read_chain(source, limit)


def ensure_sync_source(source: Path = SYNC_SOURCE) -> Path:
    """The sync source datadir, built first if it is missing or unreadable (reads one block)."""
    sync_blocks(source, limit=1)
    return source


def _read_chain(source: Path, limit: int | None) -> list[bytes]:
    if not (source / "complete").exists():
        raise FileNotFoundError(source / "complete")
    with ChainState(source, REGTEST, sync=False) as chain:
        if chain.height != SYNC_BLOCKS + 1:
            raise ValueError(f"source chain has height {chain.height}")
        last = chain.height if limit is None else min(chain.height, limit)
        with chain.store.read() as txn:
            return [bytes(chain.store.get(txn, "blocks", chain.main_chain[h]))
                    for h in range(1, last + 1)]  # fmt: skip


def build_sync_source(source: Path = SYNC_SOURCE, log=print) -> None:
    """Build the sync chain in ``source`` (a few minutes: a million signatures are made)."""
    shutil.rmtree(source, ignore_errors=True)
    start = time.monotonic()
    senders = sender_keys(SYNC_SENDERS)
    cid = REGTEST.chain_id
    funding_blocks = SYNC_SENDERS // SYNC_BLOCK_TXS
    with ChainState(source, REGTEST, sync=False) as chain:
        # The signatures are made here: checking them again while building is wasted time.
        chain.signature_filter = lambda tx: True
        generate(chain, 1, RICH.account)
        for b in range(SYNC_BLOCKS):
            first = (b % funding_blocks) * SYNC_BLOCK_TXS
            group = senders[first : first + SYNC_BLOCK_TXS]
            if b < funding_blocks:
                txs = funding(group, first_nonce=first)
            else:
                nonce = b // funding_blocks - 1
                txs = [
                    sign_transfer(s, cid, senders[(first + i + 1 + b) % SYNC_SENDERS].account,
                                  TRANSFER_AMOUNT, TRANSFER_FEE, nonce)  # fmt: skip
                    for i, s in enumerate(group)
                ]
            result = chain.accept_block(mine(build_block(chain, txs, RICH.account)))
            if result.status != AcceptStatus.NEW_TIP:
                raise RuntimeError(f"sync source block {b} not accepted: {result}")
            if b % 50 == 49:
                log(f"sync source: {b + 1}/{SYNC_BLOCKS} blocks ({time.monotonic() - start:.0f} s)")
    (source / "complete").write_text(f"{SYNC_BLOCKS} x {SYNC_BLOCK_TXS}\n")
