"""Transactions over RPC: decode, send (accept and every reject code), the mempool views,
getrawtransaction from the pool and the chain, testmempoolaccept, accounts and their history."""

from __future__ import annotations

import dataclasses

from rpc_harness import Harness, keypair

from coinium.core.units import COIN

ALICE, BOB, MINER = keypair(1), keypair(2), keypair(99)
FEE = 10_000  # 0.0001 coin


async def fund_alice(h: Harness) -> None:
    """Two blocks to Alice (100 coins), then one to someone else."""
    await h.generate(2, ALICE)
    await h.generate(1, MINER)


def test_decoderawtransaction(run_node):
    async def body(h: Harness) -> None:
        tx = h.transfer(ALICE, BOB, 10_000_000, FEE, 0, memo=b"hi")
        decoded = await h.call("decoderawtransaction", tx.raw.hex())
        assert decoded == {
            "txid": tx.txid.hex(), "hash": tx.txid.hex(), "size": tx.size, "version": 1,
            "kind": "transfer", "sender": ALICE.public_key.hex(), "from": h.address(ALICE),
            "nonce": 0, "to": h.address(BOB), "amount": 0.1, "amount_units": 10_000_000,
            "fee": 0.0001, "fee_units": FEE, "memo": "6869",
        }  # fmt: skip
        _, _, raw = await h.post({"method": "decoderawtransaction", "params": [tx.raw.hex()],
                                  "id": 1})  # fmt: skip
        assert b'"amount":0.10000000,' in raw and b'"fee":0.00010000,' in raw

        for junk, detail in (("zz", "not a hex string"), ("abc", "not a hex string"),
                             (tx.raw.hex()[:-2], "truncated"), (tx.raw.hex() + "00", ""),
                             ("01ff", "unknown transaction kind")):  # fmt: skip
            failure = await h.fails(-22, "decoderawtransaction", junk)
            assert failure.message.startswith("TX decode failed") and detail in failure.message

    run_node(body)


def test_send_accept_and_mempool_views(run_node):
    async def body(h: Harness) -> None:
        await fund_alice(h)
        tx = h.transfer(ALICE, BOB, 5 * COIN, FEE, 0)
        assert await h.call("sendrawtransaction", tx.raw.hex()) == tx.txid.hex()
        assert await h.call("sendrawtransaction", tx.raw.hex()) == tx.txid.hex()  # again: ok

        assert await h.call("getrawmempool") == [tx.txid.hex()]
        seq = await h.call("getrawmempool", False, True)
        assert seq["txids"] == [tx.txid.hex()] and isinstance(seq["mempool_sequence"], int)
        verbose = await h.call("getrawmempool", True)
        entry = verbose[tx.txid.hex()]
        assert entry == await h.call("getmempoolentry", tx.txid.hex())
        assert entry["vsize"] == tx.size and entry["fees"]["base"] == 0.0001
        assert entry["ancestorcount"] == 1 and entry["depends"] == []
        failure = await h.fails(-8, "getrawmempool", True, True)
        assert failure.message == "Verbose results cannot contain mempool sequence values."
        _, _, raw = await h.post({"method": "getmempoolentry", "params": [tx.txid.hex()],
                                  "id": 1})  # fmt: skip
        assert b'"base":0.00010000' in raw

        info = await h.call("getmempoolinfo")
        assert info["size"] == 1 and info["bytes"] == tx.size and info["total_fee"] == 0.0001
        assert info["loaded"] is True

        failure = await h.fails(-5, "getmempoolentry", "00" * 32)
        assert failure.message == "Transaction not in mempool"

        # From the mempool: no block fields.
        pooled = await h.call("getrawtransaction", tx.txid.hex(), True)
        assert pooled["hex"] == tx.raw.hex() and "blockhash" not in pooled
        assert await h.call("getrawtransaction", tx.txid.hex()) == tx.raw.hex()

        account = await h.call("getaccount", h.address(ALICE))
        assert account == {"address": h.address(ALICE), "balance": 100.0,
                           "balance_units": 100 * COIN, "nonce": 0, "pending_nonce": 1,
                           "pending_balance": 94.9999,
                           "pending_balance_units": 95 * COIN - FEE}  # fmt: skip
        bob = await h.call("getaccount", h.address(BOB))
        assert bob["balance_units"] == 0 and bob["pending_balance_units"] == 5 * COIN
        assert (await h.call("getmininginfo"))["pooledtx"] == 1

        # Mined: out of the pool, into the chain.
        (block_hash,) = await h.generate(1, MINER)
        assert await h.call("getrawmempool") == []
        block = await h.call("getblock", block_hash, 2)
        assert [t["txid"] for t in block["tx"]][1:] == [tx.txid.hex()]
        assert block["tx"][0]["amount_units"] == 50 * COIN + FEE  # subsidy + fee

        confirmed = await h.call("getrawtransaction", tx.txid.hex(), 1)
        assert confirmed["blockhash"] == block_hash and confirmed["confirmations"] == 1
        assert confirmed["time"] == confirmed["blocktime"] == block["time"]
        in_block = await h.call("getrawtransaction", tx.txid.hex(), True, block_hash)
        assert in_block["in_active_chain"] is True and in_block["hex"] == tx.raw.hex()
        failure = await h.fails(-5, "getrawtransaction", tx.txid.hex(), True, "00" * 32)
        assert failure.message == "Block hash not found"
        genesis = h.params.genesis_hash.hex()
        await h.fails(-5, "getrawtransaction", tx.txid.hex(), True, genesis)
        failure = await h.fails(-5, "getrawtransaction", "00" * 32)
        assert failure.message.startswith("No such mempool or blockchain transaction")

        failure = await h.fails(-27, "sendrawtransaction", tx.raw.hex())
        assert failure.message == "Transaction already in block chain"

        account = await h.call("getaccount", h.address(ALICE))
        assert account["balance_units"] == 95 * COIN - FEE and account["nonce"] == 1
        assert account["pending_nonce"] == 1
        assert (await h.call("getaccount", h.address(BOB)))["balance"] == 5.0

    run_node(body)


def test_send_rejections(run_node):
    async def body(h: Harness) -> None:
        await fund_alice(h)
        # The mempool's code and "reason (details)", as bitcoind.
        broke = h.transfer(BOB, ALICE, COIN, FEE, 0)  # Bob has nothing
        failure = await h.fails(-26, "sendrawtransaction", broke.raw.hex())
        assert failure.message.startswith("bad-txns-in-belowout (")
        # A nonce a little ahead is held until the gap fills (not in the mempool yet); one
        # farther ahead than the held window is "not yet", as bitcoind's missing inputs.
        gap = h.transfer(ALICE, BOB, COIN, FEE, 3)
        assert await h.call("sendrawtransaction", gap.raw.hex()) == gap.txid.hex()
        assert gap.txid.hex() not in await h.call("getrawmempool")
        far = h.transfer(ALICE, BOB, COIN, FEE, 30)
        failure = await h.fails(-25, "sendrawtransaction", far.raw.hex())
        assert failure.message.startswith("nonce-gap")
        forged = h.transfer(ALICE, BOB, COIN, FEE, 0).with_signature(bytes(64))
        failure = await h.fails(-26, "sendrawtransaction", forged.raw.hex())
        assert failure.message.startswith("bad-txns-signature")
        await h.fails(-22, "sendrawtransaction", "0011")

        # The fee cap: a rate per 1000 bytes, checked after the mempool's verdict.
        pricey = h.transfer(ALICE, BOB, COIN, COIN, 0)
        failure = await h.fails(-25, "sendrawtransaction", pricey.raw.hex())
        assert failure.message.startswith("Fee exceeds maximum configured by user")
        await h.fails(-26, "sendrawtransaction", broke.raw.hex(), 0)  # verdict before cap
        await h.fails(-3, "sendrawtransaction", pricey.raw.hex(), -1)
        await h.fails(-3, "sendrawtransaction", pricey.raw.hex(), "x")
        await h.fails(-3, "sendrawtransaction", pricey.raw.hex(), 0.000000001)
        assert await h.call("sendrawtransaction", pricey.raw.hex(), 0) == pricey.txid.hex()

        # A second transaction for the same nonce replaces the pooled one only if it pays more
        # (pricey paid a whole coin).
        rival = h.transfer(ALICE, BOB, 2 * COIN, FEE, 0)
        failure = await h.fails(-26, "sendrawtransaction", rival.raw.hex())
        assert failure.message.startswith("insufficient fee")

    run_node(body)


def test_testmempoolaccept(run_node):
    async def body(h: Harness) -> None:
        await fund_alice(h)
        good = h.transfer(ALICE, BOB, COIN, FEE, 0)
        broke = h.transfer(BOB, ALICE, COIN, FEE, 0)
        pricey = h.transfer(ALICE, BOB, COIN, COIN, 0)
        results = await h.call("testmempoolaccept", [good.raw.hex(), broke.raw.hex(),
                                                     pricey.raw.hex()])  # fmt: skip
        assert results[0] == {
            "txid": good.txid.hex(), "wtxid": good.txid.hex(), "allowed": True,
            "vsize": good.size, "fees": {"base": 0.0001, "effective-feerate":
                                         FEE * 1000 // good.size / COIN,
                                         "effective-includes": [good.txid.hex()]},
        }  # fmt: skip
        assert results[1] == {"txid": broke.txid.hex(), "wtxid": broke.txid.hex(),
                              "allowed": False, "reject-reason": "bad-txns-in-belowout"}
        assert results[2]["allowed"] is False
        assert results[2]["reject-reason"] == "max-fee-exceeded"
        assert await h.call("getrawmempool") == []  # nothing was added

        await h.call("sendrawtransaction", good.raw.hex())
        await h.generate(1, MINER)
        (known,) = await h.call("testmempoolaccept", [good.raw.hex()])
        assert known["reject-reason"] == "txn-already-known"

        # The signatures are checked together: a forged one among good ones is refused alone,
        # and each verdict is the one a single testmempoolaccept gives.
        later = [h.transfer(ALICE, BOB, COIN, FEE, n) for n in (1, 2)]
        forged = dataclasses.replace(later[0], amount=COIN + 1)
        batch = [later[0], forged, later[1], later[0]]
        together = await h.call("testmempoolaccept", [tx.raw.hex() for tx in batch])
        alone = [(await h.call("testmempoolaccept", [tx.raw.hex()]))[0] for tx in batch]
        assert together == alone
        assert [r.get("reject-reason") for r in together] == \
            [None, "bad-txns-signature", "nonce-gap", None]  # fmt: skip
        assert h.node.mempool.signatures_queued == 0  # none left waiting (the nonce gap's)

        await h.fails(-8, "testmempoolaccept", [])
        await h.fails(-8, "testmempoolaccept", [good.raw.hex()] * 26)
        await h.fails(-22, "testmempoolaccept", ["zz"])
        await h.fails(-3, "testmempoolaccept", good.raw.hex())

    run_node(body)


def test_getblocktemplate_lists_pool_transactions_with_nonce_dependencies(run_node):
    async def body(h: Harness) -> None:
        await fund_alice(h)
        first = h.transfer(ALICE, BOB, COIN, FEE, 0)
        second = h.transfer(ALICE, BOB, COIN, 2 * FEE, 1)
        for tx in (first, second):
            await h.call("sendrawtransaction", tx.raw.hex())
        template = await h.call("getblocktemplate")
        listed = template["transactions"]
        assert [t["txid"] for t in listed] == [first.txid.hex(), second.txid.hex()]
        assert listed[0]["depends"] == [] and listed[1]["depends"] == [1]
        assert listed[1]["fee"] == 2 * FEE and listed[1]["data"] == second.raw.hex()
        assert template["coinbasevalue"] == 50 * COIN + 3 * FEE

    run_node(body)


def test_accounts_and_listtransactions(run_node):
    async def body(h: Harness) -> None:
        await fund_alice(h)
        await h.fails(-5, "getaccount", "rcn1notanaddress")
        empty = await h.call("getaccount", h.address(BOB))
        assert empty["balance"] == 0 and empty["nonce"] == 0 and empty["pending_nonce"] == 0

        sent = h.transfer(ALICE, BOB, 3 * COIN, FEE, 0)
        await h.call("sendrawtransaction", sent.raw.hex())
        (block_hash,) = await h.generate(1, MINER)
        pending = h.transfer(ALICE, ALICE, COIN, FEE, 1)  # to herself, left in the pool
        await h.call("sendrawtransaction", pending.raw.hex())

        history = await h.call("listtransactions", h.address(ALICE))
        assert [(e["category"], e["confirmations"]) for e in history] == [
            ("send", 0), ("receive", 0), ("send", 1), ("generate", 3), ("generate", 4),
        ]
        to_self, confirmed_send = history[1], history[2]
        assert "blockhash" not in to_self and to_self["address"] == h.address(ALICE)
        assert confirmed_send == {
            "txid": sent.txid.hex(), "blockhash": block_hash, "height": 4,
            "time": confirmed_send["time"], "category": "send", "amount": -3.0,
            "fee": -0.0001, "address": h.address(BOB), "confirmations": 1,
        }  # fmt: skip
        assert history[3]["amount"] == 50.0 and history[3]["address"] is None

        assert await h.call("listtransactions", h.address(ALICE), 2, 1) == history[1:3]
        assert await h.call("listtransactions", h.address(ALICE), 0) == []
        (received,) = await h.call("listtransactions", h.address(BOB))
        assert received["category"] == "receive" and received["amount"] == 3.0
        assert received["address"] == h.address(ALICE) and "fee" not in received
        await h.fails(-8, "listtransactions", h.address(ALICE), -1)
        await h.fails(-8, "listtransactions", h.address(ALICE), 1, -1)

    run_node(body)


def test_a_sendrawtransaction_batch_leaves_no_signature_verdict_waiting(run_node):
    """A batch's signatures are checked together before its calls run; those of transactions
    refused before their signature is read (one the balance cannot pay, a repeat) are dropped
    with the run, not left queued until newer checks push them out."""

    async def body(h: Harness) -> None:
        await fund_alice(h)
        txs = [h.transfer(ALICE, BOB, COIN, FEE, n) for n in range(3)]
        broke = h.transfer(ALICE, BOB, 1000 * COIN, FEE, 3)
        batch = [{"jsonrpc": "2.0", "id": i, "method": "sendrawtransaction",
                  "params": [tx.raw.hex()]}
                 for i, tx in enumerate([*txs, broke, txs[0]])]  # fmt: skip
        status, replies = await h.request(batch)
        assert status == 200
        assert [r.get("result") for r in replies] == \
            [tx.txid.hex() for tx in txs] + [None, txs[0].txid.hex()]  # fmt: skip
        assert replies[3]["error"]["message"].startswith("bad-txns-in-belowout")
        assert h.node.mempool.signatures_queued == 0

    run_node(body)
