"""``coinium mine``: mine against a node over JSON-RPC with a pool of worker processes (CPU
cores, and GPUs with ``--gpu``)."""

from __future__ import annotations

import logging
import os
import signal
import sys
from pathlib import Path

import click

from coinium.core.params import NETWORKS, NetworkParams
from coinium.crypto.address import AddressError, decode_address
from coinium.mining.gpus import GPU_MODES, Gpu, GpuUnavailable, choose_gpus, parse_devices

DEFAULT_TIMEOUT = 30.0
POLL_TIMEOUT = 5.0


def _all_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _network_of(address: str, network: str | None) -> tuple[NetworkParams, bytes]:
    try:
        prefix, account = decode_address(address)
    except AddressError as exc:
        raise click.BadParameter(str(exc), param_hint="--address") from None
    by_prefix = {p.address_prefix: p for p in NETWORKS.values()}
    if prefix not in by_prefix:
        raise click.BadParameter(f"{prefix!r} is no Coinium network's address prefix",
                                 param_hint="--address")  # fmt: skip
    params = by_prefix[prefix]
    if network is not None and network != params.name:
        raise click.BadParameter(f"a {params.name} address, but --network {network}",
                                 param_hint="--address")  # fmt: skip
    return params, account


def gpu_options(fn):
    """``--gpu[=on|auto|off]`` and ``--gpu-devices``, shared by ``coinium mine`` and ``node``."""
    fn = click.option("--gpu-devices", default=None, metavar="LIST",
                      help="CUDA devices to mine on, e.g. 0,1 [default: every GPU].")(fn)
    return click.option("--gpu", type=click.Choice(GPU_MODES), default="off", is_flag=False,
                        flag_value="on", show_default=True,
                        help="Mine on GPUs too, one worker each: --gpu fails without a usable "
                             "GPU, --gpu=auto then mines on the CPU only.")(fn)  # fmt: skip


def resolve_gpus(mode: str, devices_text: str | None) -> list[Gpu]:
    """The GPUs to mine with; a ClickException (one line, exit 1) when --gpu finds none."""
    try:
        devices = parse_devices(devices_text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--gpu-devices") from None
    if devices is not None and mode == "off":
        raise click.UsageError("--gpu-devices needs --gpu (or --gpu=auto)")
    try:
        gpus, note = choose_gpus(mode, devices)
    except GpuUnavailable as exc:
        raise click.ClickException(f"--gpu: {exc}") from None
    if note is not None:
        click.echo(note, err=True)
    return gpus


def _target(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        value = int(text, 16)
    except ValueError:
        raise click.BadParameter("a hex number", param_hint="--local-target") from None
    if not 0 <= value < 1 << 256:
        raise click.BadParameter("a 256-bit target", param_hint="--local-target")
    return value


@click.command("mine")
@click.option("--rpc", "rpc_url", default=None, metavar="URL",
              help="The node's JSON-RPC URL [default: rpc_bind and rpc_port from coinium.toml, "
                   "else http://127.0.0.1:<the network's port>].")
@click.option("--rpc-cookie", type=click.Path(dir_okay=False), default=None,
              help="The node's cookie file [default: .cookie in the network datadir].")
@click.option("--rpc-user", default=None)
@click.option("--rpc-password", default=None)
@click.option("--datadir", type=click.Path(file_okay=False), default=None,
              help="Base data directory, to find the cookie [default: ~/.coinium].")
@click.option("--network", type=click.Choice(sorted(NETWORKS)), default=None,
              help="The node's network [default: the address's].")
@click.option("--address", required=True, help="Address the coinbase pays.")
@click.option("--processes", type=click.IntRange(0, 1024), default=None,
              help="CPU worker processes [default: every core this process may use, less one "
                   "per GPU, whose worker keeps a core busy driving it].")
@gpu_options
@click.option("--zmq", "zmq_address", default="auto", show_default=True, metavar="ADDRESS",
              help="hashblock publisher: 'auto' (ask the node), an address, or 'off' (poll).")
@click.option("--poll", type=click.FloatRange(0.01), default=0.25, show_default=True,
              help="Seconds between getbestblockhash polls when there is no ZMQ.")
@click.option("--refresh", type=click.FloatRange(0.1), default=5.0, show_default=True,
              help="Seconds between fresh templates (new mempool transactions).")
@click.option("--max-blocks", type=click.IntRange(1), default=None,
              help="Stop after this many accepted blocks.")
@click.option("--interval", type=click.FloatRange(0), default=0.0, show_default=True,
              help="Seconds to pause after each block found (regtest and demos).")
@click.option("--local-target", default=None, metavar="HEX",
              help="Also require hashes at or below this target: regtest at a realistic pace "
                   "(0 finds nothing; for measurements).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per event on stdout.")
@click.option("--stats-interval", type=click.FloatRange(0), default=10.0, show_default=True,
              help="Seconds between hashrate events with --json (0: none).")
@click.option("--log-level", default="warning", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
def mine_command(rpc_url, rpc_cookie, rpc_user, rpc_password, datadir, network, address,
                 processes, gpu, gpu_devices, zmq_address, poll, refresh, max_blocks, interval,
                 local_target, as_json, stats_interval, log_level) -> None:  # fmt: skip
    """Mine with worker processes: work from getblocktemplate, finds to submitblock.

    New tips arrive by the node's ZMQ hashblock publisher (or a short poll); the node going
    away or restarting is waited out with backoff. Ctrl-C stops every worker.
    """
    from coinium.config import ConfigError, default_datadir, rpc_endpoint
    from coinium.mining.engine import Miner, MinerConfig
    from coinium.mining_client.display import JsonSink, LineSink, LiveDisplay
    from coinium.mining_client.node_link import RpcWorkSource, TipWatcher
    from coinium.wallet.keystore import network_datadir
    from coinium.wallet.rpc_client import COOKIE_FILE, RpcClient

    logging.basicConfig(level=log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")  # fmt: skip
    params, account = _network_of(address, network)
    if (rpc_user is None) != (rpc_password is None):
        raise click.UsageError("give both --rpc-user and --rpc-password, or neither")
    if rpc_user is not None and rpc_cookie is not None:
        raise click.UsageError("give --rpc-cookie or --rpc-user/--rpc-password, not both")
    if rpc_url is None:
        try:
            host, port = rpc_endpoint(params.name, datadir, None, None)
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from None
        rpc_url = f"http://{f'[{host}]' if ':' in host else host}:{port}"
    url = rpc_url
    if rpc_user is None and rpc_cookie is None:
        rpc_cookie = network_datadir(datadir or default_datadir(), params) / COOKIE_FILE

    def client(timeout: float) -> RpcClient:
        if rpc_user is not None:
            return RpcClient(url, user=rpc_user, password=rpc_password, timeout=timeout)
        return RpcClient(url, cookie_file=Path(rpc_cookie), timeout=timeout)

    gpus = resolve_gpus(gpu, gpu_devices)
    if processes is None:
        processes = max(0 if gpus else 1, _all_cores() - len(gpus))
    if processes == 0 and not gpus:
        raise click.UsageError("--processes 0 leaves no worker: it needs --gpu")
    config = MinerConfig(
        processes=processes, payout=account, refresh_seconds=refresh,
        interval=interval, max_blocks=max_blocks, local_target=_target(local_target),
        stats_interval=stats_interval if as_json else 0.0,
        gpu_devices=tuple(g.device for g in gpus), gpu_names=tuple(g.name for g in gpus),
    )  # fmt: skip
    miner = Miner(RpcWorkSource(client(DEFAULT_TIMEOUT), params), config)
    live = None
    if as_json:
        miner.on_event = JsonSink()
    elif sys.stdout.isatty():
        live = miner.on_event = LiveDisplay(miner.stats, url)
    else:
        miner.on_event = LineSink()
    watcher = TipWatcher(miner, client(POLL_TIMEOUT),
                         None if zmq_address == "off" else zmq_address, poll,
                         report=miner.report)  # fmt: skip

    def terminate(signum, frame):  # SIGTERM stops as Ctrl-C does
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    try:
        if live is not None:
            live.__enter__()
        miner.start()
        watcher.start()
        while not miner.wait(0.2):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the cleanup
        miner.stop()
        watcher.stop()
        if live is not None:
            live.__exit__(None, None, None)
    if miner.error is not None:
        raise click.ClickException(f"mining stopped: {miner.error}")
