"""PROPOSAL_VOTE (kind 50): a vote on a proposal in its voting period.

The staking payload shape: the validator field names a validator, ``amount`` is 0. Kind data,
5 bytes: proposal id u32 | option u8 (0 yes, 1 no, 2 abstain, 3 veto). A validator's operator
(sender = validator) votes with the validator's stake; any other sender is a delegator voting its
own stake with that validator, which leaves the validator's vote. A later vote of the same voter
on the same proposal replaces the earlier one (as in the Cosmos SDK).
"""

from __future__ import annotations

import struct

from coinium.core.errors import TransactionError
from coinium.core.governance import proposals
from coinium.core.governance.records import OPTION_NAMES
from coinium.core.kinds.staked import make_kind

NUMBER = 50
DATA = struct.Struct("<IB")


def _check(tx) -> None:
    if DATA.unpack(tx.payload)[1] >= len(OPTION_NAMES):
        raise TransactionError("bad-gov-option", "the option is yes 0, no 1, abstain 2, veto 3",
                               txid=tx.txid)  # fmt: skip


def _effect(tx, sender_id: bytes, state) -> None:
    proposal_id, option = DATA.unpack(tx.payload)
    proposals.vote(state, sender_id, tx.recipient, proposal_id, option)


def _json(data: bytes) -> dict:
    proposal_id, option = DATA.unpack(data)
    return {"proposal": proposal_id,
            "option": OPTION_NAMES[option] if option < len(OPTION_NAMES) else option}


KIND = make_kind(number=NUMBER, name="proposal_vote", data_size=DATA.size, effect=_effect,
                 check_data=_check, data_json=_json)
