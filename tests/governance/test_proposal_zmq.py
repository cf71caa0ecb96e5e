"""The ``proposal`` ZMQ topic on a real PUB socket: one message per status change of a proposal
(submitted, voting, passed, executed), and again when a reorg takes one back."""

from __future__ import annotations

import struct

import pytest
import zmq
from gov_helpers import OPERATORS, Nonces, connect, proposal_of, staked_chain, submit
from gov_helpers import vote as gov_vote
from notify.test_zmq_publisher import Subscriber, free_endpoint

from coinium.config import ZmqPublisher
from coinium.core.governance.proposals import statuses
from coinium.core.governance.records import DEPOSIT, EXECUTED, PASSED, VOTING, YES
from coinium.notify.zmq_publisher import ZmqNotifier


@pytest.fixture
def zctx():
    context = zmq.Context()
    yield context
    context.destroy(linger=0)


def body(pid, status, height):
    return struct.pack("<IBI", pid, status, height)


def test_status_changes_are_published(chain, zctx):
    nonces = Nonces()
    staked_chain(chain, nonces)
    address = free_endpoint()
    notifier = ZmqNotifier([ZmqPublisher("proposal", address)], context=zctx,
                           proposal_statuses=lambda also: (chain.height,
                                                           statuses(chain.get_record, also)))
    sub = Subscriber(zctx, address)
    try:
        sub.sync(notifier)
        def step(txs=()):
            connect(chain, txs)
            notifier.tip_updated(None)

        step([submit(OPERATORS[0], nonces, {"inactivity_epochs": 5})])
        step()
        step()  # nothing changes: nothing sent
        step([gov_vote(OPERATORS[2], nonces, OPERATORS[2].account, 1, YES)])
        p = proposal_of(chain, 1)
        while chain.height < p.voting_end:
            step()
        activation = proposal_of(chain, 1).activation
        while chain.height < activation:
            step()
        assert [sub.recv() for _ in range(4)] == [
            [b"proposal", body(1, DEPOSIT, 7), struct.pack("<I", 0)],
            [b"proposal", body(1, VOTING, 8), struct.pack("<I", 1)],
            [b"proposal", body(1, PASSED, p.voting_end), struct.pack("<I", 2)],
            [b"proposal", body(1, EXECUTED, activation), struct.pack("<I", 3)],
        ]
        # Taking the activation block away takes the proposal back to "passed".
        chain.invalidate_block(chain.hash_at_height(activation))
        notifier.tip_updated(None)
        assert sub.recv() == [b"proposal", body(1, PASSED, activation - 1), struct.pack("<I", 4)]
    finally:
        sub.close()
        notifier.close()
