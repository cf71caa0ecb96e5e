"""The wallet file: round trip, permissions, no secret at rest, clear errors, names, networks."""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import stat

import pytest

from coinium.core.params import REGTEST, TEST
from coinium.crypto.address import account_id, encode_address
from coinium.wallet import keystore, seed_sealing
from coinium.wallet.keystore import WalletError

# libsodium's minimum Argon2id cost keeps these tests fast; the defaults are checked separately.
FAST = {"opslimit": seed_sealing.MIN_OPSLIMIT, "memlimit": seed_sealing.MIN_MEMLIMIT}
PASS = "Tr0ub4dor & horses"


@pytest.fixture
def ndir(tmp_path):
    return keystore.network_datadir(tmp_path / "coinium", REGTEST)


def _create(ndir, name="alice", passphrase=PASS, params=REGTEST, **kw):
    return keystore.create_wallet(ndir, params, name, passphrase, **FAST, **kw)


def _encodings(secret: bytes) -> list[bytes]:
    """Ways a secret could sit in a text file: raw, hex, and base64 at every alignment."""
    found = [secret, secret.hex().encode(), secret.hex().upper().encode()]
    for pad in range(5):  # base64/32 of a secret inside a longer blob depends on its offset
        for encode in (base64.b64encode, base64.urlsafe_b64encode, base64.b32encode):
            text = encode(b"\0" * pad + secret)
            found.append(text[4 : len(text) - 4])  # the part fixed by the secret alone
    return found


def test_default_kdf_cost_is_strong():
    assert keystore.DEFAULT_OPSLIMIT >= 3
    assert keystore.DEFAULT_MEMLIMIT >= 256 << 20


def test_create_then_load_and_unlock_round_trip(ndir):
    made = _create(ndir, label="main key", now=1_800_000_000)
    loaded = keystore.load_wallet(ndir, REGTEST, "alice")
    assert loaded == made
    assert loaded.path == ndir / "wallets" / "alice.wallet"
    assert loaded.created == 1_800_000_000 and loaded.keys[0].label == "main key"
    [key] = keystore.unlock(loaded, PASS)
    assert key.public_key == loaded.keys[0].public_key
    assert loaded.receiving_address == encode_address("rcn", account_id(key.public_key))
    # The unlocked key signs, and its address is the one a user is shown.
    assert keystore.unlock_key(loaded, PASS).seed == key.seed


def test_added_key_is_sealed_under_the_same_passphrase(ndir):
    _create(ndir)
    wallet, new = keystore.add_key(ndir, REGTEST, "alice", PASS, label="second")
    assert wallet == keystore.load_wallet(ndir, REGTEST, "alice")
    assert wallet.receiving_address == wallet.keys[0].address != new.address
    keys = keystore.unlock(wallet, PASS)
    assert [k.public_key for k in keys] == [k.public_key for k in wallet.keys]
    assert keystore.unlock_key(wallet, PASS, new.address).public_key == new.public_key


def test_add_key_with_a_wrong_passphrase_changes_nothing(ndir):
    _create(ndir)
    before = (ndir / "wallets" / "alice.wallet").read_bytes()
    with pytest.raises(WalletError, match="^wrong passphrase for wallet 'alice'$"):
        keystore.add_key(ndir, REGTEST, "alice", "not the passphrase")
    assert (ndir / "wallets" / "alice.wallet").read_bytes() == before


def test_file_is_owner_only_and_folder_private(ndir):
    old = os.umask(0o022)  # a usual umask must not widen what we create
    try:
        wallet = _create(ndir)
        keystore.add_key(ndir, REGTEST, "alice", PASS)
    finally:
        os.umask(old)
    assert stat.S_IMODE(wallet.path.stat().st_mode) == 0o600
    assert stat.S_IMODE((ndir / "wallets").stat().st_mode) == 0o700
    assert [p.name for p in (ndir / "wallets").iterdir()] == ["alice.wallet"]  # no temp left


def test_existing_loose_wallets_folder_is_tightened(ndir):
    (ndir / "wallets").mkdir(parents=True, mode=0o755)
    os.chmod(ndir / "wallets", 0o755)
    _create(ndir)
    assert stat.S_IMODE((ndir / "wallets").stat().st_mode) == 0o700


def test_file_holds_no_seed_in_any_encoding(ndir, caplog):
    caplog.set_level(logging.DEBUG)
    _create(ndir)
    wallet, _ = keystore.add_key(ndir, REGTEST, "alice", PASS)
    seeds = [k.seed for k in keystore.unlock(wallet, PASS)]
    data = wallet.path.read_bytes()
    for seed in seeds:
        for encoded in _encodings(seed):
            assert encoded not in data
            assert encoded.decode("latin-1") not in caplog.text
        assert seed.hex() not in repr(wallet)
    assert PASS.encode() not in data and PASS not in caplog.text and PASS not in repr(wallet)
    # What is in clear is public: keys and addresses.
    doc = json.loads(data)
    assert doc["keys"][0]["public_key"] == wallet.keys[0].public_key.hex()


def test_file_format_fields(ndir):
    wallet = _create(ndir)
    doc = json.loads(wallet.path.read_text())
    assert doc["format"] == "coinium-wallet" and doc["version"] == 1
    assert doc["network"] == "regtest" and doc["name"] == "alice"
    assert doc["kdf"]["algorithm"] == "argon2id13" and len(bytes.fromhex(doc["kdf"]["salt"])) == 16
    assert doc["kdf"]["opslimit"] == FAST["opslimit"] and doc["kdf"]["memlimit"] == FAST["memlimit"]
    assert doc["cipher"] == "xchacha20poly1305-ietf"
    [key] = doc["keys"]
    assert (
        len(bytes.fromhex(key["nonce"])) == 24 and len(bytes.fromhex(key["encrypted_seed"])) == 48
    )


def test_wrong_passphrase_is_refused_clearly(ndir):
    wallet = _create(ndir)
    with pytest.raises(WalletError) as info:
        keystore.unlock(wallet, "Tr0ub4dor & horse")
    assert str(info.value) == "wrong passphrase for wallet 'alice'"
    assert info.value.__cause__ is None and info.value.__suppress_context__  # no crypto traceback


def test_passphrase_is_unicode_normalized(ndir):
    composed, decomposed = "caf\u00e9 au lait 42!", "cafe\u0301 au lait 42!"
    wallet = _create(ndir, passphrase=composed)
    assert keystore.unlock(wallet, decomposed)


def test_empty_passphrase_is_an_error(ndir):
    with pytest.raises(WalletError, match="empty"):
        _create(ndir, passphrase="")
    assert not (ndir / "wallets" / "alice.wallet").exists()


def test_create_never_overwrites(ndir):
    first = _create(ndir)
    before = first.path.read_bytes()
    with pytest.raises(WalletError, match="already exists"):
        _create(ndir, passphrase="another passphrase 123")
    assert first.path.read_bytes() == before


def _flip(match: re.Match) -> bytes:
    """Change an address's first data character (still bech32, no longer the key's address)."""
    return match[1] + (b"p" if match[2] != b"p" else b"q")


@pytest.mark.parametrize(
    "mangle, message",
    [
        (lambda b: b[: len(b) // 2], "not valid JSON"),
        (lambda b: b"", "not valid JSON"),
        (lambda b: b"\xff\xfe" + b, "not UTF-8"),
        (lambda b: b"[]", "not a coinium wallet file"),
        (lambda b: b.replace(b'"version": 1', b'"version": "1"'), "version must be int"),
        (lambda b: b.replace(b'"salt": "', b'"salt": "zz'), "kdf.salt is not hex"),
        (lambda b: b.replace(b'"opslimit": 1', b'"opslimit": 999999'), "opslimit must be"),
        (lambda b: b.replace(b'"cipher": "x', b'"cipher": "y'), "cipher must be"),
        (lambda b: re.sub(rb'("address": "rcn1)(.)', _flip, b), "address does not match"),
        (lambda b: b.replace(b'"nonce": "', b'"nonce": "00'), "nonce must be 24 bytes"),
        (lambda b: b.replace(b'"keys": [', b'"keys": [], "x": ['), "keys must hold 1"),
        (lambda b: b"[" * 100_000, "nested too deep"),
        (lambda b: re.sub(rb'"created": \d+', b'"created": ' + b"1" + b"0" * 30, b, count=1),
         "created is beyond any time"),
        (lambda b: re.sub(rb'"created": \d+', b'"created": ' + b"9" * 5000, b, count=1),
         "not valid JSON"),
    ],
)
def test_corrupted_file_gets_a_clear_error_and_is_left_untouched(ndir, mangle, message):
    wallet = _create(ndir)
    wallet.path.write_bytes(mangle(wallet.path.read_bytes()))
    before = wallet.path.read_bytes()
    with pytest.raises(WalletError) as info:
        keystore.load_wallet(ndir, REGTEST, "alice")
    assert str(info.value).startswith(f"wallet file {wallet.path} is corrupted: ")
    assert message in str(info.value)
    assert wallet.path.read_bytes() == before
    assert [p.name for p in wallet.path.parent.iterdir()] == ["alice.wallet"]


def test_swapped_public_key_is_caught_at_unlock(ndir):
    wallet = _create(ndir)
    other = _create(ndir, name="bob")
    doc = json.loads(wallet.path.read_text())
    # Point alice's clear data at bob's key: consistent on its face, so load accepts it.
    doc["keys"][0]["public_key"] = other.keys[0].public_key.hex()
    doc["keys"][0]["address"] = other.keys[0].address
    wallet.path.write_text(json.dumps(doc))
    tampered = keystore.load_wallet(ndir, REGTEST, "alice")
    with pytest.raises(WalletError, match="corrupted: key 0: the public key is not the sealed"):
        keystore.unlock(tampered, PASS)


def test_damaged_second_key_is_corruption_not_a_wrong_passphrase(ndir):
    _create(ndir)
    wallet, _ = keystore.add_key(ndir, REGTEST, "alice", PASS)
    doc = json.loads(wallet.path.read_text())
    sealed = bytearray(bytes.fromhex(doc["keys"][1]["encrypted_seed"]))
    sealed[0] ^= 1
    doc["keys"][1]["encrypted_seed"] = sealed.hex()
    wallet.path.write_text(json.dumps(doc))
    with pytest.raises(WalletError, match="corrupted: key 1 does not open"):
        keystore.unlock(keystore.load_wallet(ndir, REGTEST, "alice"), PASS)


def test_newer_format_version_is_named(ndir):
    wallet = _create(ndir)
    wallet.path.write_bytes(wallet.path.read_bytes().replace(b'"version": 1', b'"version": 7'))
    with pytest.raises(WalletError, match="format version 7, from a newer coinium"):
        keystore.load_wallet(ndir, REGTEST, "alice")


def test_renamed_file_is_refused(ndir):
    wallet = _create(ndir)
    os.rename(wallet.path, wallet.path.with_name("carol.wallet"))
    with pytest.raises(WalletError, match="holds wallet 'alice', not 'carol'"):
        keystore.load_wallet(ndir, REGTEST, "carol")


def test_missing_wallet(ndir):
    with pytest.raises(keystore.WalletNotFoundError, match="no wallet named 'zed' on regtest"):
        keystore.load_wallet(ndir, REGTEST, "zed")


@pytest.mark.parametrize(
    "passphrase, weak",
    [
        ("short1A!", "shorter than 12"),
        ("password1234", "most common"),
        ("correct horse battery staple", "most common"),
        ("alllowercaseletters", "one kind of character"),
        ("123456789012345", "one kind of character"),
        ("", "empty"),
    ],
)
def test_weak_passphrases_are_named(passphrase, weak):
    assert any(weak in reason for reason in keystore.passphrase_weaknesses(passphrase))


def test_good_passphrase_has_no_weakness():
    assert keystore.passphrase_weaknesses("Tr0ub4dor & horses") == []
    assert keystore.passphrase_weaknesses("plum kettle orbit 1987") == []


@pytest.mark.parametrize("name", ["alice", "A", "wallet-1", "my_wallet.2", "x" * 64, "0day"])
def test_valid_names(name):
    assert keystore.check_wallet_name(name) == name


@pytest.mark.parametrize(
    "name", ["", "x" * 65, "../alice", "a/b", "a\\b", ".hidden", "-flag", "..", "a b", "é", "a\0"]
)
def test_invalid_names_are_refused(ndir, name):
    with pytest.raises(WalletError, match="invalid wallet name"):
        keystore.check_wallet_name(name)
    with pytest.raises(WalletError, match="invalid wallet name"):
        _create(ndir, name=name)


def test_networks_keep_separate_wallets(tmp_path):
    base = tmp_path / "coinium"
    regtest_dir = keystore.network_datadir(base, REGTEST)
    test_dir = keystore.network_datadir(base, TEST)
    assert regtest_dir == base / "regtest" and test_dir == base / "testnet"
    on_regtest = keystore.create_wallet(regtest_dir, REGTEST, "alice", PASS, **FAST)
    on_test = keystore.create_wallet(test_dir, TEST, "alice", "other passphrase 99", **FAST)
    assert on_regtest.path != on_test.path
    assert on_regtest.receiving_address.startswith("rcn1")
    assert on_test.receiving_address.startswith("tcn1")
    assert keystore.list_wallets(regtest_dir) == ["alice"] == keystore.list_wallets(test_dir)
    assert keystore.list_wallets(base) == []  # main has none
    # A file carried to another network's folder is refused, not misread.
    os.replace(on_regtest.path, on_test.path)
    with pytest.raises(WalletError, match="is for the 'regtest' network, not 'test'"):
        keystore.load_wallet(test_dir, TEST, "alice")


def test_sealed_seed_does_not_open_in_another_wallet(ndir):
    alice = _create(ndir)
    _create(ndir, name="bob")
    # Same passphrase, but a seed moved from alice's file into bob's does not open there.
    bob_doc = json.loads((ndir / "wallets" / "bob.wallet").read_text())
    alice_doc = json.loads(alice.path.read_text())
    bob_doc["kdf"] = alice_doc["kdf"]
    bob_doc["keys"] = alice_doc["keys"]
    (ndir / "wallets" / "bob.wallet").write_text(json.dumps(bob_doc))
    with pytest.raises(WalletError, match="wrong passphrase for wallet 'bob'"):
        keystore.unlock(keystore.load_wallet(ndir, REGTEST, "bob"), PASS)
