"""Governance over JSON-RPC on a running regtest node: a proposal through the mempool into
blocks, voted, passed and activated; the proposal and parameter queries; -26 reasons for every
bad governance transaction, with nothing charged."""

from __future__ import annotations

from rpc_harness import Harness, keypair

from coinium.core.governance import table
from coinium.core.governance import transactions as gtx
from coinium.core.kinds import proposal_submit
from coinium.core.staking import transactions as stx
from coinium.core.staking.transactions import sign_kind
from coinium.core.units import COIN

FEE = 10_000
OPERATOR, OTHER, VOTER = keypair(1), keypair(2), keypair(3)
INACTIVITY = table.BY_NAME["inactivity_epochs"].number


def test_governance_through_mempool_blocks_and_queries(run_node):
    async def body(h: Harness) -> None:
        chain_id = h.params.chain_id
        await h.generate(1, OPERATOR)
        await h.generate(1, OTHER)
        register = stx.register_validator(OPERATOR, chain_id, VOTER.public_key, 0, 10 * COIN,
                                          FEE, 0)  # fmt: skip
        await h.call("sendrawtransaction", register.raw.hex())
        await h.generate(1)

        async def refused(tx, reason):
            failure = await h.fails(-26, "sendrawtransaction", tx.raw.hex())
            assert failure.message.startswith(reason), failure.message

        balance = (await h.call("getaccount", h.address(OTHER)))["balance_units"]
        # Bad submissions: unknown parameter, out of bounds, too big a step, deposit too low.
        unknown = sign_kind(OTHER, chain_id, proposal_submit.NUMBER, bytes(20), COIN, FEE, 0,
                            proposal_submit.encode_data(bytes(32), b"t", ((200, 1),)))
        await refused(unknown, "bad-gov-param-unknown")
        await refused(gtx.submit(OTHER, chain_id, [(INACTIVITY, 65)], b"t", bytes(32), COIN,
                                 FEE, 0), "bad-gov-param-bounds")  # fmt: skip
        await refused(gtx.submit(OTHER, chain_id, [(INACTIVITY, 40)], b"t", bytes(32), COIN,
                                 FEE, 0), "bad-gov-param-step")  # fmt: skip
        await refused(gtx.submit(OTHER, chain_id, [(INACTIVITY, 5)], b"t", bytes(32), 1_000,
                                 FEE, 0), "bad-gov-deposit-low")  # fmt: skip
        await refused(gtx.vote(OPERATOR, chain_id, OPERATOR.account, 1, 0, FEE, 1),
                      "bad-gov-noproposal")  # fmt: skip
        await refused(gtx.deposit(OTHER, chain_id, 7, COIN, FEE, 0), "bad-gov-noproposal")

        submit = gtx.submit(OTHER, chain_id, [(INACTIVITY, 5)], b"five idle epochs",
                            bytes(range(32)), COIN // 2, FEE, 0)  # fmt: skip
        await h.call("sendrawtransaction", submit.raw.hex())
        await h.generate(1)
        # Still in its deposit period: no vote yet; a vote option must be 0-3.
        await refused(gtx.vote(OPERATOR, chain_id, OPERATOR.account, 1, 0, FEE, 1),
                      "bad-gov-not-voting")  # fmt: skip
        await refused(gtx.vote(OPERATOR, chain_id, OPERATOR.account, 1, 7, FEE, 1),
                      "bad-gov-option")  # fmt: skip
        account = await h.call("getaccount", h.address(OTHER))
        assert account["balance_units"] == balance - COIN // 2 - FEE  # only the good one paid
        deposit = gtx.deposit(OTHER, chain_id, 1, COIN // 2, FEE, 1)
        await h.call("sendrawtransaction", deposit.raw.hex())
        await h.generate(2)
        [shown] = await h.call("listproposals", "voting")
        assert shown["title"] == "five idle epochs" and shown["deposit_units"] == COIN
        vote = gtx.vote(OPERATOR, chain_id, OPERATOR.account, 1, 0, FEE, 1)
        await h.call("sendrawtransaction", vote.raw.hex())
        await h.generate(1)
        shown = await h.call("getproposal", 1)
        assert shown["tally"]["yes_units"] == 10 * COIN
        assert shown["tally"]["outcome_now"] == "passed"
        assert shown["votes"] == [{"voter": h.address(OPERATOR), "validator": h.address(OPERATOR),
                                   "as": "validator", "option": "yes"}]
        await h.generate(shown["votingend"] - (await h.call("getblockcount")))
        shown = await h.call("getproposal", 1)
        assert shown["status"] == "passed"
        await h.generate(shown["activationheight"] - (await h.call("getblockcount")))
        assert (await h.call("getproposal", 1))["status"] == "executed"
        params = {p["name"]: p for p in await h.call("getconsensusparams")}
        idle = params["inactivity_epochs"]
        assert idle["value"] == 5 and idle["type"] == "count"
        assert idle["history"] == [{"height": 0, "value": 4},
                                   {"height": shown["activationheight"], "value": 5}]
        await h.fails(-8, "getproposal", 9)
        await h.fails(-8, "listproposals", "nonsense")
        decoded = await h.call("decoderawtransaction", submit.raw.hex())
        assert decoded["kind"] == "proposal_submit"
        assert decoded["changes"] == {"inactivity_epochs": 5}

    run_node(body)
