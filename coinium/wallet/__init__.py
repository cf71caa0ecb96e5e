"""Wallets: a user's keys, encrypted at rest with a passphrase, and the command line that uses them.

- `coinium.wallet.keystore`: the wallet file (Argon2id + XChaCha20-Poly1305), create, load, unlock.
- `coinium.wallet.rpc_client`: a small synchronous JSON-RPC client for the node (cookie auth).
- `coinium.wallet.cli`: the ``coinium wallet`` commands (create, list, address, balance, send,
  history).

The wallet is an interface layer: it talks to the node only through JSON-RPC, never to the chain
or the store directly, so it works the same against a local or a remote node.
"""
