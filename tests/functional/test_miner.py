"""``coinium mine`` as a separate process against real regtest nodes: blocks the node accepts,
paying the given address; a new tip from another miner; a node restart; polling without ZMQ;
Ctrl-C stopping every worker."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest_keys import ALICE, BOB, address_of
from nodeproc import REPO_ROOT, free_port, wait_until

from coinium.core.params import MAIN, REGTEST
from coinium.core.transaction import sign_transfer
from coinium.core.units import COIN
from coinium.crypto.address import encode_address


class MinerProcess:
    """``coinium mine --json`` with its events read back from its output file."""

    def __init__(self, node, address: str, out: Path, extra_args=()):
        self.node = node
        self.address = address
        self.out = out
        self.args = [sys.executable, "-m", "coinium", "mine",
                     "--rpc", f"http://127.0.0.1:{node.rpc_port}",
                     "--rpc-cookie", str(node.cookie_path), "--address", address,
                     "--json", *extra_args]  # fmt: skip
        self.proc: subprocess.Popen | None = None

    def start(self) -> MinerProcess:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT),
                                                          env.get("PYTHONPATH")]))  # fmt: skip
        self._stdout = open(self.out, "wb")
        self._stderr = open(self.out.with_suffix(".err"), "wb")
        self.proc = subprocess.Popen(self.args, stdout=self._stdout, stderr=self._stderr,
                                     stdin=subprocess.DEVNULL, env=env)  # fmt: skip
        return self

    def events(self, kind: str | None = None) -> list[dict]:
        lines = self.out.read_text().splitlines() if self.out.exists() else []
        events = [json.loads(line) for line in lines if line.startswith("{")]
        return [e for e in events if kind is None or e["event"] == kind]

    def wait_event(self, kind: str, timeout: float = 30.0, after: int = 0, **match) -> dict:
        def seek():
            if self.proc.poll() is not None and not self._matching(kind, after, match):
                raise AssertionError(f"miner exited with {self.proc.returncode}:\n"
                                     f"{self.out.read_text()}\n{self.stderr()}")  # fmt: skip
            return self._matching(kind, after, match)

        return wait_until(seek, timeout, message=f"miner event {kind} {match}")

    def _matching(self, kind: str, after: int, match: dict) -> dict | None:
        for event in self.events()[after:]:
            if event["event"] == kind and all(event.get(k) == v for k, v in match.items()):
                return event
        return None

    def stderr(self) -> str:
        path = self.out.with_suffix(".err")
        return path.read_text(errors="replace") if path.exists() else ""

    def interrupt(self, timeout: float = 30.0) -> int:
        """Ctrl-C, as a terminal sends it to the process group's leader."""
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        for stream in ("_stdout", "_stderr"):
            if hasattr(self, stream):
                getattr(self, stream).close()


@pytest.fixture
def start_miner(tmp_path):
    miners: list[MinerProcess] = []

    def start(node, address: str, *extra_args: str, name: str = "miner") -> MinerProcess:
        miner = MinerProcess(node, address, tmp_path / f"{name}.jsonl", extra_args)
        miners.append(miner)
        return miner.start()

    yield start
    for miner in miners:
        miner.stop()


def zmq_args() -> tuple[str, list[str]]:
    address = f"tcp://127.0.0.1:{free_port()}"
    return address, [f"--zmqpubhashblock={address}"]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return False


def coinbase_to(node, block_hash: str) -> str:
    return node.rpc("getblock", block_hash, 2)["tx"][0]["to"]


def test_two_miners_find_blocks_the_node_accepts_paying_their_addresses(start_node, start_miner):
    _, args = zmq_args()
    node = start_node(extra_args=args)
    alice, bob = address_of(ALICE), address_of(BOB)
    a = start_miner(node, alice, "--processes", "1", "--max-blocks", "3", "--interval", "0.05",
                    name="alice")  # fmt: skip
    b = start_miner(node, bob, "--processes", "1", "--max-blocks", "3", "--interval", "0.05",
                    name="bob")  # fmt: skip
    for miner in (a, b):
        assert miner.proc.wait(120) == 0, miner.stderr()
    for miner, address in ((a, alice), (b, bob)):
        accepted = miner.events("accepted")
        assert len(accepted) == 3
        notify = miner.events("notify")[0]
        assert notify["mode"] == "zmq"
        for event in accepted:
            assert node.rpc("getblockhash", event["height"]) == event["hash"]  # on the main chain
            assert coinbase_to(node, event["hash"]) == address
        # A block the node did not take is reported with its reason and never sent twice.
        sent = [e["hash"] for e in miner.events() if e["event"] in ("accepted", "rejected")]
        assert len(sent) == len(set(sent))
        assert all(e["reason"] for e in miner.events("rejected"))
    assert node.rpc("getblockcount") >= 6


def test_a_miner_moves_to_a_new_tip_found_by_another_and_ctrl_c_stops_its_workers(
        start_node, start_miner):  # fmt: skip
    _, args = zmq_args()
    node = start_node(extra_args=args)
    # Alice's miner asks for an impossible local target: it only ever works, never finds.
    a = start_miner(node, address_of(ALICE), "--processes", "2", "--local-target", "0",
                    name="alice")  # fmt: skip
    pids = a.wait_event("start")["pids"]
    a.wait_event("notify", mode="zmq")
    a.wait_event("switched")
    b = start_miner(node, address_of(BOB), "--processes", "1", "--max-blocks", "1", name="bob")
    assert b.proc.wait(60) == 0, b.stderr()
    [found] = b.events("accepted")
    a.wait_event("newtip", hash=found["hash"], source="zmq")
    work = a.wait_event("work", prev=found["hash"])
    assert work["height"] == found["height"] + 1
    switched = a.wait_event("switched", trigger="newtip", generation=work["generation"])
    assert switched["tip_ms"] < 5000  # loose on a shared machine; bench/ measures the latency
    assert a.events("found") == [] and a.events("accepted") == []
    assert all(alive(pid) for pid in pids)
    assert a.interrupt() == 0, a.stderr()
    assert not any(alive(pid) for pid in pids)
    assert a.events("stopped")[0]["hashes"] > 0


def test_a_miner_survives_its_node_restarting(start_node, start_miner):
    _, args = zmq_args()
    node = start_node(extra_args=args)
    miner = start_miner(node, address_of(ALICE), "--processes", "1", "--interval", "0.3")
    miner.wait_event("accepted")
    node.stop()
    down = miner.wait_event("disconnected")
    count = len(miner.events())  # before the restart: the miner may reconnect while it starts
    node.start()
    miner.wait_event("connected", after=count, timeout=60)
    accepted = miner.wait_event("accepted", after=count, timeout=60)
    assert accepted["time"] > down["time"]
    assert node.rpc("getblockhash", accepted["height"]) == accepted["hash"]
    assert miner.proc.poll() is None  # still mining
    assert miner.interrupt() == 0, miner.stderr()


def test_without_zmq_the_miner_polls_and_picks_up_mempool_transactions(start_node, start_miner):
    node = start_node()
    alice, bob = address_of(ALICE), address_of(BOB)
    node.rpc("generatetoaddress", 1, alice)
    poller = start_miner(node, bob, "--processes", "1", "--local-target", "0", "--refresh", "60",
                         "--poll", "0.1", name="poller")  # fmt: skip
    assert poller.wait_event("notify")["mode"] == "poll"
    poller.wait_event("switched")
    [tip] = node.rpc("generatetoaddress", 1, alice)
    poller.wait_event("newtip", hash=tip, source="poll")
    assert poller.wait_event("work", prev=tip)["trigger"] == "newtip"
    assert poller.interrupt() == 0, poller.stderr()
    # A transaction entering the mempool is picked up at the next refresh.
    refresher = start_miner(node, bob, "--processes", "1", "--local-target", "0", "--refresh",
                            "0.5", "--zmq", "off", name="refresher")  # fmt: skip
    refresher.wait_event("switched")
    tx = sign_transfer(ALICE, REGTEST.chain_id, BOB.account, COIN, 1000, 0)
    node.rpc("sendrawtransaction", tx.raw.hex())
    work = refresher.wait_event("work", prev=tip, transactions=1)
    assert work["trigger"] == "refresh"
    assert refresher.interrupt() == 0, refresher.stderr()
    # With the node's own target the miner mines it into a block paying bob.
    finisher = start_miner(node, bob, "--processes", "1", "--max-blocks", "1", "--zmq", "off",
                           name="finisher")  # fmt: skip
    assert finisher.proc.wait(60) == 0, finisher.stderr()
    [accepted] = finisher.events("accepted")
    block = node.rpc("getblock", accepted["hash"], 2)
    assert [t["txid"] for t in block["tx"][1:]] == [tx.txid.hex()]
    assert block["tx"][0]["to"] == bob
    assert node.rpc("getaccount", bob)["balance_units"] == 50 * COIN + 1000 + COIN


def test_a_miner_for_another_network_stops_with_a_clear_error(start_node, start_miner):
    node = start_node()
    main_address = encode_address(MAIN.address_prefix, ALICE.account)
    miner = start_miner(node, main_address, "--processes", "1", name="wrong-network")
    assert miner.proc.wait(60) == 1
    assert "the node is on 'regtest' but the payout address is for 'main'" in miner.stderr()
    assert miner.events("accepted") == []


def test_the_node_mines_in_process_with_the_same_pool(start_node):
    alice = address_of(ALICE)
    node = start_node(extra_args=("--mine", "--miner-address", alice, "--miner-processes", "2",
                                  "--mine-interval", "0.1"))  # fmt: skip
    wait_until(lambda: node.rpc("getblockcount") >= 3, timeout=60, message="3 mined blocks")
    info = node.rpc("getmininginfo")
    assert info["localhashps"] > 0
    for height in range(1, 4):
        assert coinbase_to(node, node.rpc("getblockhash", height)) == alice
    # A block from elsewhere becomes the tip; the in-node miner builds on it.
    [other] = node.rpc("generatetoaddress", 1, address_of(BOB))
    height = node.rpc("getblock", other)["height"]
    wait_until(lambda: node.rpc("getblockcount") > height, timeout=30, message="a block on top")
    assert node.rpc("getblock", node.rpc("getblockhash", height + 1))["previousblockhash"] == other
    assert node.stop() == 0
