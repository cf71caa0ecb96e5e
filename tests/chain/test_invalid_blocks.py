"""Every invalid block gets its reason code, and the stored chain and state are unchanged.

Each case builds one bad block on a regtest chain where alice holds 50 coins, submits it, and
checks the outcome, the reason and the LMDB contents before and after. A block that breaks a
permanent rule while its header commits to exactly this body is remembered as invalid (an entry
in the header index, nothing else); a mutated body or a block from the future is not.
"""

from __future__ import annotations

import dataclasses
import time

import pytest
from helpers import key, snapshot

from coinium import kernels
from coinium.chain.builder import build_block, generate, mine
from coinium.chain.chainstate import AcceptStatus
from coinium.consensus.pow import decode_compact
from coinium.core.block import Block
from coinium.core.codec import DecodeError
from coinium.core.params import REGTEST
from coinium.core.transaction import Transaction, sign_transfer
from coinium.core.units import COIN, MAX_MONEY
from coinium.store.records import BlockStatus

CHAIN_ID = REGTEST.chain_id
ALICE, BOB, MINER = key(1), key(2), key(3)


def remine(block: Block, *, fix_merkle: bool = True, **header_changes) -> Block:
    header = dataclasses.replace(block.header, **header_changes)
    if fix_merkle and "merkle_root" not in header_changes:
        header = dataclasses.replace(header, merkle_root=kernels.merkle_root(block.txids()))
    return mine(Block(header, block.transactions))


def with_txs(chain, txs, **header_changes) -> Block:
    template = build_block(chain, [], MINER.account)
    return remine(Block(template.header, tuple(txs)), **header_changes)


def pay(amount=COIN, fee=100, nonce=0, **kw):
    return sign_transfer(ALICE, CHAIN_ID, BOB.account, amount, fee, nonce, **kw)


def coinbase(chain, amount=None, height=None):
    height = chain.height + 1 if height is None else height
    return Transaction.coinbase(height, MINER.account, 50 * COIN if amount is None else amount)


def failing_nonce(block: Block) -> Block:
    target = decode_compact(block.header.bits)
    nonce = 0
    while int.from_bytes(block.header.with_nonce(nonce).hash, "big") <= target:
        nonce += 1
    return Block(block.header.with_nonce(nonce), block.transactions)


CASES = {
    # reason: (builder, remembered as invalid)
    "high-hash": (lambda c: failing_nonce(build_block(c, [pay()], MINER.account)), False),
    "bad-diffbits": (lambda c: remine(build_block(c, [], MINER.account), bits=0x1F00FFFF), True),
    "bad-diffbits-encoding": (
        lambda c: dataclasses.replace(build_block(c, [], MINER.account),
                                      header=build_block(c, [], MINER.account).header.__class__(
            2, c.height + 1, c.tip.hash, bytes(32), bytes(32), c.tip.header.timestamp + 1,
            0x04923456, 0)),
        False,
    ),
    # The header commits to a state other than the one its parent left.
    "bad-stateroot": (lambda c: remine(build_block(c, [pay()], MINER.account),
                                       state_root=bytes([7]) * 32), True),
    "bad-version": (lambda c: remine(build_block(c, [], MINER.account), version=1), True),
    "bad-txnmrklroot": (lambda c: remine(build_block(c, [pay()], MINER.account),
                                         merkle_root=bytes(32)), False),  # fmt: skip
    "bad-cb-missing": (lambda c: with_txs(c, [pay()]), True),
    "bad-cb-multiple": (lambda c: with_txs(c, [coinbase(c), coinbase(c, amount=1)]), True),
    "bad-cb-height": (lambda c: with_txs(c, [coinbase(c, height=7)]), True),
    "bad-txns-duplicate": (lambda c: with_txs(c, [coinbase(c), pay(), pay()]), False),
    "bad-txns-signature": (lambda c: with_txs(c, [coinbase(c), pay().with_signature(
        pay(amount=2).signature)]), True),
    "bad-txns-nonce": (lambda c: with_txs(c, [coinbase(c), pay(nonce=1)]), True),
    "bad-txns-in-belowout": (lambda c: with_txs(c, [coinbase(c), pay(amount=50 * COIN)]), True),
    "bad-txns-txouttotal-toolarge": (lambda c: with_txs(c, [coinbase(c), pay(amount=MAX_MONEY,
                                                                              fee=1)]), True),
    "bad-cb-amount": (lambda c: with_txs(c, [coinbase(c, amount=50 * COIN + 1)]), True),
    "time-too-old": (lambda c: remine(build_block(c, [], MINER.account),
                                      timestamp=c.median_time_past()), True),  # fmt: skip
    "time-too-new": (lambda c: remine(build_block(c, [], MINER.account),
                                      timestamp=int(time.time()) + 2 * 3600 + 60), False),
    "bad-height": (lambda c: with_txs(c, [coinbase(c, height=5)], height=5), True),
}


@pytest.fixture
def funded(chain):
    generate(chain, 1, ALICE.account)
    return chain


@pytest.mark.parametrize("case", CASES)
def test_invalid_block_is_refused_and_nothing_changes(funded, case):
    builder, remembered = CASES[case]
    bad = builder(funded)
    state_before = snapshot(funded)
    stored_before = snapshot(funded, ("blocks",))
    tip_before = funded.tip.hash

    result = funded.accept_block(bad)

    assert result.status == AcceptStatus.INVALID
    assert result.reason == case.removesuffix("-encoding")
    assert result.connected == () and result.disconnected == ()
    assert funded.tip.hash == tip_before
    assert snapshot(funded) == state_before
    assert snapshot(funded, ("blocks",)) == stored_before
    entry = funded.index.get(bad.hash)
    if remembered:
        assert entry is not None and entry.status & BlockStatus.FAILED
        assert funded.accept_block(bad).reason == "duplicate-invalid"
    else:
        assert entry is None


TAMPERED_BODIES = {
    # what the tampered body would fail, had its header committed to it
    "bad-cb-height": lambda c, good: (coinbase(c, height=7), *good.transactions[1:]),
    "bad-cb-multiple": lambda c, good: (*good.transactions, coinbase(c, amount=1)),
    "bad-cb-missing": lambda c, good: good.transactions[1:],
    "bad-blk-length": lambda c, good: (),
}


@pytest.mark.parametrize("failure", TAMPERED_BODIES)
def test_a_tampered_body_under_a_good_header_does_not_condemn_the_block(funded, failure):
    # A peer sends a good header with a body it does not commit to, one that would also break
    # another rule: the Merkle root is checked first, so the block is refused as mutated and
    # not remembered, and the genuine block is accepted afterwards.
    good = mine(build_block(funded, [pay()], MINER.account))
    tampered = Block(good.header, tuple(TAMPERED_BODIES[failure](funded, good)))
    assert tampered.hash == good.hash
    result = funded.accept_block(tampered)
    assert result.status == AcceptStatus.INVALID and result.reason == "bad-txnmrklroot"
    assert result.error.mutated and funded.index.get(good.hash) is None
    assert funded.accept_block(good).status == AcceptStatus.NEW_TIP


def test_oversized_block(funded):
    memo = bytes(256)
    txs = [sign_transfer(ALICE, CHAIN_ID, BOB.account, 1, 0, n, memo) for n in range(10_000)]
    block = with_txs(funded, [coinbase(funded), *txs])
    assert block.size > 4_000_000
    before = snapshot(funded)
    assert funded.accept_block(block).reason == "bad-blk-length"
    assert snapshot(funded) == before


def test_descendant_of_invalid_block_is_refused(funded):
    bad = with_txs(funded, [coinbase(funded), pay(nonce=3)])
    assert funded.accept_block(bad).reason == "bad-txns-nonce"
    # A child of the invalid block, built by hand on top of it.
    cb = Transaction.coinbase(bad.height + 1, MINER.account, 50 * COIN)
    child = mine(Block(dataclasses.replace(
        bad.header, height=bad.height + 1, prev_hash=bad.hash, merkle_root=cb.txid,
        timestamp=bad.header.timestamp + 1), (cb,)))  # fmt: skip
    result = funded.accept_block(child)
    assert result.reason == "bad-prevblk"
    assert funded.index[child.hash].status & BlockStatus.FAILED_CHILD


def test_reorg_that_fails_half_way_keeps_the_old_tip(funded):
    """A heavier branch whose second block overspends: the node stays on the old chain intact."""
    generate(funded, 2, MINER.account)  # main: heights 1 (alice funded), 2, 3
    old_tip = funded.tip.hash
    state_before = snapshot(funded)

    fork_parent = funded.hash_at_height(1)
    b2 = mine(build_block(funded, [pay()], MINER.account, parent=fork_parent, extra=b"x"))
    assert funded.accept_block(b2).status == AcceptStatus.SIDE_BRANCH
    overspend = pay(amount=49 * COIN, nonce=1)  # alice has 50 - 1 - fee left after b2
    b3 = mine(build_block(funded, [overspend], MINER.account, parent=b2.hash))
    # b3 has equal work to the tip: it stays a side branch and is not yet connected.
    assert funded.accept_block(b3).status == AcceptStatus.SIDE_BRANCH
    b4 = mine(build_block(funded, [], MINER.account, parent=b3.hash))
    result = funded.accept_block(b4)

    assert result.status == AcceptStatus.INVALID
    assert result.reason == "bad-prevblk" and "bad-txns-in-belowout" in str(result.error)
    assert funded.tip.hash == old_tip
    assert snapshot(funded) == state_before
    assert funded.index[b3.hash].status & BlockStatus.FAILED
    assert funded.index[b4.hash].status & BlockStatus.FAILED_CHILD
    assert not funded.index[b2.hash].status.invalid


@pytest.mark.parametrize("garbage", [b"", b"\x00" * 10, bytes(95), bytes(97), b"\xff" * 200])
def test_garbage_bytes_are_a_decode_error(garbage):
    with pytest.raises(DecodeError):
        Block.decode(garbage)
