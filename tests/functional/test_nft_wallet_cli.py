"""Every `coinium wallet nft` command through the command line against a real node: a class with
a royalty, mints from files, approve, set-operator, transfer, update, a signed offer and a buy,
cancel-offer, burn; and what a user gets for a bad input (one line, exit status 1)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from nodeproc import REPO_ROOT

PASSPHRASE = "a long enough passphrase 42"
FAST_KDF = ("--kdf-opslimit", "1", "--kdf-memlimit", "8192")


def coinium(node, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COINIUM_WALLET_PASSPHRASE": PASSPHRASE, "PYTHONPATH": str(REPO_ROOT)}
    common = ["--datadir", str(node.base_dir), "--network", "regtest"]
    if args[1] not in ("create", "address"):
        common += ["--rpc-port", str(node.rpc_port)]
    head = 3 if args[1] == "nft" else 2
    command = [sys.executable, "-m", "coinium", *args[:head], *common, *args[head:]]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stderr + result.stdout
    return result.stdout.strip()


def refused(result: subprocess.CompletedProcess, words: str) -> None:
    assert result.returncode == 1 and words in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_every_nft_command_through_the_cli(start_node, tmp_path):
    node = start_node()
    wallets = {}
    for name in ("alice", "bob", "carol"):
        ok(coinium(node, "wallet", "create", name, *FAST_KDF))
        wallets[name] = ok(coinium(node, "wallet", "address", name))
        node.rpc("generatetoaddress", 1, wallets[name])
    alice, bob, carol = wallets["alice"], wallets["bob"], wallets["carol"]
    meta = tmp_path / "meta.json"
    meta.write_bytes(b'{"name": "one"}')

    def mine() -> None:
        node.rpc("generatetoaddress", 1, carol)

    ok(coinium(node, "wallet", "nft", "create-class", "alice", "art", "--name", "Art",
               "--symbol", "ART", "--uri", "ipfs://class", "--file", str(meta),
               "--royalty-bps", "1000", "--royalty-to", carol, "--mutable"))  # fmt: skip
    mine()
    for token in ("1", "2", "3"):
        ok(coinium(node, "wallet", "nft", "mint", "alice", f"art/{token}", "--uri",
                   "ipfs://one", "--file", str(meta)))  # fmt: skip
    mine()
    assert [t["id"] for t in node.rpc("listnfts", alice)["nfts"]] == ["art/1", "art/2", "art/3"]

    ok(coinium(node, "wallet", "nft", "approve", "alice", "art/1", bob))
    ok(coinium(node, "wallet", "nft", "set-operator", "alice", carol))
    ok(coinium(node, "wallet", "nft", "update", "alice", "art/2", "--uri", "ipfs://two",
               "--hash", "ab" * 32))  # fmt: skip
    mine()
    assert node.rpc("getnft", "art/1")["approved"] == bob
    assert node.rpc("getnft", "art/2")["contenthash"] == "ab" * 32
    ok(coinium(node, "wallet", "nft", "transfer", "bob", "art/1", bob, "--from", bob))
    mine()
    moved = node.rpc("getnft", "art/1")
    assert moved["owner"] == bob and moved["approved"] is None  # the approval went with it

    offer = json.loads(ok(coinium(node, "wallet", "nft", "offer", "alice", "art/3", "2.5",
                                  "--offer-nonce", "77")))  # fmt: skip
    assert offer["seller"] == alice and offer["offernonce"] == 77
    before = node.rpc("getaccount", carol)["balance_units"]
    ok(coinium(node, "wallet", "nft", "buy", "bob", offer["offer"]))
    node.rpc("generatetoaddress", 1, alice)
    assert node.rpc("getnft", "art/3")["owner"] == bob
    assert node.rpc("getaccount", carol)["balance_units"] - before == 25_000_000  # 10 % royalty
    refused(coinium(node, "wallet", "nft", "buy", "carol", offer["offer"]), "bad-nft-offer-used")

    ok(coinium(node, "wallet", "nft", "cancel-offer", "alice", "78"))
    ok(coinium(node, "wallet", "nft", "burn", "bob", "art/1"))
    mine()
    assert node.rpc("getnftclass", "art")["burned"] == 1
    assert node.rpc("nftindex")["ok"]

    refused(coinium(node, "wallet", "nft", "transfer", "alice", "art/3", alice),
            "does not hold the token's owner")  # bob owns it now
    refused(coinium(node, "wallet", "nft", "transfer", "alice", "art/3", alice, "--from", alice),
            "bad-nft-not-owner")  # the node's verdict
    refused(coinium(node, "wallet", "nft", "mint", "alice", "NoSlash"), "CLASS/TOKEN")
    refused(coinium(node, "wallet", "nft", "mint", "alice", "art/9", "--uri", "ipfs://x"),
            "needs its content")  # fmt: skip
    refused(coinium(node, "wallet", "nft", "buy", "bob", "00ff"), "not an offer")
