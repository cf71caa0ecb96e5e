"""The RPC methods, one module per help category as bitcoind's ``src/rpc/*.cpp``; each module
exposes ``METHODS``, a list of `coinium.rpc.registry.Method`."""

from __future__ import annotations

from coinium.rpc.registry import MethodTable


def default_table() -> MethodTable:
    from coinium.rpc.activity import ActiveCommands
    from coinium.rpc.methods import (
        accounts,
        blockchain,
        chainstats,
        contracts,
        control,
        governance,
        mempool,
        mining,
        network,
        nft,
        nodeinfo,
        rawtransactions,
        staking,
        util,
        wallet,
        zmq,
    )

    modules = (accounts, blockchain, chainstats, contracts, control, governance, mempool, mining,
               network, nft, nodeinfo, rawtransactions, staking, util, wallet, zmq)  # fmt: skip
    active = ActiveCommands()
    table = MethodTable(active.tracked(method) for module in modules for method in module.METHODS)
    table.active = active  # getrpcinfo lists what is running
    return table
