"""Typed node configuration: flags, then ``coinium.toml``, then defaults, into frozen options.

The config file lives in the base datadir (``~/.coinium/coinium.toml``). Top-level keys apply to
every network; a ``[main]``, ``[test]`` or ``[regtest]`` table overrides them for that network (as
bitcoind's ``[regtest]`` sections do). Keys are the flag names without dashes, with ``_`` or ``-``:

    rpc_port = 19443
    mine = true
    zmqpubhashblock = "tcp://127.0.0.1:28332"
    zmqpubhashblockhwm = 1000
    maxmempool = 300          # MB; mempool policy keys as bitcoind's (coinium.mempool.policy)
    dashboard = true          # the web dashboard, admin panel and /metrics (coinium.web)

Flags given on the command line win over the file. Every value is checked here and a bad one is a
`ConfigError` naming the key; nothing below `node.py` reads the environment or the file.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coinium.core.params import NETWORKS, NetworkParams, get_network
from coinium.crypto.address import AddressError, decode_address
from coinium.mempool import policy as mempool_policy

CONFIG_FILE = "coinium.toml"
ZMQ_TOPICS = ("hashblock", "hashtx", "rawblock", "rawtx", "sequence", "nft", "finalized",
              "contract", "proposal")
DEFAULT_ZMQ_HWM = 1000


class ConfigError(ValueError):
    """A configuration value that cannot be used, with the key and the reason."""


@dataclass(frozen=True, slots=True)
class ZmqPublisher:
    topic: str  # one of ZMQ_TOPICS
    address: str  # e.g. tcp://127.0.0.1:28332
    hwm: int = DEFAULT_ZMQ_HWM


@dataclass(frozen=True, slots=True)
class P2POptions:
    """Peer-to-peer settings (coinium.p2p): bitcoind's flag names where they exist."""

    listen: bool = True  # accept inbound peers (the ROUTER and the gossip XPUB are bound)
    bind: str = "0.0.0.0"  # where they are bound
    pub_port: int = 0  # the gossip port; 0: any free port (told to peers in the handshake)
    connect: tuple[str, ...] = ()  # <key>@host:port: only these peers, no discovery
    addnode: tuple[str, ...] = ()  # <key>@host:port: keep these connected too
    seednode: tuple[str, ...] = ()  # <key>@host:port: ask these for addresses
    externalip: tuple[str, ...] = ()  # addresses to announce to peers
    max_connections: int = 125
    ban_time: int = 86400  # seconds an automatic ban lasts (bitcoind's -bantime)


@dataclass(frozen=True, slots=True)
class DashboardOptions:
    """The web dashboard (coinium.web): off by default, on 127.0.0.1 unless told otherwise."""

    enabled: bool = False
    bind: str = "127.0.0.1"
    port: int = 0  # 0: the network's default (NetworkParams.rpc_port + 1000)


LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


@dataclass(frozen=True, slots=True)
class NodeOptions:
    params: NetworkParams
    base_datadir: Path
    rpc_bind: str
    rpc_port: int
    rpc_auth: tuple[str, ...]  # bitcoind rpcauth lines: "user:salt$hmac"
    rpc_max_request_bytes: int
    p2p_port: int
    mine: bool
    miner_address: str | None
    miner_processes: int
    mine_interval: float  # regtest only: seconds between mined blocks, so a demo chain is readable
    zmq: tuple[ZmqPublisher, ...]
    log_level: str
    print_to_console: bool
    mempool: mempool_policy.MempoolPolicy = mempool_policy.MempoolPolicy()
    persist_mempool: bool = True  # save mempool.dat at shutdown, load it at start
    p2p: P2POptions = P2POptions()
    wallet_kdf: str = "moderate"  # Argon2id cost of wallets createwallet makes (wallet.manager)
    natpmp: bool = False  # map the P2P ports on the gateway with PCP / NAT-PMP (coinium.nat)
    wallets: tuple[str, ...] = ()  # wallets loaded at start (bitcoind's -wallet)
    dashboard: DashboardOptions = DashboardOptions()
    # GPUs the miner uses (--gpu): checked by the command line before the node starts.
    miner_gpu_devices: tuple[int, ...] = ()
    miner_gpu_names: tuple[str, ...] = ()
    validator: str | None = None  # wallet whose voting key signs checkpoint votes

    @property
    def datadir(self) -> Path:
        """The network's own folder (bitcoind keeps main in the base datadir itself)."""
        sub = self.params.data_subdir
        return self.base_datadir / sub if sub else self.base_datadir


def default_datadir() -> Path:
    return Path(os.path.expanduser("~/.coinium"))


def read_config_file(base_datadir: Path, network: str) -> dict[str, Any]:
    """The file's settings for ``network`` (top level, then that network's table)."""
    path = base_datadir / CONFIG_FILE
    if not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    settings = {_norm(k): v for k, v in data.items() if k not in NETWORKS}
    section = data.get(network, {})
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: [{network}] must be a table")
    settings.update({_norm(k): v for k, v in section.items()})
    return settings


def _norm(key: str) -> str:
    return key.replace("-", "_").lower()


_KNOWN = {
    "rpc_bind", "rpc_port", "rpc_auth", "rpc_max_request_bytes", "p2p_port", "mine",
    "miner_address", "miner_processes", "mine_interval", "log_level", "print_to_console",
    "minrelaytxfee", "incrementalrelayfee", "maxmempool", "mempoolexpiry",
    "max_future_per_sender", "max_future_txs", "persistmempool",
    "listen", "bind", "p2p_pub_port", "connect", "addnode", "seednode", "externalip",
    "maxconnections", "bantime", "wallet_kdf", "natpmp", "wallet",
    "dashboard", "dashboard_bind", "dashboard_port", "validator",
} | {f"zmqpub{t}" for t in ZMQ_TOPICS} | {f"zmqpub{t}hwm" for t in ZMQ_TOPICS}  # fmt: skip


def build_options(
    network: str = "main",
    datadir: str | os.PathLike[str] | None = None,
    flags: dict[str, Any] | None = None,
) -> NodeOptions:
    """Merge flags (those not None) over the config file over defaults, and check every value."""
    params = _network(network)
    base = Path(datadir).expanduser() if datadir is not None else default_datadir()
    if base.exists() and not base.is_dir():
        raise ConfigError(f"datadir {base} exists and is not a directory")
    settings = read_config_file(base, params.name)
    unknown = sorted(set(settings) - _KNOWN)
    if unknown:
        raise ConfigError(f"{base / CONFIG_FILE}: unknown setting {unknown[0]!r}")
    for key, value in (flags or {}).items():
        if value is not None and value != ():
            settings[_norm(key)] = value
    return NodeOptions(
        params=params,
        base_datadir=base,
        rpc_bind=_str(settings, "rpc_bind", "127.0.0.1"),
        rpc_port=_port(settings, "rpc_port", params.rpc_port),
        rpc_auth=tuple(_rpcauth_lines(settings)),
        rpc_max_request_bytes=_int(settings, "rpc_max_request_bytes", 32 << 20, 1024, 1 << 30),
        p2p_port=_port(settings, "p2p_port", params.p2p_port),
        mine=_bool(settings, "mine", False),
        miner_address=_miner_address(settings, params),
        miner_processes=_int(settings, "miner_processes", os.cpu_count() or 1, 1, 1024),
        mine_interval=_seconds(settings, "mine_interval", 1.0),
        zmq=tuple(_zmq_publishers(settings)),
        log_level=_choice(settings, "log_level", "info", ("debug", "info", "warning", "error")),
        print_to_console=_bool(settings, "print_to_console", True),
        mempool=_mempool_policy(settings),
        persist_mempool=_bool(settings, "persistmempool", True),
        p2p=_p2p_options(settings),
        wallet_kdf=_wallet_kdf(settings, params),
        natpmp=_bool(settings, "natpmp", False),
        wallets=tuple(_wallet_names(settings)),
        dashboard=DashboardOptions(
            enabled=_bool(settings, "dashboard", False),
            bind=_str(settings, "dashboard_bind", "127.0.0.1"),
            port=_port(settings, "dashboard_port", 0),
        ),
        validator=settings.get("validator") and _str(settings, "validator", ""),
    )


def _wallet_names(settings: dict[str, Any]) -> list[str]:
    names = _str_list(settings, "wallet")
    for name in names:
        if not _WALLET_NAME.fullmatch(name):
            raise ConfigError(f"wallet: {name!r} is not a wallet name (1 to 64 letters, digits, "
                              "'.', '_' or '-', starting with a letter or digit)")  # fmt: skip
    return names


_WALLET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def _wallet_kdf(settings: dict[str, Any], params: NetworkParams) -> str:
    profile = _choice(settings, "wallet_kdf", "moderate", ("moderate", "interactive", "minimum"))
    if profile != "moderate" and params.name == "main":
        raise ConfigError("wallet_kdf: a weaker key derivation than moderate is refused on main")
    return profile


def rpc_endpoint(
    network: str, datadir: str | os.PathLike[str] | None, host: str | None, port: int | None
) -> tuple[str, int]:
    """Where a client (``coinium rpc``, ``wallet``, ``mine``) finds the node's JSON-RPC: its
    flags, else the node's ``coinium.toml`` (``rpc_bind``, ``rpc_port``), else the network's
    default, as bitcoin-cli reads bitcoin.conf. A wildcard bind is reached on 127.0.0.1."""
    options = build_options(network, datadir)
    if host is None:
        host = options.rpc_bind
        if host in ("0.0.0.0", "::", "*", ""):
            host = "127.0.0.1"
    return host, port if port is not None else options.rpc_port


def _p2p_options(settings: dict[str, Any]) -> P2POptions:
    """Peer addresses are ``<64 hex digit Curve key>@host:port`` (getnetworkinfo shows ours)."""
    peers = {}
    for key in ("connect", "addnode", "seednode"):
        peers[key] = tuple(_str_list(settings, key))
        for address in peers[key]:
            if not _PEER_ADDRESS.match(address.strip()):
                raise ConfigError(f"{key}: {address!r} is not a peer address "
                                  "<64 hex digit key>@host:port")  # fmt: skip
    return P2POptions(
        listen=_bool(settings, "listen", True),
        bind=_str(settings, "bind", "0.0.0.0"),
        pub_port=_port(settings, "p2p_pub_port", 0),
        connect=peers["connect"],
        addnode=peers["addnode"],
        seednode=peers["seednode"],
        externalip=tuple(_str_list(settings, "externalip")),
        max_connections=_int(settings, "maxconnections", 125, 0, 10_000),
        ban_time=_int(settings, "bantime", 86400, 1, 10 * 365 * 86400),
    )


_PEER_ADDRESS = re.compile(r"^[0-9a-fA-F]{64}@(\[[^\]]+\]|[^:@\[\]]+):\d{1,5}$")


def _mempool_policy(settings: dict[str, Any]) -> mempool_policy.MempoolPolicy:
    """Fee rates in base units per 1000 bytes, maxmempool in MB, mempoolexpiry in hours."""
    p = mempool_policy
    return p.MempoolPolicy(
        min_relay_fee_rate=_int(settings, "minrelaytxfee", p.DEFAULT_MIN_RELAY_FEE_RATE, 0, 10**8),
        incremental_relay_fee_rate=_int(settings, "incrementalrelayfee",
                                        p.DEFAULT_INCREMENTAL_RELAY_FEE_RATE, 0, 10**8),
        max_bytes=_int(settings, "maxmempool", p.DEFAULT_MAX_MEMPOOL_MB, 5, 1 << 20) * 1_000_000,
        expiry_seconds=_int(settings, "mempoolexpiry", p.DEFAULT_EXPIRY_HOURS, 1, 1 << 20) * 3600,
        max_future_per_sender=_int(settings, "max_future_per_sender",
                                   p.DEFAULT_MAX_FUTURE_PER_SENDER, 0, 1000),
        max_future_txs=_int(settings, "max_future_txs", p.DEFAULT_MAX_FUTURE_TXS, 0, 1 << 20),
    )  # fmt: skip


def _network(name: str) -> NetworkParams:
    try:
        return get_network(name)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _zmq_publishers(settings: dict[str, Any]) -> list[ZmqPublisher]:
    publishers = []
    for topic in ZMQ_TOPICS:
        addresses = _str_list(settings, f"zmqpub{topic}")
        hwm = _int(settings, f"zmqpub{topic}hwm", DEFAULT_ZMQ_HWM, 0, 1 << 31)
        for address in addresses:
            if not _ZMQ_ENDPOINT.match(address):
                raise ConfigError(f"zmqpub{topic}: {address!r} is not a ZeroMQ endpoint "
                                  "(tcp://host:port or ipc://path)")  # fmt: skip
            port = address.rpartition(":")[2]
            if address.startswith("tcp://") and not 1 <= int(port) <= 65535:
                raise ConfigError(f"zmqpub{topic}: port {port} of {address!r} is not 1 to 65535")
            publishers.append(ZmqPublisher(topic, address, hwm))
    return publishers


# tcp://host:port (host a name, an IPv4 address, [IPv6] or *), ipc://path, inproc://name
_ZMQ_ENDPOINT = re.compile(
    r"^(tcp://(\*|\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+):\d{1,5}|(ipc|inproc)://\S+)$"
)


def _miner_address(settings: dict[str, Any], params: NetworkParams) -> str | None:
    """Checked here, so a mistyped address stops the node before anything has started."""
    if settings.get("miner_address") in (None, ""):
        return None
    address = _str(settings, "miner_address", "")
    try:
        decode_address(address, params.address_prefix)
    except AddressError as exc:
        raise ConfigError(f"miner_address: {address!r}: {exc}") from None
    return address


def _rpcauth_lines(settings: dict[str, Any]) -> list[str]:
    """bitcoind's rpcauth format, user:salt$hmac (the HMAC-SHA256 in 64 hex digits)."""
    lines = _str_list(settings, "rpc_auth")
    for line in lines:
        user, _, rest = line.partition(":")
        salt, _, digest = rest.partition("$")
        if not user or not salt or len(digest) != 64 or any(
            c not in "0123456789abcdef" for c in digest.lower()
        ):
            raise ConfigError(f"rpcauth: {line!r} is not user:salt$hash (64 hex digits)")
    return lines


def _str(settings: dict[str, Any], key: str, default: str) -> str:
    value = settings.get(key, default)
    if not isinstance(value, str):
        raise ConfigError(f"{key}: expected text, got {value!r}")
    return value


def _str_list(settings: dict[str, Any], key: str) -> list[str]:
    value = settings.get(key, [])
    values = [value] if isinstance(value, str) else list(value)
    for item in values:
        if not isinstance(item, str):
            raise ConfigError(f"{key}: expected text, got {item!r}")
    return values


def _int(settings: dict[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = settings.get(key, default)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ConfigError(f"{key}: expected a whole number from {low} to {high}, got {value!r}")
    return value


def _port(settings: dict[str, Any], key: str, default: int) -> int:
    return _int(settings, key, default, 0, 65535)


def _seconds(settings: dict[str, Any], key: str, default: float) -> float:
    value = settings.get(key, default)
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{key}: expected a number of seconds, got {value!r}") from None
    if isinstance(value, bool) or not 0 <= seconds <= 3600:
        raise ConfigError(f"{key}: expected 0 to 3600 seconds, got {value!r}")
    return seconds


def _bool(settings: dict[str, Any], key: str, default: bool) -> bool:
    value = settings.get(key, default)
    if isinstance(value, str) and value.lower() in ("1", "true", "yes", "0", "false", "no"):
        value = value.lower() in ("1", "true", "yes")
    if not isinstance(value, bool):
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    return value


def _choice(settings: dict[str, Any], key: str, default: str, allowed: tuple[str, ...]) -> str:
    value = _str(settings, key, default).lower()
    if value not in allowed:
        raise ConfigError(f"{key}: expected one of {', '.join(allowed)}, got {value!r}")
    return value
