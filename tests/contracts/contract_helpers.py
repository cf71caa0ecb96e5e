"""Shared by the contract tests: the example contracts built from source, WAT modules, and a
real regtest chain (LMDB in a temp dir) that mines blocks of contract transactions."""

from __future__ import annotations

import functools
import shutil
import struct
import tempfile
from pathlib import Path

import pytest
import wasmtime
from helpers import key

from coinium.chain.builder import build_block, mine
from coinium.chain.chainstate import AcceptStatus, ChainState
from coinium.contracts import builders
from coinium.contracts.limits import min_fee
from coinium.contracts.records import Receipt, code_hash, contract_id
from coinium.contracts.toolchain import build_c, clang
from coinium.core.params import REGTEST
from coinium.core.state import NS_CONTRACT_RECEIPT, NS_CONTRACT_STORAGE

EXAMPLES = Path(__file__).resolve().parents[2] / "contracts" / "examples"
GAS = 50_000_000
FEE = 100_000  # above min_fee(GAS)


@functools.cache
def example(name: str) -> bytes:
    """An example contract compiled from contracts/examples/<name>.c with clang (.ci/run
    installs it)."""
    if clang() is None:
        pytest.fail("clang is missing: apt-get install clang lld (.ci/run does)")
    build = Path(tempfile.mkdtemp(prefix="coinium-contract-"))
    try:
        return build_c(EXAMPLES / f"{name}.c", build / f"{name}.wasm")
    finally:
        shutil.rmtree(build)


def wat(text: str) -> bytes:
    return bytes(wasmtime.wat2wasm(text))


def u64(value: int) -> bytes:
    return struct.pack("<Q", value)


class Chain:
    """A regtest chain with funded keys, mining one block per call."""

    def __init__(self, datadir: str, funded: int = 3):
        self.state = ChainState(datadir, REGTEST)
        self.keys = [key(n) for n in range(funded)]
        self.nonces = {k.account: 0 for k in self.keys}
        for n, k in enumerate(self.keys):
            self.block([], k.account, extra=bytes([n]))

    def close(self) -> None:
        self.state.close()

    def block(self, txs, miner: bytes = bytes(20), **kw):
        block = mine(build_block(self.state, txs, miner, **kw))
        result = self.state.accept_block(block)
        assert result.status == AcceptStatus.NEW_TIP, result.error
        return block

    def nonce(self, k) -> int:
        value = self.nonces[k.account]
        self.nonces[k.account] = value + 1
        return value

    def upload(self, k, code: bytes, gas: int = 1_000_000_000, fee: int = 1_000_000):
        return builders.upload(k, REGTEST.chain_id, code, gas=gas, fee=fee, nonce=self.nonce(k))

    def instantiate(self, k, code: bytes, message: bytes = b"", *, gas: int = GAS,
                    fee: int = FEE, coins: int = 0, admin: bytes | None = None):
        nonce = self.nonce(k)
        tx = builders.instantiate(k, REGTEST.chain_id, code_hash(code), message, gas=gas,
                                  fee=fee, nonce=nonce, coins=coins, admin=admin)
        return tx, contract_id(k.account, nonce)

    def execute(self, k, contract: bytes, message: bytes = b"", *, gas: int = GAS,
                fee: int | None = None, coins: int = 0):
        fee = max(FEE, min_fee(gas)) if fee is None else fee
        return builders.execute(k, REGTEST.chain_id, contract, message, gas=gas, fee=fee,
                                nonce=self.nonce(k), coins=coins)  # fmt: skip

    def migrate(self, k, contract: bytes, code: bytes, message: bytes = b"", *, gas: int = GAS):
        return builders.migrate(k, REGTEST.chain_id, contract, code_hash(code), message, gas=gas,
                                fee=FEE, nonce=self.nonce(k))  # fmt: skip

    def receipt(self, tx) -> Receipt:
        raw = self.state.get_record(NS_CONTRACT_RECEIPT, tx.txid)
        assert raw is not None, "no receipt"
        return Receipt.decode(raw)

    def storage(self, contract: bytes, key: bytes) -> bytes | None:
        return self.state.get_record(NS_CONTRACT_STORAGE, contract + key)

    def balance(self, account: bytes) -> int:
        return self.state.get_account(account).balance

    def deploy(self, k, code: bytes, message: bytes = b"", **kw) -> bytes:
        """Upload (if needed) and instantiate in one block; the contract's id."""
        upload = self.upload(k, code)
        tx, contract = self.instantiate(k, code, message, **kw)
        self.block([upload, tx])
        assert self.receipt(upload).ok, self.receipt(upload)
        assert self.receipt(tx).ok, self.receipt(tx)
        return contract
