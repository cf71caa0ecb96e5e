"""Crash safety: a chain killed with SIGKILL at random moments reopens consistent.

A child process (crash_worker.py) connects blocks, reorgs and invalidates on a regtest datadir;
the test kills it at random moments, then checks the datadir twice: raw (what the crash left on
disk, before the node repairs anything) and through a reopened ChainState. Each time the chain
and the state must agree with a replay from genesis. Then the child is restarted on the same
datadir and goes on.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import DictView

from coinium.chain.builder import generate
from coinium.chain.chainstate import ChainState
from coinium.consensus.state_transition import apply_block
from coinium.consensus.subsidy import block_subsidy
from coinium.core.account import Account
from coinium.core.block import Block
from coinium.core.params import REGTEST
from coinium.core.state import NS_ACCOUNT
from coinium.crypto.state_proof import record_path, root_of_records, value_hash
from coinium.store.chainstore import ChainStore, split_record_key
from coinium.store.records import IndexEntry, decode_tx_location


def root_of(records: dict) -> bytes:
    """The state root rebuilt from scratch from every record (the reference, not the tree)."""
    return root_of_records((record_path(ns, key), value_hash(value))
                           for (ns, key), value in records.items())  # fmt: skip


REPO_ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("crash_worker.py")
KILLS = 24
SEED = 20261122


def check_store(store: ChainStore, *, recovered: bool = True) -> list[bytes]:
    """Check that the chain and the state in ``store`` agree; return the main chain's hashes.

    Before recovery (``recovered=False``) a main-chain block may carry an invalid mark:
    invalidate_block writes the marks, then moves the tip in a second transaction, and the
    reopen finishes the move."""
    with store.read() as txn:
        main_chain = [bytes(v) for _, v in store.cursor(txn, "height")]
        heights = [int.from_bytes(bytes(k), "big") for k, _ in store.cursor(txn, "height")]
        assert heights == list(range(len(main_chain))), "gaps in the height index"
        tip = store.get(txn, "meta", b"tip")
        if tip is None and not recovered:  # killed before genesis landed: nothing else did
            assert not main_chain and sum(1 for _ in store.cursor(txn, "state")) == 0
            return []
        assert tip is not None and bytes(tip) == main_chain[-1], "tip and height index disagree"
        assert main_chain[0] == REGTEST.genesis_hash

        replay = DictView()
        txids = set()
        prev = bytes(32)
        for height, block_hash in enumerate(main_chain):
            raw_entry = store.get(txn, "headers", block_hash)
            assert raw_entry is not None, f"main-chain block {height} has no index entry"
            entry = IndexEntry.decode(bytes(raw_entry))
            if recovered:
                assert not entry.status.invalid, f"main-chain block {height} is marked invalid"
            assert entry.height == height and entry.prev_hash == prev, "height index is no chain"
            prev = block_hash
            raw_block = store.get(txn, "blocks", block_hash)
            assert raw_block is not None, f"main-chain block {height} is not stored"
            block = Block.decode(bytes(raw_block))
            assert block.hash == block_hash
            assert store.get(txn, "undo", block_hash) is not None, f"no undo record at {height}"
            assert block.header.state_root == root_of(replay.records), \
                f"block {height} commits to a state other than its parent's"
            replay.apply(apply_block(block, replay, REGTEST))
            for position, txid in enumerate(block.txids()):
                location = store.get(txn, "txindex", txid)
                assert location is not None, f"txid {txid.hex()} at height {height} not indexed"
                assert decode_tx_location(bytes(location)) == (block_hash, position)
                txids.add(txid)

        stored = {split_record_key(bytes(k)): bytes(v) for k, v in store.cursor(txn, "state")}
        # The tree as the crash left it is the tree of exactly these records.
        assert store.state_tree.root(txn) == root_of(stored), "state tree and records disagree"
        assert bytes(store.get(txn, "stateroots", main_chain[-1])) == root_of(stored)
        # Nothing left over from disconnected blocks either.
        assert sum(1 for _ in store.cursor(txn, "txindex")) == len(txids)
        assert sum(1 for _ in store.cursor(txn, "undo")) == len(main_chain)
    assert stored == replay.records, "records differ from a replay of the main chain"
    supply = sum(block_subsidy(h, REGTEST) for h in range(len(main_chain)))
    assert sum(Account.decode(v).balance for (ns, _), v in stored.items()
               if ns == NS_ACCOUNT) == supply  # fmt: skip
    return main_chain


def check_reopened(chain: ChainState) -> None:
    """A reopened ChainState agrees with its store and sits on the best valid block."""
    assert check_store(chain.store) == chain.main_chain
    assert dict(chain.iter_accounts()) == {
        a: chain.get_account(a) for a, _ in chain.iter_accounts()
    }
    valid = [e for e in chain.index.values() if not e.status.invalid]
    assert chain.tip.chainwork == max(e.chainwork for e in valid), "not on the best chain"


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def read_lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


@pytest.mark.slow
def test_sigkill_at_random_moments_leaves_chain_and_state_in_agreement(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    datadir = tmp_path / "datadir"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    procs: list[subprocess.Popen[bytes]] = []
    heights = []
    reorgs = syncs = 0
    repaired = 0  # rounds where the reopen moved the tip (a crash between two writes)
    started = time.monotonic()
    try:
        for round_ in range(KILLS):
            log = tmp_path / f"worker-{round_}.log"
            with open(log, "wb") as out:
                proc = subprocess.Popen(
                    [sys.executable, str(WORKER), str(datadir), str(rng.getrandbits(32))],
                    stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO_ROOT,
                )  # fmt: skip
            procs.append(proc)
            # Mostly kill once the chain is open and busy; every fourth round at any moment,
            # which can land in the start-up (imports, the reopen's own repair writes).
            if round_ % 4:

                def opened(log: Path = log, proc: subprocess.Popen[bytes] = proc) -> bool:
                    return bool(read_lines(log)) or proc.poll() is not None

                wait_until(opened, 30, "the worker to open the chain")
            time.sleep(rng.uniform(0.05, 0.6))
            assert proc.poll() is None, f"worker died by itself:\n{log.read_text()}"
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            lines = read_lines(log)
            reorgs += sum(line.startswith("reorg") for line in lines)
            syncs += sum(line.startswith("sync") for line in lines)

            with ChainStore(datadir, REGTEST.name) as store:
                # as the crash left it (nothing at all if killed before genesis landed)
                raw_tip = (check_store(store, recovered=False) or [None])[-1]
            with ChainState(datadir, REGTEST) as chain:
                check_reopened(chain)  # after the node's own recovery at open
                heights.append(chain.height)
                repaired += chain.tip.hash != raw_tip
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()

    elapsed = time.monotonic() - started
    assert heights[-1] > heights[0] >= 0, f"the chain did not advance: {heights}"
    assert reorgs > 0, "no reorg happened before the kills"
    assert syncs > 0, "no accept_blocks run happened before the kills"
    print(
        f"{KILLS} kills in {elapsed:.1f} s; heights {heights}; {reorgs} reorgs; {syncs} syncs; "
        f"{repaired} reopens moved the tip"
    )


def test_crash_between_invalidate_and_reorg_reopens_on_best_valid_chain(tmp_path: Path) -> None:
    """invalidate_block writes the invalid marks, then reorgs in a second transaction; a crash
    between the two must reopen on the best valid chain (the parent), not fall back to genesis."""
    with ChainState(tmp_path / "d", REGTEST) as chain:
        generate(chain, 5, bytes([7]) * 20)
        tip = chain.tip.hash
        parent = chain.main_chain[-2]
        chain._mark_invalid(tip)  # the first of invalidate_block's two writes, then "crash"
    with ChainState(tmp_path / "d", REGTEST) as chain:
        assert chain.tip.hash == parent
        assert chain.height == 4
        check_reopened(chain)
