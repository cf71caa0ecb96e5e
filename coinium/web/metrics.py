"""Prometheus metrics for ``/metrics``: ``coinium_`` names, base units, no per-address or per-peer
labels (the only labels are the RPC method name, from the fixed method table, and a governance
proposal's status, from the fixed list of statuses).

Counters and histograms are fed as things happen: the node's connect timers (blocks connected,
connect time), the chain listener interface (disconnects and reorgs), the RPC server's call timers
(requests and durations per method). Gauges are read when scraped, from one chain-thread call, so
they describe one chain.

Later parts add their gauges through `Metrics.add_gauge` (or `add_labeled_gauge`, for a label
with a fixed set of values) rather than by editing the scrape: the finalized and justified heights
(read as getblockchaininfo reads them) and the proposal counts by status are registered so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE  # noqa: F401 (re-exported)
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

from coinium.core.block import Block
from coinium.rpc.methods.blockchain import best_header
from coinium.rpc.methods.mining import DEFAULT_HASHPS_BLOCKS, network_hashps
from coinium.rpc.methods.staking import finality_fields
from coinium.web.chain_view import proposal_counts

CONNECT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
RPC_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30)


class Metrics:
    """One registry per node (not prometheus_client's global one): tests run many nodes."""

    def __init__(self, node: Any):
        self.node = node
        self.registry = CollectorRegistry()
        r = self.registry
        self.tip_height = Gauge("coinium_tip_height", "Height of the best fully-validated block",
                                registry=r)  # fmt: skip
        self.headers = Gauge("coinium_headers", "Height of the best known valid header",
                             registry=r)  # fmt: skip
        self.difficulty = Gauge("coinium_difficulty", "Tip difficulty (1 = the network's easiest "
                                "target)", registry=r)  # fmt: skip
        self.network_hashrate = Gauge(
            "coinium_network_hashrate_hashes_per_second",
            f"Network hash rate over the last {DEFAULT_HASHPS_BLOCKS} blocks (getnetworkhashps)",
            registry=r)  # fmt: skip
        self.local_hashrate = Gauge("coinium_local_hashrate_hashes_per_second",
                                    "This node's miner hash rate (0 when not mining)",
                                    registry=r)  # fmt: skip
        self.mempool_txs = Gauge("coinium_mempool_transactions", "Transactions in the mempool",
                                 registry=r)  # fmt: skip
        self.mempool_bytes = Gauge("coinium_mempool_bytes",
                                   "Serialized size of the mempool's transactions", registry=r)
        self.peers = Gauge("coinium_peers", "Connected peers", registry=r)
        self.bans = Gauge("coinium_bans", "Banned keys, addresses and subnets", registry=r)
        self.live_clients = Gauge("coinium_dashboard_live_clients",
                                  "Browsers connected for live updates", registry=r)
        self.live_shed = Gauge("coinium_dashboard_live_clients_shed",
                               "Live clients dropped for being too slow, since start", registry=r)
        self.blocks_connected = Counter("coinium_blocks_connected",
                                        "Blocks connected to the main chain", registry=r)
        self.blocks_disconnected = Counter("coinium_blocks_disconnected",
                                           "Blocks disconnected by reorgs or invalidateblock",
                                           registry=r)  # fmt: skip
        self.reorgs = Counter("coinium_reorgs", "Tip changes that disconnected blocks", registry=r)
        self.connect_seconds = Histogram("coinium_block_connect_seconds",
                                         "Chain time to validate and connect one block",
                                         buckets=CONNECT_BUCKETS, registry=r)  # fmt: skip
        self.rpc_requests = Counter("coinium_rpc_requests", "JSON-RPC calls, by method",
                                    ["method"], registry=r)  # fmt: skip
        self.rpc_seconds = Histogram("coinium_rpc_request_duration_seconds",
                                     "JSON-RPC call durations, by method", ["method"],
                                     buckets=RPC_BUCKETS, registry=r)  # fmt: skip
        self._extra = _ReadGauges()
        self.registry.register(self._extra)
        self._disconnected_since_tip = 0
        self.add_gauge("coinium_finalized_height", "Height of the last finalized checkpoint "
                       "(0: genesis, until stake finalizes one)",
                       lambda chain: finality_fields(chain)["finalizedheight"])  # fmt: skip
        self.add_gauge("coinium_justified_height", "Height of the last justified checkpoint",
                       lambda chain: finality_fields(chain)["justifiedheight"])  # fmt: skip
        self.add_labeled_gauge("coinium_governance_proposals", "Governance proposals, by status",
                               "status", proposal_counts)  # fmt: skip

    # --- extension hook -----------------------------------------------------------------------
    def add_gauge(self, name: str, documentation: str,
                  read: Callable[[Any], float | None]) -> None:  # fmt: skip
        """A gauge read at each scrape by ``read(chain)`` on the chain thread; None leaves it
        out of that scrape (a plain Gauge would say 0). How later parts add theirs (staking:
        finalized and justified heights)."""
        self._extra.gauges.append((name, documentation, read))

    def add_labeled_gauge(self, name: str, documentation: str, label: str,
                          read: Callable[[Any], dict[str, float] | None]) -> None:  # fmt: skip
        """As `add_gauge`, one sample per ``{label: value}`` that ``read(chain)`` returns; the
        label's values must come from a fixed set (never an address or a peer)."""
        self._extra.gauges.append((name, documentation, read))
        self._extra.labels[name] = label

    # --- fed as things happen -----------------------------------------------------------------
    def block_timed(self, blocks: int, seconds: float) -> None:
        """The node's connect timer: ``blocks`` connected in ``seconds`` of chain time."""
        for _ in range(blocks):
            self.connect_seconds.observe(seconds / blocks)

    def rpc_timed(self, method: str, seconds: float) -> None:
        self.rpc_requests.labels(method).inc()
        self.rpc_seconds.labels(method).observe(seconds)

    def block_connected(self, block: Block) -> None:
        self.blocks_connected.inc()

    def block_disconnected(self, block: Block) -> None:
        self.blocks_disconnected.inc()
        self._disconnected_since_tip += 1

    def tip_updated(self, tip: Block) -> None:
        if self._disconnected_since_tip:
            self.reorgs.inc()
            self._disconnected_since_tip = 0

    # --- read at scrape -----------------------------------------------------------------------
    async def scrape(self, live_clients: int, live_shed: int) -> bytes:
        node = self.node
        extra_reads = [read for _, _, read in self._extra.gauges]

        def read(chain: Any) -> tuple[Any, ...]:
            tip = chain.tip
            extra = [fn(chain) for fn in extra_reads]
            return (chain.height, best_header(chain).height, tip.header.bits,
                    network_hashps(chain, DEFAULT_HASHPS_BLOCKS, -1), extra)  # fmt: skip

        height, headers, bits, hashps, extra = await node.chain_call(read, node.chain)
        from coinium.rpc.shapes import difficulty

        self.tip_height.set(height)
        self.headers.set(headers)
        self.difficulty.set(difficulty(bits, node.params))
        self.network_hashrate.set(hashps)
        self.local_hashrate.set(node.miner.hashrate if node.miner is not None else 0.0)
        self.mempool_txs.set(len(node.mempool))
        self.mempool_bytes.set(node.mempool.total_bytes)
        p2p = node.p2p
        self.peers.set(p2p.view.connection_count() if p2p is not None else 0)
        self.bans.set(len(p2p.view.list_banned()) if p2p is not None else 0)
        self.live_clients.set(live_clients)
        self.live_shed.set(live_shed)
        self._extra.values = extra
        return generate_latest(self.registry)


class _ReadGauges:
    """The `Metrics.add_gauge` gauges: yields those whose last read gave a value."""

    def __init__(self) -> None:
        self.gauges: list[tuple[str, str, Callable[[Any], Any]]] = []
        self.labels: dict[str, str] = {}  # gauge name -> its label, for the labeled ones
        self.values: list[Any] = []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        for (name, documentation, _), value in zip(self.gauges, self.values, strict=False):
            if value is None:
                continue
            label = self.labels.get(name)
            if label is None:
                yield GaugeMetricFamily(name, documentation, value=value)
                continue
            family = GaugeMetricFamily(name, documentation, labels=[label])
            for label_value, sample in value.items():
                family.add_metric([label_value], sample)
            yield family
