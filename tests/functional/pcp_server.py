"""A small PCP (RFC 6887) / NAT-PMP (RFC 6886) gateway for the NAT lab, run inside the router
namespace: each granted mapping is a real nftables DNAT rule from the WAN side to the client.

    python pcp_server.py LISTEN_IP EXTERNAL_IP WAN_IFACE MODE      (MODE: pcp or natpmp)

In natpmp mode a PCP request gets NAT-PMP's "unsupported version" reply, as an old gateway sends.
It prints "ready" once it listens and one line per mapping it grants.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
import subprocess
import sys

EPOCH = 1


def nft(*args: str) -> None:
    subprocess.run(["nft", *args], check=True)


def apply(mappings: dict[int, tuple[str, int]], wan: str) -> None:
    nft("flush", "chain", "ip", "nat", "prerouting")
    for external, (client, internal) in mappings.items():
        nft("add", "rule", "ip", "nat", "prerouting", "iifname", wan, "tcp", "dport",
            str(external), "dnat", "to", f"{client}:{internal}")


def main() -> None:
    listen_ip, external_ip, wan, mode = sys.argv[1:5]
    mappings: dict[int, tuple[str, int]] = {}
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((listen_ip, 5351))
    print("ready", flush=True)
    while True:
        data, (client, client_port) = sock.recvfrom(1100)
        if not data:
            continue
        if data[0] == 2:  # PCP
            if mode != "pcp":
                sock.sendto(struct.pack("!BBHI", 0, 0x80 | (data[1] & 0x7F), 1, EPOCH),
                            (client, client_port))
                continue
            if len(data) < 60 or data[1] != 1:
                continue
            lifetime = struct.unpack_from("!I", data, 4)[0]
            nonce, protocol, internal, suggested = struct.unpack_from("!12sB3xHH", data, 24)
            external = suggested or internal
            if lifetime == 0:
                mappings.pop(external, None)
            else:
                mappings[external] = (client, internal)
            apply(mappings, wan)
            ext_ip = ipaddress.IPv6Address(f"::ffff:{external_ip}").packed
            reply = struct.pack("!BBBBII12x", 2, 0x81, 0, 0, lifetime, EPOCH)
            reply += struct.pack("!12sB3xHH16s", nonce, protocol, internal, external, ext_ip)
            sock.sendto(reply, (client, client_port))
            print(f"pcp {external} -> {client}:{internal} for {lifetime}", flush=True)
        elif data[:2] == b"\x00\x00":
            sock.sendto(struct.pack("!BBHI4s", 0, 128, 0, EPOCH, socket.inet_aton(external_ip)),
                        (client, client_port))
        elif data[:2] == b"\x00\x02" and len(data) >= 12:
            _, _, _, internal, suggested, lifetime = struct.unpack_from("!BBHHHI", data)
            external = suggested or internal
            if lifetime == 0:
                mappings.pop(external, None)
            else:
                mappings[external] = (client, internal)
            apply(mappings, wan)
            sock.sendto(struct.pack("!BBHIHHI", 0, 130, 0, EPOCH, internal, external, lifetime),
                        (client, client_port))
            print(f"natpmp {external} -> {client}:{internal} for {lifetime}", flush=True)


if __name__ == "__main__":
    main()
