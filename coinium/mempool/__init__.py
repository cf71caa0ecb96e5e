"""The memory pool: valid transactions waiting for a block.

`coinium.mempool.pool.Mempool` admits transactions against the confirmed state at the tip plus each
sender's pending ones under the policy of `coinium.mempool.policy` (fee floor, replace-by-fee,
size limit with eviction, expiry), keeps every sender's transactions in nonce order, holds nonces
that arrive early (`coinium.mempool.future`), feeds block templates by fee rate, drops what a
block confirms, takes back what a disconnected block held, and announces every add and removal
(with bitcoind's mempool sequence) to its `MempoolListener`s. `coinium.mempool.persist` keeps it
across restarts in an encrypted ``mempool.dat``.
"""
