"""The wallet's outbox file: kept sends, read back; anything unreadable is an empty outbox."""

from __future__ import annotations

from coinium.core.params import REGTEST
from coinium.core.transaction import sign_transfer
from coinium.crypto.keys import PrivateKey
from coinium.wallet import outbox


def test_record_load_and_garbage(tmp_path):
    path = tmp_path / "alice.outbox"
    assert outbox.load(path) == []
    key = PrivateKey((7).to_bytes(32, "big"))
    tx = sign_transfer(key, REGTEST.chain_id, key.account, 5, 10_000, 3)
    outbox.record(path, "rcn1sender", tx)
    outbox.record(path, "rcn1sender", tx)  # once, however often recorded
    (entry,) = outbox.load(path)
    assert (entry.txid, entry.nonce, entry.raw) == (tx.txid.hex(), 3, tx.encode().hex())
    assert path.stat().st_mode & 0o777 == 0o600
    for garbage in (b"[" * 100_000, b"{}", b"\xff", b'[{"txid": 1}]'):
        path.write_bytes(garbage)
        assert outbox.load(path) == []
