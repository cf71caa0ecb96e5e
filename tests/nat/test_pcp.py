"""PCP / NAT-PMP wire formats (coinium.nat.pcp): requests as RFC 6887/6886 lay them out, and any
datagram a gateway (or anyone on the LAN) sends is either a checked mapping or ignored."""

from __future__ import annotations

import ipaddress
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coinium.nat import pcp

NONCE = bytes(range(12))


def pcp_response(result: int = 0, nonce: bytes = NONCE, internal: int = 8333,
                 external: int = 9333, ip: str = "192.0.2.1") -> bytes:  # fmt: skip
    head = struct.pack("!BBBBII12x", 2, 0x81, 0, result, 7200, 1)
    mapped = ipaddress.IPv6Address(f"::ffff:{ip}").packed
    return head + struct.pack("!12sB3xHH16s", nonce, 6, internal, external, mapped)


def test_pcp_map_request_layout():
    request = pcp.pcp_map_request("10.0.0.2", NONCE, 8333, 7200, 8333)
    assert len(request) == 60
    assert request[:2] == b"\x02\x01" and struct.unpack_from("!I", request, 4) == (7200,)
    assert request[8:24] == ipaddress.IPv6Address("::ffff:10.0.0.2").packed
    assert request[24:36] == NONCE and request[36] == 6
    assert struct.unpack_from("!HH", request, 40) == (8333, 8333)


def test_pcp_response_is_checked_against_the_request():
    mapping = pcp.parse_pcp_map_response(pcp_response(), NONCE, 8333)
    assert (mapping.external_ip, mapping.external_port, mapping.lifetime) == ("192.0.2.1", 9333,
                                                                            7200)
    assert pcp.parse_pcp_map_response(pcp_response(nonce=bytes(12)), NONCE, 8333) is None
    assert pcp.parse_pcp_map_response(pcp_response(internal=1), NONCE, 8333) is None
    with pytest.raises(pcp.PortMapError, match="NOT_AUTHORIZED"):
        pcp.parse_pcp_map_response(pcp_response(result=2), NONCE, 8333)
    with pytest.raises(pcp._Unsupported):  # a NAT-PMP gateway's answer to PCP
        pcp.parse_pcp_map_response(struct.pack("!BBHI", 0, 0x81, 1, 1), NONCE, 8333)


def test_natpmp_request_layout():
    assert pcp.natpmp_map_request(8333, 3600, 8334) == struct.pack("!BBHHHI", 0, 2, 0, 8333,
                                                                   8334, 3600)


@given(st.binary(max_size=1100))
def test_any_datagram_is_a_mapping_an_error_or_ignored(data):
    try:
        found = pcp.parse_pcp_map_response(data, NONCE, 8333)
    except (pcp.PortMapError, pcp._Unsupported):
        return
    assert found is None or found.internal_port == 8333
