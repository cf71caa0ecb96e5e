"""Contracts from the command line against a real node process: a wallet uploads the example
token (built from C), instantiates it, transfers with it, and queries it; a call that would fail
is not sent."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from nodeproc import REPO_ROOT

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "contracts"))
from contract_helpers import example, u64  # noqa: E402

from coinium.core.params import REGTEST  # noqa: E402
from coinium.crypto.address import decode_address  # noqa: E402

PASSPHRASE = "a long enough passphrase 42"
FAST_KDF = ("--kdf-opslimit", "1", "--kdf-memlimit", "8192")


def wallet(node, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COINIUM_WALLET_PASSPHRASE": PASSPHRASE, "PYTHONPATH": str(REPO_ROOT)}
    common = ["--datadir", str(node.base_dir), "--network", "regtest"]
    if args[0] == "contract":
        common += ["--rpc-port", str(node.rpc_port)]
        command = ["wallet", "contract", args[1], *common, *args[2:]]
    else:
        command = ["wallet", args[0], *common, *args[1:]]
    return subprocess.run([sys.executable, "-m", "coinium", *command], capture_output=True,
                          text=True, env=env, timeout=120)  # fmt: skip


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stderr + result.stdout
    return result.stdout.strip()


def test_a_wallet_uploads_instantiates_executes_and_queries_the_token(start_node, tmp_path):
    node = start_node()
    ok(wallet(node, "create", "alice", *FAST_KDF))
    ok(wallet(node, "create", "bob", *FAST_KDF))
    alice = ok(wallet(node, "address", "alice"))
    bob = ok(wallet(node, "address", "bob"))
    node.rpc("generatetoaddress", 2, alice)
    code_file = tmp_path / "token.wasm"
    code_file.write_bytes(example("token"))

    txid, code_hash = ok(wallet(node, "contract", "upload", "alice", str(code_file))).split()
    node.rpc("generatetoaddress", 1, bob)
    assert node.rpc("getcontractreceipt", txid)["ok"]
    txid, token = ok(wallet(node, "contract", "instantiate", "alice", code_hash,
                            "--msg", u64(1000).hex())).split()  # fmt: skip
    node.rpc("generatetoaddress", 1, bob)
    assert node.rpc("getcontract", token)["creator"] == alice

    bob_id = decode_address(bob, REGTEST.address_prefix)[1]
    ok(wallet(node, "contract", "execute", "alice", token, "--msg",
              "01" + bob_id.hex() + u64(25).hex()))  # fmt: skip
    node.rpc("generatetoaddress", 1, bob)
    balance = ok(wallet(node, "contract", "query", token, "--msg", "01" + bob_id.hex()))
    assert int.from_bytes(bytes.fromhex(balance), "little") == 25

    refused = wallet(node, "contract", "execute", "bob", token, "--msg",
                     "01" + bob_id.hex() + u64(10**6).hex())  # fmt: skip
    assert refused.returncode == 1 and "would fail: reverted" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert node.rpc("getrawmempool") == []
