"""GPU mining end to end without a GPU: ``coinium mine --gpu`` and ``coinium node --mine --gpu``
with the GPU worker's kernel running under Numba's CUDA simulator (NUMBA_ENABLE_CUDASIM=1 in the
miner's environment only), against real regtest nodes. The node accepts what the GPU found."""

from __future__ import annotations

import importlib.util
import os

import pytest
from conftest_keys import ALICE, address_of
from nodeproc import wait_until
from test_miner import coinbase_to, start_miner  # noqa: F401 - the fixture

SIMULATOR = {"NUMBA_ENABLE_CUDASIM": "1"}


@pytest.fixture(autouse=True)
def simulated_gpu(monkeypatch):
    """Every process these tests start sees the simulator as its one GPU."""
    if importlib.util.find_spec("numba_cuda") is None:
        if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
            pytest.fail("numba-cuda (the test extra) must be installed in CI")
        pytest.skip("numba-cuda is not installed (pip install -e '.[test]')")
    monkeypatch.setenv("NUMBA_ENABLE_CUDASIM", "1")


def test_mine_gpu_finds_blocks_the_node_accepts(start_node, start_miner):  # noqa: F811
    node = start_node()
    alice = address_of(ALICE)
    miner = start_miner(node, alice, "--gpu", "--processes", "0", "--max-blocks", "2",
                        "--stats-interval", "0.2", "--interval", "0.3")  # fmt: skip
    assert miner.proc.wait(120) == 0, miner.stderr()
    start = miner.events("start")[0]
    assert start["gpus"] == [0] and start["labels"] == ["gpu 0 (CUDA simulator)"]
    accepted = miner.events("accepted")
    assert len(accepted) == 2
    for event in accepted:
        assert node.rpc("getblockhash", event["height"]) == event["hash"]
        assert coinbase_to(node, event["hash"]) == alice
    assert {e["worker"] for e in miner.events("found")} == {0}  # the GPU worker, the only one
    rates = [e for e in miner.events("hashrate") if e["gpus"].get("0", 0) > 0]
    assert rates and all(e["cpu"] == 0 and e["gpus"]["0"] == e["hashrate"] for e in rates)


def test_gpu_and_cpu_workers_mine_together(start_node, start_miner):  # noqa: F811
    node = start_node()
    miner = start_miner(node, address_of(ALICE), "--gpu", "--gpu-devices", "0", "--processes",
                        "1", "--local-target", "0", "--stats-interval", "0.2")  # fmt: skip
    both = wait_until(lambda: next((e for e in miner.events("hashrate")
                                    if e["cpu"] > 0 and e["gpus"].get("0", 0) > 0), None),
                      60, message="both workers hashing")  # fmt: skip
    assert both["hashrate"] == pytest.approx(both["cpu"] + both["gpus"]["0"], abs=1)
    assert miner.events("start")[0]["labels"] == ["cpu 0", "gpu 0 (CUDA simulator)"]
    assert miner.interrupt() == 0
    stopped = miner.events("stopped")[0]
    assert len(stopped["worker_hashes"]) == 2 and all(n > 0 for n in stopped["worker_hashes"])


def test_node_mine_gpu_mines_with_a_gpu_worker(start_node):
    node = start_node(extra_args=("--mine", "--miner-address", address_of(ALICE), "--gpu",
                                  "--miner-processes", "1", "--mine-interval", "0.2"),
                      env=SIMULATOR)  # fmt: skip
    wait_until(lambda: node.rpc("getblockcount") >= 2, 60, message="blocks mined")
    assert "mining with 1 processes and 1 GPUs" in node.output()
    assert node.rpc("getmininginfo")["localhashps"] > 0
