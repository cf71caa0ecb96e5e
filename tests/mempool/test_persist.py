"""mempool.dat: the round trip, the key rotation, files refused with a warning (corrupted,
truncated, another key, another network), and a node that saves at shutdown and loads at start."""

from __future__ import annotations

import asyncio
import logging
import stat

import pytest
from helpers import key
from pool_helpers import make_pool, mine_on, pay, publish

from coinium.chain.builder import mine
from coinium.config import build_options
from coinium.core.params import MAIN
from coinium.core.units import COIN
from coinium.mempool.persist import (
    KEY_FILE,
    MEMPOOL_FILE,
    LoadResult,
    MempoolFileError,
    load_mempool,
    read_mempool_file,
    save_mempool,
)
from coinium.mempool.policy import MempoolPolicy
from coinium.mempool.pool import Mempool
from coinium.node import Node

DAY = 24 * 3600


@pytest.fixture
def saved(funded, alice, bob, tmp_path):
    """A pool with two senders' chains (one entry replaced), one held transaction, saved."""
    pool, _ = make_pool(funded)
    now = 1_700_000_000
    alice_txs = [pool.add(pay(alice, bob, COIN, n), now=now + n).tx for n in range(3)]
    pool.add(pay(alice, bob, 2 * COIN, 1, fee=5_000), now=now + 10)  # replaces nonce 1
    bob_tx = pool.add(pay(bob, alice, COIN, 0), now=now + 20).tx
    held = pay(bob, alice, COIN, 2)
    assert pool.add(held, now=now + 30) is None
    folder = tmp_path / "data"
    folder.mkdir()
    assert save_mempool(pool, folder) == 5
    del alice_txs, bob_tx
    return pool, folder, now, held


def test_round_trip(saved, funded):
    pool, folder, now, held = saved
    fresh, rec = make_pool(funded)
    result = load_mempool(fresh, folder, now=now + 100)
    assert result == LoadResult(accepted=4, held=1)
    assert sorted(fresh.txids()) == sorted(pool.txids())
    for entry in pool.entries():
        assert fresh.get(entry.txid).time == entry.time  # entry times survive
    assert [e.nonce for e in fresh.pending_transactions(key(1).account)] == [0, 1, 2]
    assert held.txid in fresh.future
    assert [e.kind for e in rec.events] == ["A"] * 4  # announced as bitcoind's load does


def test_files_are_owner_only_and_the_key_changes_at_every_save(saved, funded):
    pool, folder, now, _ = saved
    for name in (MEMPOOL_FILE, KEY_FILE):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600
    assert sorted(p.name for p in folder.iterdir()) == [MEMPOOL_FILE, KEY_FILE]  # no .tmp left
    first_key, first_data = (folder / KEY_FILE).read_bytes(), (folder / MEMPOOL_FILE).read_bytes()
    assert len(first_key) == 8 + 1 + 32  # only the current key once the save is complete
    save_mempool(pool, folder)
    second_key = (folder / KEY_FILE).read_bytes()
    assert second_key != first_key and (folder / MEMPOOL_FILE).read_bytes() != first_data
    # The old file does not open with the new key: a copy of an old mempool.dat stays sealed.
    old_copy = folder / "old.dat"
    old_copy.write_bytes(first_data)
    with pytest.raises(MempoolFileError, match="authentication failed"):
        read_mempool_file(old_copy, folder / KEY_FILE, funded.params.chain_id)
    # Nothing in the file is in the clear: no raw transaction bytes appear in it.
    data = (folder / MEMPOOL_FILE).read_bytes()
    assert not any(entry.tx.raw[:40] in data for entry in pool.entries())


def test_a_save_interrupted_between_key_and_data_still_loads(saved, funded):
    """The key file lists [new, previous] until the data is in place: a crash there leaves the
    previous data with a key that opens it."""
    _, folder, now, _ = saved
    current = (folder / KEY_FILE).read_bytes()[9:]
    (folder / KEY_FILE).write_bytes(b"CNMPKEY\0" + bytes([2]) + bytes(32) + current)
    fresh, _ = make_pool(funded)
    assert load_mempool(fresh, folder, now=now + 100).accepted == 4


@pytest.mark.parametrize("damage", ["flip a byte", "truncate", "other key", "no key",
                                    "other network", "garbage"])  # fmt: skip
def test_a_bad_file_is_refused_with_a_warning_and_kept_aside(saved, funded, damage, caplog):
    _, folder, now, _ = saved
    path = folder / MEMPOOL_FILE
    data = path.read_bytes()
    if damage == "flip a byte":
        path.write_bytes(data[:100] + bytes([data[100] ^ 1]) + data[101:])
    elif damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "other key":
        (folder / KEY_FILE).write_bytes(b"CNMPKEY\0\x01" + bytes(32))
    elif damage == "no key":
        (folder / KEY_FILE).unlink()
    elif damage == "other network":
        pool = Mempool(MAIN, funded.get_account)
        fresh_folder = folder / "main"
        fresh_folder.mkdir()
        save_mempool(pool, fresh_folder)
        path.write_bytes((fresh_folder / MEMPOOL_FILE).read_bytes())
        (folder / KEY_FILE).write_bytes((fresh_folder / KEY_FILE).read_bytes())
    else:
        path.write_bytes(b"\x00" * 7)
    fresh, rec = make_pool(funded)
    with caplog.at_level(logging.WARNING, logger="coinium.mempool"):
        result = load_mempool(fresh, folder, now=now + 100)
    assert result.failed and len(fresh) == 0 and len(fresh.future) == 0 and rec.events == []
    assert any("starting with an empty mempool" in r.message for r in caplog.records)
    assert not path.exists() and (folder / (MEMPOOL_FILE + ".corrupt")).exists()


def test_load_drops_expired_and_no_longer_valid_transactions(saved, funded, alice, bob):
    pool, folder, now, _ = saved
    # Alice's nonce 0 confirms with another transaction: her saved chain no longer fits.
    publish(pool, funded, mine_on(funded, [pay(alice, bob, 49 * COIN, 0)], key(5).account))
    fresh, _ = make_pool(funded)
    result = load_mempool(fresh, folder, now=now + 100)
    assert (result.accepted, result.held, result.refused) == (1, 1, 3)
    assert [e.tx.sender for e in fresh.entries()] == [bob.public_key]
    old, _ = make_pool(funded, policy=MempoolPolicy(expiry_seconds=DAY))
    assert load_mempool(old, folder, now=now + 2 * DAY).expired == 5


def test_missing_file_is_an_empty_pool(funded, tmp_path):
    pool, _ = make_pool(funded)
    assert load_mempool(pool, tmp_path) == LoadResult()


# --- the node -----------------------------------------------------------------------------------
def _node(tmp_path, **flags) -> Node:
    options = build_options("regtest", tmp_path / "base", {"rpc_port": 0, "print_to_console": False,
                                                           **flags})  # fmt: skip
    return Node(options)


async def _run(node: Node, body) -> None:
    await node.start()
    try:
        await body(node)
    finally:
        await node.shutdown()


def test_node_saves_at_shutdown_and_loads_at_start(tmp_path, alice, bob):
    txs = [pay(alice, bob, COIN, n) for n in range(2)]

    async def fill(node: Node) -> None:
        # Signatures checked at admission feed the chain's filter.
        assert node.chain.signature_filter == node.mempool.signature_cache.contains
        await node.submit_block(mine(await node.block_template(alice.account)))
        for tx in txs:
            await node.submit_transaction(tx)

    asyncio.run(_run(_node(tmp_path), fill))
    datadir = tmp_path / "base" / "regtest"
    assert (datadir / MEMPOOL_FILE).exists() and (datadir / KEY_FILE).exists()

    async def check(node: Node) -> None:
        assert node.mempool.txids() == [tx.txid for tx in txs]

    asyncio.run(_run(_node(tmp_path), check))

    async def empty(node: Node) -> None:
        assert len(node.mempool) == 0

    asyncio.run(_run(_node(tmp_path, persistmempool=False), empty))

    # A damaged file: the node starts anyway, with an empty pool and the file set aside.
    path = datadir / MEMPOOL_FILE
    path.write_bytes(path.read_bytes()[:-1])
    asyncio.run(_run(_node(tmp_path), empty))
    assert (datadir / (MEMPOOL_FILE + ".corrupt")).exists()
