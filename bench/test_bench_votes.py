"""Casper FFG vote processing at 1,000 validators, per kernel backend (python vs cython).

    PYTHONPATH=. python -m pytest bench/test_bench_votes.py -s          # ~1 min

Setup (untimed): a regtest datadir with 1,000 validators of 1 coin each, registered in epoch 0,
the chain at the first block of epoch 1; then a mined block (not connected) carrying one vote of
every validator for checkpoint 1 (1,000 votes, each signed by its validator's voting key).

* per checkpoint: verify the 1,000 vote signatures (one `verify_batch`) + tally them
  (`count_vote` on the chain's state: justification included), the work a checkpoint costs;
* cold connect: `ChainState.accept_block` of the 1,000-vote block onto a fresh copy of the
  datadir (proof of work, Merkle root, every signature, the votes' state changes, the state root,
  one fsynced LMDB transaction), in votes per second.

Both backends run in one session (the rules' kernels swapped per test, as the connect benchmark
does); the report prints each line and the cython/python ratio.
"""

from __future__ import annotations

import shutil
import statistics
import time

import pytest

from coinium import kernels
from coinium.chain.builder import build_block, generate, mine
from coinium.chain.chainstate import AcceptStatus, ChainState
from coinium.core.params import REGTEST
from coinium.core.staking import finality
from coinium.core.staking import transactions as stx
from coinium.core.staking.records import Checkpoint
from coinium.core.state import BlockContext, BlockState
from coinium.core.transaction import sign_transfer, signing_hash
from coinium.core.units import COIN
from coinium.crypto.keys import PrivateKey
from coinium.kernels import KernelBackendError, load_backend

VALIDATORS = 1_000
ROUNDS = 5
BACKENDS = ("cython", "python")
RICH = PrivateKey(b"\xc0" + bytes(31))
N = REGTEST.staking.checkpoint_interval
_results: dict[str, float] = {}


def operators() -> list[PrivateKey]:
    return [PrivateKey(b"\xc1" + i.to_bytes(31, "big")) for i in range(VALIDATORS)]


def voters() -> list[PrivateKey]:
    return [PrivateKey(b"\xc2" + i.to_bytes(31, "big")) for i in range(VALIDATORS)]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    template = tmp_path_factory.mktemp("votes") / "template"
    cid = REGTEST.chain_id
    ops, vks = operators(), voters()
    with ChainState(template, REGTEST, sync=False) as chain:
        generate(chain, 60, RICH.account)  # 60 x 50 coins: enough to fund 1,000 x 2 coins
        funding = [sign_transfer(RICH, cid, op.account, 2 * COIN, 0, i) for i, op in enumerate(ops)]
        generate(chain, 1, RICH.account, funding)
        registrations = [stx.register_validator(op, cid, vk.public_key, 0, COIN, 0, 0)
                         for op, vk in zip(ops, vks, strict=True)]  # fmt: skip
        generate(chain, 1, RICH.account, registrations)
        # The first block of the next epoch: the validators (registered in this one) vote.
        generate(chain, 1, RICH.account)
        while (chain.height - 1) % N:
            generate(chain, 1, RICH.account)
        f = chain.finality()
        votes = [stx.sign_vote(vk, cid, op.account, f.source, f.current, 0, 0)
                 for op, vk in zip(ops, vks, strict=True)]  # fmt: skip
        block = mine(build_block(chain, votes, RICH.account))
        source, target = f.source, f.current
    return template, block, votes, source, target


@pytest.fixture(scope="module", autouse=True)
def report():
    yield
    if not _results:
        return
    print(f"\n\nvotes at {VALIDATORS:,} validators (median of {ROUNDS}):")
    for label, value in _results.items():
        print(f"  {label:<52} {value:>10,.1f}")
    for what in ("per checkpoint: verify + tally (ms)", "cold connect of a 1,000-vote block (ms)"):
        c, p = _results.get(f"cython {what}"), _results.get(f"python {what}")
        if c and p:
            print(f"  python/cython time ratio, {what.split(' (')[0]}: {p / c:.1f}x")


@pytest.fixture(params=BACKENDS)
def backend(request, monkeypatch) -> str:
    try:
        module = load_backend(request.param)
    except KernelBackendError as exc:
        pytest.skip(str(exc))
    for name in ("verify_batch", "merkle_root", "keyed_hash64"):
        monkeypatch.setattr(kernels, name, getattr(module, name))
    monkeypatch.setattr(kernels, "BACKEND", module.NAME)
    return module.NAME


def test_vote_processing_per_checkpoint(setup, backend, tmp_path):
    template, block, votes, source, target = setup
    cid = REGTEST.chain_id
    keys = [v.sender for v in votes]
    hashes = [signing_hash(v, cid) for v in votes]
    signatures = [v.signature for v in votes]
    verify_ms, tally_ms = [], []
    with ChainState(template, REGTEST) as chain:
        tip = chain.tip
        for _ in range(ROUNDS):
            start = time.perf_counter()
            verdicts = kernels.verify_batch(keys, hashes, signatures)
            verify_ms.append((time.perf_counter() - start) * 1000)
            assert all(verdicts)
            with chain.store.read() as txn:
                state = BlockState(chain.store.state_view(txn),
                                   BlockContext(tip.height + 1, tip.hash, REGTEST,
                                                tip.header.timestamp))
                finality.begin_block(state)
                start = time.perf_counter()
                counted = sum(finality.count_vote(state, v.recipient, v.sender, source, target)
                              for v in votes)  # fmt: skip
                tally_ms.append((time.perf_counter() - start) * 1000)
                assert counted == VALIDATORS
                assert finality.finality(state).justified == Checkpoint(target.epoch, target.hash)
    verify, tally = statistics.median(verify_ms), statistics.median(tally_ms)
    _results[f"{backend} verify 1,000 vote signatures (ms)"] = verify
    _results[f"{backend} tally 1,000 votes (ms)"] = tally
    _results[f"{backend} per checkpoint: verify + tally (ms)"] = verify + tally


def test_cold_connect_of_a_block_of_votes(setup, backend, tmp_path):
    template, block, *_ = setup
    durations = []
    for _ in range(ROUNDS):
        work = tmp_path / "round"
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(template, work)
        with ChainState(work, REGTEST) as chain:
            start = time.perf_counter()
            result = chain.accept_block(block)
            durations.append(time.perf_counter() - start)
            assert result.status is AcceptStatus.NEW_TIP, result.error
            assert chain.finality().justified.epoch == block.height // N
    median = statistics.median(durations)
    _results[f"{backend} cold connect of a 1,000-vote block (ms)"] = median * 1000
    _results[f"{backend} cold connect, votes per second"] = VALIDATORS / median
