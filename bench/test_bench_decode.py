"""Decoding transactions from their bytes: the compiled path (_ext/tx_fast.pyx) vs its Python
reference, on what a node decodes most.

    PYTHONPATH=. python -m pytest bench/test_bench_decode.py -s        # a few seconds

* a block's 2,000 transfers back to back (`read_many` as `Block.decode` calls it);
* one transfer at a time (`Transaction.decode`, what each sendrawtransaction and each
  transaction of a P2P batch costs).

Both paths run in the same process, alternating, best of 7 rounds; the ratio is the claim.
"""

from __future__ import annotations

import time

import pytest

from coinium.core import transaction as tx_module
from coinium.core.params import REGTEST
from coinium.core.transaction import Transaction, sign_transfer
from coinium.crypto.hashes import blake3_256
from coinium.crypto.keys import PrivateKey

ROUNDS = 7


def _best(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for _ in range(repeat):
            fn()
        best = min(best, (time.perf_counter() - started) / repeat)
    return best


@pytest.mark.skipif(tx_module._compiled is None, reason="the compiled decoder is not built")
def test_compiled_decode_vs_python(monkeypatch):
    key = PrivateKey(blake3_256(b"bench decode"))
    txs = [sign_transfer(key, REGTEST.chain_id, bytes(20), 5, 1000, n, memo=b"m" * (n % 40))
           for n in range(2000)]  # fmt: skip
    data = b"".join(tx.raw for tx in txs)
    assert tx_module._compiled(data, 0, 2000) == tx_module._read_many_python(data, 0, 2000)
    block_py = _best(lambda: tx_module._read_many_python(data, 0, 2000), 10)
    block_c = _best(lambda: tx_module._compiled(data, 0, 2000), 10)
    one = txs[7].raw
    single_c = _best(lambda: Transaction.decode(one), 20_000)
    monkeypatch.setattr(tx_module, "_compiled", None)  # Transaction.decode's reference path
    single_py = _best(lambda: Transaction.decode(one), 20_000)
    print("\n\ndecoding transfers (best of 7 rounds, one process):")
    print(f"  block of 2,000 (read_many)    python {block_py * 1e3:7.2f} ms  compiled "
          f"{block_c * 1e3:6.2f} ms  {block_py / block_c:.1f}x")
    print(f"  one (Transaction.decode)      python {single_py * 1e6:7.2f} us  compiled "
          f"{single_c * 1e6:6.2f} us  {single_py / single_c:.1f}x")
