"""The ``coinium`` command line: ``node``, ``rpc``, ``wallet``, ``watch``, ``mine``, ``devnet``,
``backup`` and ``restore``."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys

import click

from coinium.config import ZMQ_TOPICS, ConfigError, build_options
from coinium.core.params import NETWORKS
from coinium.mining_client.cli import gpu_options, resolve_gpus

NETWORK_CHOICE = click.Choice(sorted(NETWORKS))


def common_options(fn):
    """--datadir and --network, which every subcommand takes."""
    fn = click.option("--network", type=NETWORK_CHOICE, default="main", show_default=True,
                      help="Which chain: main, test or regtest.")(fn)  # fmt: skip
    fn = click.option("--datadir", type=click.Path(file_okay=False), default=None,
                      help="Base data directory [default: ~/.coinium].")(fn)  # fmt: skip
    return fn


def zmq_options(fn):
    for topic in reversed(ZMQ_TOPICS):
        fn = click.option(f"--zmqpub{topic}hwm", type=int, default=None, metavar="N",
                          help=f"High-water mark of the {topic} publisher.")(fn)  # fmt: skip
        fn = click.option(f"--zmqpub{topic}", multiple=True, metavar="ADDRESS",
                          help=f"Publish {topic} notifications on ADDRESS.")(fn)  # fmt: skip
    return fn


class CoiniumGroup(click.Group):
    """Every bad flag is one ``Error:`` line naming it and exit status 1, as bitcoind exits on a
    bad argument (click's usage errors would exit 2)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            exc.exit_code = 1
            raise

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            exc.exit_code = 1
            raise


@click.group(cls=CoiniumGroup)
@click.version_option(package_name="coinium")
def main() -> None:
    """Coinium: a BLAKE3 proof-of-work node with compiled hot paths."""


@main.command()
@common_options
@click.option("--rpc-bind", default=None, help="Address the JSON-RPC server listens on.")
@click.option("--rpc-port", type=int, default=None, help="JSON-RPC port.")
@click.option("--rpcauth", "rpc_auth", multiple=True,
              help="bitcoind-style rpcauth line user:salt$hash (may repeat).")
@click.option("--p2p-port", type=int, default=None, help="Peer-to-peer port.")
@click.option("--mine/--no-mine", default=None, help="Mine on this node's tip.")
@click.option("--miner-address", default=None, help="Address the mined coins go to.")
@click.option("--miner-processes", type=int, default=None, help="Mining processes.")
@click.option("--mine-interval", type=float, default=None,
              help="Regtest: seconds between mined blocks [default: 1].")
@gpu_options
@zmq_options
@click.option("--minrelaytxfee", type=int, default=None, metavar="UNITS",
              help="Min relay fee rate, base units per 1000 bytes [default: 1000].")
@click.option("--incrementalrelayfee", type=int, default=None, metavar="UNITS",
              help="Fee rate a replacement or eviction adds, units per 1000 bytes "
                   "[default: 1000].")
@click.option("--maxmempool", type=int, default=None, metavar="MB",
              help="Mempool size limit in MB [default: 300].")
@click.option("--mempoolexpiry", type=int, default=None, metavar="HOURS",
              help="Drop mempool transactions older than this [default: 336].")
@click.option("--max-future-per-sender", type=int, default=None, metavar="N",
              help="Transactions held per sender for a nonce gap [default: 25].")
@click.option("--max-future-txs", type=int, default=None, metavar="N",
              help="Transactions held for nonce gaps in all [default: 5000].")
@click.option("--persistmempool/--no-persistmempool", default=None,
              help="Save the mempool at shutdown and load it at start [default: on].")
@click.option("--connect", multiple=True, metavar="KEY@HOST:PORT",
              help="Connect only to this peer (may repeat); turns discovery off.")
@click.option("--addnode", multiple=True, metavar="KEY@HOST:PORT",
              help="Keep this peer connected, besides the others (may repeat).")
@click.option("--seednode", multiple=True, metavar="KEY@HOST:PORT",
              help="Ask this peer for addresses (may repeat).")
@click.option("--listen/--nolisten", default=None, help="Accept inbound peers [default: on].")
@click.option("--bind", default=None, help="Address the P2P sockets listen on [default: 0.0.0.0].")
@click.option("--p2p-pub-port", type=int, default=None,
              help="Gossip (PUB) port [default: any free port, told to peers].")
@click.option("--externalip", multiple=True, help="Address to announce to peers (may repeat).")
@click.option("--maxconnections", type=int, default=None, help="Most peers at once [default: 125].")
@click.option("--bantime", type=int, default=None,
              help="Seconds a misbehaving peer stays banned [default: 86400].")
@click.option("--natpmp/--no-natpmp", default=None,
              help="Map the P2P ports on the gateway with PCP, else NAT-PMP [default: off].")
@click.option("--wallet", "wallet", multiple=True, metavar="NAME",
              help="Load this wallet at start (may repeat; createwallet/loadwallet "
                   "load_on_startup keep a list too).")
@click.option("--wallet-kdf", default=None, metavar="PROFILE",
              help="Argon2id cost of wallets createwallet makes: moderate, interactive or "
                   "minimum (tests; not on main) [default: moderate].")
@click.option("--dashboard/--no-dashboard", default=None,
              help="Serve the web dashboard, admin panel and /metrics [default: off].")
@click.option("--dashboard-bind", default=None,
              help="Dashboard address [default: 127.0.0.1]; another needs a dashboard user.")
@click.option("--dashboard-port", type=int, default=None,
              help="Dashboard port [default: the RPC port + 1000].")
@click.option("--log-level", default=None, help="debug, info, warning or error.")
@click.option("--validator", default=None, metavar="WALLET",
              help="Vote on checkpoints with this wallet's voting key (passphrase from "
                   "COINIUM_WALLET_PASSPHRASE or asked).")
def node(datadir, network, gpu, gpu_devices, **flags) -> None:
    """Run a node: the chain in LMDB, JSON-RPC, ZMQ notifications and an optional miner."""
    from coinium.logsetup import configure_logging
    from coinium.node import Node
    from coinium.preflight import StartupError
    from coinium.store.chainstore import StoreError

    try:
        options = build_options(network, datadir, flags)
        if gpu != "off" and not options.mine:
            raise click.UsageError("--gpu needs --mine")
        gpus = resolve_gpus(gpu, gpu_devices)  # before a regtest wallet is made for the miner
        if options.mine and options.miner_address is None:
            options = _with_new_miner_address(options)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if gpus:
        processes = options.miner_processes
        if flags.get("miner_processes") is None:  # the default: leave each GPU's driver a core
            processes = max(1, processes - len(gpus))
        options = dataclasses.replace(
            options, miner_processes=processes, miner_gpu_devices=tuple(g.device for g in gpus),
            miner_gpu_names=tuple(g.name for g in gpus))  # fmt: skip
    configure_logging(options.datadir, options.log_level, options.print_to_console)
    running = Node(options)
    try:
        asyncio.run(running.run())
    except (StoreError, StartupError, ConfigError) as exc:  # ConfigError: a dashboard, no login
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"cannot start the node: {exc}") from None
    if running.disk_full:
        raise click.ClickException(f"stopped: disk space is too low in {options.datadir}")


def _with_new_miner_address(options):
    """``--mine`` without an address: on regtest, mine to a new wallet's address and print it."""
    if options.params.name != "regtest":
        raise ConfigError("--mine needs --miner-address (only regtest creates one for you)")
    from coinium.wallet.miner_wallet import regtest_miner_address

    address, generated = regtest_miner_address(options.datadir, options.params)
    click.echo(f"mining to {address} (wallet 'miner' in {options.datadir / 'wallets'})")
    if generated:
        click.echo(f"wallet 'miner' was created with passphrase {generated} "
                   "(set COINIUM_WALLET_PASSPHRASE to choose your own)")  # fmt: skip
    return dataclasses.replace(options, miner_address=address)


@main.command(context_settings={"ignore_unknown_options": True})
@common_options
@click.option("--rpc-port", type=click.IntRange(1, 65535), default=None,
              help="JSON-RPC port of the node [default: rpc_port in coinium.toml, else the "
                   "network's].")
@click.option("--rpc-host", default=None,
              help="[default: rpc_bind in coinium.toml, else 127.0.0.1]")
@click.option("--rpc-user", default=None)
@click.option("--rpc-password", default=None)
@click.argument("method")
@click.argument("args", nargs=-1)
def rpc(datadir, network, rpc_port, rpc_host, rpc_user, rpc_password, method, args) -> None:
    """Call a JSON-RPC METHOD on a running node (like bitcoin-cli).

    Each ARG is read as JSON when it parses (numbers, true/false, arrays, objects), else taken
    as a string, so `coinium rpc getblockhash 0` and `coinium rpc getblock HASH 2` both work.
    Options go before METHOD; what follows it is passed on, so negative numbers work as ARGs.
    """
    from coinium.config import default_datadir, rpc_endpoint
    from coinium.core.params import get_network
    from coinium.wallet.keystore import network_datadir
    from coinium.wallet.rpc_client import RpcClient, RpcClientError, RpcError

    if method.startswith("-"):  # unknown options are let through only for the ARGs after METHOD
        raise click.NoSuchOption(method.partition("=")[0])
    params = get_network(network)
    try:
        host, port = rpc_endpoint(network, datadir, rpc_host, rpc_port)
        client = RpcClient.for_node(
            network_datadir(datadir or default_datadir(), params),
            port, host=host, user=rpc_user, password=rpc_password,
        )  # fmt: skip
        result = client.call(method, *[_parse_arg(a) for a in args])
    except RpcError as exc:
        click.echo(f"error code: {exc.code}\nerror message:\n{exc.message}", err=True)
        sys.exit(1)
    except (RpcClientError, ValueError) as exc:  # ConfigError is a ValueError
        raise click.ClickException(str(exc)) from None
    if isinstance(result, str):
        click.echo(result)
    elif result is not None:
        click.echo(json.dumps(result, indent=2, default=_json_number))


def _json_number(value):
    """The client parses fractional numbers as Decimal (exact amounts); print them as numbers."""
    from decimal import Decimal

    if isinstance(value, Decimal):
        return float(value) if value != value.to_integral_value() else int(value)
    raise TypeError(f"cannot print {type(value).__name__}")


def _parse_arg(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return text


def _register_subcommands() -> None:
    from coinium.backup_cli import backup_command, restore_command
    from coinium.devnet import devnet_command
    from coinium.mining_client.cli import mine_command
    from coinium.notify.watch import watch_command
    from coinium.wallet.cli import wallet_group
    from coinium.wallet.light_client import verify_proof_command
    from coinium.web.cli import dashboard_group

    main.add_command(mine_command, "mine")
    main.add_command(wallet_group, "wallet")
    main.add_command(watch_command, "watch")
    main.add_command(devnet_command, "devnet")
    main.add_command(backup_command, "backup")
    main.add_command(restore_command, "restore")
    main.add_command(dashboard_group, "dashboard")
    main.add_command(verify_proof_command, "verify-proof")
    from coinium.wallet.nft_cli import verifynft_command  # also adds `wallet nft`

    main.add_command(verifynft_command, "verifynft")


_register_subcommands()

if __name__ == "__main__":
    main()
