"""One frozen `NetworkParams` per network: main, test and regtest (as bitcoind has).

Each network has its own genesis block (mined once; its nonce and hash are committed below and a
test re-checks them), chain id (committed to by every signature), address prefix, ports and data
subfolder. Regtest has a trivial target and no retargeting, so tests and demos mine instantly.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from coinium.contracts.limits import SCHEDULE, GasSchedule
from coinium.core.block import Block
from coinium.core.header import HEADER_VERSION, Header
from coinium.core.transaction import Transaction
from coinium.core.units import COIN

BLOCK_VERSION = HEADER_VERSION
# The state before genesis is empty, and the root of the empty state is 32 zero bytes.
EMPTY_STATE_ROOT = bytes(32)
# Genesis pays an account id no key can have (all zeros is not a BLAKE3 prefix anyone can find).
GENESIS_RECIPIENT = bytes(20)
GENESIS_MESSAGE = b"coinium genesis 2026-11-22: blocks of BLAKE3 work, accounts of Ed25519 keys"


@dataclass(frozen=True, slots=True)
class StakingParams:
    """Every parameter of proof of stake and finality, per network: the values at genesis (the
    governed ones then live in the parameter table, coinium/core/governance/table.py).
    Fractions are basis points (1/10,000)."""

    checkpoint_interval: int  # blocks per epoch; the block at height e * interval is checkpoint e
    unbonding_period: int  # blocks an unbonded stake stays slashable before it can be withdrawn
    reward_share_bp: int  # share of each block's subsidy paid to bonded stake (when any)
    min_validator_bond: int  # base units a validator must bond to register
    max_unbonding_entries: int  # pending unbondings per (delegator, validator)
    slash_double_bp: int  # stake burned for a double vote (same target epoch)
    slash_surround_bp: int  # stake burned for a surround vote
    reporter_reward_bp: int  # share of the burned stake paid to the evidence's sender
    inactivity_epochs: int  # epochs without justification before silent validators leak out


MAIN_STAKING = StakingParams(
    checkpoint_interval=50, unbonding_period=20_160, reward_share_bp=2_000,
    min_validator_bond=1_000 * COIN, max_unbonding_entries=7, slash_double_bp=1_000,
    slash_surround_bp=1_000, reporter_reward_bp=1_000, inactivity_epochs=8,
)  # fmt: skip
REGTEST_STAKING = StakingParams(
    checkpoint_interval=5, unbonding_period=10, reward_share_bp=2_000,
    min_validator_bond=1 * COIN, max_unbonding_entries=7, slash_double_bp=5_000,
    slash_surround_bp=2_500, reporter_reward_bp=1_000, inactivity_epochs=4,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class GovernanceParams:
    """The governance parameters' starting values (seeded into the parameter table at genesis;
    see coinium/core/governance/table.py). Fractions in basis points, periods in blocks."""

    min_deposit: int  # base units a proposal's deposits must reach to go to a vote
    deposit_period: int  # blocks a proposal has to reach min_deposit
    voting_period: int  # blocks its vote lasts
    quorum_bp: int  # votes cast / bonded stake at the vote's start must reach this
    threshold_bp: int  # yes / (yes + no + veto) must exceed this
    veto_bp: int  # veto / votes cast above this rejects it and burns the deposits
    timelock_checkpoints: int  # checkpoints a passed proposal waits before it takes effect


MAIN_GOVERNANCE = GovernanceParams(
    min_deposit=100 * COIN, deposit_period=20_160, voting_period=20_160, quorum_bp=3_340,
    threshold_bp=5_000, veto_bp=3_340, timelock_checkpoints=2,
)  # fmt: skip
REGTEST_GOVERNANCE = GovernanceParams(
    min_deposit=1 * COIN, deposit_period=10, voting_period=10, quorum_bp=3_340,
    threshold_bp=5_000, veto_bp=3_340, timelock_checkpoints=1,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class NetworkParams:
    name: str
    chain_id: int
    address_prefix: str
    data_subdir: str  # "" for main, as bitcoind keeps mainnet in the datadir itself
    rpc_port: int
    p2p_port: int
    pow_limit_bits: int  # the easiest target any block may have
    genesis_bits: int  # genesis's target, the ASERT anchor (harder than the limit, so the
    #                    difficulty can fall below its launch level if hash rate leaves)
    retarget: bool  # False on regtest: every block keeps genesis_bits
    target_spacing: int  # seconds
    asert_half_life: int  # seconds
    initial_subsidy: int  # base units
    halving_interval: int  # blocks
    genesis_timestamp: int
    genesis_nonce: int
    genesis_hash: bytes
    max_future_block_time: int = 2 * 60 * 60
    median_time_span: int = 11
    staking: StakingParams = MAIN_STAKING
    governance: GovernanceParams = MAIN_GOVERNANCE
    # The contract gas schedule's genesis values (governed: coinium/core/governance/table.py)
    contracts: GasSchedule = SCHEDULE

    @property
    def genesis(self) -> Block:
        return build_genesis(self.genesis_bits, self.genesis_timestamp, self.genesis_nonce,
                             self.initial_subsidy)  # fmt: skip


@functools.cache
def build_genesis(bits: int, timestamp: int, nonce: int, subsidy: int) -> Block:
    coinbase = Transaction.coinbase(0, GENESIS_RECIPIENT, subsidy, GENESIS_MESSAGE)
    # One transaction: the Merkle root is its txid (DESIGN.md), no kernel needed.
    header = Header(BLOCK_VERSION, 0, bytes(32), coinbase.txid, EMPTY_STATE_ROOT, timestamp, bits,
                    nonce)
    return Block(header, (coinbase,))


MAIN = NetworkParams(
    name="main",
    chain_id=0xC0_1A_00_01,
    address_prefix="cn",
    data_subdir="",
    rpc_port=9332,
    p2p_port=9333,
    pow_limit_bits=0x1F00FFFF,
    genesis_bits=0x1E00FFFF,
    retarget=True,
    target_spacing=60,
    asert_half_life=6 * 60 * 60,
    initial_subsidy=5 * COIN,
    halving_interval=2_100_000,
    genesis_timestamp=1795305600,
    genesis_nonce=32018000,
    genesis_hash=bytes.fromhex(
        "000000855d80d37bd14fbbbf963e86cb1fcef138105b997bae3022449d6de06d"
    ),
)

TEST = NetworkParams(
    name="test",
    chain_id=0xC0_1A_00_02,
    address_prefix="tcn",
    data_subdir="testnet",
    rpc_port=19332,
    p2p_port=19333,
    pow_limit_bits=0x207FFFFF,
    genesis_bits=0x1F00FFFF,
    retarget=True,
    target_spacing=60,
    asert_half_life=60 * 60,
    initial_subsidy=5 * COIN,
    halving_interval=2_100_000,
    genesis_timestamp=1795305600,
    genesis_nonce=110318,
    genesis_hash=bytes.fromhex(
        "00008fa81f1a4246874cae169ad494a2da25fe7805aeb5b221824dbbc8cd2c87"
    ),
)

REGTEST = NetworkParams(
    name="regtest",
    chain_id=0xC0_1A_00_03,
    address_prefix="rcn",
    data_subdir="regtest",
    rpc_port=19443,
    p2p_port=19444,
    pow_limit_bits=0x207FFFFF,
    genesis_bits=0x207FFFFF,
    retarget=False,
    target_spacing=60,
    asert_half_life=60 * 60,
    initial_subsidy=50 * COIN,
    halving_interval=150,
    genesis_timestamp=1795305600,
    genesis_nonce=0,
    genesis_hash=bytes.fromhex(
        "5814eb128243929101cf62df94922c28ea474bd28dcb0a93822cbe76a4000a88"
    ),
    staking=REGTEST_STAKING,
    governance=REGTEST_GOVERNANCE,
)

NETWORKS = {p.name: p for p in (MAIN, TEST, REGTEST)}


def get_network(name: str) -> NetworkParams:
    try:
        return NETWORKS[name]
    except KeyError:
        raise ValueError(
            f"unknown network {name!r}; choose one of {', '.join(NETWORKS)}"
        ) from None
