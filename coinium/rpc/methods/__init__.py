"""The RPC methods, one module per help category as bitcoind's ``src/rpc/*.cpp``; each module
exposes ``METHODS``, a list of `coinium.rpc.registry.Method`."""

from __future__ import annotations

from coinium.rpc.registry import MethodTable


def default_table() -> MethodTable:
    from coinium.rpc.methods import (
        accounts,
        blockchain,
        control,
        governance,
        mempool,
        mining,
        network,
        rawtransactions,
        staking,
        zmq,
    )

    modules = (accounts, blockchain, control, governance, mempool, mining, network,
               rawtransactions, staking, zmq)
    return MethodTable(method for module in modules for method in module.METHODS)
