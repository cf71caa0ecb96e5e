"""Mining: the nonce-search worker pool, the in-node miner and (later) the standalone miner."""
