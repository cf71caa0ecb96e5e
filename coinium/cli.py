"""The ``coinium`` command line: ``node``, ``rpc``, ``wallet``, ``watch`` and ``mine``."""

from __future__ import annotations

import asyncio
import json
import sys

import click

from coinium.config import ZMQ_TOPICS, ConfigError, build_options
from coinium.core.params import NETWORKS

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


@click.group()
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
@click.option("--log-level", default=None, help="debug, info, warning or error.")
@click.option("--validator", default=None, metavar="WALLET",
              help="Vote on checkpoints with this wallet's voting key (passphrase from "
                   "COINIUM_WALLET_PASSPHRASE or asked).")
def node(datadir, network, **flags) -> None:
    """Run a node: the chain in LMDB, JSON-RPC, ZMQ notifications and an optional miner."""
    from coinium.logsetup import configure_logging
    from coinium.node import Node
    from coinium.store.chainstore import StoreError

    try:
        options = build_options(network, datadir, flags)
        if options.mine and options.miner_address is None:
            options = _with_new_miner_address(options)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    configure_logging(options.datadir, options.log_level, options.print_to_console)
    try:
        asyncio.run(Node(options).run())
    except (StoreError, ConfigError) as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"cannot start the node: {exc}") from None


def _with_new_miner_address(options):
    """``--mine`` without an address: on regtest, mine to a new wallet's address and print it."""
    import dataclasses

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
@click.option("--rpc-port", type=int, default=None, help="JSON-RPC port of the node.")
@click.option("--rpc-host", default="127.0.0.1", show_default=True)
@click.option("--rpc-user", default=None)
@click.option("--rpc-password", default=None)
@click.argument("method")
@click.argument("args", nargs=-1)
def rpc(datadir, network, rpc_port, rpc_host, rpc_user, rpc_password, method, args) -> None:
    """Call a JSON-RPC METHOD on a running node (like bitcoin-cli).

    Each ARG is read as JSON when it parses (numbers, true/false, arrays, objects), else taken
    as a string, so `coinium rpc getblockhash 0` and `coinium rpc getblock HASH 2` both work.
    """
    from coinium.config import default_datadir
    from coinium.core.params import get_network
    from coinium.wallet.keystore import network_datadir
    from coinium.wallet.rpc_client import RpcClient, RpcClientError, RpcError

    params = get_network(network)
    try:
        client = RpcClient.for_node(
            network_datadir(datadir or default_datadir(), params),
            rpc_port or params.rpc_port, host=rpc_host, user=rpc_user, password=rpc_password,
        )  # fmt: skip
        result = client.call(method, *[_parse_arg(a) for a in args])
    except RpcError as exc:
        click.echo(f"error code: {exc.code}\nerror message:\n{exc.message}", err=True)
        sys.exit(1)
    except (RpcClientError, ValueError) as exc:
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
    from coinium.devnet import devnet_command
    from coinium.mining_client.cli import mine_command
    from coinium.notify.watch import watch_command
    from coinium.wallet.cli import wallet_group
    from coinium.wallet.light_client import verify_proof_command

    main.add_command(mine_command, "mine")
    main.add_command(wallet_group, "wallet")
    main.add_command(watch_command, "watch")
    main.add_command(devnet_command, "devnet")
    main.add_command(verify_proof_command, "verify-proof")


_register_subcommands()

if __name__ == "__main__":
    main()
