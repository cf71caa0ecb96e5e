"""Wallets in the node (bitcoind's multiwallet RPC) over real HTTP against a real node process:
deterministic addresses, an old backup restoring every address and balance, locking with a
timeout, the command line on the same files, and no passphrase in the log."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from conftest_keys import BOB, address_of
from nodeproc import REPO_ROOT, RpcFailure, wait_until

PASSPHRASE = "wallet passphrase 4 tests"
NODE_ARGS = ("--wallet-kdf", "minimum")


def wallet_cli(node, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "COINIUM_WALLET_PASSPHRASE": PASSPHRASE}
    command = [sys.executable, "-m", "coinium", "wallet", args[0], "--datadir",
               str(node.base_dir), "--network", "regtest", *args[1:]]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)


def failure(node, method: str, *params) -> RpcFailure:
    with pytest.raises(RpcFailure) as caught:
        node.rpc(method, *params)
    return caught.value


def test_wallet_lifecycle_send_and_restore_from_an_old_backup(start_node, tmp_path):
    node = start_node(extra_args=NODE_ARGS)
    assert failure(node, "getbalance").code == -18  # none loaded
    assert node.rpc("createwallet", "w", False, False, PASSPHRASE) == {"name": "w",
                                                                       "warnings": []}
    assert failure(node, "createwallet", "w2", False, False, "").code == -4  # never unencrypted
    assert failure(node, "loadwallet", "w").code == -35
    assert failure(node, "loadwallet", "nosuch").code == -18
    assert node.rpc("listwallets") == ["w"]
    info = node.rpc("getwalletinfo")
    assert info["walletname"] == "w" and info["unlocked_until"] == 0 and info["hdseed"] is True
    assert failure(node, "getnewaddress").code == -13  # locked
    assert failure(node, "walletpassphrase", "wrong passphrase", 60).code == -14
    node.rpc("walletpassphrase", PASSPHRASE, 600)
    assert node.rpc("getwalletinfo")["unlocked_until"] > 0

    backup = tmp_path / "w-backup.wallet"
    assert node.rpc("backupwallet", str(backup)) is None  # before any new address
    addresses = [node.rpc("getnewaddress") for _ in range(3)]
    assert len(set(addresses)) == 3 and all(a.startswith("rcn1") for a in addresses)
    node.rpc("generatetoaddress", 1, addresses[1])
    node.rpc("generatetoaddress", 1, addresses[2])
    balance = node.rpc("getbalance")
    assert balance == 100  # two regtest subsidies of 50

    txid = node.rpc("sendtoaddress", address_of(BOB), 7)
    assert txid in node.rpc("getrawmempool")
    pending = node.rpc("getbalances")
    assert 92 < pending["mine"]["trusted"] < 93  # 100 - 7 - fee
    node.rpc("generatetoaddress", 1, address_of(BOB))
    history = node.rpc("listtransactions")
    assert [e["category"] for e in history] == ["generate", "generate", "send"]  # oldest first
    assert history[-1]["txid"] == txid and history[-1]["amount"] == -7
    assert node.rpc("listtransactions", "*", 1) == history[-1:]
    assert node.rpc("listtransactions", "*", 1, 1) == history[1:2]
    balances = node.rpc("getbalances")
    next_address = node.rpc("getnewaddress")  # the one a restored wallet gives out next

    # The command line reads the same file, with no passphrase for public data.
    listed = wallet_cli(node, "address", "w", "--all")
    assert listed.returncode == 0, listed.stderr
    assert all(a in listed.stdout for a in addresses)

    # Restore the old backup in place of the wallet: every address and balance comes back.
    node.rpc("unloadwallet", "w")
    assert node.rpc("listwallets") == []
    shutil.copyfile(backup, node.datadir / "wallets" / "w.wallet")
    node.rpc("loadwallet", "w")
    assert node.rpc("getwalletinfo")["keys"] == 1  # the backup knew one key
    node.rpc("walletpassphrase", PASSPHRASE, 600)
    assert node.rpc("getwalletinfo")["keys"] == 4  # keys 1-3 found on the chain again
    assert node.rpc("getbalances")["mine"] == balances["mine"]
    assert node.rpc("listtransactions") == history
    assert node.rpc("getnewaddress") == next_address

    # Locking: by hand, and by the timeout.
    node.rpc("walletlock")
    assert failure(node, "sendtoaddress", address_of(BOB), 1).code == -13
    node.rpc("walletpassphrase", PASSPHRASE, 1)
    wait_until(lambda: node.rpc("getwalletinfo")["unlocked_until"] == 0, timeout=10,
               message="the wallet to lock itself")  # fmt: skip
    assert failure(node, "getnewaddress").code == -13
    assert failure(node, "sendtoaddress", address_of(BOB), 10_000).code in (-13, -6)

    # Several wallets: a call must say which (the /wallet/<name> path).
    node.rpc("createwallet", "second", False, False, PASSPHRASE)
    assert failure(node, "getbalance").code == -19
    assert node.rpc("getwalletinfo", path="/wallet/second")["walletname"] == "second"
    assert node.rpc("getwalletinfo", path="/wallet/w")["walletname"] == "w"
    with pytest.raises(RpcFailure) as caught:
        node.rpc("getbalance", path="/wallet/nosuch")
    assert caught.value.code == -18
    node.rpc("unloadwallet", "second")

    # The passphrase is in no log.
    node.rpc("walletpassphrase", PASSPHRASE, 600)
    assert PASSPHRASE not in (node.datadir / "debug.log").read_text()
    assert PASSPHRASE not in node.output()


def test_insufficient_funds_and_bad_sends(start_node):
    node = start_node(extra_args=NODE_ARGS)
    node.rpc("createwallet", "w", False, False, PASSPHRASE)
    node.rpc("walletpassphrase", PASSPHRASE, 600)
    assert failure(node, "sendtoaddress", address_of(BOB), 1).code == -6
    assert failure(node, "sendtoaddress", "rcn1nonsense", 1).code == -5
    assert failure(node, "sendtoaddress", address_of(BOB), 0).code == -3


def test_wallets_load_at_start(start_node):
    node = start_node("n", extra_args=NODE_ARGS)
    node.rpc("createwallet", "kept", False, False, PASSPHRASE, False, True, True)
    node.rpc("createwallet", "other", False, False, PASSPHRASE)
    node.stop()
    again = start_node("n", extra_args=NODE_ARGS)
    assert again.rpc("listwallets") == ["kept"]  # load_on_startup: true
    again.rpc("unloadwallet", "kept", False)  # false: off the list
    again.stop()
    third = start_node("n", extra_args=(*NODE_ARGS, "--wallet", "other"))
    assert third.rpc("listwallets") == ["other"]
    third.stop()
    missing = start_node("n", extra_args=(*NODE_ARGS, "--wallet", "nosuch"), wait=False)
    assert missing.wait_exit(60) == 1
    errors = [line for line in missing.output().splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "--wallet" in errors[0] and "nosuch" in errors[0]
    assert "Traceback" not in missing.output()
