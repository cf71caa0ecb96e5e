"""The memory pool: valid transactions waiting for a block.

`coinium.mempool.pool.Mempool` admits transactions against the confirmed state at the tip plus each
sender's pending ones, keeps every sender's transactions in nonce order, feeds block templates by
fee rate, drops what a block confirms, takes back what a disconnected block held, and announces
every add and removal (with bitcoind's mempool sequence) to its `MempoolListener`s.
"""
