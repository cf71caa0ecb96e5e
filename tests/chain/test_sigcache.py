"""The signature cache never makes an invalid block valid."""

from __future__ import annotations

import dataclasses

from helpers import key

from coinium.chain.builder import build_block, generate, mine
from coinium.chain.chainstate import AcceptStatus
from coinium.chain.sigcache import SignatureCache
from coinium.core.params import REGTEST
from coinium.core.transaction import sign_transfer


def test_bounded_oldest_dropped_first():
    cache = SignatureCache(max_entries=3)
    txs = [sign_transfer(key(1), REGTEST.chain_id, bytes(20), n, 0, n) for n in range(5)]
    for tx in txs[:3]:
        cache.add(tx)
    cache.add(txs[0])  # seen again: the newest now
    cache.add(txs[3])
    cache.add(txs[4])
    assert len(cache) == 3
    assert [cache.contains(tx) for tx in txs] == [True, False, False, True, True]
    cache.discard(txs[0])
    assert not cache.contains(txs[0]) and len(cache) == 2


def test_cached_signature_of_a_changed_transaction_is_checked_again(chain, alice, bob):
    cache = SignatureCache()
    chain.signature_filter = cache.contains
    generate(chain, 1, alice.account)
    good = sign_transfer(alice, REGTEST.chain_id, bob.account, 5, 1, 0)
    cache.add(good)
    # Same signature, different amount: a different txid, so the cache does not vouch for it.
    forged = dataclasses.replace(good, amount=6)
    assert not cache.contains(forged)
    result = chain.accept_block(mine(build_block(chain, [forged], bob.account)))
    assert result.status == AcceptStatus.INVALID and result.reason == "bad-txns-signature"
    # The genuine one connects, its signature taken from the cache.
    assert chain.accept_block(mine(build_block(chain, [good], bob.account))).status == \
        AcceptStatus.NEW_TIP
