"""Peers that try to exhaust the node (issue 10): a peer that asks for blocks and never reads
them, handshake squatters, identities made by the thousand. The node stays within bounds, drops
them, and keeps its honest peers."""

from __future__ import annotations

import json
import time

import pytest
from conftest_keys import ALICE, BOB, address_of
from nodeproc import peer_address, wait_until
from p2ppeer import RawPeer

from coinium.core.params import REGTEST
from coinium.core.transaction import sign_transfer
from coinium.p2p.messages import GetData, InvKind

pytestmark = pytest.mark.slow

MEMO = bytes(range(256))


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def mine_big_block(node, transfers: int) -> str:
    """A block of ``transfers`` transfers with full memos (about 400 bytes each)."""
    node.rpc("generatetoaddress", 2, address_of(ALICE))
    batch = [{"jsonrpc": "2.0", "id": i, "method": "sendrawtransaction",
              "params": [sign_transfer(ALICE, REGTEST.chain_id, BOB.account, 1000, 10_000, i,
                                       MEMO).raw.hex()]}
             for i in range(transfers)]  # fmt: skip
    status, _, raw = node.http(json.dumps(batch).encode(), {"Authorization": node.auth_header()})
    errors = [r["error"] for r in json.loads(raw) if r.get("error")]
    assert status == 200 and not errors, errors[:3]
    (block_hash,) = node.rpc("generatetoaddress", 1, address_of(ALICE))
    return block_hash


def test_a_peer_that_does_not_read_is_stopped_dropped_and_its_memory_given_back(start_node):
    node = start_node("node")
    block_hash = mine_big_block(node, 2500)
    size = node.rpc("getblock", block_hash, 1)["size"]
    assert size > 900_000
    pid = node.proc.pid
    baseline = rss_bytes(pid)
    peak = baseline
    attacker = RawPeer(peer_address(node), slow_reader=True)
    try:
        attacker.handshake()
        request = GetData(InvKind.BLOCK, (bytes.fromhex(block_hash),) * 128)
        deadline = time.monotonic() + 40
        limit = baseline + 400 * 1024 * 1024  # far below what it asks for: 128 MB every 50 ms
        dropped = False
        while time.monotonic() < deadline:
            attacker.send(request)
            peak = max(peak, rss_bytes(pid))
            assert peak < limit, f"node grew to {peak >> 20} MB (from {baseline >> 20} MB)"
            if attacker.key_hex not in {p["key"] for p in node.rpc("getpeerinfo")}:
                dropped = True
                break
            time.sleep(0.05)
        assert dropped, "the peer that reads nothing was never dropped"
    finally:
        attacker.close()
    # The memory it held goes back: libzmq frees the pipe, the heap is trimmed.
    wait_until(lambda: rss_bytes(pid) < baseline + 64 * 1024 * 1024, timeout=15,
               message="the node's memory to come back down")  # fmt: skip
    print(f"node RSS: baseline {baseline >> 20} MB, peak {peak >> 20} MB under the attack, "
          f"{rss_bytes(pid) >> 20} MB after")  # fmt: skip
    assert node.rpc("getblockcount") == 3


def _squat(node) -> RawPeer:
    """A connection that sends VERSION and never VERACK (a fresh key each time)."""
    from coinium.p2p.messages import PROTOCOL_VERSION, Tip, Version

    squatter = RawPeer(peer_address(node))
    squatter.send(Version(PROTOCOL_VERSION, REGTEST.chain_id, REGTEST.genesis_hash, 1,
                          int(time.time()), 7, Tip(0, REGTEST.genesis_hash, 0), 0, 0, "",
                          "/squatter/"))  # fmt: skip
    return squatter


def test_handshake_squatters_do_not_lock_out_honest_newcomers(start_node):
    node = start_node("node")
    squatters = [_squat(node) for _ in range(40)]
    honest: list[RawPeer] = []
    try:
        time.sleep(1.0)  # every pending slot is taken
        redial_at = time.monotonic() + 9.0
        for _ in range(8):
            if time.monotonic() > redial_at:  # the squatters come back with fresh keys
                for i, old in enumerate(squatters):
                    old.close()
                    squatters[i] = _squat(node)
                redial_at = time.monotonic() + 9.0
            newcomer = RawPeer(peer_address(node))
            honest.append(newcomer)
            newcomer.handshake(timeout=5.0)
            time.sleep(0.3)
        active = {p["key"] for p in node.rpc("getpeerinfo")}
        admitted = [p for p in honest if p.key_hex in active]
        print(f"honest newcomers admitted under 40 squatters: {len(admitted)} of {len(honest)}")
        assert len(admitted) == 8
        assert not any(s.key_hex in active for s in squatters)
    finally:
        for peer in (*squatters, *honest):
            peer.close()


def test_handshakes_under_way_count_in_the_inbound_cap(start_node):
    """Eight peers past VERSION at once, against 4 inbound slots (12 connections, 8 outbound):
    at most 4 become active (every one used to, as each checked only the active count)."""
    node = start_node("node", extra_args=["--maxconnections=12"])
    peers = [RawPeer(peer_address(node)) for _ in range(8)]
    try:
        from coinium.p2p.messages import PROTOCOL_VERSION, Tip, Verack, Version

        for i, peer in enumerate(peers):
            peer.send(Version(PROTOCOL_VERSION, REGTEST.chain_id, REGTEST.genesis_hash, 1,
                              int(time.time()), 1000 + i, Tip(0, REGTEST.genesis_hash, 0), 0, 0,
                              "", "/crowd/"))  # fmt: skip
        time.sleep(1.0)
        for peer in peers:
            peer.send(Verack())
        time.sleep(1.0)
        inbound = [p for p in node.rpc("getpeerinfo") if p["inbound"]]
        assert 1 <= len(inbound) <= 4, len(inbound)
        assert node.rpc("getnetworkinfo")["connections_in"] <= 4
    finally:
        for peer in peers:
            peer.close()


def test_an_address_whose_fresh_keys_keep_getting_banned_is_banned(start_node):
    from coinium.p2p.messages import PROTOCOL_VERSION, Tip, Version

    node = start_node("node")
    for i in range(16):
        peer = RawPeer(peer_address(node))
        try:  # another network's VERSION: banned at once, and the next key tries again
            peer.send(Version(PROTOCOL_VERSION, REGTEST.chain_id + 1, REGTEST.genesis_hash, 1,
                              int(time.time()), i, Tip(0, REGTEST.genesis_hash, 0), 0, 0, "",
                              "/evader/"))  # fmt: skip
            assert peer.disconnected(10.0)
        finally:
            peer.close()
    wait_until(lambda: any(b["address"] == "127.0.0.1/32" for b in node.rpc("listbanned")),
               timeout=10, message="the address to be banned")  # fmt: skip
    newcomer = RawPeer(peer_address(node))
    try:
        assert newcomer.disconnected(5.0)  # a fresh key from that address is refused
    finally:
        newcomer.close()
    # Peers closed from their own worker (a ban) leave no task behind waiting forever.
    node.stop()
    log = (node.datadir / "debug.log").read_text()
    assert "Task was destroyed but it is pending" not in log + node.output()


def test_every_peer_holding_block_requests_is_watched_for_stalls(start_node):
    """Two identities announce the same fork and never serve it: the one holding the window's
    head goes in seconds, and the second, holding the rest, no longer keeps them for 60 s."""
    from test_p2p_hostile import blocks_on

    from coinium.p2p.messages import GetHeaders, Headers, Tip

    node = start_node("node")
    chain = blocks_on(node, 64)
    work_hint = 1 << 200
    stallers = [RawPeer(peer_address(node)) for _ in range(2)]
    try:
        for peer in stallers:
            peer.handshake(tip=Tip(chain[-1].height, chain[-1].hash, work_hint))
        for peer in stallers:
            try:
                peer.wait_for(GetHeaders, 5)
                peer.send(Headers(tuple(b.header for b in chain)))
            except TimeoutError:
                pass  # the node asked the other one
        for peer in stallers:
            # Both hold requests, neither delivers. The second may get its requests only once the
            # first is dropped for stalling the window's head (2 s, longer on a loaded machine).
            # A request may also have come before the GetHeaders waited for above (the node's
            # once-a-second refill can reach a peer before its handshake's GetHeaders does), so
            # what the peer already read counts.
            if not any(isinstance(m, GetData) for m in peer.received):
                peer.wait_for(GetData, 30)
        started = time.monotonic()
        wait_until(lambda: not {p.key_hex for p in stallers} & {p["key"] for p in
                                                                node.rpc("getpeerinfo")},
                   timeout=30, message="both stallers to be dropped")  # fmt: skip
        print(f"both stallers dropped {time.monotonic() - started:.1f} s after their requests")
    finally:
        for peer in stallers:
            peer.close()
