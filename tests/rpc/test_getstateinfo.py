"""getstateinfo over every namespace (tests/note_kind.py adds one): the accounts are counted
apart, hash_serialized is BLAKE3 of the documented serialization, stateroot is the tree's root."""

from __future__ import annotations

import struct

from blake3 import blake3
from helpers import key, replay_records
from note_kind import NS_NOTE, note, note_kind_registered

from coinium.chain.builder import build_block, mine
from coinium.chain.chainstate import AcceptStatus, ChainState
from coinium.core.params import REGTEST
from coinium.core.state import NS_ACCOUNT, NS_PARAM
from coinium.crypto.state_proof import record_path, root_of_records, value_hash
from coinium.rpc.methods.chainstats import state_info


def test_getstateinfo_covers_every_namespace(tmp_path):
    with note_kind_registered(), ChainState(tmp_path / "datadir", REGTEST) as chain:
        before = state_info(chain)
        block = mine(build_block(chain, [note(b"\x07" * 20, b"hello", serial=1)],
                                 key(1).account))  # fmt: skip
        assert chain.accept_block(block).status == AcceptStatus.NEW_TIP
        info = state_info(chain)
        records = sorted(replay_records(chain).items())  # independent of the store
    # The governance parameter table is seeded at genesis (coinium.core.governance.table).
    assert {ns for (ns, _), _ in records} == {NS_ACCOUNT, NS_PARAM, NS_NOTE}
    assert info["records"] == len(records) == before["records"] + 2  # the note, the miner
    assert info["accounts"] == sum(ns == NS_ACCOUNT for (ns, _), _ in records)
    serialized = b"".join(struct.pack("<BB", ns, len(k)) + k + struct.pack("<I", len(v)) + v
                          for (ns, k), v in records)  # fmt: skip
    assert info["hash_serialized"] == blake3(serialized).hexdigest() != before["hash_serialized"]
    assert info["stateroot"] == root_of_records(
        (record_path(ns, k), value_hash(v)) for (ns, k), v in records).hex()  # fmt: skip
    assert info["height"] == 1 and info["total_units"] == before["total_units"] + \
        block.transactions[0].amount  # fmt: skip
