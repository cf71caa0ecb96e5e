"""Deterministic wallet keys: every key of a wallet derives from one seed, so one backup (or the
seed) restores every address the wallet ever gave out.

Derivation: SLIP-0010 for Ed25519 (https://github.com/satoshilabs/slips/blob/master/slip-0010.md),
hardened steps only, as Ed25519 allows. Key ``i`` of a wallet sits at ``m/44'/8888'/0'/0'/i'``
(8888 is not a registered SLIP-44 coin type; networks are kept apart by the address prefix and
the chain id in every signature, not by the path). The 32 bytes SLIP-0010 gives at that node are
the key's Ed25519 seed (`coinium.crypto.keys.PrivateKey`).

In the wallet file (`coinium.wallet.keystore`, format 1) an HD wallet has one more top-level
object, ``"hd"``::

    "hd": {"scheme": "slip10-ed25519", "path": "m/44'/8888'/0'/0'", "next_index": 3,
           "nonce": "<24 bytes>", "encrypted_seed": "<32-byte seed || 16-byte tag>"}

The 32-byte master seed is sealed as the keys' seeds are (XChaCha20-Poly1305 under the wallet's
Argon2id key) with associated data ``keystore AD || b"\\0hd"``. Each derived key is also stored
sealed in ``keys`` as before, so everything that reads a wallet file reads an HD one unchanged.

Restoring: a backup knows the keys given out when it was taken. `restore_used_keys` derives past
``next_index`` and adds every key the chain has seen, stopping after `GAP_LIMIT` unused ones in
a row (BIP-44's gap limit); the node runs it when an HD wallet is unlocked.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import nacl.bindings
import nacl.exceptions
import nacl.utils

from coinium.core.params import NetworkParams
from coinium.crypto.keys import PrivateKey
from coinium.wallet import keystore, seed_sealing, wallet_files
from coinium.wallet.wallet_data import (
    MAX_KEYS,
    KdfParams,
    Wallet,
    WalletError,
    WalletKey,
    check_label,
    corrupted,
)
from coinium.wallet.wallet_format import encode_wallet

SCHEME = "slip10-ed25519"
HARDENED = 1 << 31
COIN_TYPE = 8888
ACCOUNT_PATH = (44, COIN_TYPE, 0, 0)
PATH_TEXT = "m/" + "/".join(f"{step}'" for step in ACCOUNT_PATH)
MASTER_SEED_SIZE = 32
GAP_LIMIT = 20
_SLIP10_CURVE = b"ed25519 seed"


# --- SLIP-0010 ----------------------------------------------------------------------------------
def master_node(seed: bytes) -> tuple[bytes, bytes]:
    """(private key, chain code) of the master node."""
    digest = hmac.new(_SLIP10_CURVE, seed, hashlib.sha512).digest()
    return digest[:32], digest[32:]


def hardened_child(key: bytes, chain_code: bytes, index: int) -> tuple[bytes, bytes]:
    if not 0 <= index < HARDENED:
        raise ValueError(f"child index {index} out of range")
    data = b"\x00" + key + (index | HARDENED).to_bytes(4, "big")
    digest = hmac.new(chain_code, data, hashlib.sha512).digest()
    return digest[:32], digest[32:]


def derive(seed: bytes, path: tuple[int, ...]) -> tuple[bytes, bytes]:
    key, chain_code = master_node(seed)
    for index in path:
        key, chain_code = hardened_child(key, chain_code, index)
    return key, chain_code


def key_at(seed: bytes, index: int) -> PrivateKey:
    """Key ``index`` of a wallet with this master seed: m/44'/8888'/0'/0'/index'."""
    return PrivateKey(derive(seed, (*ACCOUNT_PATH, index))[0])


# --- the wallet file's "hd" object --------------------------------------------------------------
def _hd_associated_data(wallet_network: str, name: str) -> bytes:
    return seed_sealing.associated_data(wallet_network, name) + b"\x00hd"


def _seal_master(kek: bytes, seed: bytes, network: str, name: str, next_index: int) -> dict:
    nonce = nacl.utils.random(seed_sealing.NONCE_SIZE)
    sealed = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_encrypt(
        seed, _hd_associated_data(network, name), nonce, kek)  # fmt: skip
    return {"scheme": SCHEME, "path": PATH_TEXT, "next_index": next_index,
            "nonce": nonce.hex(), "encrypted_seed": sealed.hex()}  # fmt: skip


def next_index(wallet: Wallet) -> int:
    return _check(wallet)["next_index"]


def _check(wallet: Wallet) -> dict[str, Any]:
    doc = wallet.hd
    if not isinstance(doc, dict):
        raise WalletError(f"wallet {wallet.name!r} has no deterministic seed (an older wallet: "
                          "each key is random; back it up after every new address)")  # fmt: skip
    index = doc.get("next_index")
    if (doc.get("scheme") != SCHEME or doc.get("path") != PATH_TEXT or not isinstance(index, int)
            or isinstance(index, bool) or not 0 <= index <= MAX_KEYS):  # fmt: skip
        raise corrupted(wallet.path, "hd: unknown scheme, path or next_index")
    return doc


def open_master(wallet: Wallet, kek: bytes) -> bytes:
    doc = _check(wallet)
    try:
        nonce = bytes.fromhex(doc["nonce"])
        sealed = bytes.fromhex(doc["encrypted_seed"])
        return nacl.bindings.crypto_aead_xchacha20poly1305_ietf_decrypt(
            sealed, _hd_associated_data(wallet.network, wallet.name), nonce, kek)  # fmt: skip
    except (KeyError, TypeError, ValueError, nacl.exceptions.CryptoError):
        raise corrupted(wallet.path, "hd: the seed does not open") from None


def next_key(wallet: Wallet, kek: bytes) -> tuple[PrivateKey, Wallet]:
    """The next key to give out, and the wallet with ``next_index`` moved past it."""
    index = next_index(wallet)
    private = key_at(open_master(wallet, kek), index)
    return private, replace(wallet, hd={**wallet.hd, "next_index": index + 1})


def create_hd_wallet(datadir: Path, params: NetworkParams, name: str, passphrase: str, *,
                     label: str = "", opslimit: int = seed_sealing.DEFAULT_OPSLIMIT,
                     memlimit: int = seed_sealing.DEFAULT_MEMLIMIT, seed: bytes | None = None,
                     now: int | None = None) -> Wallet:  # fmt: skip
    """`keystore.create_wallet`, with its first key derived from a new master seed (or
    ``seed``: restoring from a written-down seed)."""
    keystore.check_wallet_name(name)
    if not isinstance(passphrase, str) or not passphrase:
        raise WalletError("a wallet needs a passphrase: an empty one is refused")
    problem = seed_sealing.check_kdf_limits(opslimit, memlimit)
    if problem:
        raise WalletError(problem)
    check_label(label)
    path = keystore.wallet_path(datadir, name)
    if path.exists():
        raise WalletError(f"a wallet named {name!r} already exists on {params.name}: {path}")
    created = int(time.time()) if now is None else now
    master = seed if seed is not None else nacl.utils.random(MASTER_SEED_SIZE)
    kdf = KdfParams(nacl.utils.random(seed_sealing.SALT_SIZE), opslimit, memlimit)
    kek = seed_sealing.derive_key(passphrase, kdf)
    first = seed_sealing.seal_key(kek, key_at(master, 0), params, name, label, created)
    hd_doc = _seal_master(kek, master, params.name, name, 1)
    del kek, master
    wallet = Wallet(name, params.name, created, kdf, (first,), path, hd=hd_doc)
    wallet_files.ensure_private_dir(keystore.wallets_dir(datadir))
    wallet_files.write_new(path, encode_wallet(wallet), name, params.name)
    return wallet


def derive_kek(wallet: Wallet, passphrase: str) -> bytes:
    """The wallet's Argon2id key, checked against every sealed seed (WalletError if wrong)."""
    kek = seed_sealing.derive_key(passphrase, wallet.kdf)
    keystore.open_all(wallet, kek)
    return kek


def append_keys(datadir: Path, params: NetworkParams, name: str, kek: bytes, count: int,
                label: str = "") -> tuple[Wallet, list[WalletKey]]:  # fmt: skip
    """Derive and store the next ``count`` keys (or random ones for a wallet without a seed),
    under the wallets folder's lock; the file is re-read first so concurrent writers all land."""
    added: list[WalletKey] = []
    with wallet_files.locked(keystore.wallets_dir(datadir)):
        wallet = keystore.load_wallet(datadir, params, name)
        keystore.open_all(wallet, kek)  # the key must be this wallet's before we seal with it
        if len(wallet.keys) + count > MAX_KEYS:
            raise WalletError(f"wallet {name!r} would hold more than {MAX_KEYS} keys")
        for _ in range(count):
            if wallet.hd is not None:
                private, wallet = next_key(wallet, kek)
            else:
                private = PrivateKey.generate()
            new = seed_sealing.seal_key(kek, private, params, name, label, int(time.time()))
            if any(k.public_key == new.public_key for k in wallet.keys):
                continue  # derived before (a restored wallet catching up): already stored
            wallet = replace(wallet, keys=wallet.keys + (new,))
            added.append(new)
        wallet_files.write_replace(wallet.path, encode_wallet(wallet))
    return wallet, added


def restore_used_keys(datadir: Path, params: NetworkParams, wallet: Wallet, kek: bytes,
                      is_used: Callable[[bytes], bool]) -> list[WalletKey]:  # fmt: skip
    """Add the keys past ``next_index`` that the chain has seen (``is_used(account id)``), up to
    `GAP_LIMIT` unused ones in a row after the last used one."""
    if wallet.hd is None:
        return []
    seed = open_master(wallet, kek)
    start = next_index(wallet)
    last_used = start - 1
    index = start
    while index - last_used <= GAP_LIMIT and index < MAX_KEYS:
        if is_used(key_at(seed, index).account):
            last_used = index
        index += 1
    del seed
    if last_used < start:
        return []
    return append_keys(datadir, params, wallet.name, kek, last_used + 1 - start)[1]
