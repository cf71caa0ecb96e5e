"""`PlainJson` (a reply written by json's C encoder) gives exactly the bytes `dumps` writes for a
plain dict, whatever it holds: exact amounts, Decimals, non-finite floats, lone surrogates."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from coinium.rpc.calls import _reply, _Request
from coinium.rpc.encoding import Amount, PlainJson, dumps, dumps_bytes
from coinium.rpc.errors import RpcError

_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(),  # NaN and infinities included
    st.text(), st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)),
    st.decimals(allow_nan=False), st.builds(Amount, st.integers(0, 2**63)),
)
_values = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.tuples(inner, inner),
    st.dictionaries(st.text(max_size=5), inner, max_size=4)), max_leaves=12)  # fmt: skip


@given(st.dictionaries(st.text(max_size=5), _values, max_size=5))
def test_plain_json_writes_what_dumps_writes_for_a_dict(value):
    plain = PlainJson(value)
    assert dumps(plain) == dumps(dict(value))
    assert dumps_bytes([plain, plain]) == dumps_bytes([dict(value), dict(value)])


def test_plain_json_falls_back_for_what_the_c_encoder_would_write_otherwise():
    assert dumps(PlainJson(a=Amount(10_000_000))) == '{"a":0.10000000}'
    assert dumps(PlainJson(a=Decimal("1E+2"))) == '{"a":100}'
    assert dumps(PlainJson(a=float("nan"), b=float("inf"))) == '{"a":null,"b":null}'
    assert dumps_bytes(PlainJson(a="\udc80é")) == b'{"a":"\\udc80\\u00e9"}'


def test_only_replies_whose_keys_are_all_text_are_plain():
    request = _Request(version="2.0", id=7, method="m")
    assert type(_reply(request, result="ab")) is PlainJson
    assert type(_reply(request, result=None)) is PlainJson
    assert type(_reply(request, error=RpcError(-1, "no"))) is PlainJson
    assert type(_reply(request, result={1: "a"})) is dict  # dumps writes the key as str(key)
    reply = _reply(request, result={True: 1})
    assert dumps(reply) == '{"jsonrpc":"2.0","result":{"True":1},"id":7}'
