"""Staking over JSON-RPC on a running regtest node: staking transactions through the mempool
into mined blocks, the validator and stake queries, the finality fields, and -26 reasons for
staking transactions the state refuses."""

from __future__ import annotations

from rpc_harness import Harness, keypair

from coinium.core.staking import transactions as stx
from coinium.core.units import COIN

FEE = 10_000
OPERATOR, DELEGATOR, VOTER = keypair(1), keypair(2), keypair(3)


def test_staking_through_mempool_blocks_and_queries(run_node):
    async def body(h: Harness) -> None:
        chain_id = h.params.chain_id
        await h.generate(1, OPERATOR)
        await h.generate(1, DELEGATOR)
        # Refused at admission with the rule's reason: no such validator yet.
        early = stx.delegate(DELEGATOR, chain_id, OPERATOR.account, COIN, FEE, 0)
        failure = await h.fails(-26, "sendrawtransaction", early.raw.hex())
        assert failure.message.startswith("bad-stake-novalidator")
        low = stx.register_validator(OPERATOR, chain_id, VOTER.public_key, 500, COIN // 2, FEE, 0)
        failure = await h.fails(-26, "sendrawtransaction", low.raw.hex())
        assert failure.message.startswith("bad-stake-bond-low")

        register = stx.register_validator(OPERATOR, chain_id, VOTER.public_key, 500, 10 * COIN,
                                          FEE, 0)  # fmt: skip
        assert await h.call("sendrawtransaction", register.raw.hex()) == register.txid.hex()
        await h.generate(1)
        delegate = stx.delegate(DELEGATOR, chain_id, OPERATOR.account, 5 * COIN, FEE, 0)
        assert await h.call("sendrawtransaction", delegate.raw.hex()) == delegate.txid.hex()
        await h.generate(2)

        [validator] = await h.call("listvalidators")
        assert validator["address"] == h.address(OPERATOR)
        assert validator["votingkey"] == VOTER.public_key.hex()
        assert validator["status"] == "active" and validator["commission_bp"] == 500
        assert validator["stake_units"] == 15 * COIN
        shown = await h.call("getvalidator", h.address(OPERATOR))
        assert {d["delegator"] for d in shown["delegations"]} == {h.address(OPERATOR),
                                                                  h.address(DELEGATOR)}
        stakes = await h.call("getstakes", h.address(DELEGATOR))
        [mine] = stakes["delegations"]
        assert mine["stake_units"] == 5 * COIN and mine["rewards_units"] > 0
        await h.fails(-5, "getvalidator", h.address(DELEGATOR))
        await h.fails(-5, "getstakes", "not-an-address")

        unbond = stx.unbond(DELEGATOR, chain_id, OPERATOR.account, 2 * COIN, FEE, 1)
        await h.call("sendrawtransaction", unbond.raw.hex())
        await h.generate(1)
        stakes = await h.call("getstakes", h.address(DELEGATOR))
        assert stakes["unbonding"][0]["amount_units"] == 2 * COIN
        decoded = await h.call("decoderawtransaction", unbond.raw.hex())
        assert decoded["kind"] == "unbond" and decoded["tokens_units"] == 2 * COIN

        info = await h.call("getblockchaininfo")
        assert info["finalizedheight"] == 0 and info["finalizedhash"] == h.params.genesis_hash.hex()
        finality = await h.call("getfinality")
        assert finality["bonded_units"] == 13 * COIN and finality["checkpointinterval"] == 5
        header = await h.call("getblockheader", h.params.genesis_hash.hex())
        assert header["final"] is True
        tip = await h.call("getblockheader", info["bestblockhash"])
        assert tip["final"] is False
        failure = await h.fails(-1, "invalidateblock", h.params.genesis_hash.hex())

    run_node(body)
