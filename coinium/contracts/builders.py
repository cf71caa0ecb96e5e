"""Building and signing the contract transactions (wallet, RPC and tests use these)."""

from __future__ import annotations

from coinium.contracts.transactions import GAS
from coinium.core.transaction import Transaction, TxKind, signing_hash

ZERO_ID = bytes(20)


def _signed(key, chain_id: int, kind: int, recipient: bytes, amount: int, fee: int, nonce: int,
            gas: int, data: bytes) -> Transaction:
    unsigned = Transaction(kind, recipient, amount, nonce, fee, key.public_key,
                           GAS.pack(gas) + data, bytes(64))  # fmt: skip
    return unsigned.with_signature(key.sign(signing_hash(unsigned, chain_id)))


def upload(key, chain_id: int, code: bytes, *, gas: int, fee: int, nonce: int) -> Transaction:
    return _signed(key, chain_id, TxKind.CONTRACT_UPLOAD, ZERO_ID, 0, fee, nonce, gas, code)


def instantiate(key, chain_id: int, code_hash: bytes, message: bytes = b"", *, gas: int,
                fee: int, nonce: int, coins: int = 0, admin: bytes | None = None) -> Transaction:
    data = code_hash + (b"\x01" + admin if admin else b"\x00" + ZERO_ID) + message
    return _signed(key, chain_id, TxKind.CONTRACT_INSTANTIATE, ZERO_ID, coins, fee, nonce, gas,
                   data)  # fmt: skip


def execute(key, chain_id: int, contract: bytes, message: bytes = b"", *, gas: int, fee: int,
            nonce: int, coins: int = 0) -> Transaction:
    return _signed(key, chain_id, TxKind.CONTRACT_EXECUTE, contract, coins, fee, nonce, gas,
                   message)  # fmt: skip


def migrate(key, chain_id: int, contract: bytes, code_hash: bytes, message: bytes = b"", *,
            gas: int, fee: int, nonce: int) -> Transaction:
    return _signed(key, chain_id, TxKind.CONTRACT_MIGRATE, contract, 0, fee, nonce, gas,
                   code_hash + message)  # fmt: skip
