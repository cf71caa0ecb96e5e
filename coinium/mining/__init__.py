"""Mining: the nonce-search worker pool (`workers`), work units built from a block template
(`work`), the mining loop shared by ``coinium mine`` and ``coinium node --mine`` (`engine`), its
counters (`stats`), and the in-node work source (`node_miner`). The standalone miner's link to a
node over RPC and ZMQ lives in `coinium.mining_client` (the top layer, beside the CLI)."""
