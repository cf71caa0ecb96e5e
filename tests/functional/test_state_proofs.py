"""Account proofs end to end: a real node answers getaccountproof over HTTP, and the light-client
command `coinium verify-proof` (its own process) checks them against headers it fetches or is
given. Also: a node on a datadir of the old chain format exits with one clear message."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import lmdb
import pytest
from conftest_keys import ALICE, BOB, address_of
from nodeproc import REPO_ROOT, NodeProcess, RpcFailure

from coinium.core.params import REGTEST
from coinium.crypto.address import encode_address
from coinium.crypto.keys import PrivateKey

pytestmark = pytest.mark.slow

NOBODY = encode_address(REGTEST.address_prefix, PrivateKey((103).to_bytes(32, "big")).account)


def verify(node: NodeProcess, proof: dict, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "coinium", "verify-proof", "--network", "regtest",
               "--datadir", str(node.base_dir), "--rpc-port", str(node.rpc_port), *args,
               json.dumps(proof)]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)


def test_inclusion_and_absence_proofs_verify_against_the_next_header(start_node):
    node = start_node()
    node.rpc("generatetoaddress", 3, address_of(ALICE))
    present = node.rpc("getaccountproof", address_of(ALICE))
    absent = node.rpc("getaccountproof", NOBODY)
    assert present["height"] == absent["height"] == 3
    assert present["stateroot"] == absent["stateroot"]
    assert present["record"] is not None and absent["record"] is None
    assert len(bytes.fromhex(present["record"])) == 16

    # Block 4, which commits to this state, is not mined yet: a clear answer, not a verdict.
    early = verify(node, present)
    assert early.returncode == 1 and "block 4, whose header commits" in early.stderr

    # The state after block 3 is committed by block 4's header, and is the template's root.
    assert node.rpc("getblocktemplate")["stateroot"] == present["stateroot"]
    block4 = node.rpc("generatetoaddress", 1, address_of(BOB))[0]
    assert node.rpc("getblockheader", block4)["stateroot"] == present["stateroot"]

    ok = verify(node, present)  # the header fetched over RPC: the block at height 3 + 1
    assert ok.returncode == 0, ok.stderr
    assert f"account {address_of(ALICE)} is present: balance {3 * 50 * 10**8} units" in ok.stdout
    assert block4 in ok.stdout
    ok = verify(node, absent, "--blockhash", block4)
    assert ok.returncode == 0, ok.stderr
    assert f"account {NOBODY} is absent" in ok.stdout

    # Given as hex, no node asked; any other header fails (wrong height or wrong root).
    header4 = node.rpc("getblockheader", block4, False)
    assert verify(node, absent, "--header", header4).returncode == 0
    header3 = node.rpc("getblockheader", node.rpc("getblockhash", 3), False)
    wrong = verify(node, absent, "--header", header3)
    assert wrong.returncode == 1 and "INVALID" in wrong.stderr

    # A richer record, a changed sibling or root: refused.
    richer = dict(present, record="ff" + present["record"][2:])
    refused = verify(node, richer)
    assert refused.returncode == 1 and "does not fold up" in refused.stderr
    if absent["siblings"]:
        forged = dict(absent, siblings=["11" * 32, *absent["siblings"][1:]])
        assert verify(node, forged).returncode == 1
    other_root = dict(present, stateroot="22" * 32)
    refused = verify(node, other_root)
    assert refused.returncode == 1 and "not the header's" in refused.stderr
    # Absent claimed for a present account: the position is not empty, so it cannot fold.
    hidden = dict(present, record=None)
    assert verify(node, hidden).returncode == 1


@pytest.mark.parametrize("bad", ["", "rcn1notanaddress", address_of(ALICE).upper() + "x",
                                 encode_address("cn", ALICE.account)])  # fmt: skip
def test_a_malformed_address_gets_rpc_error_minus_5(start_node, bad):
    node = start_node()
    with pytest.raises(RpcFailure) as failure:
        node.rpc("getaccountproof", bad)
    assert failure.value.code == -5


def test_a_node_on_a_version_1_datadir_exits_with_one_clear_message(tmp_path):
    """A datadir written by the 92-byte-header node (format "1" in its meta record)."""
    base = tmp_path / "old"
    chainstate = base / "regtest" / "chainstate"
    chainstate.mkdir(parents=True)
    env = lmdb.open(str(chainstate), max_dbs=12)
    meta = env.open_db(b"meta")
    accounts = env.open_db(b"accounts")
    with env.begin(write=True) as txn:
        txn.put(b"network", b"regtest", db=meta)
        txn.put(b"version", b"1", db=meta)
        txn.put(b"tip", bytes(32), db=meta)
        txn.put(bytes(20), bytes(16), db=accounts)
    env.close()

    node = NodeProcess(base, "regtest")
    node.start(wait=False)
    try:
        assert node.wait_exit(60) == 1
        output = node.output()
        assert "format version 1" in output and "move or delete" in output
        assert str(chainstate) in output
        assert "Traceback" not in output
        assert not (base / "regtest" / ".cookie").exists()
    finally:
        node.stop()
    # Once the old chain is moved away, the node starts afresh on the same datadir.
    chainstate.rename(base / "regtest" / "chainstate.v1")
    fresh = NodeProcess(base, "regtest")
    fresh.start()
    try:
        assert fresh.rpc("getblockcount") == 0
        assert fresh.rpc("getblockhash", 0) == REGTEST.genesis_hash.hex()
    finally:
        assert fresh.stop() == 0
