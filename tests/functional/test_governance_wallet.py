"""Governance through the wallet command line against a real node process: register a
validator, propose a parameter change, deposit, vote, and see it activate; a refused proposal
ends the command with the node's reason."""

from __future__ import annotations

import os
import struct
import subprocess
import sys

from nodeproc import REPO_ROOT, free_port
from test_wallet_round_trip import FAST_KDF, PASSPHRASE, coinium, ok
from test_zmq_notifications import Subscriber


def wallet(node, *args):
    """``coinium wallet ARGS`` with the node's datadir, network and RPC port (options last)."""
    env = {**os.environ, "COINIUM_WALLET_PASSPHRASE": PASSPHRASE, "PYTHONPATH": str(REPO_ROOT)}
    command = [sys.executable, "-m", "coinium", "wallet", *args, "--datadir",
               str(node.base_dir), "--network", "regtest", "--rpc-port", str(node.rpc_port)]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)


def test_propose_deposit_vote_and_activate(start_node):
    zmq_address = f"tcp://127.0.0.1:{free_port()}"
    node = start_node(extra_args=[f"--zmqpubproposal={zmq_address}"])
    sub = Subscriber(zmq_address)
    try:
        run_proposal(node)
        # The node's ZmqNotifier announced each status change: deposit, voting, passed, executed.
        bodies = [body for topic, body, _ in sub.drain() if topic == "proposal"]
        assert [struct.unpack("<IBI", b)[:2] for b in bodies] == [(1, 0), (1, 1), (1, 2), (1, 3)]
        activation = node.rpc("getproposal", 1)["activationheight"]
        assert struct.unpack("<IBI", bodies[-1])[2] == activation
    finally:
        sub.close()


def run_proposal(node):
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
