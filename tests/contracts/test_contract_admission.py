"""Contract transactions at the mempool's door (`coinium.chain.admission.state_check`): their
call is not run there (a failed call is a receipt, never a refusal), and in the replay of the
sender's pending transactions each pays its fee and takes its nonce, so the sender's next
transaction of another kind is checked against the right nonce."""

from __future__ import annotations

import tempfile

import pytest
from contract_helpers import Chain, wat
from nft_helpers import Wallet

from coinium.chain.admission import state_check
from coinium.consensus.errors import ConsensusError

NO_CONTRACT = bytes([7]) * 20


@pytest.fixture
def chain():
    with tempfile.TemporaryDirectory() as datadir:
        c = Chain(datadir)
        yield c
        c.close()


def _reason(chain: Chain, tx, pending=()) -> str | None:
    try:
        state_check(chain.state)(tx, list(pending))
    except ConsensusError as exc:
        return exc.reason
    return None


def test_a_call_that_would_fail_is_admitted_and_fails_in_its_receipt(chain):
    k = chain.keys[0]
    call = chain.execute(k, NO_CONTRACT, b"\x01")
    assert _reason(chain, call) is None
    chain.block([call])
    receipt = chain.receipt(call)
    assert not receipt.ok and receipt.reason == "no-contract"
    assert chain.state.get_account(k.account).nonce == 1  # the fee paid, the nonce taken


def test_pending_contract_transactions_count_in_the_replay(chain):
    k = chain.keys[0]
    upload = chain.upload(k, wat("(module)"))
    call = chain.execute(k, NO_CONTRACT)
    pending = [upload, call]
    assert Wallet(0).key.public_key == k.public_key
    # key(0)'s next nonce after the two pending contract transactions is 2.
    assert _reason(chain, Wallet(0, nonce=2).create_class(b"art"), pending) is None
    # The NFT rule itself is reached (not a nonce mismatch): no such token.
    transfer = Wallet(0, nonce=2).transfer(b"1", NO_CONTRACT)
    assert _reason(chain, transfer, pending) == "bad-nft-no-token"
    # A replay that took no nonce for them would see the wrong one.
    assert _reason(chain, Wallet(0, nonce=0).create_class(b"art")) is None
    assert _reason(chain, Wallet(0, nonce=1).create_class(b"art"), pending) == "bad-txns-nonce"
