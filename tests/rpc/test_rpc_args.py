"""Raw hex as the RPC methods read it: even length, hex digits only (no whitespace, which
``bytes.fromhex`` alone would skip, no other Unicode digits or letters)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from coinium.rpc.args import _hex_bytes

HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def _by_the_definition(text: str) -> bytes | None:
    if len(text) % 2 or not HEX_DIGITS.issuperset(text):
        return None
    return bytes.fromhex(text)


@given(st.one_of(st.text(), st.text("0123456789abcdefABCDEFgGxz \t\n\u0660\u00b2")))
def test_hex_is_read_exactly_as_defined(text):
    assert _hex_bytes(text) == _by_the_definition(text)


def test_what_is_not_hex():
    for text in ("ab cd", "abg0", "a", "\u0660\u0661", " ab", "ab\n", "0x00"):
        assert _hex_bytes(text) is None, text
    assert _hex_bytes("") == b""
    assert _hex_bytes("00fF") == b"\x00\xff"
