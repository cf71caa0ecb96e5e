"""Ed25519 keys (PyNaCl / libsodium)."""

from __future__ import annotations

from nacl.signing import SigningKey

from coinium.crypto.address import account_id


class PrivateKey:
    """An Ed25519 signing key. ``seed`` is the 32-byte secret; never log it."""

    __slots__ = ("_signing_key",)

    def __init__(self, seed: bytes):
        if len(seed) != 32:
            raise ValueError("an Ed25519 seed is 32 bytes")
        self._signing_key = SigningKey(bytes(seed))

    @classmethod
    def generate(cls) -> PrivateKey:
        return cls(bytes(SigningKey.generate()))

    @property
    def seed(self) -> bytes:
        return bytes(self._signing_key)

    @property
    def public_key(self) -> bytes:
        return bytes(self._signing_key.verify_key)

    @property
    def account(self) -> bytes:
        return account_id(self.public_key)

    def sign(self, message: bytes) -> bytes:
        """The 64-byte detached signature (R || S)."""
        return self._signing_key.sign(message).signature

    def __repr__(self) -> str:  # never show the secret
        return f"PrivateKey(public_key={self.public_key.hex()})"
