"""The handshake (VERSION, VERACK) and the link's upkeep messages: pings, addresses and the
reachability self-test's CHECKADDR.
"""

from __future__ import annotations

import logging
import random
import time
from typing import TYPE_CHECKING

from coinium.p2p.addrman import KnownAddress
from coinium.p2p.dispatch import Handler
from coinium.p2p.messages import (
    MIN_PROTOCOL_VERSION,
    NODE_NETWORK,
    PROTOCOL_VERSION,
    Addr,
    AddrRecord,
    CheckAddr,
    CheckAddrReply,
    GetAddr,
    MempoolReq,
    Ping,
    Pong,
    Verack,
    Version,
)
from coinium.p2p.peer import Peer, PeerState
from coinium.p2p.scoring import Merit, Misbehaviour
from coinium.p2p.transport import (
    PeerAddress,
    is_ip,
)

if TYPE_CHECKING:
    from coinium.p2p.manager import PeerManager

log = logging.getLogger("coinium.net")


class Handshake:
    """VERSION/VERACK, pings, addresses."""

    def __init__(self, host: PeerManager) -> None:
        self.host = host

    def version_message(self) -> Version:
        return Version(
            protocol=PROTOCOL_VERSION, chain_id=self.host.params.chain_id,
            genesis=self.host.params.genesis_hash, services=NODE_NETWORK,
            timestamp=int(time.time()),
            nonce=self.host.nonce, tip=self.host.tip(),
            listen_port=self.host.port if self.host.router is not None else 0,
            pub_port=self.host.pub_port if self.host.xpub is not None else 0,
            listen_host=self.host.config.externalip[0] if self.host.config.externalip else "",
            user_agent=self.host.config.user_agent,
        )  # fmt: skip

    async def _on_version(self, peer: Peer, msg: Version, channel: str) -> None:
        if peer.version is not None:
            self.host.misbehaving(peer, Misbehaviour.PROTOCOL, "a second VERSION")
            return
        params = self.host.params
        if msg.chain_id != params.chain_id or msg.genesis != params.genesis_hash:
            self.host.misbehaving(peer, Misbehaviour.WRONG_NETWORK,
                                  f"chain id {msg.chain_id:#x}, genesis {msg.genesis.hex()[:16]}")
            return
        if msg.protocol < MIN_PROTOCOL_VERSION:
            self.host.disconnect(peer, f"protocol version {msg.protocol} is too old")
            return
        if peer.key == self.host.public_key or msg.nonce == self.host.nonce:
            if peer.address is not None:
                self.host.addrman.remove(peer.key)
            self.host.disconnect(peer, "connected to ourselves")
            return
        peer.version = msg
        peer.note_tip(msg.tip)
        other = self.host.by_key.get(peer.key)
        if other is not None and other is not peer:
            if other.inbound and peer.inbound:
                self.host.disconnect(other, "superseded by a new connection from the same key")
            else:
                # Both sides dialled each other: both keep the link dialled by the smaller key.
                own = self.host.public_key
                new_dialler = peer.key if peer.inbound else own
                old_dialler = other.key if other.inbound else own
                if new_dialler < old_dialler:
                    self.host.disconnect(other, "duplicate link")
                else:
                    self.host.disconnect(peer, "duplicate link")
                    return
        if peer.inbound and self.host.links.inbound_count() >= self.host.links.max_inbound:
            victim = self.host.links.eviction_candidate()
            if victim is None:
                self.host.disconnect(peer, "inbound slots full")
                return
            self.host.disconnect(victim, "evicted to make room for a new inbound peer")
        self.host.by_key[peer.key] = peer
        if not peer.version_sent:
            self.host.send(peer, self.version_message())
            peer.version_sent = True
        self.host.send(peer, Verack())
        peer.state = PeerState.HANDSHAKE
        if peer.verack_received:
            self._activate(peer)

    async def _on_verack(self, peer: Peer, msg: Verack, channel: str) -> None:
        if peer.verack_received or not peer.version_sent or peer.active:
            self.host.misbehaving(peer, Misbehaviour.PROTOCOL, "an unexpected VERACK")
            return
        peer.verack_received = True
        if peer.version is not None:
            self._activate(peer)

    def _activate(self, peer: Peer) -> None:
        assert peer.version is not None
        peer.state = PeerState.ACTIVE
        version = peer.version
        if peer.inbound:
            if version.listen_port:
                host = version.listen_host if is_ip(version.listen_host) else peer.ip
                if host:
                    address = PeerAddress(peer.key, host, version.listen_port)
                    self.host.addrman.add(address, "inbound")
        else:
            source = "manual" if peer.key in self.host.manual else "gossip"
            self.host.addrman.add(peer.address, source)
        conn = self.host.links.xpub_subs.get(peer.key_hex, False)
        if conn is not False:
            peer.subscribed = True
            peer.xpub_conn = conn  # type: ignore[assignment]
        self.host.links.connect_gossip(peer)
        if not peer.inbound:
            self.host.send(peer, GetAddr())
        self.host.send(peer, MempoolReq())
        for address in self.host.local_addresses() if self.host.config.externalip else ():
            record = AddrRecord(address.key, address.host, address.port, NODE_NETWORK,
                                int(time.time()))  # fmt: skip
            self.host.send(peer, Addr((record,)))
        log.info("peer %d connected: %s %s, %s, height %d", peer.id,
                 "inbound from" if peer.inbound else "outbound to",
                 peer.address or peer.ip, version.user_agent, version.tip.height)  # fmt: skip
        self.maybe_sync(peer)

    def maybe_sync(self, peer: Peer) -> None:
        """Anti-entropy: a peer with more work than our tip has blocks we lack."""
        ours = self.host.tip()
        if peer.tip.work > ours.work and peer.tip.hash not in self.host.blocks.seen:
            self.host.background(self.host.sync.request_headers(peer))

    def ping(self, peer: Peer) -> None:
        if peer.ping.nonce is not None:
            return  # one outstanding ping at a time
        peer.ping.nonce = random.getrandbits(64)
        peer.ping.sent_at = time.monotonic()
        self.host.send(peer, Ping(peer.ping.nonce, self.host.tip()))

    async def _on_ping(self, peer: Peer, msg: Ping, channel: str) -> None:
        self.answer_ping(peer, msg)

    def answer_ping(self, peer: Peer, msg: Ping) -> None:
        self.host.send(peer, Pong(msg.nonce, self.host.tip()))
        peer.note_tip(msg.tip)
        self.maybe_sync(peer)

    async def _on_pong(self, peer: Peer, msg: Pong, channel: str) -> None:
        rtt = peer.ping.answered(msg.nonce, time.monotonic())
        if rtt is None:
            self.host.misbehaving(peer, Misbehaviour.UNREQUESTED, "a pong for no ping")
            return
        self.host.reward(peer, Merit.PONG)
        peer.note_tip(msg.tip)
        self.maybe_sync(peer)

    async def _on_checkaddr(self, peer: Peer, msg: CheckAddr, channel: str) -> None:
        self.host.background(self.host.reachability.serve(peer, msg))  # dialling takes seconds

    async def _on_checkaddrreply(self, peer: Peer, msg: CheckAddrReply, channel: str) -> None:
        if not self.host.reachability.take_reply(peer, msg):
            self.host.misbehaving(peer, Misbehaviour.UNREQUESTED,
                                  "a checkaddrreply for no checkaddr")

    async def _on_getaddr(self, peer: Peer, msg: GetAddr, channel: str) -> None:
        if peer.getaddr_answered:
            return  # once per connection, as bitcoind (a cached answer would do as well)
        peer.getaddr_answered = True

        def exclude(entry: KnownAddress) -> bool:
            return entry.key == peer.key or self.host.bans.is_banned(entry.key.hex()) \
                or not is_ip(entry.host)  # fmt: skip

        records = [AddrRecord(e.key, e.host, e.port, e.services, e.last_seen)
                   for e in self.host.addrman.sample(1000, exclude)]  # fmt: skip
        if records:
            self.host.send(peer, Addr(tuple(records)))

    async def _on_addr(self, peer: Peer, msg: Addr, channel: str) -> None:
        if not peer.addr_records.take(len(msg.records)):
            self.host.misbehaving(peer, Misbehaviour.FLOOD, f"{len(msg.records)} addresses")
            return
        self.host.addrman.add_records(msg.records, self.host.public_key)
        if peer.conn_type == "addr-fetch":
            self.host.disconnect(peer, "addresses fetched")


    def handlers(self) -> dict[type, Handler]:
        return {
            Version: self._on_version, Verack: self._on_verack, Ping: self._on_ping,
            Pong: self._on_pong, GetAddr: self._on_getaddr, Addr: self._on_addr,
            CheckAddr: self._on_checkaddr, CheckAddrReply: self._on_checkaddrreply,
        }
