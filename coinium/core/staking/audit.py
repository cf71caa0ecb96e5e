"""Where every coin is, from the records alone: the supply check that staking keeps true."""

from __future__ import annotations

from collections.abc import Iterable

from coinium.core.account import Account
from coinium.core.governance.records import GOVERNANCE_KEY, Governance
from coinium.core.staking.records import TOTALS_KEY, Totals, Validator
from coinium.core.state import NS_ACCOUNT, NS_GOVERNANCE, NS_STAKING, NS_VALIDATOR


def supply_parts(records: Iterable[tuple[tuple[int, bytes], bytes]]) -> dict[str, int]:
    """balances, bonded and unbonding stake, the reward pool (rewards and commission owed but
    not yet paid, and rounding dust), the burned total, the proposal deposits held and those
    burned. Their sum equals every coin the coinbases and the staking shares ever issued."""
    parts = {"balances": 0, "bonded": 0, "unbonding": 0, "reward_pool": 0, "burned": 0,
             "deposits": 0, "deposits_burned": 0}
    for (namespace, key), value in records:
        if namespace == NS_ACCOUNT:
            parts["balances"] += Account.decode(value).balance
        elif namespace == NS_VALIDATOR:
            v = Validator.decode(value)
            parts["bonded"] += v.tokens
            parts["unbonding"] += v.unbonding_tokens
        elif namespace == NS_STAKING and key == TOTALS_KEY:
            t = Totals.decode(value)
            parts["reward_pool"] += t.reward_pool
            parts["burned"] += t.burned
        elif namespace == NS_GOVERNANCE and key == GOVERNANCE_KEY:
            g = Governance.decode(value)
            parts["deposits"] += g.escrow
            parts["deposits_burned"] += g.burned
    return parts
