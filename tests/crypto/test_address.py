"""Addresses: bech32m of the account id; mistyped and other-network addresses are refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coinium.core.params import MAIN, REGTEST, TEST
from coinium.crypto import address
from coinium.crypto.address import (
    _BECH32M_CONST,
    _CHARSET,
    AddressError,
    _convert_bits,
    _hrp_expand,
    _polymod,
    account_id,
    decode_address,
    encode_address,
)
from coinium.crypto.hashes import blake3_256
from coinium.crypto.keys import PrivateKey

accounts = st.binary(min_size=20, max_size=20)


@given(accounts, st.sampled_from([MAIN, TEST, REGTEST]))
def test_round_trip(account, params):
    text = encode_address(params.address_prefix, account)
    assert text.startswith(params.address_prefix + "1")
    assert decode_address(text, params.address_prefix) == (params.address_prefix, account)
    assert decode_address(text.upper(), params.address_prefix)[1] == account


@given(accounts, st.data())
def test_any_single_character_typo_is_caught(account, data):
    text = encode_address("cn", account)
    pos = data.draw(st.integers(3, len(text) - 1))
    replacement = data.draw(st.sampled_from("qpzry9x8gf2tvdw0s3jn54khce6mua7l"))
    if replacement == text[pos]:
        return
    typo = text[:pos] + replacement + text[pos + 1 :]
    with pytest.raises(AddressError, match="checksum"):
        decode_address(typo, "cn")


def test_bip350_checksum_constant():
    # BIP-350's valid bech32m test string "a1lqfn3a" (hrp "a", empty data).
    values = ["qpzry9x8gf2tvdw0s3jn54khce6mua7l".index(c) for c in "lqfn3a"]
    assert _polymod(_hrp_expand("a") + values) == _BECH32M_CONST


def test_other_network_is_named():
    text = encode_address(MAIN.address_prefix, bytes(20))
    with pytest.raises(AddressError, match="another network.*'cn'.*'rcn'"):
        decode_address(text, REGTEST.address_prefix)


@pytest.mark.parametrize(
    "text, problem",
    [
        ("", "empty"),
        ("rcn1qqqq", "too short|checksum"),
        ("rcnqqqqqqqqqqqqq", "no network prefix"),
        ("rcn1QQqqqqqqqqqqqqqq", "mixes upper and lower case"),
        ("rcn1qqqqqbqqqqqqqqq", "not a bech32 character"),
        ("rcn1 qqqqqqqqqqq", "printable"),
    ],
)
def test_malformed_addresses(text, problem):
    with pytest.raises(AddressError, match=problem):
        decode_address(text, "rcn")


def test_wrong_length_payload():
    # A valid bech32m string whose data is 21 bytes is not an account address.
    data = _convert_bits(bytes(21), 8, 5, pad=True)
    polymod = _polymod(_hrp_expand("rcn") + data + [0] * 6) ^ _BECH32M_CONST
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    text = "rcn1" + "".join(_CHARSET[d] for d in data + checksum)
    with pytest.raises(AddressError, match="21 bytes"):
        decode_address(text, "rcn")


@given(st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=40))
def test_account_id_is_the_hash_whether_remembered_or_not(keys):
    """The ids the lookup table remembers are the hash's, before and after it is emptied when
    full, and for key types it does not remember (bytearray)."""
    address._RECENT_IDS_MAX, saved = 7, address._RECENT_IDS_MAX
    address._RECENT_IDS.clear()  # what earlier tests left
    try:
        for key in keys + keys:
            expected = blake3_256(b"coinium account v1" + key)[:20]
            assert account_id(key) == expected == account_id(bytearray(key))
            assert len(address._RECENT_IDS) <= 7
    finally:
        address._RECENT_IDS_MAX = saved
    for bad in (b"", bytes(31), bytes(33), bytearray(33)):
        with pytest.raises(ValueError, match="32 bytes"):
            account_id(bad)


def test_account_id_depends_on_key():
    a, b = PrivateKey(bytes(32)), PrivateKey(bytes([1]) * 32)
    assert account_id(a.public_key) != account_id(b.public_key)
    assert a.account == account_id(a.public_key) and len(a.account) == 20
    assert "seed" not in repr(a) and a.seed.hex() not in repr(a)
