"""Governance through the wallet command line against a real node process: register a
validator, propose a parameter change, deposit, vote, and see it activate; a refused proposal
ends the command with the node's reason."""

from __future__ import annotations

import os
import subprocess
import sys

from nodeproc import REPO_ROOT
from test_wallet_round_trip import FAST_KDF, PASSPHRASE, coinium, ok


def wallet(node, *args):
    """``coinium wallet ARGS`` with the node's datadir, network and RPC port (options last)."""
    env = {**os.environ, "COINIUM_WALLET_PASSPHRASE": PASSPHRASE, "PYTHONPATH": str(REPO_ROOT)}
    command = [sys.executable, "-m", "coinium", "wallet", *args, "--datadir",
               str(node.base_dir), "--network", "regtest", "--rpc-port", str(node.rpc_port)]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)


def test_propose_deposit_vote_and_activate(start_node):
    node = start_node()
    ok(coinium(node, "wallet", "create", "val", *FAST_KDF))
    address = ok(coinium(node, "wallet", "address", "val")).stdout.strip()
    node.rpc("generatetoaddress", 2, address)
    ok(wallet(node, "validator", "register", "val", "10"))
    node.rpc("generatetoaddress", 1, address)

    refused = wallet(node, "propose", "val", "--set", "inactivity_epochs=40", "--title", "x",
                     "--deposit", "1")  # fmt: skip
    assert refused.returncode == 1 and "bad-gov-param-step" in refused.stderr
    ok(wallet(node, "propose", "val", "--set", "inactivity_epochs=5", "--set",
              "unbonding_period=12", "--title", "longer unbonding", "--description",
              "see the forum thread", "--deposit", "0.5"))  # fmt: skip
    node.rpc("generatetoaddress", 1, address)
    ok(wallet(node, "deposit", "val", "1", "0.5"))
    node.rpc("generatetoaddress", 2, address)
    assert node.rpc("getproposal", 1)["status"] == "voting"
    ok(wallet(node, "vote", "val", "1", "yes"))
    node.rpc("generatetoaddress", 1, address)
    shown = node.rpc("getproposal", 1)
    assert shown["tally"]["yes_units"] == 10 * 10**8
    node.rpc("generatetoaddress", shown["votingend"] - node.rpc("getblockcount"), address)
    activation = node.rpc("getproposal", 1)["activationheight"]
    node.rpc("generatetoaddress", activation - node.rpc("getblockcount"), address)
    params = {p["name"]: p["value"] for p in node.rpc("getconsensusparams")}
    assert params["unbonding_period"] == 12 and params["inactivity_epochs"] == 5
    assert node.rpc("getproposal", 1)["status"] == "executed"
