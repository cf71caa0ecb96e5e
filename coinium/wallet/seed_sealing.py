"""Key derivation and encryption of a wallet's seeds: passphrase -> key (Argon2id), key -> sealed
seed (XChaCha20-Poly1305).

``k = Argon2id(NFC(passphrase) as UTF-8, salt, opslimit, memlimit)``, 32 bytes, one salt per
wallet. Each key's 32-byte Ed25519 seed is sealed with XChaCha20-Poly1305 (IETF) under ``k`` with
its own random 24-byte nonce and associated data
``b"coinium wallet v1\\0" + network + b"\\0" + name``, so a sealed seed does not open in another
wallet or on another network (and a wallet file cannot be renamed: the name is bound in).
"""

from __future__ import annotations

import unicodedata

import nacl.bindings
import nacl.exceptions
import nacl.pwhash.argon2id as argon2id
import nacl.utils

from coinium.core.params import NetworkParams
from coinium.crypto.address import encode_address
from coinium.crypto.keys import PrivateKey
from coinium.wallet.wallet_data import KdfParams, WalletKey

KDF_ALGORITHM = "argon2id13"
CIPHER = "xchacha20poly1305-ietf"

# libsodium's "moderate" profile (3 passes over 256 MiB, about a second): a stolen wallet file
# costs an attacker that much per guess. Tests pass libsodium's minimum instead.
DEFAULT_OPSLIMIT = argon2id.OPSLIMIT_MODERATE
DEFAULT_MEMLIMIT = argon2id.MEMLIMIT_MODERATE
MIN_OPSLIMIT = argon2id.OPSLIMIT_MIN
MIN_MEMLIMIT = argon2id.MEMLIMIT_MIN
# A file asking for more than this is refused as corrupted, so a crafted file cannot make unlock
# run for hours or allocate terabytes (libsodium's "sensitive" profile is 4 passes over 1 GiB).
MAX_OPSLIMIT = 64
MAX_MEMLIMIT = 4 << 30

SALT_SIZE = argon2id.SALTBYTES
KEY_SIZE = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_KEYBYTES
NONCE_SIZE = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
SEED_SIZE = 32
SEALED_SEED_SIZE = SEED_SIZE + nacl.bindings.crypto_aead_xchacha20poly1305_ietf_ABYTES

_AD_DOMAIN = b"coinium wallet v1\x00"


def derive_key(passphrase: str, kdf: KdfParams) -> bytes:
    if not isinstance(passphrase, str):
        raise TypeError("the passphrase must be text")
    # NFC so that the same passphrase typed on systems that compose accents differently matches.
    secret = unicodedata.normalize("NFC", passphrase).encode("utf-8")
    return argon2id.kdf(KEY_SIZE, secret, kdf.salt, opslimit=kdf.opslimit, memlimit=kdf.memlimit)


def check_kdf_limits(opslimit: int, memlimit: int) -> str | None:
    """What is wrong with these Argon2id limits, or None."""
    for what, value, low, high in (
        ("opslimit", opslimit, MIN_OPSLIMIT, MAX_OPSLIMIT),
        ("memlimit", memlimit, MIN_MEMLIMIT, MAX_MEMLIMIT),
    ):
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            return f"Argon2id {what} must be a whole number from {low} to {high}, got {value!r}"
    return None


def associated_data(network: str, name: str) -> bytes:
    return _AD_DOMAIN + network.encode() + b"\x00" + name.encode()


def seal_key(
    key: bytes, private: PrivateKey, params: NetworkParams, name: str, label: str, created: int
) -> WalletKey:
    nonce = nacl.utils.random(NONCE_SIZE)
    sealed = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_encrypt(
        private.seed, associated_data(params.name, name), nonce, key
    )
    address = encode_address(params.address_prefix, private.account)
    return WalletKey(private.public_key, address, label, created, nonce, sealed)


def open_seed(wallet_key: WalletKey, ad: bytes, key: bytes) -> bytes | None:
    """The seed sealed in ``wallet_key``, or None when it does not open under ``key`` and
    ``ad`` (a wrong passphrase and a damaged sealed seed look exactly the same)."""
    try:
        return nacl.bindings.crypto_aead_xchacha20poly1305_ietf_decrypt(
            wallet_key.sealed_seed, ad, wallet_key.nonce, key
        )
    except nacl.exceptions.CryptoError:
        return None
