"""A regtest devnet of real node processes: three validator nodes (`--validator WALLET`) and a
mining node finalize checkpoints; with one validator of three stopped (1/3 of the stake, so 2/3
remain) finality continues; a second node started with a validator's key sees the first one's
votes and refuses to vote. (The issue's devnet is 4 validators and 2 miners over 100 checkpoints;
this one is scaled to the shared 2-core test machine: see the report.)"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from nodeproc import REPO_ROOT, peer_address, sync_blocks, wait_connected, wait_until
from test_wallet_round_trip import FAST_KDF, PASSPHRASE, coinium, ok

N = 5  # regtest checkpoint interval
pytestmark = pytest.mark.slow


def _validator_node(start_node, name: str, miner, wallet_from=None):
    base = miner.base_dir.parent / name
    if wallet_from is None:
        base.mkdir(parents=True, exist_ok=True)
    else:  # the same wallet (the same keys) as another node's
        shutil.copytree(wallet_from.datadir / "wallets", base / "regtest" / "wallets")
    node = start_node(name, extra_args=[f"--connect={peer_address(miner)}", "--validator", "val"],
                      wait=False, env={"COINIUM_WALLET_PASSPHRASE": PASSPHRASE})
    return node


def _make_wallet(base_dir):
    class Place:  # what `coinium` needs of a node to run wallet commands offline
        pass

    place = Place()
    place.base_dir = base_dir
    place.rpc_port = 1
    ok(coinium(place, "wallet", "create", "val", *FAST_KDF))
    ok(coinium(place, "wallet", "address", "val", "--new", "--label", "voting"))
    return ok(coinium(place, "wallet", "address", "val")).stdout.strip()


def _mine_epochs(miner, nodes, voters: int, until_height: int) -> None:
    """One block at a time; at each epoch's first block, wait for ``voters`` votes to reach the
    miner's mempool before going on."""
    address = _MINER[0]
    while miner.rpc("getblockcount") < until_height:
        miner.rpc("generatetoaddress", 1, address)
        sync_blocks(nodes, timeout=60)
        height = miner.rpc("getblockcount")
        finality = miner.rpc("getfinality")
        if (height - 1) % N == 0 and finality.get("epoch", 0) >= 2:
            wait_until(lambda: _votes_pending(miner) >= voters, 60,
                       message=f"{voters} votes at height {height}")  # fmt: skip


def _votes_pending(node) -> int:
    pool = node.rpc("getrawmempool", True)
    return sum(1 for txid in pool
               if node.rpc("getrawtransaction", txid, True)["kind"] == "vote")  # fmt: skip


_MINER: list[str] = []  # the miner's payee address


def _register(node) -> None:
    env = {**os.environ, "COINIUM_WALLET_PASSPHRASE": PASSPHRASE, "PYTHONPATH": str(REPO_ROOT)}
    command = [sys.executable, "-m", "coinium", "wallet", "validator", "register",
               "--datadir", str(node.base_dir), "--network", "regtest",
               "--rpc-port", str(node.rpc_port), "val", "10", "--commission", "500"]
    ok(subprocess.run(command, capture_output=True, text=True, env=env, timeout=120))


def test_validators_finalize_and_survive_a_third_offline(start_node, tmp_path):
    miner = start_node("miner")
    _MINER[:] = [_make_wallet(tmp_path / "payee")]
    operators = [_make_wallet(tmp_path / f"v{i}") for i in range(3)]
    validators = [_validator_node(start_node, f"v{i}", miner) for i in range(3)]
    for node in validators:
        node.wait_ready()
        wait_connected(miner, node)
    nodes = [miner, *validators]
    for operator in operators:
        miner.rpc("generatetoaddress", 1, operator)
    sync_blocks(nodes)
    for node in validators:
        _register(node)
    wait_until(lambda: len(miner.rpc("getrawmempool")) == 6, 30, message="registrations")
    miner.rpc("generatetoaddress", 1, _MINER[0])
    sync_blocks(nodes)
    assert len(miner.rpc("listvalidators")) == 3

    _mine_epochs(miner, nodes, 3, 6 * N + 2)
    info = miner.rpc("getblockchaininfo")
    assert info["finalizedheight"] >= 4 * N, info
    final_hash = info["finalizedhash"]
    assert {n.rpc("getblockchaininfo")["finalizedhash"] for n in nodes} == {final_hash}
    assert miner.rpc("getblockheader", final_hash)["final"] is True

    validators[2].stop()  # one third of the stake offline: two thirds still finalize
    nodes = nodes[:3]
    before = info["finalizedheight"]
    _mine_epochs(miner, nodes, 2, 9 * N + 2)
    after = miner.rpc("getblockchaininfo")["finalizedheight"]
    assert after >= before + 2 * N

    # The same validator key on a second node: it hears the first one's votes and refuses.
    twin = _validator_node(start_node, "twin", miner, wallet_from=validators[0])
    twin.wait_ready()
    wait_connected(miner, twin)
    _mine_epochs(miner, [*nodes, twin], 2, 11 * N + 2)
    wait_until(lambda: "stops voting" in twin.output(), 30, message="the twin to stand down")
    assert all(v["status"] == "active" for v in miner.rpc("listvalidators"))
