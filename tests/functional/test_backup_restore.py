"""`coinium backup` under a mining node, `coinium restore` into another datadir that then
continues the same chain, `verifychain`, and the backups restore refuses before replacing
anything (issue 17)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import lmdb
from conftest_keys import ALICE, address_of
from nodeproc import REPO_ROOT, wait_until

from coinium.chain.connect import tree_changes
from coinium.core.account import Account
from coinium.core.state import NS_ACCOUNT
from coinium.store.chainstore import DATABASES, record_key
from coinium.store.state_tree import StateTree

MINING = ("--mine", "--miner-address", address_of(ALICE), "--miner-processes", "1",
          "--mine-interval", "0.1")  # fmt: skip


def coinium(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run([sys.executable, "-m", "coinium", *args], capture_output=True,
                          text=True, env=env, timeout=300)  # fmt: skip


def chain_file_digest(datadir) -> bytes:
    return (datadir / "chainstate" / "data.mdb").read_bytes()


def edit_backup(backup, fn) -> None:
    """Change a backup's database the way a damaged or forged copy would differ."""
    env = lmdb.open(str(backup / "chainstate"), subdir=True, max_dbs=len(DATABASES) + 8)
    dbs = {name: env.open_db(name.encode()) for name in DATABASES}
    tree = StateTree(env)
    with env.begin(write=True) as txn:
        fn(txn, dbs, tree)
    env.close()


def test_backup_under_a_mining_node_restores_and_continues(start_node, tmp_path):
    miner = start_node("a", extra_args=MINING)
    wait_until(lambda: miner.rpc("getblockcount") >= 5, timeout=60, message="5 blocks")
    backup = tmp_path / "backup"
    made = coinium("backup", "--datadir", str(miner.base_dir), "--network", "regtest",
                   str(backup))  # fmt: skip
    assert made.returncode == 0, made.stderr
    manifest = json.loads((backup / "coinium-backup.json").read_text())
    assert manifest["network"] == "regtest" and manifest["height"] >= 5
    assert miner.rpc("getblockhash", manifest["height"]) == manifest["tip"]  # the same chain
    assert miner.rpc("verifychain", 4, 0) is True
    # a second backup into a used folder is refused
    again = coinium("backup", "--datadir", str(miner.base_dir), "--network", "regtest",
                    str(backup))  # fmt: skip
    assert again.returncode == 1 and "not an empty folder" in again.stderr

    # Restoring into a running node's datadir is refused.
    busy = coinium("restore", "--datadir", str(miner.base_dir), "--network", "regtest",
                   str(backup))  # fmt: skip
    assert busy.returncode == 1 and "in use" in busy.stderr

    restored_base = tmp_path / "b"
    done = coinium("restore", "--datadir", str(restored_base), "--network", "regtest",
                   str(backup))  # fmt: skip
    assert done.returncode == 0, done.stderr
    follower = start_node("b", extra_args=MINING)
    assert follower.rpc("getblockhash", manifest["height"]) == manifest["tip"]
    wait_until(lambda: follower.rpc("getblockcount") >= manifest["height"] + 3, timeout=60,
               message="the restored node to mine on")  # fmt: skip
    assert follower.rpc("getblockhash", manifest["height"]) == manifest["tip"]
    assert follower.rpc("verifychain", 4, 0) is True
    assert follower.rpc("getaccount", address_of(ALICE))["balance_units"] > 0
    follower.stop()

    # A restore over an existing chain keeps the old one aside.
    over = coinium("restore", "--datadir", str(restored_base), "--network", "regtest",
                   str(backup))  # fmt: skip
    assert over.returncode == 0 and "previous chain is kept" in over.stdout
    assert list((restored_base / "regtest").glob("chainstate.before-restore-*"))


def test_foreign_corrupt_and_forged_backups_are_refused_before_anything_is_replaced(
        start_node, tmp_path):  # fmt: skip
    node = start_node("a")
    node.rpc("generatetoaddress", 4, address_of(ALICE))
    backup = tmp_path / "good"
    assert coinium("backup", "--datadir", str(node.base_dir), "--network", "regtest",
                   str(backup)).returncode == 0  # fmt: skip
    node.stop()
    target = tmp_path / "target"
    assert coinium("restore", "--datadir", str(target), "--network", "regtest",
                   str(backup)).returncode == 0  # fmt: skip
    before = chain_file_digest(target / "regtest")

    def refused(src, *words: str) -> None:
        result = coinium("restore", "--datadir", str(target), "--network", "regtest", str(src))
        assert result.returncode == 1, result.stdout
        assert "Traceback" not in result.stderr
        for word in words:
            assert word in result.stderr, result.stderr
        assert chain_file_digest(target / "regtest") == before  # nothing replaced
        assert not (target / "regtest" / "chainstate.restoring").exists()

    foreign = coinium("restore", "--datadir", str(tmp_path / "t"), "--network", "test",
                      str(backup))  # fmt: skip
    assert foreign.returncode == 1 and "not 'test'" in foreign.stderr
    assert not (tmp_path / "t" / "testnet" / "chainstate").exists()

    def variant(name: str, fn=None, manifest=None):
        copy = tmp_path / name
        shutil.copytree(backup, copy)
        if fn is not None:
            edit_backup(copy, fn)
        if manifest is not None:
            path = copy / "coinium-backup.json"
            path.write_text(json.dumps({**json.loads(path.read_text()), **manifest}))
        return copy

    tip = bytes.fromhex(json.loads((backup / "coinium-backup.json").read_text())["tip"])

    def drop_undo(txn, dbs, tree):
        txn.delete(tip, db=dbs["undo"])

    def forge_balance(txn, dbs, tree):
        txn.put(record_key(NS_ACCOUNT, ALICE.account), Account(10**15, 0).encode(),
                db=dbs["state"])  # fmt: skip

    forged = ((NS_ACCOUNT, b"\x42" * 20), Account(10**15, 0).encode())  # no block touched it

    def forge_record(txn, dbs, tree):
        txn.put(record_key(*forged[0]), forged[1], db=dbs["state"])

    def forge_record_and_tree(txn, dbs, tree):
        forge_record(txn, dbs, tree)
        tree.apply(txn, tree_changes([forged]))

    def forge_record_tree_and_root(txn, dbs, tree):
        forge_record_and_tree(txn, dbs, tree)
        txn.put(tip, tree.root(txn), db=dbs["stateroots"])

    def other_network(txn, dbs, tree):
        txn.put(b"network", b"test", db=dbs["meta"])

    def drop_block(txn, dbs, tree):
        txn.delete(tip, db=dbs["blocks"])

    refused(variant("no-undo", drop_undo), "undo record", "nothing was replaced")
    refused(variant("forged", forge_balance), "account", "nothing was replaced")
    # A record no recent block touched: the records no longer rebuild to the tree's root; with
    # the tree forged too, the tree's root is not the tip's recorded root; with that forged as
    # well, undoing the tip no longer reaches the root the tip's header commits to.
    refused(variant("forged-record", forge_record), "rebuild to root", "42" * 20,
            "nothing was replaced")  # fmt: skip
    refused(variant("forged-tree", forge_record_and_tree), "not the root recorded after the tip")
    refused(variant("forged-root", forge_record_tree_and_root), "undoing block", "commits to")
    refused(variant("relabelled", other_network), "'test' chain")
    refused(variant("no-block", drop_block), "not stored")
    refused(variant("wrong-tip", manifest={"tip": "00" * 32}), "manifest")
    refused(variant("foreign-manifest", manifest={"network": "main"}), "'main' chain")
    garbage = variant("garbage")
    (garbage / "chainstate" / "data.mdb").write_bytes(b"\0" * 8192)
    refused(garbage, "nothing was replaced")
