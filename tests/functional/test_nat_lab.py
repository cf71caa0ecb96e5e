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


def start_node(ns: str, datadir, log, *extra: str) -> subprocess.Popen:
    return in_ns(ns, sys.executable, "-m", "coinium", "node", "--datadir", str(datadir),
                 "--network", "regtest", "--bind", "0.0.0.0", "--p2p-port", str(P2P_PORT),
                 "--p2p-pub-port", str(PUB_PORT), "--rpc-port", str(RPC_PORT), *extra,
                 stdout=log, stderr=subprocess.STDOUT)  # fmt: skip


def stop(proc: subprocess.Popen | None) -> int | None:
    if proc is None or proc.poll() is not None:
        return None if proc is None else proc.returncode
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(10)


def wan_peer(lab, tmp_path, log) -> tuple[subprocess.Popen, str]:
    """A node on the internet side; the node behind the NAT connects out to it."""
    peer = start_node(lab["wan"], tmp_path / "wan", log)
    info = wait_until(lambda: ns_rpc(lab["wan"], tmp_path / "wan" / "regtest", "getnetworkinfo"),
                      timeout=60, message="the wan node to answer")  # fmt: skip
    return peer, f"{info['key']}@192.0.2.2:{P2P_PORT}"


@pytest.mark.parametrize("gateway", ["pcp", "natpmp"])
def test_natpmp_maps_verifies_and_announces_through_a_real_nat(lab, tmp_path, gateway):
    server = in_ns(lab["rtr"], sys.executable, str(SERVER), "10.77.0.1", PUBLIC_IP, "rw0",
                   gateway, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    node = peer = None
    log = open(tmp_path / "nodes.out", "wb")
    try:
        assert server.stdout.readline().strip() == "ready"
        # Before any mapping the NAT lets nothing in.
        assert not reachable_from(lab["wan"], PUBLIC_IP, P2P_PORT)
        peer, peer_address = wan_peer(lab, tmp_path, log)
        node = start_node(lab["lan"], tmp_path / "lan", log, "--natpmp", "--connect",
                          peer_address)  # fmt: skip
        datadir = tmp_path / "lan" / "regtest"

        def verified():
            info = ns_rpc(lab["lan"], datadir, "getnetworkinfo")
            mapped = {m["localport"]: m for m in (info or {}).get("natmappings", [])}
            return info if mapped.get(P2P_PORT, {}).get("verified") else None

        info = wait_until(verified, timeout=90, interval=0.5,
                          message="the mapped address to be dialled back")  # fmt: skip
        mappings = {m["localport"]: m for m in info["natmappings"]}
        assert set(mappings) == {P2P_PORT, PUB_PORT}, info["natmappings"]
        for port, mapping in mappings.items():
            assert mapping["protocol"] == gateway and mapping["address"] == PUBLIC_IP
            assert mapping["port"] == port and mapping["gateway"] == "10.77.0.1"
        public = [a for a in info["localaddresses"] if a["host"] == PUBLIC_IP]
        assert public and public[0]["port"] == P2P_PORT and public[0]["reachable"] is True
        # The wan side reaches the node at the public address; an unmapped port stays shut.
        assert reachable_from(lab["wan"], PUBLIC_IP, P2P_PORT)
        assert not reachable_from(lab["wan"], PUBLIC_IP, P2P_PORT + 10)
        assert stop(node) == 0
        # Shutdown deleted the mappings (lifetime 0): the NAT is closed again.
        assert not reachable_from(lab["wan"], PUBLIC_IP, P2P_PORT)
    finally:
        stop(node)
        stop(peer)
        server.kill()
        server.wait(10)
        log.close()


def test_an_unmapped_external_address_is_reported_unreachable(lab, tmp_path):
    """--externalip names the NAT's public address, but nothing maps the port: the peer's dial
    back fails, and getnetworkinfo says so."""
    node = peer = None
    log = open(tmp_path / "nodes.out", "wb")
    try:
        peer, peer_address = wan_peer(lab, tmp_path, log)
        node = start_node(lab["lan"], tmp_path / "lan", log, "--externalip", PUBLIC_IP,
                          "--connect", peer_address)  # fmt: skip
        datadir = tmp_path / "lan" / "regtest"

        def checked():
            info = ns_rpc(lab["lan"], datadir, "getnetworkinfo")
            found = [a for a in (info or {}).get("localaddresses", []) if a["host"] == PUBLIC_IP]
            return found[0] if found and found[0]["reachable"] is not None else None

        address = wait_until(checked, timeout=90, interval=0.5,
                             message="the external address to be checked")  # fmt: skip
        assert address["reachable"] is False
        assert ns_rpc(lab["lan"], datadir, "getnetworkinfo")["natmappings"] == []
    finally:
        stop(node)
        stop(peer)
        log.close()
