"""Shared by the staking tests: reading the staking records of a real chain."""

from __future__ import annotations

from coinium.chain.builder import build_block, mine
from coinium.chain.chainstate import AcceptStatus, ChainState
from coinium.consensus.subsidy import block_subsidy
from coinium.core.staking.audit import supply_parts
from coinium.core.staking.records import (
    FINALITY_KEY,
    TOTALS_KEY,
    Delegation,
    Finality,
    Totals,
    Validator,
)  # fmt: skip
from coinium.core.state import NS_DELEGATION, NS_STAKING, NS_VALIDATOR

MINER = bytes.fromhex("99" * 20)


def finality_of(chain: ChainState) -> Finality | None:
    raw = chain.get_record(NS_STAKING, FINALITY_KEY)
    return None if raw is None else Finality.decode(raw)


def totals_of(chain: ChainState) -> Totals:
    return Totals.decode(chain.get_record(NS_STAKING, TOTALS_KEY))


def validator_of(chain: ChainState, validator_id: bytes) -> Validator:
    return Validator.decode(chain.get_record(NS_VALIDATOR, validator_id))


def delegation_of(chain: ChainState, delegator: bytes, validator_id: bytes) -> Delegation | None:
    raw = chain.get_record(NS_DELEGATION, delegator + validator_id)
    return None if raw is None else Delegation.decode(raw)


def block_with(chain: ChainState, txs=(), parent: bytes | None = None, recipient=MINER):
    """Mine a block holding ``txs`` on the tip (or ``parent``) and connect it; returns the
    accept result."""
    return chain.accept_block(mine(build_block(chain, txs, recipient, parent=parent)))


def connect(chain: ChainState, txs=()):
    result = block_with(chain, txs)
    assert result.status is AcceptStatus.NEW_TIP, result.error
    return result


def issued(chain: ChainState) -> int:
    return sum(block_subsidy(h, chain.params) for h in range(chain.height + 1))


def assert_supply_kept(chain: ChainState) -> None:
    parts = supply_parts(chain.iter_records())
    assert sum(parts.values()) == issued(chain), parts
