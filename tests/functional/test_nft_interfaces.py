"""NFTs through a real node: transactions over sendrawtransaction, the RPCs (getnft,
getnftclass, listnfts by owner and class with paging, listnftclasses, getnfthistory, getnftproof,
nftindex), the ZMQ ``nft`` topic on a real SUB socket, `coinium verifynft` as a process, and the
bad inputs' RPC errors. A transaction whose NFT rule fails is not mined."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from nft_helpers import CONTENT, HASH, URI, Wallet
from nodeproc import RpcFailure, free_port
from test_zmq_notifications import Subscriber

from coinium.core.kinds.nft.common import TokenRecord, token_key
from coinium.core.params import REGTEST
from coinium.crypto.address import encode_address
from coinium.crypto.state_proof import StateProof, record_path, verify_proof

REPO = Path(__file__).resolve().parents[2]


def addr(wallet: Wallet) -> str:
    return encode_address(REGTEST.address_prefix, wallet.account)


def send(node, *txs) -> None:
    for tx in txs:
        node.rpc("sendrawtransaction", tx.encode().hex())


@pytest.fixture
def nft_node(start_node):
    address = f"tcp://127.0.0.1:{free_port()}"
    node = start_node(extra_args=[f"--zmqpubnft={address}"])
    sub = Subscriber(address)
    yield node, sub
    sub.close()


def test_nfts_over_rpc_zmq_and_verifynft(nft_node, tmp_path):
    node, sub = nft_node
    alice, bob, carol = Wallet(201, fee=10_000), Wallet(202, fee=10_000), Wallet(203, fee=10_000)
    node.rpc("generatetoaddress", 1, addr(alice))
    node.rpc("generatetoaddress", 1, addr(bob))
    send(node, alice.create_class(royalty_bps=1000, royalty_to=carol.account),
         *[alice.mint(str(i).encode()) for i in range(5)])
    node.rpc("generatetoaddress", 1, addr(carol))

    token = node.rpc("getnft", "art/3")
    assert token == {"id": "art/3", "class": "art", "token": "3", "owner": addr(alice),
                     "approved": None, "uri": URI.decode(), "contenthash": HASH.hex()}
    cls = node.rpc("getnftclass", "art")
    assert (cls["minted"], cls["supply"], cls["royalty_bps"]) == (5, 5, 1000)
    assert cls["royaltyrecipient"] == addr(carol)
    page = node.rpc("listnfts", addr(alice), "", "", 2)
    assert [t["id"] for t in page["nfts"]] == ["art/0", "art/1"] and page["next"] == "art/1"
    page = node.rpc("listnfts", addr(alice), "", page["next"], 1000)
    assert [t["id"] for t in page["nfts"]] == ["art/2", "art/3", "art/4"] and page["next"] is None
    assert len(node.rpc("listnfts", "", "art")["nfts"]) == 5
    assert [c["class"] for c in node.rpc("listnftclasses")["classes"]] == ["art"]

    # A sale: the seller's offer, the buyer's transaction; royalty to carol.
    before = {w: node.rpc("getaccount", addr(w))["balance_units"] for w in (alice, bob, carol)}
    offer = alice.offer(b"3", 2_000_000)
    send(node, bob.buy(offer))
    node.rpc("generatetoaddress", 1, addr(alice))
    after = {w: node.rpc("getaccount", addr(w))["balance_units"] for w in (alice, bob, carol)}
    assert node.rpc("getnft", "art/3")["owner"] == addr(bob)
    assert after[carol] - before[carol] == 200_000
    assert before[bob] - after[bob] == 2_000_000 + bob.fee
    assert [t["id"] for t in node.rpc("listnfts", addr(bob))["nfts"]] == ["art/3"]
    history = node.rpc("getnfthistory", "art/3")
    assert [h["kind"] for h in history] == ["nft_mint", "nft_sale"]
    assert history[1]["price_units"] == 2_000_000

    # The mempool refuses a kind's broken rule with its reason code.
    for tx, reason in ((bob.transfer(b"1", bob.account), "bad-nft-not-owner"),
                       (carol.buy(offer), "bad-nft-offer-used"),
                       (alice.mint(b"0"), "bad-nft-token-exists"),
                       (alice.update(b"1", content_hash=bytes(32)), "bad-nft-content-hash")):
        with pytest.raises(RpcFailure) as info:
            send(node, tx)
        tx_wallet = {w.key.public_key: w for w in (alice, bob, carol)}[tx.sender]
        tx_wallet.nonce -= 1
        assert info.value.code == -26 and reason in info.value.message, info.value
    # The sender's own pending transactions count: a second transfer of one token is refused.
    send(node, alice.transfer(b"1", bob.account))
    with pytest.raises(RpcFailure) as info:
        send(node, alice.transfer(b"1", carol.account))
    alice.nonce -= 1
    assert "bad-nft-not-owner" in info.value.message
    height = node.rpc("getblockchaininfo")["blocks"]
    node.rpc("generatetoaddress", 1, addr(carol))
    assert node.rpc("getblockchaininfo")["blocks"] == height + 1
    assert node.rpc("getnft", "art/1")["owner"] == addr(bob)
    assert node.rpc("nftindex") == {"ok": True, "owners": 5, "history": 7, "missing": 0,
                                    "extra": 0}  # fmt: skip
    assert node.rpc("nftindex", True)["ok"]
    proof = node.rpc("getnftproof", "art/3")
    key = token_key(b"art", b"3")
    assert proof["namespace"] == 0x21 and proof["key"] == key.hex()
    assert proof["path"] == record_path(0x21, key).hex()
    record = bytes.fromhex(proof["record"])
    assert TokenRecord.decode(record).owner == bob.account
    state_proof = StateProof(bytes.fromhex(proof["path"]),
                             tuple(bytes.fromhex(s) for s in proof["siblings"]), None)
    assert verify_proof(state_proof, record, bytes.fromhex(proof["stateroot"]))
    assert not verify_proof(state_proof, record[:-1] + b"\x00", bytes.fromhex(proof["stateroot"]))
    absent = node.rpc("getnftproof", "art/404")
    assert absent["record"] is None

    # ZMQ: five mints, the sale, the transfer.
    events = [json.loads(body) for topic, body, _ in sub.drain() if topic == "nft"]
    assert [e["event"] for e in events] == ["mint"] * 5 + ["sale", "transfer"]
    assert events[5]["from"] == addr(alice) and events[5]["to"] == addr(bob)
    assert events[5]["price_units"] == 2_000_000 and events[5]["connected"] is True
    assert events[6]["id"] == "art/1" and events[6]["to"] == addr(bob)

    # A disconnected block: its NFT events again with connected false; the indexes follow.
    node.rpc("invalidateblock", node.rpc("getbestblockhash"))
    events = [json.loads(body) for topic, body, _ in sub.drain() if topic == "nft"]
    assert [(e["event"], e["id"], e["connected"]) for e in events] == [("transfer", "art/1",
                                                                       False)]  # fmt: skip
    assert node.rpc("getnft", "art/1")["owner"] == addr(alice)
    assert node.rpc("nftindex")["ok"]
    assert [t["id"] for t in node.rpc("listnfts", addr(bob))["nfts"]] == ["art/3"]

    # verifynft re-hashes a file against the chain's content hash.
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_bytes(CONTENT)
    bad.write_bytes(CONTENT + b" ")
    base = [sys.executable, "-m", "coinium", "verifynft", "--network", "regtest", "--datadir",
            str(node.base_dir), "--rpc-port", str(node.rpc_port)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    ok = subprocess.run([*base, "art/3", str(good)], capture_output=True, text=True, env=env,
                        timeout=60)  # fmt: skip
    assert ok.returncode == 0 and "OK" in ok.stdout, ok.stderr
    mismatch = subprocess.run([*base, "art/3", str(bad)], capture_output=True, text=True,
                              env=env, timeout=60)  # fmt: skip
    assert mismatch.returncode == 1 and "MISMATCH" in mismatch.stderr


def test_bad_rpc_inputs(nft_node):
    node, _ = nft_node
    for call, code in ((("getnft", "art/none"), -5), (("getnft", "NoSlash"), -8),
                       (("getnft", "Bad/Case"), -8), (("getnftclass", "nope"), -5),
                       (("listnfts", "", "", "", 5000), -8), (("listnfts",), -8),
                       (("listnfts", "cn1notanaddress"), -5)):  # fmt: skip
        with pytest.raises(RpcFailure) as info:
            node.rpc(*call)
        assert info.value.code == code, call


def test_two_buyers_of_one_offer_one_gets_it_the_other_leaves_the_mempool(nft_node):
    node, _ = nft_node
    alice, bob, carol = (Wallet(n, fee=10_000) for n in (211, 212, 213))
    for wallet in (alice, bob, carol):
        node.rpc("generatetoaddress", 1, addr(wallet))
    send(node, alice.create_class(), alice.mint(b"1"))
    node.rpc("generatetoaddress", 1, addr(alice))
    offer = alice.offer(b"1", 1_000)
    send(node, bob.buy(offer))
    send(node, carol.buy(offer))  # alone on the tip it applies: admitted
    assert len(node.rpc("getrawmempool")) == 2
    node.rpc("generatetoaddress", 1, addr(alice))
    assert node.rpc("getnft", "art/1")["owner"] in (addr(bob), addr(carol))
    assert node.rpc("getrawmempool") == []  # the loser left ('R' inapplicable)
    assert node.rpc("nftindex")["ok"]
