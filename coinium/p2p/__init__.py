"""The peer-to-peer network over ZeroMQ (docs/PROTOCOL.md, "Peer-to-peer protocol").

Split by job, as Bitcoin Core splits net from net_processing:

    messages   the wire codec: typed frozen messages, canonical bytes, per-type size caps
    transport  Curve keys, peer addresses, socket options, the ZAP handler that enforces bans
    peer       one connection: health, priority send queue, rate limits, reputation
    scoring    the one table that maps each misbehaviour to a penalty
    peerdb     the peers' LMDB environment (peers.lmdb): bans and known addresses
    banlist    bans by key or IP/subnet, persisted
    addrman    known addresses with their scores, backoff and selection
    gossip     the seen-cache and the relay of validated blocks and transactions
    sync       headers-first sync and the parallel block download window
    manager    the PeerManager the node starts and stops: the peer table and its parts
    connections  sockets, per-peer tasks, dialling, closing, eviction
    dispatch   decoding, rate limits, the inbox, the handler table's worker
    handshake  VERSION/VERACK, pings, addresses
    txrelay    transaction inventory, admission from peers, orphans, relay
    blockrelay pushed blocks, serving blocks and headers, relay of new tips
    compact    short ids and rebuilding a block from the mempool (no I/O)
    compactrelay  compact blocks on the wire: sending, rebuilding, the one round trip
    penalties  scores, bans, rewards
    rpcview    what the RPC sees of and does to the peers
"""
