"""The NFT content-hash check's reading of data URIs (RFC 2397), and the page filters for basis
points and shares (integers only)."""

from __future__ import annotations

import base64
from urllib.parse import quote_from_bytes

from blake3 import blake3
from hypothesis import given
from hypothesis import strategies as st

from coinium.web.content_check import check_data_uri, data_uri_content
from coinium.web.formats import basis_points, share


@given(st.binary(max_size=180))
def test_a_data_uri_gives_back_the_bytes_it_holds(content):
    encoded = base64.b64encode(content).decode()
    assert data_uri_content("data:application/json;base64," + encoded) == content
    assert data_uri_content("data:," + quote_from_bytes(content)) == content
    verdict = check_data_uri("data:;base64," + encoded, blake3(content).hexdigest())
    assert verdict is not None and verdict.matches and verdict.size == len(content)
    assert not check_data_uri("data:;base64," + encoded, "00" * 32).matches


def test_other_or_malformed_uris_hold_nothing_to_check():
    for uri in ("ipfs://bafy", "https://example.org/a.json", "data:no-comma",
                "data:;base64,not*base64", ""):
        assert data_uri_content(uri) is None, uri
        assert check_data_uri(uri, "00" * 32) is None
    assert data_uri_content("DATA:,x%20y") == b"x y"  # the scheme's case does not matter


def test_basis_points_and_shares_read_as_percentages():
    assert [basis_points(v) for v in (0, 5, 525, 10_000)] == ["0.00 %", "0.05 %", "5.25 %",
                                                               "100.00 %"]  # fmt: skip
    assert share(1, 3) == "33.3 %" and share(2, 3) == "66.6 %" and share(5, 0) == "0.0 %"
