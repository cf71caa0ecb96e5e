"""A regtest devnet of real node processes: four validator nodes (`--validator WALLET`) and two
mining nodes finalize checkpoints; with one validator of four stopped (< 1/3 of the stake)
finality continues; a miner with more hash power than the network, mining a private branch from
below the finalized checkpoint, makes no node reorganise past it; a second node started with a
validator's key hears the first one's votes and refuses to vote.

100 checkpoints are voted on (``COINIUM_DEVNET_EPOCHS`` changes it; about 25 s on an idle
machine)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from nodeproc import REPO_ROOT, peer_address, sync_blocks, wait_connected, wait_until
from test_wallet_round_trip import FAST_KDF, PASSPHRASE, coinium, ok

N = 5  # regtest checkpoint interval
EPOCHS = int(os.environ.get("COINIUM_DEVNET_EPOCHS", "100"))
pytestmark = pytest.mark.slow


def _make_wallet(base_dir) -> str:
    """A wallet ``val`` with a ``voting`` key in a node's base datadir (made before the node
    starts, as an operator would); returns its first address."""

    class Place:  # what `coinium` needs of a node to run wallet commands offline
        rpc_port = 1

    place = Place()
    place.base_dir = base_dir
    ok(coinium(place, "wallet", "create", "val", *FAST_KDF))
    ok(coinium(place, "wallet", "address", "val", "--new", "--label", "voting"))
    return ok(coinium(place, "wallet", "address", "val")).stdout.strip()


def _validator_node(start_node, base_dir, name: str, hub, wallet_from=None):
    if wallet_from is not None:  # the same wallet (the same keys) as another node's
        shutil.copytree(wallet_from.datadir / "wallets", base_dir / name / "regtest" / "wallets")
    return start_node(name, extra_args=[f"--connect={peer_address(hub)}", "--validator", "val"],
                      wait=False, env={"COINIUM_WALLET_PASSPHRASE": PASSPHRASE})  # fmt: skip


def _register(node) -> None:
    env = {**os.environ, "COINIUM_WALLET_PASSPHRASE": PASSPHRASE, "PYTHONPATH": str(REPO_ROOT)}
    command = [sys.executable, "-m", "coinium", "wallet", "validator", "register",
               "--datadir", str(node.base_dir), "--network", "regtest",
               "--rpc-port", str(node.rpc_port), "val", "10", "--commission", "500"]
    ok(subprocess.run(command, capture_output=True, text=True, env=env, timeout=120))


def _votes_pending(node) -> int:
    pool = node.rpc("getrawmempool", True)
    return sum(1 for txid in pool
               if node.rpc("getrawtransaction", txid, True)["kind"] == "vote")  # fmt: skip


def _mine(miners, nodes, voters: int, until_height: int, payee: str) -> None:
    """Blocks from the miners in turn, one at a time, every node synced after each; at each
    epoch's first block, wait for ``voters`` votes to reach the next miner's mempool."""
    turn = 0
    while miners[0].rpc("getblockcount") < until_height:
        miner = miners[turn % len(miners)]
        turn += 1
        miner.rpc("generatetoaddress", 1, payee)
        sync_blocks(nodes, timeout=60)
        height = miner.rpc("getblockcount")
        if (height - 1) % N == 0 and miner.rpc("getfinality").get("epoch", 0) >= 2:
            after = miners[turn % len(miners)]
            wait_until(lambda: _votes_pending(after) >= voters, 60,  # noqa: B023
                       message=f"{voters} votes at height {height}")  # fmt: skip


def test_devnet_finalizes_and_finality_beats_hash_power(start_node, tmp_path):
    miners = [start_node("m0")]
    miners.append(start_node("m1", extra_args=[f"--connect={peer_address(miners[0])}"]))
    payee = _make_wallet(tmp_path / "payee")
    operators = [_make_wallet(tmp_path / f"v{i}") for i in range(4)]
    validators = [_validator_node(start_node, tmp_path, f"v{i}", miners[i % 2]) for i in range(4)]
    for i, node in enumerate(validators):
        node.wait_ready()
        wait_connected(miners[i % 2], node)
    nodes = [*miners, *validators]
    for operator in operators:
        miners[0].rpc("generatetoaddress", 1, operator)
    sync_blocks(nodes)
    for node in validators:
        _register(node)
    wait_until(lambda: len(miners[0].rpc("getrawmempool")) == 8, 30, message="registrations")
    miners[0].rpc("generatetoaddress", 1, payee)
    sync_blocks(nodes)
    assert len(miners[0].rpc("listvalidators")) == 4

    # Votes start in epoch 2 (each client listens through its first epoch): checkpoints 2 ..
    # EPOCHS + 1 are voted on; the votes of epoch EPOCHS + 2 can finalize the last of them.
    _mine(miners, nodes, 4, (EPOCHS + 2) * N + 2, payee)
    info = miners[0].rpc("getblockchaininfo")
    finalized = min(info["finalizedheight"] // N, EPOCHS + 1) - 1  # of checkpoints 2 .. EPOCHS+1
    assert finalized >= EPOCHS * 99 // 100, info
    assert {n.rpc("getblockchaininfo")["finalizedhash"] for n in nodes} == {info["finalizedhash"]}
    assert miners[0].rpc("getblockheader", info["finalizedhash"])["final"] is True

    # One validator of four offline (1/4 < 1/3): three quarters still finalize.
    validators[3].stop()
    nodes = nodes[:-1]
    before = info["finalizedheight"]
    _mine(miners, nodes, 3, (EPOCHS + 5) * N + 2, payee)
    final = miners[0].rpc("getblockchaininfo")
    assert final["finalizedheight"] >= before + 2 * N

    # A miner with far more hash power mines a private branch from genesis, longer than the
    # network's chain, then joins: nobody reorganises past the finalized checkpoint.
    attacker = start_node("attacker")
    height = miners[0].rpc("getblockcount")
    attacker.rpc("generatetoaddress", height + 3 * N, payee)
    attacker.stop()
    attacker = start_node("attacker", extra_args=[f"--connect={peer_address(miners[1])}"])
    wait_connected(miners[1], attacker)
    wait_until(lambda: any(t["height"] > height + N for t in miners[1].rpc("getchaintips")
                           if t["status"] != "active"), 60,
               message="the private branch to reach the network")  # fmt: skip
    tip = sync_blocks(nodes)
    assert all(n.rpc("getblockchaininfo")["finalizedheight"] >= final["finalizedheight"]
               for n in nodes)  # fmt: skip
    assert miners[0].rpc("getblockheader", tip)["height"] == height  # no reorg
    _mine(miners, nodes, 3, height + N, payee)  # and the network goes on, in consensus

    # The same validator key on a second node: it hears the first one's votes and refuses.
    twin = _validator_node(start_node, tmp_path, "twin", miners[0], wallet_from=validators[0])
    twin.wait_ready()
    wait_connected(miners[0], twin)
    _mine(miners, [*nodes, twin], 3, miners[0].rpc("getblockcount") + 2 * N, payee)
    wait_until(lambda: "stops voting" in twin.output(), 30, message="the twin to stand down")
    status = twin.rpc("getvalidatorclient")
    assert status["stopped"] and status["votes_sent"] == 0
    assert validators[0].rpc("getvalidatorclient")["votes_sent"] > 0
    assert all(v["status"] == "active" for v in miners[0].rpc("listvalidators"))
