"""A wallet against a real node, through the command line: create, receive mined coins, send,
and the balances after a block."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal

from nodeproc import REPO_ROOT

PASSPHRASE = "a long enough passphrase 42"
FAST_KDF = ("--kdf-opslimit", "1", "--kdf-memlimit", "8192")


def coinium(node, *args: str, passphrase: str = PASSPHRASE) -> subprocess.CompletedProcess:
    """Run ``coinium <group> <command> ARGS`` (or ``coinium rpc ARGS``) against ``node``."""
    env = {**os.environ, "COINIUM_WALLET_PASSPHRASE": passphrase, "PYTHONPATH": str(REPO_ROOT)}
    head = args[:1] if args[0] == "rpc" else args[:2]
    common = ["--datadir", str(node.base_dir), "--network", "regtest"]
    if args[0] == "rpc" or args[1] in ("balance", "send", "history", "rebroadcast"):
        common += ["--rpc-port", str(node.rpc_port)]
    command = [sys.executable, "-m", "coinium", *head, *common, *args[len(head):]]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)


def ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, result.stderr + result.stdout
    return result


def test_wallet_receives_sends_and_sees_balances(start_node):
    node = start_node()
    ok(coinium(node, "wallet", "create", "alice", *FAST_KDF))
    ok(coinium(node, "wallet", "create", "bob", *FAST_KDF))
    alice = ok(coinium(node, "wallet", "address", "alice")).stdout.strip()
    bob = ok(coinium(node, "wallet", "address", "bob")).stdout.strip()
    assert alice.startswith("rcn1") and bob.startswith("rcn1") and alice != bob
    assert "alice" in ok(coinium(node, "wallet", "list")).stdout

    ok(coinium(node, "rpc", "generatetoaddress", "2", alice))
    assert Decimal(node.rpc("getaccount", alice)["balance"]) == 100

    sent = ok(coinium(node, "wallet", "send", "alice", bob, "12.5", "--fee", "0.001"))
    txid = sent.stdout.strip().split()[-1]
    assert node.rpc("getrawmempool") == [txid]
    assert node.rpc("getaccount", alice)["pending_nonce"] == 1

    ok(coinium(node, "rpc", "generatetoaddress", "1", node_miner_address()))
    assert node.rpc("getrawmempool") == []
    assert node.rpc("getaccount", bob)["balance_units"] == 1_250_000_000
    spent = 1_250_000_000 + 100_000  # 12.5 coins and a 0.001 fee
    assert node.rpc("getaccount", alice)["balance_units"] == 10_000_000_000 - spent
    assert "12.5" in ok(coinium(node, "wallet", "balance", "bob")).stdout

    history = ok(coinium(node, "wallet", "history", "alice")).stdout
    assert txid[:16] in history or txid in history
    listed = node.rpc("listtransactions", alice)
    assert listed[0]["txid"] == txid and listed[0]["category"] == "send"
    assert [e["category"] for e in listed[1:]] == ["generate", "generate"]


def test_wrong_passphrase_and_bad_address_are_refused(start_node):
    node = start_node()
    ok(coinium(node, "wallet", "create", "carol", *FAST_KDF))
    carol = ok(coinium(node, "wallet", "address", "carol")).stdout.strip()
    ok(coinium(node, "rpc", "generatetoaddress", "1", carol))
    wrong = coinium(node, "wallet", "send", "carol", carol, "1", passphrase="not the passphrase")
    assert wrong.returncode != 0 and "wrong passphrase" in wrong.stderr
    typo = carol[:-1] + ("q" if carol[-1] != "q" else "p")
    mistyped = coinium(node, "wallet", "send", "carol", typo, "1")
    assert mistyped.returncode != 0 and "checksum" in mistyped.stderr
    other_network = coinium(node, "wallet", "send", "carol", "cn1" + carol[4:], "1")
    assert other_network.returncode != 0 and "network" in other_network.stderr
    for result in (wrong, mistyped, other_network):
        assert "Traceback" not in result.stderr
    assert node.rpc("getrawmempool") == []  # nothing was sent


def node_miner_address() -> str:
    from conftest_keys import BOB, address_of

    return address_of(BOB)


def test_a_send_confirmed_by_txid_survives_a_sigkill_of_the_node(start_node):
    """The node saves its mempool only at a clean stop; the wallet keeps the send and hands it
    to the node again, so it is mined after all and a later send takes the next nonce."""
    from nodeproc import kill

    node = start_node()
    ok(coinium(node, "wallet", "create", "dave", *FAST_KDF))
    dave = ok(coinium(node, "wallet", "address", "dave")).stdout.strip()
    ok(coinium(node, "rpc", "generatetoaddress", "1", dave))
    txid = ok(coinium(node, "wallet", "send", "dave", node_miner_address(), "1")).stdout.strip()
    assert node.rpc("getrawmempool") == [txid]
    kill(node)
    node.start()
    assert node.rpc("getrawmempool") == []  # lost with the process
    resent = ok(coinium(node, "wallet", "rebroadcast", "dave")).stdout
    assert "resent 1" in resent
    assert node.rpc("getrawmempool") == [txid]
    second = ok(coinium(node, "wallet", "send", "dave", node_miner_address(), "2")).stdout.strip()
    assert sorted(node.rpc("getrawmempool")) == sorted([txid, second])
    ok(coinium(node, "rpc", "generatetoaddress", "1", node_miner_address()))
    assert node.rpc("getaccount", dave)["nonce"] == 2
    assert "confirmed 2" in ok(coinium(node, "wallet", "rebroadcast", "dave")).stdout
