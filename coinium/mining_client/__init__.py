"""``coinium mine``: the standalone miner, a client of a node (work over JSON-RPC, new tips over
ZMQ), built on the worker pool and mining loop of `coinium.mining`.

It sits in the top layer with the command line, beside ``coinium rpc`` and the wallet commands,
because it talks to a node through the interfaces (`coinium.wallet.rpc_client`); everything
that is not about reaching a node lives in `coinium.mining` so ``coinium node --mine`` runs the
same code.
"""
