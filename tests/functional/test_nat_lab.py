"""The NAT lab (issue 17): three network namespaces this test creates (lan, router, wan), an
nftables masquerading NAT in the router, and a small PCP / NAT-PMP gateway (pcp_server.py) that
turns each mapping into a DNAT rule. A node in lan started with --natpmp maps its P2P ports; the
wan side then reaches it at the router's public address, and no longer once the node stops.

Skipped, saying why, where namespaces or nftables are not available (not root, no `ip`/`nft`).
Nothing touches the host's own network namespace: every link is created inside the lab's.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys

import pytest
from nodeproc import REPO_ROOT, wait_until

SERVER = REPO_ROOT / "tests" / "functional" / "pcp_server.py"
PUBLIC_IP = "192.0.2.1"  # TEST-NET-1: never routed outside the lab
P2P_PORT, PUB_PORT, RPC_PORT = 18555, 18556, 18557


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, check=check, timeout=30)


@pytest.fixture
def lab():
    if os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("nft"):
        pytest.skip("the NAT lab needs root, iproute2 and nftables to create network namespaces")
    suffix = os.urandom(3).hex()
    names = {role: f"c17{role}{suffix}" for role in ("lan", "rtr", "wan")}
    created = []
    try:
        for ns in names.values():
            made = run("ip", "netns", "add", ns, check=False)
            if made.returncode != 0:
                pytest.skip(f"network namespaces cannot be created here: {made.stderr.strip()}")
            created.append(ns)
            run("ip", "-n", ns, "link", "set", "lo", "up")
        lan, rtr, wan = names["lan"], names["rtr"], names["wan"]
        run("ip", "-n", lan, "link", "add", "lan0", "type", "veth", "peer", "name", "rl0",
            "netns", rtr)
        run("ip", "-n", wan, "link", "add", "wan0", "type", "veth", "peer", "name", "rw0",
            "netns", rtr)
        for ns, dev, address in ((lan, "lan0", "10.77.0.2/24"), (rtr, "rl0", "10.77.0.1/24"),
                                 (rtr, "rw0", f"{PUBLIC_IP}/24"), (wan, "wan0", "192.0.2.2/24")):
            run("ip", "-n", ns, "addr", "add", address, "dev", dev)
            run("ip", "-n", ns, "link", "set", dev, "up")
        run("ip", "-n", lan, "route", "add", "default", "via", "10.77.0.1")
        run("ip", "netns", "exec", rtr, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        ruleset = ("table ip nat {\n"
                   " chain prerouting { type nat hook prerouting priority -100; }\n"
                   " chain postrouting { type nat hook postrouting priority 100;\n"
                   "   oifname rw0 masquerade; }\n}\n")  # fmt: skip
        subprocess.run(["ip", "netns", "exec", rtr, "nft", "-f", "-"], input=ruleset, text=True,
                       check=True, timeout=30)  # fmt: skip
        yield names
    finally:
        for ns in created:
            run("ip", "netns", "del", ns, check=False)


def in_ns(ns: str, *command: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(["ip", "netns", "exec", ns, *command], env=env, **kwargs)


def ns_rpc(ns: str, datadir, method: str):
    script = (
        "import base64, json, sys, urllib.request\n"
        f"cookie = open({str(datadir / '.cookie')!r}).read().strip()\n"
        f"request = urllib.request.Request('http://127.0.0.1:{RPC_PORT}/', data=json.dumps("
        f"{{'jsonrpc': '1.0', 'id': 1, 'method': {method!r}, 'params': []}}).encode(),"
        " headers={'Authorization': 'Basic ' + base64.b64encode(cookie.encode()).decode()})\n"
        "print(json.dumps(json.load(urllib.request.urlopen(request, timeout=10))['result']))\n"
    )
    done = run("ip", "netns", "exec", ns, sys.executable, "-c", script, check=False)
    return json.loads(done.stdout) if done.returncode == 0 else None


def reachable_from(ns: str, host: str, port: int) -> bool:
    probe = f"import socket; socket.create_connection(({host!r}, {port}), timeout=2).close()"
    return run("ip", "netns", "exec", ns, sys.executable, "-c", probe, check=False).returncode == 0


@pytest.mark.parametrize("gateway", ["pcp", "natpmp"])
def test_natpmp_maps_the_p2p_ports_through_a_real_nat(lab, tmp_path, gateway):
    server = in_ns(lab["rtr"], sys.executable, str(SERVER), "10.77.0.1", PUBLIC_IP, "rw0",
                   gateway, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    node = None
    log = open(tmp_path / "node.out", "wb")
    try:
        assert server.stdout.readline().strip() == "ready"
        # Before any mapping the NAT lets nothing in.
        assert not reachable_from(lab["wan"], PUBLIC_IP, P2P_PORT)
        node = in_ns(lab["lan"], sys.executable, "-m", "coinium", "node", "--datadir",
                     str(tmp_path), "--network", "regtest", "--bind", "0.0.0.0", "--p2p-port",
                     str(P2P_PORT), "--p2p-pub-port", str(PUB_PORT), "--rpc-port", str(RPC_PORT),
                     "--natpmp", stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
        datadir = tmp_path / "regtest"
        info = wait_until(lambda: ns_rpc(lab["lan"], datadir, "getnetworkinfo"), timeout=60,
                          message="the node in the lab to answer")  # fmt: skip
        mappings = {m["localport"]: m for m in info["natmappings"]}
        assert set(mappings) == {P2P_PORT, PUB_PORT}, info["natmappings"]
        for port, mapping in mappings.items():
            assert mapping["protocol"] == gateway and mapping["address"] == PUBLIC_IP
            assert mapping["port"] == port and mapping["gateway"] == "10.77.0.1"
            assert mapping["verified"] is False  # no dial-back self-test yet
        assert any(a["address"].endswith(f"@{PUBLIC_IP}:{P2P_PORT}")
                   for a in info["localaddresses"])  # fmt: skip
        # The wan side reaches the node at the public address; an unmapped port stays shut.
        assert reachable_from(lab["wan"], PUBLIC_IP, P2P_PORT)
        assert not reachable_from(lab["wan"], PUBLIC_IP, P2P_PORT + 10)
        node.send_signal(signal.SIGTERM)
        assert node.wait(30) == 0
        # Shutdown deleted the mappings (lifetime 0): the NAT is closed again.
        assert not reachable_from(lab["wan"], PUBLIC_IP, P2P_PORT)
    finally:
        for proc in (node, server):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(10)
        log.close()
