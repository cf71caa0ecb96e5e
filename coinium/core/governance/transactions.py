"""Building and signing the governance transactions (the wallet uses these)."""

from __future__ import annotations

import struct

from coinium.core.kinds import proposal_deposit, proposal_submit, proposal_vote
from coinium.core.staking.transactions import sign_kind
from coinium.core.transaction import Transaction

NO_VALIDATOR = bytes(20)


def submit(key, chain_id: int, changes, title: bytes, description_hash: bytes, deposit: int,
           fee: int, nonce: int) -> Transaction:  # fmt: skip
    """``changes``: (parameter number, new value) pairs."""
    data = proposal_submit.encode_data(description_hash, title, tuple(changes))
    return sign_kind(key, chain_id, proposal_submit.NUMBER, NO_VALIDATOR, deposit, fee, nonce,
                     data)  # fmt: skip


def deposit(key, chain_id: int, proposal_id: int, amount: int, fee: int,
            nonce: int) -> Transaction:  # fmt: skip
    return sign_kind(key, chain_id, proposal_deposit.NUMBER, NO_VALIDATOR, amount, fee, nonce,
                     struct.pack("<I", proposal_id))  # fmt: skip


def vote(key, chain_id: int, validator_id: bytes, proposal_id: int, option: int, fee: int,
         nonce: int) -> Transaction:  # fmt: skip
    return sign_kind(key, chain_id, proposal_vote.NUMBER, validator_id, 0, fee, nonce,
                     proposal_vote.DATA.pack(proposal_id, option))  # fmt: skip
