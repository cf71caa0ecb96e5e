"""The LMDB store: the map grows by itself, writes are all-or-nothing, the datadir is locked."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from coinium.store.chainstore import ChainStore, DatadirLockedError, StoreError


def test_map_grows_when_full_and_keeps_everything(tmp_path):
    with ChainStore(tmp_path, "regtest", map_size=256 << 10) as store:
        start = store.env.info()["map_size"]
        values = {i.to_bytes(4, "big"): os.urandom(200) for i in range(20_000)}  # ~5 MB

        def write_all(txn):
            for key, value in values.items():
                store.put(txn, "blocks", key, value)

        store.write(write_all)
        assert store.env.info()["map_size"] > start
        with store.read() as txn:
            assert all(store.get(txn, "blocks", k) == v for k, v in values.items())


def test_a_failed_write_leaves_nothing(tmp_path):
    with ChainStore(tmp_path, "regtest") as store:
        store.write(lambda txn: store.put(txn, "meta", b"kept", b"1"))

        def half_then_fail(txn):
            store.put(txn, "meta", b"lost", b"1")
            store.delete(txn, "meta", b"kept")
            raise RuntimeError("boom")

        with pytest.raises(RuntimeError):
            store.write(half_then_fail)
        with store.read() as txn:
            assert store.get(txn, "meta", b"kept") == b"1"
            assert store.get(txn, "meta", b"lost") is None


def test_another_process_cannot_open_a_held_datadir(tmp_path):
    with ChainStore(tmp_path, "regtest"):
        code = ("import sys; from coinium.store.chainstore import ChainStore, DatadirLockedError\n"
                "try:\n    ChainStore(sys.argv[1], 'regtest')\n"
                "except DatadirLockedError as e:\n    print(e); sys.exit(3)\n")  # fmt: skip
        child = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True,
                               text=True, timeout=60)  # fmt: skip
        assert child.returncode == 3, child.stderr
        assert "another coinium process" in child.stdout
    # Released at close: it opens again.
    ChainStore(tmp_path, "regtest").close()


def test_lock_is_per_datadir_in_one_process_too(tmp_path):
    with ChainStore(tmp_path, "regtest"):
        with pytest.raises(DatadirLockedError):
            ChainStore(tmp_path, "regtest")


def test_wrong_network_is_refused(tmp_path):
    ChainStore(tmp_path, "regtest").close()
    with pytest.raises(StoreError, match="holds the 'regtest' chain"):
        ChainStore(tmp_path, "test")
