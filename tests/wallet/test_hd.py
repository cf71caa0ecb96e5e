"""Deterministic wallet keys (coinium.wallet.hd): SLIP-0010's published Ed25519 vectors, the file
round trip, and keys added by `coinium wallet` deriving from the same seed."""

from __future__ import annotations

import json

import pytest

from coinium.core.params import REGTEST
from coinium.wallet import hd, keystore, seed_sealing
from coinium.wallet.keystore import WalletError

FAST = {"opslimit": seed_sealing.MIN_OPSLIMIT, "memlimit": seed_sealing.MIN_MEMLIMIT}
PASSPHRASE = "hd wallet passphrase 1"

# SLIP-0010, "Test vector 1 for ed25519": seed 000102030405060708090a0b0c0d0e0f.
SLIP10_SEED = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
SLIP10_VECTORS = [
    ((), "90046a93de5380a72b5e45010748567d5ea02bbf6522f979e05c0d8d8ca9fffb",
     "2b4be7f19ee27bbf30c667b642d5f4aa69fd169872f8fc3059c08ebae2eb19e7"),
    ((0,), "8b59aa11380b624e81507a27fedda59fea6d0b779a778918a2fd3590e16e9c69",
     "68e0fe46dfb67e368c75379acec591dad19df3cde26e63b93a8e704f1dade7a3"),
    ((0, 1), "a320425f77d1b5c2505a6b1b27382b37368ee640e3557c315416801243552f14",
     "b1d0bad404bf35da785a64ca1ac54b2617211d2777696fbffaf208f746ae84f2"),
]  # fmt: skip


@pytest.mark.parametrize(("path", "chain_code", "private"), SLIP10_VECTORS)
def test_slip10_ed25519_vectors(path, chain_code, private):
    key, code = hd.derive(SLIP10_SEED, path)
    assert (code.hex(), key.hex()) == (chain_code, private)


def test_keys_derive_from_the_seed_in_the_file(tmp_path):
    seed = bytes(range(32))
    wallet = hd.create_hd_wallet(tmp_path, REGTEST, "w", PASSPHRASE, seed=seed, **FAST)
    assert wallet.keys[0].public_key == hd.key_at(seed, 0).public_key
    assert json.loads(wallet.path.read_text())["hd"]["next_index"] == 1
    # `coinium wallet address --new` (keystore.add_key) derives the next key too.
    wallet, added = keystore.add_key(tmp_path, REGTEST, "w", PASSPHRASE)
    assert added.public_key == hd.key_at(seed, 1).public_key
    assert hd.next_index(keystore.load_wallet(tmp_path, REGTEST, "w")) == 2
    # every key still opens with the passphrase, and the seed opens with the wallet key
    assert len(keystore.unlock(wallet, PASSPHRASE)) == 2
    kek = hd.derive_kek(wallet, PASSPHRASE)
    assert hd.open_master(keystore.load_wallet(tmp_path, REGTEST, "w"), kek) == seed
    with pytest.raises(WalletError, match="wrong passphrase"):
        hd.derive_kek(wallet, "not the passphrase")


def test_restore_adds_used_keys_up_to_the_gap_limit(tmp_path):
    seed = bytes(range(1, 33))
    wallet = hd.create_hd_wallet(tmp_path, REGTEST, "w", PASSPHRASE, seed=seed, **FAST)
    kek = hd.derive_kek(wallet, PASSPHRASE)
    used = {hd.key_at(seed, 3).account, hd.key_at(seed, 3 + hd.GAP_LIMIT).account,
            hd.key_at(seed, 5 + 2 * hd.GAP_LIMIT).account}  # the last is past the gap
    added = hd.restore_used_keys(tmp_path, REGTEST, wallet, kek, used.__contains__)
    assert len(added) == 3 + hd.GAP_LIMIT  # keys 1 .. 3 + GAP_LIMIT
    restored = keystore.load_wallet(tmp_path, REGTEST, "w")
    assert hd.next_index(restored) == 4 + hd.GAP_LIMIT
    assert hd.restore_used_keys(tmp_path, REGTEST, restored, kek, used.__contains__) == []


def test_a_tampered_hd_object_is_refused(tmp_path):
    wallet = hd.create_hd_wallet(tmp_path, REGTEST, "w", PASSPHRASE, **FAST)
    doc = json.loads(wallet.path.read_text())
    doc["hd"]["encrypted_seed"] = "00" * 48
    wallet.path.write_text(json.dumps(doc))
    tampered = keystore.load_wallet(tmp_path, REGTEST, "w")
    with pytest.raises(WalletError, match="corrupted"):
        hd.open_master(tampered, hd.derive_kek(tampered, PASSPHRASE))
    doc["hd"] = ["not", "an", "object"]
    wallet.path.write_text(json.dumps(doc))
    with pytest.raises(WalletError, match="hd must be an object"):
        keystore.load_wallet(tmp_path, REGTEST, "w")
