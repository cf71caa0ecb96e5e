"""Each network's genesis block is mined, matches its committed hash, and networks differ."""

from __future__ import annotations

import pytest

from coinium.consensus.block_rules import check_block_body
from coinium.consensus.header_rules import check_proof_of_work
from coinium.consensus.pow import decode_compact
from coinium.core.params import NETWORKS, get_network


@pytest.mark.parametrize("params", NETWORKS.values(), ids=NETWORKS.keys())
def test_genesis_is_mined_and_committed(params):
    genesis = params.genesis
    assert genesis.hash == params.genesis_hash
    assert genesis.header.nonce == params.genesis_nonce
    assert genesis.header.height == 0 and genesis.header.prev_hash == bytes(32)
    # Version 2: 124 bytes, committing to the state before genesis, which is empty.
    assert genesis.header.version == 2 and len(genesis.header.encode()) == 124
    assert genesis.header.state_root == bytes(32)
    check_proof_of_work(genesis.header, params)
    check_block_body(genesis)
    assert int.from_bytes(genesis.hash, "big") <= decode_compact(params.genesis_bits)
    # One nonce less would not do: the committed nonce is really the first that works.
    assert int.from_bytes(genesis.header.with_nonce(params.genesis_nonce - 1).hash, "big") > \
        decode_compact(params.genesis_bits) if params.genesis_nonce else True


def test_networks_are_distinct():
    nets = list(NETWORKS.values())
    for field in ("chain_id", "address_prefix", "data_subdir", "rpc_port", "p2p_port",
                  "genesis_hash"):  # fmt: skip
        values = [getattr(p, field) for p in nets]
        assert len(set(values)) == len(values), field


def test_genesis_target_is_not_above_the_limit():
    for params in NETWORKS.values():
        assert decode_compact(params.genesis_bits) <= decode_compact(params.pow_limit_bits)


def test_unknown_network_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown network 'mainnet'; choose one of main"):
        get_network("mainnet")
