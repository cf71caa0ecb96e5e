"""One signature rule on every path: block connection, the pipeline (accept_blocks) and mempool
admission give the same verdicts on every kernel backend, for the signatures where Coinium's rule
(ZIP-215, small-order keys refused) and libsodium's differ."""

from __future__ import annotations

import hashlib
import random

import pytest
from nacl.bindings import crypto_sign_open

from coinium import kernels
from coinium.chain.builder import build_block, generate, mine
from coinium.chain.chainstate import AcceptStatus, ChainState
from coinium.core.params import REGTEST
from coinium.core.transaction import Transaction, sign_transfer, signing_hash
from coinium.crypto.address import account_id
from coinium.kernels import KernelBackendError, load_backend
from coinium.kernels import ed25519_zip215 as ref
from coinium.mempool.policy import MempoolPolicy
from coinium.mempool.pool import Mempool, MempoolReject

CHAIN_ID = REGTEST.chain_id
ORDER_8 = bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a")
ZERO_KEY = bytes(32)  # a point of order 4
IDENTITY = bytes([1]) + bytes(31)
NO_FLOOR = MempoolPolicy(min_relay_fee_rate=0)  # the fee floor is not what these tests are about


@pytest.fixture(params=("python", "cython", "numba"))
def backend(request, monkeypatch):
    try:
        module = load_backend(request.param)
    except KernelBackendError as exc:
        pytest.skip(str(exc))
    monkeypatch.setattr(kernels, "verify_batch", module.verify_batch)
    return request.param


class MixedOrderKey:
    """A key whose point carries a torsion component: A = [a]B + T, T of order 8."""

    def __init__(self, rng: random.Random):
        self.a = rng.randrange(1, ref.L)
        self.public_key = ref.encode_point(
            ref.add(ref.multiply_base(self.a), ref.decode_point(ORDER_8)))
        self.rng = rng

    def sign(self, message: bytes) -> bytes:
        """R = [r]B + T: valid under the cofactored equation; libsodium refuses it."""
        r = self.rng.randrange(1, ref.L)
        r_bytes = ref.encode_point(ref.add(ref.multiply_base(r), ref.decode_point(ORDER_8)))
        k = int.from_bytes(hashlib.sha512(r_bytes + self.public_key + message).digest(),
                           "little") % ref.L
        return r_bytes + ((r + k * self.a) % ref.L).to_bytes(32, "little")


def transfer_from(sender_pk: bytes, sign, nonce: int = 0) -> Transaction:
    unsigned = Transaction.transfer(sender_pk, bytes(20), 1_000, 10, nonce)
    return unsigned.with_signature(sign(signing_hash(unsigned, CHAIN_ID)))


def forged(message: bytes) -> bytes:
    """R = identity, s = 0: verifies every message under a small-order key in plain ZIP-215."""
    return IDENTITY + bytes(32)


@pytest.fixture
def funded(tmp_path, alice):
    """A chain in which a mixed-order key's account and the zero key's account hold coins."""
    rng = random.Random(19)
    mixed = MixedOrderKey(rng)
    chain = ChainState(tmp_path / "datadir", REGTEST)
    generate(chain, 1, alice.account)
    pay = [sign_transfer(alice, CHAIN_ID, account_id(pk), 100_000, 10, i)
           for i, pk in enumerate((mixed.public_key, ZERO_KEY))]
    generate(chain, 1, alice.account, pay)
    yield chain, mixed, alice
    chain.close()


def block_with(chain: ChainState, tx: Transaction, miner: bytes):
    return mine(build_block(chain, [tx], miner))


def test_mixed_order_signature_is_valid_on_every_path(funded, backend):
    chain, mixed, alice = funded
    tx = transfer_from(mixed.public_key, mixed.sign)
    with pytest.raises(Exception):  # noqa: B017 - libsodium's cofactorless rule refuses it
        crypto_sign_open(tx.signature + signing_hash(tx, CHAIN_ID), tx.sender)
    pool = Mempool(REGTEST, chain.get_account, policy=NO_FLOOR)
    try:
        assert pool.add(tx) is not None  # mempool admission
    finally:
        pool.close()
    result = chain.accept_block(block_with(chain, tx, alice.account))
    assert result.status == AcceptStatus.NEW_TIP, result


def test_mixed_order_signature_through_the_pipeline(funded, backend):
    chain, mixed, alice = funded
    block = block_with(chain, transfer_from(mixed.public_key, mixed.sign), alice.account)
    results = chain.accept_blocks([block])
    assert [r.status for r in results] == [AcceptStatus.NEW_TIP]


def test_small_order_key_forgery_is_refused_on_every_path(funded, backend):
    chain, _, alice = funded
    tx = transfer_from(ZERO_KEY, forged)
    assert ref.verify_zip215(tx.sender, signing_hash(tx, CHAIN_ID), tx.signature)  # plain ZIP-215
    pool = Mempool(REGTEST, chain.get_account, policy=NO_FLOOR)
    try:
        with pytest.raises(MempoolReject) as refused:
            pool.add(tx)
        assert refused.value.reason == "bad-txns-signature"
    finally:
        pool.close()
    block = block_with(chain, tx, alice.account)
    result = chain.accept_block(block)
    assert result.status == AcceptStatus.INVALID and result.reason == "bad-txns-signature"
    assert chain.height == 2
