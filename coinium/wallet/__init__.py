"""Wallets: a user's keys, encrypted at rest with a passphrase, and the command line that uses them.

- `coinium.wallet.keystore`: wallets by name: create, load, unlock, add keys; the file's format
  (`wallet_format`), sealing (`seed_sealing`: Argon2id + XChaCha20-Poly1305) and writes
  (`wallet_files`) in their own modules.
- `coinium.wallet.rpc_client`: a small synchronous JSON-RPC client for the node (cookie auth).
- `coinium.wallet.cli`: the ``coinium wallet`` commands (create, list, address, balance, send,
  history).

The wallet is an interface layer: it talks to the node only through JSON-RPC, never to the chain
or the store directly, so it works the same against a local or a remote node.
"""
