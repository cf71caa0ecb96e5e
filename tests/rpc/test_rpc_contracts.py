"""Contracts over RPC: signed upload/instantiate/execute through sendrawtransaction and the
mempool into blocks, then getcontract, getcontractstorage, listcontractevents,
getcontractreceipt, callcontract and estimategas, and what bad arguments get."""

from __future__ import annotations

import sys
from pathlib import Path

from rpc_harness import Harness, keypair

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "contracts"))
from contract_helpers import example, u64  # noqa: E402

from coinium.contracts import builders  # noqa: E402
from coinium.contracts.records import code_hash, contract_id  # noqa: E402
from coinium.core.params import REGTEST  # noqa: E402

ALICE, BOB, MINER = keypair(1), keypair(2), keypair(99)
CHAIN = REGTEST.chain_id


def test_contract_lifecycle_and_views_over_rpc(run_node):
    async def body(h: Harness) -> None:
        await h.generate(2, ALICE)
        code = example("token")
        upload = builders.upload(ALICE, CHAIN, code, gas=10_000_000, fee=100_000, nonce=0)
        init = builders.instantiate(ALICE, CHAIN, code_hash(code), u64(1_000), gas=50_000_000,
                                    fee=100_000, nonce=1)  # fmt: skip
        estimate = await h.call("estimategas", upload.raw.hex())
        assert estimate["ok"] and estimate["gas_used"] == 2_000 * len(code)
        for tx in (upload, init):
            assert await h.call("sendrawtransaction", tx.raw.hex()) == tx.txid.hex()
        await h.generate(1, MINER)
        token = contract_id(ALICE.account, 1)
        address = h.address_of(token)
        receipt = await h.call("getcontractreceipt", init.txid.hex())
        assert receipt["ok"] and receipt["contract"] == address and receipt["reason"] is None

        info = await h.call("getcontract", address)
        assert info["code_hash"] == code_hash(code).hex() and info["code_size"] == len(code)
        assert info["creator"] == h.address(ALICE) and info["admin"] is None

        transfer = builders.execute(ALICE, CHAIN, token, b"\x01" + BOB.account + u64(30),
                                    gas=50_000_000, fee=100_000, nonce=2)  # fmt: skip
        estimate = await h.call("estimategas", transfer.raw.hex())
        assert estimate["ok"] and 0 < estimate["gas_used"] < 50_000_000
        await h.call("sendrawtransaction", transfer.raw.hex())
        await h.generate(1, MINER)
        receipt = await h.call("getcontractreceipt", transfer.txid.hex())
        assert receipt["gas_used"] == estimate["gas_used"]  # the estimate is exact

        balance = await h.call("callcontract", address, "01" + BOB.account.hex())
        assert balance["ok"] and int.from_bytes(bytes.fromhex(balance["result"]), "little") == 30
        storage = await h.call("getcontractstorage", address)
        assert {e["key"] for e in storage["entries"]} == {
            "73", "62" + ALICE.account.hex(), "62" + BOB.account.hex()}
        one = await h.call("getcontractstorage", address, "62" + BOB.account.hex())
        assert one["entries"] == [{"key": "62" + BOB.account.hex(), "value": u64(30).hex()}]
        events = await h.call("listcontractevents", address)
        assert [(e["topic"], e["txid"]) for e in events] == [("transfer", transfer.txid.hex())]
        assert await h.call("listcontractevents", address, 10, events[0]["height"] + 1) == []

        # bad arguments
        await h.fails(-5, "getcontract", h.address(BOB))  # an account, not a contract
        await h.fails(-5, "getcontract", "nonsense")
        await h.fails(-8, "callcontract", address, "zz")
        await h.fails(-8, "callcontract", address, "", 0)
        await h.fails(-5, "getcontractreceipt", "00" * 32)
        plain = h.transfer(ALICE, BOB, 1, 10_000, 3)
        await h.fails(-8, "estimategas", plain.raw.hex())
        stale = builders.execute(ALICE, CHAIN, token, b"", gas=1_000_000, fee=100_000, nonce=0)
        failure = await h.fails(-26, "estimategas", stale.raw.hex())
        assert "bad-txns-nonce" in failure.message
        readonly = await h.call("callcontract", address, "07")
        assert readonly["ok"] is False and readonly["reason"] == "reverted"

    run_node(body)
