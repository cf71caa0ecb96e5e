"""Keeping the node's P2P ports mapped on the gateway while it runs (``--natpmp``).

Each port is mapped at start (coinium.nat.pcp: PCP, else NAT-PMP), renewed at half its lifetime
(RFC 6886 section 3.3), and deleted at shutdown (lifetime 0). A gateway that does not answer is
a warning, never a reason to stop: the node works without inbound peers. The mapped addresses
are what `getnetworkinfo` shows under ``natmappings``; the P2P port's mapped address is announced
only once a peer has dialled it back (coinium.p2p.reachability), which ``verified`` shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from coinium.nat.pcp import Mapping, PortMapError, map_tcp_port

log = logging.getLogger("coinium.nat")

LIFETIME_S = 7200  # what we ask for; the gateway may grant less
MIN_RENEW_S = 30.0


class PortMapper:
    def __init__(self, ports: list[int], gateway: str | None = None) -> None:
        self.ports = [p for p in dict.fromkeys(ports) if p]
        self.gateway = gateway
        self.mappings: dict[int, Mapping] = {}
        self.errors: dict[int, str] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._map_all()
        self._task = asyncio.create_task(self._renew_loop(), name="nat-renew")

    async def _map_all(self) -> None:
        for port in self.ports:
            try:
                mapping = await asyncio.to_thread(map_tcp_port, port, LIFETIME_S, self.gateway)
            except (PortMapError, OSError) as exc:
                self.errors[port] = str(exc)
                self.mappings.pop(port, None)
                log.warning("nat: port %d not mapped: %s", port, exc)
                continue
            self.errors.pop(port, None)
            if self.mappings.get(port) != mapping:
                log.info("nat: %s mapped %s:%d to local port %d for %d s", mapping.protocol,
                         mapping.external_ip, mapping.external_port, port, mapping.lifetime)
            self.mappings[port] = mapping

    async def _renew_loop(self) -> None:
        while True:
            lifetimes = [m.lifetime for m in self.mappings.values()] or [LIFETIME_S]
            await asyncio.sleep(max(MIN_RENEW_S, min(lifetimes) / 2))
            await self._map_all()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for port, mapping in list(self.mappings.items()):
            try:
                await asyncio.to_thread(map_tcp_port, port, 0, mapping.gateway,
                                        mapping.external_port)  # fmt: skip
            except (PortMapError, OSError) as exc:
                log.info("nat: could not delete the mapping of port %d: %s", port, exc)
        self.mappings.clear()

    def info(self, verified: dict[int, object] | None = None) -> list[dict[str, object]]:
        """``verified``: the self-test's verdicts by the external port they checked."""
        shown: list[dict[str, object]] = []
        for port, m in self.mappings.items():
            verdict = (verified or {}).get(m.external_port)
            shown.append({
                "protocol": m.protocol, "gateway": m.gateway, "localport": port,
                "address": m.external_ip, "port": m.external_port, "lifetime": m.lifetime,
                "verified": None if verdict is None
                else bool(verdict.reachable and verdict.host == m.external_ip)})  # fmt: skip
        shown += [{"localport": port, "error": error} for port, error in self.errors.items()]
        return shown
