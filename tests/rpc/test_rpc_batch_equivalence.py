"""A JSON-RPC batch answers, byte for byte, what its calls answer sent one at a time.

Two real node processes with the same accounts: one gets each generated batch whole, the other
the same calls one request at a time, in order. The batch's body must be the single replies'
bodies joined into a list (notifications left out), and both mempools must end the same. The
calls mix sendrawtransaction runs (which the server runs as one unit, `Method.run_batch`) with
everything that can go wrong inside them: bad hex, wrong or named params, duplicates, forged
signatures, nonce gaps, replacements that pay too little or enough, a fee over the cap, legacy
and notification elements, a lone surrogate in an id, other methods and unknown ones between.
"""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coinium.core.params import REGTEST
from coinium.core.transaction import sign_transfer
from coinium.core.units import COIN
from coinium.crypto.address import encode_address
from coinium.crypto.hashes import blake3_256
from coinium.crypto.keys import PrivateKey

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "functional"))
from nodeproc import NodeProcess  # noqa: E402

SENDERS_PER_EXAMPLE = 3
EXAMPLES = 25
FEE = 10_000
RICH = PrivateKey(blake3_256(b"batch equivalence rich"))
MINER = PrivateKey(blake3_256(b"batch equivalence miner"))
SENDERS = [PrivateKey(blake3_256(b"batch equivalence sender %d" % i))
           for i in range(SENDERS_PER_EXAMPLE * (EXAMPLES + 5))]  # fmt: skip
_examples = itertools.count()  # each example's own senders: nonce 0 is theirs to use


def _post(node: NodeProcess, payload: Any) -> tuple[int, bytes]:
    status, _, raw = node.http(json.dumps(payload).encode(), {"Authorization": node.auth_header()})
    return status, raw


@pytest.fixture(scope="module")
def nodes(tmp_path_factory):
    started: list[NodeProcess] = []
    try:
        for name in ("batched", "one_by_one"):
            started.append(NodeProcess(tmp_path_factory.mktemp(name), "regtest",
                                       ("--no-persistmempool",)).start())  # fmt: skip
        funding = [{"jsonrpc": "2.0", "id": i, "method": "sendrawtransaction",
                    "params": [sign_transfer(RICH, REGTEST.chain_id, key.account, 5 * COIN, FEE,
                                             i).raw.hex()]}
                   for i, key in enumerate(SENDERS)]  # fmt: skip
        for node in started:
            # 500 coins for 90 senders' 5 each (and fees).
            node.rpc("generatetoaddress", 10, encode_address(REGTEST.address_prefix, RICH.account))
            status, raw = _post(node, funding)
            assert status == 200 and all("result" in r for r in json.loads(raw)), raw[:300]
            node.rpc("generatetoaddress", 1, encode_address(REGTEST.address_prefix,
                                                            MINER.account))  # fmt: skip
            assert node.rpc("getmempoolinfo")["size"] == 0
        yield started
    finally:
        for node in started:
            node.stop()


def _transfer_hex(senders: list[PrivateKey], spec: tuple) -> str:
    _, who, nonce, fee, amount, forged = spec
    tx = sign_transfer(senders[who], REGTEST.chain_id, senders[(who + 1) % len(senders)].account,
                       amount, fee, nonce)  # fmt: skip
    return (tx.with_signature(bytes(64)) if forged else tx).raw.hex()


_transfer = st.tuples(
    st.just("tx"),
    st.integers(0, SENDERS_PER_EXAMPLE - 1),
    st.integers(0, 3),  # nonces past the account's next one are held (nonce gap)
    st.sampled_from([FEE, FEE + 1, 2 * FEE, COIN]),  # replacements; a coin is over the fee cap
    st.sampled_from([1_000, COIN, 6 * COIN]),  # 6 coins: more than a sender holds
    st.booleans(),  # a forged (zero) signature
)
_element = st.one_of(
    _transfer,
    _transfer,  # twice as likely: runs of sendrawtransaction are the point
    st.tuples(st.just("dup"), st.integers(0, 100)),  # an earlier element again
    st.tuples(st.just("badhex"), st.sampled_from(["zz", "0011", "", "abc", "00" * 200])),
    st.tuples(st.just("params"), st.sampled_from(["none", "feerate_text", "feerate_negative",
                                                  "extra", "named", "named_cap", "unknown_name",
                                                  "number"])),  # fmt: skip
    st.tuples(st.just("method"), st.sampled_from(["getblockcount", "nosuchmethod"])),
)
_framing = st.tuples(
    st.sampled_from(["2.0", "2.0", "1.0", None, "notification"]),  # None: no jsonrpc key
    st.sampled_from(["int", "str", "surrogate"]),
)


def _request(senders: list[PrivateKey], spec: tuple, framing: tuple, position: int,
             built: list[dict]) -> dict:  # fmt: skip
    kind = spec[0]
    method, params = "sendrawtransaction", None
    if kind == "tx":
        params = [_transfer_hex(senders, spec)]
    elif kind == "dup":
        if built:
            return dict(built[spec[1] % len(built)])
        params = ["00"]
    elif kind == "badhex":
        params = [spec[1]]
    elif kind == "params":
        hexstring = _transfer_hex(senders, ("tx", 0, 0, FEE, 1_000, False))
        params = {"none": [], "feerate_text": [hexstring, "x"], "feerate_negative": [hexstring, -1],
                  "extra": [hexstring, 0, 1], "named": {"hexstring": hexstring},
                  "named_cap": {"hexstring": hexstring, "maxfeerate": 0},
                  "unknown_name": {"hex": hexstring}, "number": [5]}[spec[1]]  # fmt: skip
    else:
        method, params = spec[1], []
    version, id_kind = framing
    request: dict[str, Any] = {"method": method, "params": params}
    if version == "notification":
        request["jsonrpc"] = "2.0"
    else:
        if version is not None:
            request["jsonrpc"] = version
        request["id"] = {"int": position, "str": f"call-{position}",
                         "surrogate": "\udc80"}[id_kind]  # fmt: skip
    return request


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
@given(calls=st.lists(st.tuples(_element, _framing), min_size=1, max_size=40))
def test_a_batch_answers_what_its_calls_answer_one_at_a_time(nodes, calls):
    batched, one_by_one = nodes
    example = next(_examples) % (EXAMPLES + 5)
    senders = SENDERS[example * SENDERS_PER_EXAMPLE:(example + 1) * SENDERS_PER_EXAMPLE]
    built: list[dict] = []
    for position, (spec, framing) in enumerate(calls):
        built.append(_request(senders, spec, framing, position, built))

    status, batch_body = _post(batched, built)
    singles = []
    for request in built:
        single_status, body = _post(one_by_one, request)
        if "id" in request or request.get("jsonrpc") != "2.0":
            assert body.endswith(b"\n"), (single_status, body)
            singles.append(body[:-1])
        else:
            assert (single_status, body) == (204, b"")  # a notification
    if singles:
        assert status == 200
        assert batch_body == b"[" + b",".join(singles) + b"]\n"
    else:
        assert (status, batch_body) == (204, b"")
    assert sorted(batched.rpc("getrawmempool")) == sorted(one_by_one.rpc("getrawmempool"))
