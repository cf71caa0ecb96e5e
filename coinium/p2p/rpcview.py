"""What the RPC (getpeerinfo, getnetworkinfo, getnettotals, addnode, disconnectnode, setban,
listbanned, clearbanned, ping) and the dashboard see of the peer-to-peer layer, and may do to it."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from coinium.p2p.banlist import Ban, ban_subject
from coinium.p2p.connections import ManualPeer
from coinium.p2p.messages import (
    NODE_NETWORK,
    PROTOCOL_VERSION,
)
from coinium.p2p.peer import Peer
from coinium.p2p.reachability import Verdict
from coinium.p2p.transport import (
    PeerAddress,
)

if TYPE_CHECKING:
    from coinium.p2p.manager import PeerManager

log = logging.getLogger("coinium.net")

SERVICE_NAMES = {NODE_NETWORK: "NETWORK"}


class PeerView:
    """Read the peer table; add, drop and ban peers on an operator's request."""

    def __init__(self, host: PeerManager) -> None:
        self.host = host

    def peer_info(self) -> list[dict[str, Any]]:
        now = time.monotonic()
        return [self._describe(peer, now) for peer in sorted(self.host.peers.values(), key=_by_id)
                if peer.active]  # fmt: skip

    def _describe(self, peer: Peer, now: float) -> dict[str, Any]:
        version = peer.version
        services = version.services if version else 0
        if peer.router_conn is not None:
            host, port = peer.router_conn.peername[:2]
            addr = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        elif peer.address is not None:
            addr = peer.address.hostport
        else:
            addr = peer.ip
        info: dict[str, Any] = {
            "id": peer.id,
            "addr": addr,
            "network": "ipv6" if ":" in peer.ip else "ipv4",
            "services": f"{services:016x}",
            "servicesnames": [n for bit, n in SERVICE_NAMES.items() if services & bit],
            "relaytxes": True,
            "lastsend": peer.stats.last_send,
            "lastrecv": peer.stats.last_recv,
            "last_transaction": peer.stats.last_transaction,
            "last_block": peer.stats.last_block,
            "bytessent": peer.stats.bytes_sent,
            "bytesrecv": peer.stats.bytes_recv,
            "conntime": peer.stats.conn_time,
            "timeoffset": (version.timestamp - peer.stats.conn_time) if version else 0,
        }
        if peer.ping.last_rtt is not None:
            info["pingtime"] = round(peer.ping.last_rtt, 6)
            info["minping"] = round(peer.ping.min_rtt or 0.0, 6)
        if peer.ping.nonce is not None:
            info["pingwait"] = round(now - peer.ping.sent_at, 6)
        listen = None
        if peer.address is not None:
            listen = str(peer.address)
        elif version is not None and version.listen_port:
            host = version.listen_host or peer.ip
            listen = str(PeerAddress(peer.key, host, version.listen_port))
        info.update({
            "version": version.protocol if version else 0,
            "subver": version.user_agent if version else "",
            "inbound": peer.inbound,
            "startingheight": version.tip.height if version else -1,
            "synced_headers": peer.best_known_height,
            "synced_blocks": peer.tip.height,
            "inflight": sorted(self.host.sync.headers[h].header.height for h in peer.in_flight
                               if h in self.host.sync.headers),
            "addr_relay_enabled": True,
            "permissions": [],
            "bytessent_per_msg": dict(peer.stats.sent_per_msg),
            "bytesrecv_per_msg": dict(peer.stats.recv_per_msg),
            "connection_type": peer.conn_type,
            "transport_protocol_type": "curvezmq",
            "session_id": "",
            # Coinium's own fields:
            "key": peer.key_hex,
            "peeraddress": listen,
            "score": round(peer.score(now), 3),
            "gossip_in": peer.gossip_connected,  # we subscribe to its gossip socket
            "gossip_out": "pub" if peer.subscribed else "request-link",
            "sendqueue": len(peer.queue),
        })  # fmt: skip
        return info

    def network_info(self) -> dict[str, Any]:
        active = self.host.active_peers()
        inbound = sum(1 for p in active if p.inbound)
        return {
            "protocolversion": PROTOCOL_VERSION,
            "subversion": self.host.config.user_agent,
            "localservices": f"{NODE_NETWORK:016x}",
            "localservicesnames": ["NETWORK"],
            "localrelay": True,
            "connections": len(active),
            "connections_in": inbound,
            "connections_out": len(active) - inbound,
            "networkactive": True,
            "networks": [
                {"name": name, "limited": False, "reachable": True, "proxy": "",
                 "proxy_randomize_credentials": False} for name in ("ipv4", "ipv6")
            ],  # fmt: skip
            "localaddresses": [
                {"address": str(a), "host": a.host, "port": a.port, "score": 1,
                 "reachable": self._verified(a.host, a.port)}
                for a in self.host.local_addresses()
            ],  # fmt: skip
            "key": self.host.public_key.hex(),
            "listening": self.host.router is not None,
            "gossipport": self.host.pub_port,
            "banned": len(self.host.bans),
            "knownaddresses": len(self.host.addrman),
            "warnings": [],
        }

    def added_nodes(self) -> list[tuple[ManualPeer, Peer | None]]:
        """The addnode peers, each with its link if connected (getaddednodeinfo)."""
        connected = {peer.key: peer for peer in self.host.active_peers()}
        return [(manual, connected.get(key)) for key, manual in self.host.manual.items()]

    def reachability_verdicts(self) -> dict[int, Verdict]:
        """What peers dialling us back found, by port (getnetworkinfo's natmappings)."""
        return self.host.reachability.verdicts

    def _verified(self, host: str, port: int) -> bool | None:
        """What a peer dialling host:port back found (None: not checked)."""
        verdict = self.host.reachability.verdicts.get(port)
        return verdict.reachable if verdict is not None and verdict.host == host else None

    def traffic_totals(self) -> tuple[int, int]:
        """(bytes received, bytes sent) over every peer since start (getnettotals)."""
        peers = list(self.host.peers.values())
        return (self.host.closed_traffic[0] + sum(p.stats.bytes_recv for p in peers),
                self.host.closed_traffic[1] + sum(p.stats.bytes_sent for p in peers))  # fmt: skip

    def connection_count(self) -> int:
        return len(self.host.active_peers())

    def add_node(self, text: str, command: str) -> None:
        """``addnode``: add/remove a persistent manual peer, or dial one once."""
        address = PeerAddress.parse(text)
        if command == "add":
            if address.key in self.host.manual and self.host.manual[address.key].persistent:
                raise KeyError("already added")
            self.host.manual[address.key] = ManualPeer(address)
            self.host.addrman.add(address, "manual")
            self.host.addrman.reset_backoff(address.key)
        elif command == "remove":
            if address.key not in self.host.manual:
                raise LookupError("not added")
            del self.host.manual[address.key]
        elif command == "onetry":
            self.host.addrman.reset_backoff(address.key)
            self.host.links.connect(address, "manual")
        else:
            raise ValueError(command)

    def disconnect_node(self, address: str | None = None, peer_id: int | None = None) -> bool:
        for peer in list(self.host.peers.values()):
            if peer_id is not None and peer.id != peer_id:
                continue
            if address is not None and not _names_peer(peer, address):
                continue
            self.host.disconnect(peer, "disconnected by request")
            return True
        return False

    def set_ban(self, subject: str, command: str, ban_time: int = 0,
                absolute: bool = False) -> Ban | None:  # fmt: skip
        if command == "remove":
            if not self.host.bans.unban(subject):
                raise LookupError("not banned")
            return None
        canonical = ban_subject(subject)
        if any(b.subject == canonical for b in self.host.bans.entries()):
            raise KeyError("already banned")
        if absolute:
            ban = self.host.bans.ban(canonical, until=ban_time)
        else:
            ban = self.host.bans.ban(canonical, ban_time or self.host.config.ban_time)
        for peer in list(self.host.peers.values()):
            if self.host.bans.is_banned(peer.key_hex, peer.ip):
                self.host.disconnect(peer, "banned by request")
        return ban

    def list_banned(self) -> list[Ban]:
        return self.host.bans.entries()

    def clear_banned(self) -> None:
        self.host.bans.clear()

    def ping_all(self) -> None:
        for peer in self.host.active_peers():
            self.host.handshake.ping(peer)



def _by_id(peer: Peer) -> int:
    return peer.id


def _names_peer(peer: Peer, text: str) -> bool:
    text = text.strip()
    if text == peer.key_hex:
        return True
    if peer.address is not None and text in (str(peer.address), peer.address.hostport):
        return True
    if peer.router_conn is not None:
        host, port = peer.router_conn.peername[:2]
        if text in (f"{host}:{port}", f"[{host}]:{port}"):
            return True
    return False
