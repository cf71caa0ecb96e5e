"""PCP (RFC 6887) MAP requests, with NAT-PMP (RFC 6886) as the fallback, over UDP to the gateway.

The client asks the gateway (the default route's next hop, port 5351) to map a TCP port. It
sends a PCP MAP request first; a gateway that only speaks NAT-PMP answers it with NAT-PMP's
"unsupported version" (RFC 6887 section 9), and one that does not answer at all within the retry
schedule is asked again in NAT-PMP. Every reply is checked (size, version, opcode, nonce, port)
before it is believed, so a stray or forged datagram is ignored, never parsed further.

Wire formats (all integers big-endian):

- PCP request (60 bytes): version 2 | opcode 1 (MAP) | reserved 2 | lifetime u32 | client IP
  (16, IPv4-mapped) | nonce 12 | protocol u8 (6 = TCP) | reserved 3 | internal port u16 |
  suggested external port u16 | suggested external IP 16;
- PCP response (60 bytes): version 2 | 0x81 | reserved | result u8 | lifetime u32 | epoch u32 |
  reserved 12 | nonce 12 | protocol | reserved 3 | internal port | external port | external IP;
- NAT-PMP: external address request ``0 | 0`` -> ``0 | 128 | result u16 | epoch u32 | IPv4``;
  TCP map request ``0 | 2 | 0 0 | internal u16 | external u16 | lifetime u32`` ->
  ``0 | 130 | result u16 | epoch u32 | internal u16 | external u16 | lifetime u32``.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import struct
from dataclasses import dataclass

PORT = 5351
PCP_VERSION = 2
NATPMP_VERSION = 0
OPCODE_MAP = 1
PROTOCOL_TCP = 6
RESULT_SUCCESS = 0
RESULT_UNSUPP_VERSION = 1
RETRY_TIMEOUTS = (0.25, 0.5, 1.0, 2.0)  # RFC 6886's doubling schedule, cut short for a start-up

_PCP_HEADER = struct.Struct("!BBHI16s")  # version, opcode, reserved, lifetime, client IP
_PCP_MAP = struct.Struct("!12sB3xHH16s")  # nonce, protocol, internal, external, external IP
_PCP_RESPONSE_HEADER = struct.Struct("!BBBBII12x")  # version, opcode, _, result, lifetime, epoch
_NATPMP_MAP = struct.Struct("!BBHHHI")
_NATPMP_MAP_RESPONSE = struct.Struct("!BBHIHHI")
_NATPMP_ADDRESS_RESPONSE = struct.Struct("!BBHI4s")

PCP_RESULTS = {1: "UNSUPP_VERSION", 2: "NOT_AUTHORIZED", 3: "MALFORMED_REQUEST",
               4: "UNSUPP_OPCODE", 5: "UNSUPP_OPTION", 6: "MALFORMED_OPTION",
               7: "NETWORK_FAILURE", 8: "NO_RESOURCES", 9: "UNSUPP_PROTOCOL",
               10: "USER_EX_QUOTA", 11: "CANNOT_PROVIDE_EXTERNAL", 12: "ADDRESS_MISMATCH",
               13: "EXCESSIVE_REMOTE_PEERS"}  # fmt: skip
NATPMP_RESULTS = {1: "unsupported version", 2: "not authorized", 3: "network failure",
                  4: "out of resources", 5: "unsupported opcode"}  # fmt: skip


class PortMapError(Exception):
    """The gateway did not map the port; the message says what it answered (or that it did not)."""


class _Unsupported(Exception):
    """The gateway answered PCP with NAT-PMP's unsupported version: ask in NAT-PMP."""


@dataclass(frozen=True, slots=True)
class Mapping:
    protocol: str  # "pcp" or "natpmp"
    gateway: str
    internal_port: int
    external_ip: str
    external_port: int
    lifetime: int  # seconds the gateway keeps it


def default_gateway() -> str | None:
    """The IPv4 default route's next hop (Linux /proc/net/route), or None."""
    try:
        with open("/proc/net/route") as routes:
            next(routes)
            for line in routes:
                fields = line.split()
                if len(fields) > 3 and fields[1] == "00000000" and int(fields[3], 16) & 2:
                    return socket.inet_ntoa(struct.pack("<I", int(fields[2], 16)))
    except (OSError, ValueError, StopIteration):
        return None
    return None


def _mapped_v6(ip: str) -> bytes:
    return ipaddress.IPv6Address(f"::ffff:{ip}").packed


def pcp_map_request(client_ip: str, nonce: bytes, internal_port: int, lifetime: int,
                    suggested_port: int = 0) -> bytes:  # fmt: skip
    return (_PCP_HEADER.pack(PCP_VERSION, OPCODE_MAP, 0, lifetime, _mapped_v6(client_ip))
            + _PCP_MAP.pack(nonce, PROTOCOL_TCP, internal_port, suggested_port, bytes(16)))


def parse_pcp_map_response(data: bytes, nonce: bytes, internal_port: int) -> Mapping | None:
    """The mapping in a PCP MAP response to our request; None when the datagram is not one."""
    if len(data) >= 4 and data[0] == NATPMP_VERSION and data[1] == 0x80 | OPCODE_MAP:
        raise _Unsupported  # NAT-PMP's "unsupported version" reply to a version-2 request
    if len(data) < _PCP_RESPONSE_HEADER.size + _PCP_MAP.size:
        return None
    version, opcode, _, result, lifetime, _ = _PCP_RESPONSE_HEADER.unpack_from(data)
    if version != PCP_VERSION or opcode != 0x80 | OPCODE_MAP:
        return None
    their_nonce, protocol, internal, external, external_ip = _PCP_MAP.unpack_from(
        data, _PCP_RESPONSE_HEADER.size)  # fmt: skip
    if their_nonce != nonce or protocol != PROTOCOL_TCP or internal != internal_port:
        return None
    if result == RESULT_UNSUPP_VERSION:
        raise _Unsupported
    if result != RESULT_SUCCESS:
        raise PortMapError(f"the gateway refused the PCP mapping: "
                           f"{PCP_RESULTS.get(result, result)}")  # fmt: skip
    address = ipaddress.IPv6Address(external_ip)
    shown = str(address.ipv4_mapped or address)
    return Mapping("pcp", "", internal, shown, external, lifetime)


def natpmp_map_request(internal_port: int, lifetime: int, suggested_port: int = 0) -> bytes:
    return _NATPMP_MAP.pack(NATPMP_VERSION, 2, 0, internal_port, suggested_port, lifetime)


def _natpmp_result(result: int) -> None:
    if result != RESULT_SUCCESS:
        raise PortMapError(f"the gateway refused the NAT-PMP request: "
                           f"{NATPMP_RESULTS.get(result, result)}")  # fmt: skip


def _exchange(sock: socket.socket, request: bytes, parse) -> object:
    """Send ``request`` on the retry schedule until ``parse`` accepts a reply (None: ignore it)."""
    for timeout in RETRY_TIMEOUTS:
        sock.send(request)
        sock.settimeout(timeout)
        while True:
            try:
                data = sock.recv(1100)  # PCP's largest message
            except TimeoutError:
                break
            except ConnectionRefusedError:  # ICMP port unreachable: nothing listens there
                raise PortMapError("the gateway does not speak PCP or NAT-PMP (port 5351 "
                                   "unreachable)") from None  # fmt: skip
            found = parse(data)
            if found is not None:
                return found
    return None


def map_tcp_port(internal_port: int, lifetime: int = 7200, gateway: str | None = None,
                 suggested_port: int | None = None) -> Mapping:  # fmt: skip
    """Map TCP ``internal_port`` on the gateway: PCP first, NAT-PMP if it must. Blocking
    (seconds when the gateway is silent): run it in a thread. ``lifetime`` 0 deletes."""
    gateway = gateway or default_gateway()
    if gateway is None:
        raise PortMapError("no IPv4 default gateway to ask for a port mapping")
    suggested = internal_port if suggested_port is None else suggested_port
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect((gateway, PORT))
        client_ip = sock.getsockname()[0]
        nonce = os.urandom(12)
        request = pcp_map_request(client_ip, nonce, internal_port, lifetime, suggested)
        try:
            found = _exchange(sock, request,
                              lambda d: parse_pcp_map_response(d, nonce, internal_port))
            if found is not None:
                return _with_gateway(found, gateway)
        except _Unsupported:
            pass
        return _natpmp_map(sock, gateway, internal_port, lifetime, suggested)


def _natpmp_map(sock: socket.socket, gateway: str, internal_port: int, lifetime: int,
                suggested: int) -> Mapping:  # fmt: skip
    def address_reply(data: bytes) -> str | None:
        if len(data) < _NATPMP_ADDRESS_RESPONSE.size or data[:2] != b"\x00\x80":
            return None
        _, _, result, _, ip = _NATPMP_ADDRESS_RESPONSE.unpack_from(data)
        _natpmp_result(result)
        return socket.inet_ntoa(ip)

    def map_reply(data: bytes) -> tuple[int, int] | None:
        if len(data) < _NATPMP_MAP_RESPONSE.size or data[:2] != b"\x00\x82":
            return None
        _, _, result, _, internal, external, granted = _NATPMP_MAP_RESPONSE.unpack_from(data)
        if internal != internal_port:
            return None
        _natpmp_result(result)
        return external, granted

    external_ip = _exchange(sock, b"\x00\x00", address_reply)
    if external_ip is None:
        raise PortMapError(f"no PCP or NAT-PMP answer from the gateway {gateway}")
    mapped = _exchange(sock, natpmp_map_request(internal_port, lifetime, suggested), map_reply)
    if mapped is None:
        raise PortMapError(f"the gateway {gateway} did not answer the NAT-PMP mapping request")
    external_port, granted = mapped
    return Mapping("natpmp", gateway, internal_port, external_ip, external_port, granted)


def _with_gateway(mapping: Mapping, gateway: str) -> Mapping:
    return Mapping(mapping.protocol, gateway, mapping.internal_port, mapping.external_ip,
                   mapping.external_port, mapping.lifetime)  # fmt: skip
