"""Human-readable account addresses: bech32m (BIP-350) of the 20-byte account id.

An address reads ``<network prefix>1<data><checksum>``, e.g. ``rcn1...`` on regtest. bech32m
detects any error of up to four characters, so a mistyped address is refused with a clear message
instead of sending coins nowhere, and the prefix stops a coin of one network going to another.
The codec below is written from the BIP-173/BIP-350 specification.
"""

from __future__ import annotations

from coinium.crypto.hashes import blake3_256

ACCOUNT_ID_SIZE = 20
_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_CHAR_VALUE = {c: i for i, c in enumerate(_CHARSET)}
_BECH32M_CONST = 0x2BC830A3
_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


class AddressError(ValueError):
    """An address that cannot be used, with the reason in words."""


# Recently derived ids by public key: a node derives a sender's id several times per transaction
# (admission, relay, the block's rules, its indexes, the mempool's update), and a dict lookup
# costs a tenth of the hash. Bounded: emptied when full (the next uses fill it again).
_RECENT_IDS: dict[bytes, bytes] = {}
_RECENT_IDS_MAX = 1 << 16


def account_id(public_key: bytes) -> bytes:
    """The 20-byte id of the account a public key controls."""
    if type(public_key) is bytes:
        found = _RECENT_IDS.get(public_key)
        if found is not None:
            return found
    if len(public_key) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes")
    found = blake3_256(b"coinium account v1" + public_key)[:ACCOUNT_ID_SIZE]
    if type(public_key) is bytes:
        if len(_RECENT_IDS) >= _RECENT_IDS_MAX:
            _RECENT_IDS.clear()
        _RECENT_IDS[public_key] = found
    return found


def _polymod(values: list[int]) -> int:
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            if (top >> i) & 1:
                chk ^= _GENERATOR[i]
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _convert_bits(data: bytes | list[int], from_bits: int, to_bits: int, pad: bool) -> list[int]:
    acc = bits = 0
    out = []
    maxv = (1 << to_bits) - 1
    for value in data:
        acc = (acc << from_bits) | value
        bits += from_bits
        while bits >= to_bits:
            bits -= to_bits
            out.append((acc >> bits) & maxv)
    if pad:
        if bits:
            out.append((acc << (to_bits - bits)) & maxv)
    elif bits >= from_bits or (acc << (to_bits - bits)) & maxv:
        raise AddressError("invalid padding in address data")
    return out


def encode_address(prefix: str, account: bytes) -> str:
    if len(account) != ACCOUNT_ID_SIZE:
        raise ValueError(f"an account id is {ACCOUNT_ID_SIZE} bytes")
    data = _convert_bits(account, 8, 5, pad=True)
    polymod = _polymod(_hrp_expand(prefix) + data + [0] * 6) ^ _BECH32M_CONST
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return prefix + "1" + "".join(_CHARSET[d] for d in data + checksum)


def decode_address(text: str, expected_prefix: str | None = None) -> tuple[str, bytes]:
    """Return (prefix, account id); raise AddressError naming the problem."""
    if not isinstance(text, str) or not text:
        raise AddressError("empty address")
    if any(ord(c) < 33 or ord(c) > 126 for c in text):
        raise AddressError("address contains a character that is not printable ASCII")
    if text.lower() != text and text.upper() != text:
        raise AddressError("address mixes upper and lower case")
    text = text.lower()
    sep = text.rfind("1")
    if sep < 1:
        raise AddressError("address has no network prefix (expected '<prefix>1...')")
    prefix, rest = text[:sep], text[sep + 1 :]
    if expected_prefix is not None and prefix != expected_prefix:
        raise AddressError(
            f"address is for another network (prefix {prefix!r}, this network uses "
            f"{expected_prefix!r})"
        )
    bad = [c for c in rest if c not in _CHAR_VALUE]
    if bad:
        raise AddressError(f"address contains {bad[0]!r}, which is not a bech32 character")
    if len(rest) < 7:
        raise AddressError("address is too short")
    values = [_CHAR_VALUE[c] for c in rest]
    if _polymod(_hrp_expand(prefix) + values) != _BECH32M_CONST:
        raise AddressError("address checksum does not match (mistyped address?)")
    account = bytes(_convert_bits(values[:-6], 5, 8, pad=False))
    if len(account) != ACCOUNT_ID_SIZE:
        raise AddressError(
            f"address holds {len(account)} bytes, an account id is {ACCOUNT_ID_SIZE}"
        )
    return prefix, account
