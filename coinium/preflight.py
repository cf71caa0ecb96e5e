"""Checks the node makes before it starts anything: every port it will listen on is free.

A port another process holds would otherwise be found only when that part starts (the P2P
sockets after the chain has loaded, the RPC server after P2P), so the operator would get a
half-started node and a traceback. Here each one is tried first, and a taken port is a
`StartupError` that names the flag or key to change. The parts still turn their own bind failures
into a `StartupError` (another process may take a port between this check and the bind).
"""

from __future__ import annotations

import errno
import ipaddress
import socket

from coinium.config import NodeOptions


class StartupError(RuntimeError):
    """The node cannot start as configured; the message names the setting and the reason."""


def check_listen_ports(options: NodeOptions) -> None:
    """Raise `StartupError` for the first port the node would listen on that is not free."""
    wanted: list[tuple[str, str, int]] = [("--rpc-port / rpc_port", options.rpc_bind,
                                           options.rpc_port)]  # fmt: skip
    if options.p2p.listen:
        wanted.append(("--p2p-port / p2p_port", options.p2p.bind, options.p2p_port))
        wanted.append(("--p2p-pub-port / p2p_pub_port", options.p2p.bind, options.p2p.pub_port))
    for publisher in options.zmq:
        host_port = _tcp_host_port(publisher.address)
        if host_port is not None:
            wanted.append((f"--zmqpub{publisher.topic} / zmqpub{publisher.topic}", *host_port))
    seen: set[tuple[str, int]] = set()
    for setting, host, port in wanted:
        if port == 0 or (host, port) in seen:
            continue  # any free port, or one endpoint shared by several publishers
        seen.add((host, port))
        reason = _bind_error(host, port)
        if reason is not None:
            raise StartupError(f"{setting}: cannot listen on {host}:{port}: {reason}")


def _tcp_host_port(endpoint: str) -> tuple[str, int] | None:
    """(host, port) of a ``tcp://host:port`` endpoint the config already checked; else None."""
    if not endpoint.startswith("tcp://"):
        return None
    host, _, port = endpoint[len("tcp://"):].rpartition(":")
    return host.strip("[]"), int(port)


def _bind_error(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be bound now (as ZeroMQ and aiohttp bind: SO_REUSEADDR), or None.
    A host that is a name, not an address, is left to the part that binds it."""
    if host in ("*", "", "0.0.0.0"):
        host = "0.0.0.0"
    elif host == "localhost":
        host = "127.0.0.1"
    try:
        family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    except ValueError:
        return None
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return "the port is in use by another process"
            return exc.strerror or str(exc)
    return None
