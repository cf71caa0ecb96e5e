"""JSON-RPC over HTTP, as bitcoind serves it.

`server.RpcServer` speaks the transport (aiohttp, cookie and rpcauth Basic auth, legacy 1.0 and
2.0 replies, batches, HTTP statuses); `registry` holds the method table with each method's
declared parameters (checked before a handler runs) and help; `methods/` holds the handlers by
category, as bitcoind's ``src/rpc/*.cpp``. Amounts leave as JSON numbers with exactly 8 decimals
(`encoding.Amount`), hashes as hex in natural byte order.
"""
