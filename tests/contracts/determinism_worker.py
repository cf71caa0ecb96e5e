"""Run by test_contract_determinism.py in a fresh process per kernel backend (COINIUM_KERNELS):
builds the same chain of contract blocks and prints what every node must agree on, as JSON."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]

from contract_helpers import Chain, example, u64  # noqa: E402
from test_contract_limits import CALLER, GROW, LOOP  # noqa: E402

from coinium import kernels  # noqa: E402
from coinium.contracts import limits  # noqa: E402


def main() -> None:
    with tempfile.TemporaryDirectory() as datadir:
        chain = Chain(datadir)
        alice, bob, carol = chain.keys
        token = chain.deploy(alice, example("token"), u64(10_000))
        looping = chain.deploy(bob, LOOP)
        growing = chain.deploy(bob, GROW)
        caller = chain.deploy(carol, CALLER)
        txs = [chain.execute(alice, token, b"\x01" + bob.account + u64(n)) for n in range(1, 6)]
        txs += [chain.execute(bob, looping, gas=3_000_000), chain.execute(bob, growing),
                chain.execute(carol, caller, b"\x01", gas=limits.MAX_TX_GAS),
                chain.execute(alice, token, b"\x01" + bob.account + u64(1), gas=600_000)]
        chain.block(txs)
        print(json.dumps({
            "backend": kernels.BACKEND,
            "root": chain.state.state_root().hex(),
            "receipts": [[r.ok, r.gas_used, r.reason, r.result.hex()]
                         for r in map(chain.receipt, txs)],
            "records": sorted([ns, k.hex(), v.hex()] for (ns, k), v in chain.state.iter_records()
                              if ns >= 0x40),
        }))  # fmt: skip
        chain.close()


if __name__ == "__main__":
    main()
