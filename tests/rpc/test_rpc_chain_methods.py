"""Blockchain, mining and control methods on a small regtest chain: result shapes, bitcoind's
error codes, submitblock's BIP22 strings, forks, invalidateblock/reconsiderblock."""

from __future__ import annotations

import json

from rpc_harness import Harness, keypair

from coinium import kernels
from coinium.chain.builder import build_block, mine
from coinium.consensus.pow import decode_compact
from coinium.consensus.subsidy import block_subsidy
from coinium.core.block import Block
from coinium.core.header import Header
from coinium.core.transaction import Transaction

HEX64 = 64

HEADER_KEYS = {"hash", "confirmations", "height", "version", "versionHex", "merkleroot",
               "stateroot", "time", "mediantime", "nonce", "bits", "target", "difficulty",
               "chainwork", "nTx", "final"}


def is_hash(value: object) -> bool:
    return isinstance(value, str) and len(value) == HEX64 and int(value, 16) >= 0


async def mine_on(h: Harness, parent_hex: str, **changes) -> Block:
    """A mined block on ``parent_hex`` (built on the chain thread), not submitted."""
    chain = h.node.chain
    recipient = keypair(50).account
    return await h.node.chain_call(
        lambda: mine(build_block(chain, [], recipient, parent=bytes.fromhex(parent_hex),
                                 **changes)))  # fmt: skip


def child_of(block: Block, recipient: bytes, params, state_root: bytes) -> Block:
    """A mined block on ``block`` without the chain knowing ``block`` (to make an orphan);
    ``state_root`` is the root of the state after ``block``."""
    height = block.height + 1
    coinbase = Transaction.coinbase(height, recipient, block_subsidy(height, params))
    merkle = kernels.merkle_root([coinbase.txid])
    header = Header(2, height, block.hash, merkle, state_root, block.header.timestamp + 1,
                    block.header.bits, 0)  # fmt: skip
    return mine(Block(header, (coinbase,)))


def test_blockchain_info_and_simple_queries(run_node):
    async def body(h: Harness) -> None:
        hashes = await h.generate(3, keypair(1))
        assert len(hashes) == 3 and all(is_hash(x) for x in hashes)
        info = await h.call("getblockchaininfo")
        assert set(info) == {"chain", "blocks", "headers", "bestblockhash", "bits", "target",
                             "difficulty", "time", "mediantime", "verificationprogress",
                             "initialblockdownload", "chainwork", "size_on_disk", "pruned",
                             "justifiedheight", "justifiedhash", "finalizedheight",
                             "finalizedhash", "warnings"}  # fmt: skip
        # No stake bonded: genesis is the justified and finalized checkpoint.
        assert info["finalizedheight"] == info["justifiedheight"] == 0
        assert info["finalizedhash"] == h.params.genesis_hash.hex()
        assert info["chain"] == "regtest" and info["blocks"] == info["headers"] == 3
        assert info["bestblockhash"] == hashes[-1]
        assert info["difficulty"] == 1.0 and info["verificationprogress"] == 1.0
        assert info["initialblockdownload"] is False and info["pruned"] is False
        assert info["chainwork"] == f"{8:064x}"  # 4 blocks of work 2 each at regtest's target
        assert info["warnings"] == [] and info["size_on_disk"] > 0
        assert info["mediantime"] <= info["time"]

        assert await h.call("getblockcount") == 3
        assert await h.call("getbestblockhash") == hashes[-1]
        assert await h.call("getdifficulty") == 1.0
        assert await h.call("getblockhash", 0) == h.params.genesis_hash.hex()
        assert await h.call("getblockhash", 3) == hashes[-1]
        for height in (-1, 4):
            failure = await h.fails(-8, "getblockhash", height)
            assert failure.message == "Block height out of range"
        assert await h.call("getzmqnotifications") == []

    run_node(body)


def test_block_and_header_shapes(run_node):
    async def body(h: Harness) -> None:
        hashes = await h.generate(3, keypair(1))
        middle = await h.call("getblockheader", hashes[1])
        assert HEADER_KEYS | {"previousblockhash", "nextblockhash"} == set(middle)
        assert middle["height"] == 2 and middle["confirmations"] == 2 and middle["nTx"] == 1
        assert middle["previousblockhash"] == hashes[0]
        assert middle["nextblockhash"] == hashes[2]
        assert middle["bits"] == "207fffff" and middle["versionHex"] == "00000002"
        assert middle["target"] == f"{decode_compact(0x207FFFFF):064x}"
        assert isinstance(middle["difficulty"], float) and is_hash(middle["chainwork"])

        genesis = await h.call("getblockheader", h.params.genesis_hash.hex())
        assert "previousblockhash" not in genesis and genesis["confirmations"] == 4
        tip = await h.call("getblockheader", hashes[2])
        assert "nextblockhash" not in tip and tip["confirmations"] == 1

        raw_header = await h.call("getblockheader", hashes[1], False)
        assert Header.decode(bytes.fromhex(raw_header)).hash.hex() == hashes[1]

        raw_block = await h.call("getblock", hashes[1], 0)
        block = Block.decode(bytes.fromhex(raw_block))
        assert block.hash.hex() == hashes[1]
        assert await h.call("getblock", hashes[1], False) == raw_block

        one = await h.call("getblock", hashes[1])
        assert set(one) == set(middle) | {"size", "tx"}
        assert one["size"] == block.size and one["tx"] == [block.transactions[0].txid.hex()]
        assert await h.call("getblock", hashes[1], True) == one

        two = await h.call("getblock", hashes[1], 2)
        (coinbase,) = two["tx"]
        assert coinbase["kind"] == "coinbase" and coinbase["height"] == 2
        assert coinbase["amount_units"] == 50 * 10**8 and coinbase["fee_units"] == 0
        assert coinbase["to"] == h.address(keypair(1))

        # Amounts are written with 8 decimals, exactly.
        _, _, raw = await h.post({"method": "getblock", "params": [hashes[1], 2], "id": 1})
        assert b'"amount":50.00000000,' in raw and b'"fee":0.00000000,' in raw

        unknown = "00" * 32
        for method in ("getblockheader", "getblock"):
            failure = await h.fails(-5, method, unknown)
            assert failure.message == "Block not found"
            await h.fails(-8, method, "xyz")

    run_node(body)


def test_submitblock_results(run_node):
    async def body(h: Harness) -> None:
        hashes = await h.generate(2, keypair(1))
        params = h.params

        # A new tip: null; the same again: duplicate.
        block = await mine_on(h, hashes[-1])
        assert await h.call("submitblock", block.encode().hex()) is None
        assert await h.call("getbestblockhash") == block.hash.hex()
        assert await h.call("submitblock", block.encode().hex()) == "duplicate"

        # A side branch (less work than the tip): stored, inconclusive.
        side = await mine_on(h, hashes[0])
        assert await h.call("submitblock", side.encode().hex()) == "inconclusive"

        # Proof of work not met: find a nonce whose hash is above the target.
        target = decode_compact(params.pow_limit_bits)
        template = await mine_on(h, block.hash.hex())
        nonce = next(n for n in range(1000)
                     if int.from_bytes(template.header.with_nonce(n).hash, "big") > target)
        bad_pow = Block(template.header.with_nonce(nonce), template.transactions)
        assert await h.call("submitblock", bad_pow.encode().hex()) == "high-hash"

        # A header that does not commit to the transactions.
        header = template.header
        wrong_root = Header(header.version, header.height, header.prev_hash, bytes(32),
                            header.state_root, header.timestamp, header.bits, 0)  # fmt: skip
        mutated = mine(Block(wrong_root, template.transactions))
        assert await h.call("submitblock", mutated.encode().hex()) == "bad-txnmrklroot"

        # A header that commits to a state other than the one its parent left.
        assert header.state_root != bytes(32)
        wrong_state = Header(header.version, header.height, header.prev_hash, header.merkle_root,
                             bytes(32), header.timestamp, header.bits, 0)  # fmt: skip
        lying = mine(Block(wrong_state, template.transactions))
        assert await h.call("submitblock", lying.encode().hex()) == "bad-stateroot"
        assert await h.call("getbestblockhash") == block.hash.hex()

        # An orphan: held until its parent arrives, then both connect.
        parent = await mine_on(h, block.hash.hex())
        chain = h.node.chain
        root = await h.node.chain_call(
            lambda: chain.state_root_after(parent.header.prev_hash, then=[parent]))
        orphan = child_of(parent, keypair(50).account, params, root)
        assert await h.call("submitblock", orphan.encode().hex()) == "inconclusive"
        assert await h.call("submitblock", orphan.encode().hex()) == "duplicate-inconclusive"
        assert await h.call("submitblock", parent.encode().hex()) is None
        assert await h.call("getbestblockhash") == orphan.hash.hex()

        # Not a block at all.
        for junk in ("zz", "abc", "00" * 10, block.encode().hex() + "00"):
            failure = await h.fails(-22, "submitblock", junk)
            assert failure.message.startswith("Block decode failed")

    run_node(body)


def test_fork_chaintips_invalidate_and_reconsider(run_node):
    async def body(h: Harness) -> None:
        main = await h.generate(3, keypair(1))
        side = await mine_on(h, main[0])  # height 2 on block 1
        assert await h.call("submitblock", side.encode().hex()) == "inconclusive"

        tips = await h.call("getchaintips")
        assert tips == [
            {"height": 3, "hash": main[2], "branchlen": 0, "status": "active"},
            {"height": 2, "hash": side.hash.hex(), "branchlen": 1, "status": "valid-fork"},
        ]
        header = await h.call("getblockheader", side.hash.hex())
        assert header["confirmations"] == -1 and "nextblockhash" not in header

        # Invalidate the main chain's block 2: the tip moves to the side branch's block 2
        # (same work as main's block 2, so the only valid tip of most work).
        assert await h.call("invalidateblock", main[1]) is None
        assert await h.call("getblockcount") == 2
        assert await h.call("getbestblockhash") == side.hash.hex()
        statuses = {t["hash"]: t["status"] for t in await h.call("getchaintips")}
        assert statuses == {side.hash.hex(): "active", main[2]: "invalid"}

        assert await h.call("reconsiderblock", main[1]) is None
        assert await h.call("getbestblockhash") == main[2]
        assert await h.call("getblockcount") == 3

        await h.fails(-5, "invalidateblock", "11" * 32)
        await h.fails(-5, "reconsiderblock", "11" * 32)
        await h.fails(-8, "invalidateblock", "11")

    run_node(body)


def test_mining_methods(run_node):
    async def body(h: Harness) -> None:
        assert await h.call("getnetworkhashps") == 0  # genesis only
        await h.generate(5, keypair(1))
        info = await h.call("getmininginfo")
        assert set(info) == {"blocks", "bits", "difficulty", "target", "networkhashps",
                             "pooledtx", "chain", "localhashps", "warnings"}  # fmt: skip
        assert info["blocks"] == 5 and info["pooledtx"] == 0 and info["chain"] == "regtest"
        assert info["localhashps"] == 0.0 and info["warnings"] == []
        hashps = await h.call("getnetworkhashps")
        assert isinstance(hashps, (int, float)) and hashps >= 0
        assert await h.call("getnetworkhashps", 2, 1) >= 0
        await h.fails(-8, "getnetworkhashps", 120, 6)
        await h.fails(-8, "getnetworkhashps", 120, -2)

        template = await h.call("getblocktemplate")
        assert template["height"] == 6
        assert template["previousblockhash"] == await h.call("getbestblockhash")
        assert template["coinbasevalue"] == 50 * 10**8 and template["transactions"] == []
        assert template["bits"] == "207fffff" and is_hash(template["target"])
        assert template["curtime"] >= template["mintime"]
        assert template["noncerange"] == "0000000000000000ffffffffffffffff"
        assert await h.call("getblocktemplate", {"mode": "template"}) is not None
        await h.fails(-8, "getblocktemplate", {"mode": "proposal"})
        await h.fails(-3, "getblocktemplate", "template")

    run_node(body)


def test_generatetoaddress_checks(run_node):
    async def body(h: Harness) -> None:
        failure = await h.fails(-5, "generatetoaddress", 1, "notanaddress")
        assert failure.message.startswith("Error: Invalid address")
        wrong_network = "cn1" + h.address(keypair(1))[4:]
        await h.fails(-5, "generatetoaddress", 1, wrong_network)
        assert await h.call("generatetoaddress", 0, h.address(keypair(1))) == []
        assert len(await h.call("generatetoaddress", 2, h.address(keypair(1)), 1000)) == 2
        # Out of tries: returns what it mined so far (nothing here).
        assert await h.call("generatetoaddress", 5, h.address(keypair(1)), 0) == []

    run_node(body)


def test_json_bodies_round_trip_unicode_and_big_numbers(run_node):
    async def body(h: Harness) -> None:
        status, _, raw = await h.post({"method": "help", "params": ["ünïcode"], "id": 2**70})
        reply = json.loads(raw)
        assert status == 200 and reply["id"] == 2**70
        assert reply["result"] == "help: unknown command: ünïcode"

    run_node(body)


def test_getzmqnotifications_lists_active_publishers(run_node, tmp_path):
    address = f"ipc://{tmp_path / 'hashblock.sock'}"

    async def body(h: Harness) -> None:
        assert await h.call("getzmqnotifications") == [
            {"type": "pubhashblock", "address": address, "hwm": 1000}
        ]

    run_node(body, zmqpubhashblock=address)
