"""Start real ``coinium node`` processes on free 127.0.0.1 ports and talk to them.

Like Bitcoin Core's functional test framework: every node is a separate process with its own
datadir, waited for with deadlines (never bare sleeps), and stopped by the test that started it.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from helpers import wait_until  # the functional tests import it from here too

REPO_ROOT = Path(__file__).resolve().parents[2]


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A port free now and never handed out before in this process: the kernel may return the
    port it just gave (its socket closed) to the next caller, and one node's RPC and P2P ports
    must differ."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


class RpcFailure(Exception):
    def __init__(self, code: int, message: str, http_status: int):
        super().__init__(f"RPC error {code}: {message} (HTTP {http_status})")
        self.code = code
        self.message = message
        self.http_status = http_status


class NodeProcess:
    def __init__(self, base_dir: Path, network: str = "regtest", extra_args: tuple = (),
                 env: dict[str, str] | None = None):  # fmt: skip
        self.base_dir = Path(base_dir)
        self.network = network
        self.rpc_port = free_port()
        self.p2p_port = free_port()
        self.extra_args = list(extra_args)
        self.env = env or {}
        self.proc: subprocess.Popen | None = None
        self.log_path = self.base_dir / f"node-{self.rpc_port}.out"

    @property
    def datadir(self) -> Path:
        sub = {"main": "", "test": "testnet", "regtest": "regtest"}[self.network]
        return self.base_dir / sub if sub else self.base_dir

    @property
    def cookie_path(self) -> Path:
        return self.datadir / ".cookie"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "coinium", "node", "--datadir", str(self.base_dir),
                "--network", self.network, "--rpc-port", str(self.rpc_port),
                "--p2p-port", str(self.p2p_port), "--bind", "127.0.0.1",
                *self.extra_args]  # fmt: skip

    def start(self, wait: bool = True, timeout: float = 60.0) -> NodeProcess:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT),
                                                          env.get("PYTHONPATH")]))  # fmt: skip
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.command(), stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env)  # fmt: skip
        if wait:
            self.wait_ready(timeout)
        return self

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_ready(self, timeout: float = 60.0) -> None:
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"node exited with {self.proc.returncode}:\n{self.output()}")
            if not self.cookie_path.exists():
                return False
            try:
                self.rpc("getblockcount")
            except (OSError, RpcFailure):
                return False
            return True

        wait_until(ready, timeout, message=f"node on port {self.rpc_port} to answer RPC")

    def auth_header(self) -> str:
        return "Basic " + base64.b64encode(self.cookie_path.read_bytes().strip()).decode()

    def http(self, body: bytes, headers: dict[str, str] | None = None, timeout: float = 60.0,
             path: str = "/") -> tuple[int, dict[str, str], bytes]:  # fmt: skip
        """POST raw bytes; return (HTTP status, headers, body) whatever the status."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.rpc_port}{path}", data=body, method="POST",
            headers={"Content-Type": "application/json", **(headers or {})},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as err:
            return err.code, dict(err.headers), err.read()

    def rpc(self, method: str, *params: Any, timeout: float = 60.0, path: str = "/") -> Any:
        body = json.dumps({"jsonrpc": "1.0", "id": 1, "method": method,
                           "params": list(params)}).encode()  # fmt: skip
        status, _, raw = self.http(body, {"Authorization": self.auth_header()}, timeout, path)
        try:
            reply = json.loads(raw)
        except ValueError:
            raise RpcFailure(-1, f"non-JSON reply: {raw[:200]!r}", status) from None
        if reply.get("error"):
            raise RpcFailure(reply["error"]["code"], reply["error"]["message"], status)
        return reply["result"]

    def signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)

    def wait_exit(self, timeout: float = 30.0) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM, wait, and SIGKILL if it does not go; returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()
        return self.proc.returncode


# --- peer-to-peer helpers (added with the p2p network) ------------------------------------------
def peer_address(node: NodeProcess) -> str:
    """The node's full peer address <key>@127.0.0.1:port (what --connect and addnode take)."""
    return node.rpc("getnetworkinfo")["localaddresses"][0]["address"]


def peer_keys(node: NodeProcess) -> set[str]:
    """The Curve keys of the node's connected peers."""
    return {peer["key"] for peer in node.rpc("getpeerinfo")}


def node_key(node: NodeProcess) -> str:
    return node.rpc("getnetworkinfo")["key"]


def wait_connected(a: NodeProcess, b: NodeProcess, timeout: float = 20.0) -> None:
    """Until a and b list each other among their peers."""
    key_a, key_b = node_key(a), node_key(b)
    wait_until(lambda: key_b in peer_keys(a) and key_a in peer_keys(b), timeout,
               message=f"nodes {a.rpc_port} and {b.rpc_port} to connect")  # fmt: skip


def sync_blocks(nodes: list[NodeProcess], timeout: float = 30.0) -> str:
    """Until every node has the same best block; returns its hash."""
    def same() -> str | None:
        tips = {node.rpc("getbestblockhash") for node in nodes}
        return tips.pop() if len(tips) == 1 else None

    return wait_until(same, timeout, interval=0.1, message="every node on one tip")


def sync_mempools(nodes: list[NodeProcess], timeout: float = 30.0) -> set[str]:
    """Until every node's mempool holds the same transactions; returns them."""
    found: dict[str, set[str]] = {}

    def same() -> bool:
        pools = [frozenset(node.rpc("getrawmempool")) for node in nodes]
        if all(p == pools[0] for p in pools):
            found["pool"] = set(pools[0])
            return True
        return False

    wait_until(same, timeout, interval=0.1, message="every mempool the same")
    return found["pool"]


def kill(node: NodeProcess) -> None:
    """SIGKILL: no shutdown code runs (LMDB keeps its last commit)."""
    if node.proc is not None and node.proc.poll() is None:
        node.proc.kill()
        node.proc.wait(10)
    node._log.close()
