"""Real node processes on 127.0.0.1 forming a peer-to-peer network: convergence with racing
miners, partition and heal, a late joiner syncing thousands of blocks, a SIGKILLed node rejoining,
peer exchange."""

from __future__ import annotations

import threading
import time

import pytest
from conftest_keys import ALICE, BOB, address_of
from nodeproc import (
    RpcFailure,
    kill,
    node_key,
    peer_address,
    peer_keys,
    sync_blocks,
    sync_mempools,
    wait_connected,
    wait_until,
)

from coinium.core.params import REGTEST
from coinium.core.transaction import sign_transfer
from coinium.core.units import COIN
from coinium.crypto.keys import PrivateKey

pytestmark = pytest.mark.slow
FEE = 10_000
CAROL = PrivateKey((103).to_bytes(32, "big"))


def send(node, key: PrivateKey, recipient: PrivateKey, amount: int, nonce: int) -> str:
    tx = sign_transfer(key, REGTEST.chain_id, recipient.account, amount, FEE, nonce)
    return node.rpc("sendrawtransaction", tx.raw.hex())


def same_state(nodes, keys) -> None:
    """Every node reports the same tip and the same accounts."""
    tips = {n.rpc("getbestblockhash") for n in nodes}
    assert len(tips) == 1, tips
    for key in keys:
        views = {(a["balance_units"], a["nonce"]) for a in
                 (n.rpc("getaccount", address_of(key)) for n in nodes)}  # fmt: skip
        assert len(views) == 1, views


def test_four_nodes_two_racing_miners_converge(start_node):
    n0 = start_node("n0")
    n1 = start_node("n1", extra_args=[f"--connect={peer_address(n0)}"])
    n2 = start_node("n2", extra_args=[f"--addnode={peer_address(n1)}"])
    # n3 accepts no connections: its gossip must reach n2 over its request link.
    n3 = start_node("n3", extra_args=[f"--connect={peer_address(n2)}", "--nolisten"])
    nodes = [n0, n1, n2, n3]
    wait_connected(n0, n1)
    wait_connected(n1, n2)
    wait_connected(n2, n3)
    gossip = {p["key"]: p["gossip_out"] for p in n3.rpc("getpeerinfo")}
    assert gossip == {node_key(n2): "request-link"}

    n0.rpc("generatetoaddress", 3, address_of(ALICE))
    sync_blocks(nodes)

    errors: list[BaseException] = []
    mined = {n0.rpc_port: 0, n3.rpc_port: 0}

    def mine(node, count: int) -> None:
        for _ in range(count):
            try:
                mined[node.rpc_port] += len(node.rpc("generatetoaddress", 1, address_of(BOB)))
            except RpcFailure as exc:
                # A racing miner loses sometimes: its template went stale under it.
                if "not accepted" not in exc.message:
                    errors.append(exc)
            except BaseException as exc:  # noqa: BLE001 (reported below)
                errors.append(exc)
            time.sleep(0.02)

    miners = [threading.Thread(target=mine, args=(n, 12)) for n in (n0, n3)]
    for thread in miners:
        thread.start()
    txids = [send(n2, ALICE, CAROL, COIN, nonce) for nonce in range(5)]
    for thread in miners:
        thread.join(60)
    assert not errors, errors
    assert all(mined.values()), mined
    # Equal-work forks keep the first seen tip; one more block settles every node on one chain.
    n1.rpc("generatetoaddress", 1, address_of(BOB))
    tip = sync_blocks(nodes)
    sync_mempools(nodes)
    assert n0.rpc("getblockcount") >= 3 + max(mined.values()) + 1
    same_state(nodes, [ALICE, BOB, CAROL])
    # Every transaction sent during the race is confirmed or still pending everywhere.
    confirmed = n0.rpc("getaccount", address_of(ALICE))["nonce"]
    pending = set(n0.rpc("getrawmempool"))
    assert confirmed + len(pending & set(txids)) == len(txids)
    for node in nodes:
        assert node.rpc("getbestblockhash") == tip
        info = node.rpc("getnetworkinfo")
        assert info["connections"] >= 1
        for peer in node.rpc("getpeerinfo"):
            assert peer["score"] > -100 and peer["bytesrecv"] > 0


def test_partition_heals_to_the_heavier_chain(start_node):
    # a - b | c - d, then heal b - c. --connect turns discovery off: no link but those named.
    a = start_node("a")
    b = start_node("b", extra_args=[f"--connect={peer_address(a)}"])
    c = start_node("c")
    d = start_node("d", extra_args=[f"--connect={peer_address(c)}"])
    light, heavy = [a, b], [c, d]
    wait_connected(a, b)
    wait_connected(c, d)
    # A common past: mined on one side and handed to the other side before the split.
    b.rpc("addnode", peer_address(c), "onetry")
    wait_connected(b, c)
    a.rpc("generatetoaddress", 3, address_of(ALICE))
    a.rpc("generatetoaddress", 1, address_of(BOB))
    shared_tx = send(b, ALICE, CAROL, COIN, 0)  # in every mempool before the split
    sync_mempools([a, b, c, d])
    sync_blocks([a, b, c, d])
    # Split: b and c ban each other (which also disconnects them, and keeps them apart).
    b.rpc("setban", node_key(c), "add")
    c.rpc("setban", node_key(b), "add")
    wait_until(lambda: node_key(c) not in peer_keys(b) and node_key(b) not in peer_keys(c), 10,
               message="the partition")  # fmt: skip

    # Light side: 2 blocks, one holding a transaction only it has seen.
    light_tx = send(a, ALICE, CAROL, COIN, 1)
    sync_mempools(light)
    a.rpc("generatetoaddress", 2, address_of(BOB))
    sync_blocks(light)
    assert light_tx not in a.rpc("getrawmempool")
    # Heavy side: 4 blocks, holding the shared transaction and one of Bob's.
    heavy_tx = send(c, BOB, CAROL, COIN, 0)
    sync_mempools(heavy)
    d.rpc("generatetoaddress", 4, address_of(BOB))
    heavy_tip = sync_blocks(heavy)
    assert a.rpc("getblockcount") == 6 and c.rpc("getblockcount") == 8

    b.rpc("clearbanned")  # heal
    c.rpc("setban", node_key(b), "remove")
    b.rpc("addnode", peer_address(c), "onetry")
    assert sync_blocks([a, b, c, d]) == heavy_tip
    # The light branch's transaction came back to the mempools (and spread); the shared one is
    # confirmed again on the heavy chain.
    pool = sync_mempools([a, b, c, d])
    assert light_tx in pool and shared_tx not in pool and heavy_tx not in pool
    d.rpc("generatetoaddress", 1, address_of(BOB))
    sync_blocks([a, b, c, d])
    assert sync_mempools([a, b, c, d]) == set()
    same_state([a, b, c, d], [ALICE, BOB, CAROL])
    assert a.rpc("getaccount", address_of(ALICE))["nonce"] == 2


def test_late_joiner_syncs_thousands_of_blocks_and_a_killed_node_rejoins(start_node):
    n0 = start_node("n0")
    n1 = start_node("n1", extra_args=[f"--connect={peer_address(n0)}"])
    wait_connected(n0, n1)
    blocks = 2100
    for _ in range(blocks // 700):
        n0.rpc("generatetoaddress", 700, address_of(BOB), timeout=120)
    tip = sync_blocks([n0, n1], timeout=60)

    started = time.monotonic()
    late = start_node("late", extra_args=[f"--addnode={peer_address(n0)}",
                                          f"--addnode={peer_address(n1)}"])  # fmt: skip
    assert sync_blocks([n0, n1, late], timeout=60) == tip
    elapsed = time.monotonic() - started
    print(f"late joiner synced {blocks} blocks in {elapsed:.2f} s ({blocks / elapsed:.0f} blocks/s "
          "including its start)")  # fmt: skip
    served = {p["key"]: p["bytesrecv_per_msg"].get("block", 0) for p in late.rpc("getpeerinfo")}
    assert len(served) == 2 and all(served.values()), served  # both peers served blocks

    # SIGKILL the late joiner, grow the chain, restart it: it rejoins and catches up.
    kill(late)
    n0.rpc("generatetoaddress", 20, address_of(BOB))
    late.start()
    assert late.rpc("getblockcount") >= blocks  # its chain survived the kill
    tip = sync_blocks([n0, n1, late], timeout=60)
    assert late.rpc("getblockcount") == blocks + 20
    wait_connected(late, n0)
    # And it takes part again: a block it mines reaches the others.
    late.rpc("generatetoaddress", 1, address_of(BOB))
    assert sync_blocks([n0, n1, late]) != tip


def test_peer_exchange_finds_nodes_nobody_named(start_node):
    hub = start_node("hub")
    hub_address = peer_address(hub)
    a = start_node("a", extra_args=[f"--addnode={hub_address}"])
    wait_connected(a, hub)
    # b only knows the hub; the hub knows where a listens (a told it), b asks it (getaddr).
    b = start_node("b", extra_args=[f"--addnode={hub_address}"])
    wait_connected(b, hub)
    wait_connected(a, b, timeout=30)
    known = b.rpc("getnetworkinfo")["knownaddresses"]
    assert known >= 2


def test_network_rpcs(start_node):
    a = start_node("a")
    b = start_node("b", extra_args=[f"--addnode={peer_address(a)}"])
    wait_connected(a, b)
    info = a.rpc("getnetworkinfo")
    assert info["protocolversion"] == 3 and info["connections"] == 1
    assert info["localaddresses"][0]["address"] == peer_address(a)
    assert info["key"] == node_key(a) and info["listening"] is True
    assert a.rpc("getconnectioncount") == 1

    # ping fills in the round trip (seconds, as bitcoind).
    a.rpc("ping")
    wait_until(lambda: "pingtime" in a.rpc("getpeerinfo")[0], 10, message="a ping time")
    (peer,) = a.rpc("getpeerinfo")
    assert 0 < peer["pingtime"] < 5 and peer["minping"] <= peer["pingtime"]
    assert peer["inbound"] is True and peer["connection_type"] == "inbound"
    assert peer["key"] == node_key(b) and peer["bytesrecv"] > 0 and peer["bytessent"] > 0
    assert peer["subver"].startswith("/coinium:") and peer["score"] >= 0
    (outbound,) = b.rpc("getpeerinfo")
    assert outbound["connection_type"] == "manual" and outbound["peeraddress"] == peer_address(a)

    # addnode / disconnectnode: a manual peer comes back after a disconnect (as bitcoind's).
    with pytest.raises(RpcFailure) as err:
        b.rpc("addnode", peer_address(a), "add")
    assert err.value.code == -23
    with pytest.raises(RpcFailure) as err:
        b.rpc("addnode", peer_address(b), "remove")
    assert err.value.code == -24
    with pytest.raises(RpcFailure) as err:
        b.rpc("disconnectnode")
    assert err.value.code == -8
    with pytest.raises(RpcFailure) as err:
        b.rpc("disconnectnode", "", 999)
    assert err.value.code == -29
    old_id = outbound["id"]
    assert b.rpc("disconnectnode", "", old_id) is None
    wait_until(lambda: [p["id"] for p in b.rpc("getpeerinfo")] not in ([], [old_id]), 20,
               message="the manual peer back")  # fmt: skip
    b.rpc("addnode", peer_address(a), "remove")

    # setban / listbanned / clearbanned
    with pytest.raises(RpcFailure) as err:
        a.rpc("setban", "not-an-address", "add")
    assert err.value.code == -30
    a.rpc("setban", "10.0.0.0/8", "add", 3600)
    with pytest.raises(RpcFailure) as err:
        a.rpc("setban", "10.0.0.0/8", "add")
    assert err.value.code == -23
    a.rpc("setban", peer_address(b), "add")  # bans b's key: it is disconnected at once
    wait_until(lambda: a.rpc("getconnectioncount") == 0, 10, message="b disconnected")
    banned = {ban["address"]: ban for ban in a.rpc("listbanned")}
    assert set(banned) == {"10.0.0.0/8", node_key(b)}
    assert banned["10.0.0.0/8"]["ban_duration"] == 3600
    assert banned[node_key(b)]["time_remaining"] > 80000
    with pytest.raises(RpcFailure) as err:
        a.rpc("setban", "192.168.0.1", "remove")
    assert err.value.code == -30
    a.rpc("clearbanned")
    assert a.rpc("listbanned") == []
