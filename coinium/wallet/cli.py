"""``coinium wallet``: create and use passphrase-protected wallets.

    coinium wallet create NAME [--label TEXT]
    coinium wallet list
    coinium wallet address NAME [--new [--label TEXT]] [--all]
    coinium wallet balance NAME
    coinium wallet send NAME TO AMOUNT [--fee COINS] [--from ADDRESS] [--memo TEXT]
    coinium wallet history NAME [--count N] [--skip N]
    coinium wallet rebroadcast NAME

Sends the node accepted stay in ``<name>.outbox`` beside the wallet until a block holds them, and
are handed to the node again by every ``send``, ``balance`` and ``rebroadcast``
(`coinium.wallet.outbox`): a send whose txid was printed survives a node killed before it saved
its mempool.

Every command takes ``--datadir`` (base datadir, default ~/.coinium) and ``--network``
(main|test|regtest); those that talk to the node also take ``--rpc-host``, ``--rpc-port``
(default: the network's) and ``--rpc-user``/``--rpc-password`` (default: the node's cookie).
The passphrase is read from ``COINIUM_WALLET_PASSPHRASE`` when that is set, else prompted for
(hidden, on the terminal's stderr so stdout stays clean for scripts). Any error ends the command
with one line on stderr and exit status 1.

Amounts are decimal coins (``1.5``, ``0.00000001``), exact to the base unit. The default fee is
0.0001 coin (10,000 base units). An account-model transaction spends from one address, so
``send`` picks the first wallet key whose confirmed balance covers amount + fee (or ``--from``).

Node RPC methods used: ``getaccount`` (balance_units, nonce, pending_nonce), ``sendrawtransaction``,
``listtransactions``, ``getblockchaininfo`` (``chain``, to refuse a node of another network).
"""

from __future__ import annotations

import datetime
import functools
import os
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TypeVar

import click

from coinium.config import ConfigError, default_datadir, rpc_endpoint
from coinium.core.params import MAIN, NETWORKS, NetworkParams, get_network
from coinium.core.transaction import MAX_MEMO_SIZE, Transaction, sign_transfer
from coinium.core.units import format_amount, parse_amount
from coinium.crypto.address import AddressError, decode_address
from coinium.crypto.keys import PrivateKey
from coinium.wallet import hd, keystore, outbox
from coinium.wallet.keystore import Wallet, WalletError, WalletNotFoundError
from coinium.wallet.rpc_client import RpcClient, RpcClientError, RpcError

PASSPHRASE_ENV = "COINIUM_WALLET_PASSPHRASE"
DEFAULT_FEE = "0.0001"  # coins: 10_000 base units
RPC_TIMEOUT = 60.0  # seconds: wallet calls are quick; a hung node should not hang the user

F = TypeVar("F", bound=Callable[..., Any])


# --- shared options ---------------------------------------------------------------------------
def _network_options(f: F) -> F:
    f = click.option(
        "--network",
        type=click.Choice(tuple(NETWORKS)),
        default="main",
        show_default=True,
        help="Which network's wallets (test and regtest live in their datadir subfolder).",
    )(f)
    return click.option(
        "--datadir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Base data directory (default ~/.coinium).",
    )(f)


def _rpc_options(f: F) -> F:
    for option in (
        click.option("--rpc-password", default=None, help="RPC password (default: the cookie)."),
        click.option("--rpc-user", default=None, help="RPC user (default: the node's cookie)."),
        click.option(
            "--rpc-port",
            type=click.IntRange(1, 65535),
            default=None,
            help="Node RPC port [default: rpc_port in coinium.toml, else the network's].",
        ),
        click.option("--rpc-host", default=None,
                     help="Node RPC host [default: rpc_bind in coinium.toml, else 127.0.0.1]."),
    ):
        f = option(f)
    return f


def _user_errors(f: F) -> F:
    """Turn the errors a user can cause into one line and exit status 1, without a traceback."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return f(*args, **kwargs)
        except (WalletError, RpcClientError, AddressError, ConfigError) as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper  # type: ignore[return-value]


def _place(datadir: Path | None, network: str) -> tuple[NetworkParams, Path]:
    params = get_network(network)
    base = datadir if datadir is not None else default_datadir()
    return params, keystore.network_datadir(base, params)


def _load(datadir: Path | None, network: str, name: str) -> tuple[NetworkParams, Path, Wallet]:
    params, ndir = _place(datadir, network)
    try:
        return params, ndir, keystore.load_wallet(ndir, params, name)
    except WalletNotFoundError as exc:
        base = datadir if datadir is not None else default_datadir()
        elsewhere = [
            other.name
            for other in NETWORKS.values()
            if other is not params
            and keystore.wallet_path(keystore.network_datadir(base, other), name).exists()
        ]
        hint = f"; there is one on {', '.join(elsewhere)} (--network)" if elsewhere else ""
        raise WalletError(f"{exc}{hint}") from None


def _passphrase(prompt: str, *, confirm: bool = False) -> str:
    value = os.environ.get(PASSPHRASE_ENV)
    if value is not None:
        return value
    return click.prompt(prompt, hide_input=True, confirmation_prompt=confirm, err=True)


def _client(
    ndir: Path,
    params: NetworkParams,
    host: str | None,
    port: int | None,
    user: str | None,
    password: str | None,
) -> RpcClient:
    if (user is None) != (password is None):
        raise click.UsageError("give both --rpc-user and --rpc-password, or neither (cookie)")
    base = ndir.parent if params.data_subdir else ndir
    host, port = rpc_endpoint(params.name, base, host, port)
    return RpcClient.for_node(
        ndir, port, host=host, user=user, password=password, timeout=RPC_TIMEOUT
    )


def _wallet_and_node(name: str, datadir: Path | None, network: str, rpc_host: str | None,
                     rpc_port: int | None, rpc_user: str | None, rpc_password: str | None
                     ) -> tuple[NetworkParams, Wallet, RpcClient]:  # fmt: skip
    """Wallet NAME and a client of the node of its network (the commands' --rpc-* options)."""
    params, ndir, wallet = _load(datadir, network, name)
    return params, wallet, _client(ndir, params, rpc_host, rpc_port, rpc_user, rpc_password)


def _account_id(text: str, prefix: str, what: str = "address") -> bytes:
    """The account id an address of this network names; a clear error naming ``what`` if not."""
    try:
        return decode_address(text.strip(), prefix)[1]
    except AddressError as exc:
        raise click.ClickException(f"invalid {what} {text!r}: {exc}") from None


def _amount(text: str, what: str) -> int:
    try:
        return parse_amount(text)
    except ValueError as exc:
        raise click.ClickException(f"invalid {what}: {exc}") from None


def _units_field(reply: Any, key: str, method: str) -> int:
    value = reply.get(key) if isinstance(reply, dict) else None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise RpcClientError(f"the node's {method} reply has no usable {key!r}")
    return value


def _pending_nonce(client: RpcClient, address: str) -> int:
    """The nonce the address's next transaction takes (the node counts its mempool in)."""
    return _units_field(client.call("getaccount", address), "pending_nonce", "getaccount")


def _unlock(wallet: Wallet, address: str | None = None) -> PrivateKey:
    """The key of ``address`` (the receiving key when None), asking for the passphrase."""
    passphrase = _passphrase(f"Passphrase for wallet {wallet.name!r}")
    return keystore.unlock_key(wallet, passphrase, address)


def _broadcast(client: RpcClient, tx: Transaction) -> str:
    """Hand a signed transaction to the node; its txid. A refusal ends the command."""
    try:
        return client.call("sendrawtransaction", tx.raw.hex())
    except RpcError as exc:
        raise click.ClickException(f"the node refused the transaction: {exc}") from None


def _coins(value: Any) -> str:
    """An RPC coin amount (JSON number, exact as Decimal) as a fixed 8-decimal string."""
    if value is None:
        return ""
    try:
        return f"{Decimal(str(value)):.8f}"
    except InvalidOperation:
        return str(value)


# --- commands ---------------------------------------------------------------------------------
@click.group("wallet")
def wallet_group() -> None:
    """Wallets: keys encrypted with a passphrase in <datadir>/wallets/."""


@wallet_group.command("create")
@click.argument("name")
@click.option("--label", default="", help="A label for the first key.")
@click.option("--kdf-opslimit", type=int, default=keystore.DEFAULT_OPSLIMIT, hidden=True)
@click.option("--kdf-memlimit", type=int, default=keystore.DEFAULT_MEMLIMIT, hidden=True)
@_network_options
@_user_errors
def create_cmd(
    name: str, label: str, kdf_opslimit: int, kdf_memlimit: int, datadir: Path | None, network: str
) -> None:
    """Create wallet NAME with a new key, encrypted with a passphrase."""
    params, ndir = _place(datadir, network)
    keystore.check_wallet_name(name)
    path = keystore.wallet_path(ndir, name)
    if path.exists():  # before asking for a passphrase
        raise WalletError(f"a wallet named {name!r} already exists on {params.name}: {path}")
    # The --kdf-* options exist so tests and demos run fast; real coins keep a strong KDF.
    if params is MAIN and (
        kdf_opslimit < keystore.DEFAULT_OPSLIMIT or kdf_memlimit < keystore.DEFAULT_MEMLIMIT
    ):
        raise WalletError("a weaker key derivation than the default is refused on main")
    passphrase = _passphrase(f"Passphrase for the new wallet {name!r}", confirm=True)
    if not passphrase:
        raise WalletError("a wallet needs a passphrase: an empty one is refused")
    weaknesses = keystore.passphrase_weaknesses(passphrase)
    if weaknesses:
        click.echo(
            f"Warning: weak passphrase: {'; '.join(weaknesses)}. Anyone who copies the "
            "wallet file can try guesses against it offline.",
            err=True,
        )
    # Deterministic (coinium.wallet.hd): every later address derives from the wallet's seed, so
    # this file, backed up once, restores them all.
    wallet = hd.create_hd_wallet(
        ndir, params, name, passphrase, label=label, opslimit=kdf_opslimit, memlimit=kdf_memlimit
    )
    del passphrase
    click.echo(f"Created wallet {name!r} on {params.name}: {wallet.path}")
    click.echo(f"Receiving address: {wallet.receiving_address}")


@wallet_group.command("list")
@_network_options
@_user_errors
def list_cmd(datadir: Path | None, network: str) -> None:
    """List the wallets of a network with their receiving addresses."""
    params, ndir = _place(datadir, network)
    names = keystore.list_wallets(ndir)
    if not names:
        click.echo(f"No wallets on {params.name} in {keystore.wallets_dir(ndir)}.", err=True)
        return
    width = max(len(n) for n in names)
    for name in names:
        try:
            wallet = keystore.load_wallet(ndir, params, name)
        except WalletError as exc:  # one bad file must not hide the others
            click.echo(f"Warning: {exc}", err=True)
            continue
        keys = len(wallet.keys)
        created = _utc(wallet.created)
        click.echo(
            f"{name:<{width}}  {wallet.receiving_address}  "
            f"{keys} key{'s' if keys != 1 else ''}  created {created}"
        )


@wallet_group.command("address")
@click.argument("name")
@click.option("--new", "new_key", is_flag=True, help="Create a new key and print its address.")
@click.option("--label", default="", help="A label for the new key (with --new).")
@click.option("--all", "show_all", is_flag=True, help="Print every address of the wallet.")
@_network_options
@_user_errors
def address_cmd(
    name: str, new_key: bool, label: str, show_all: bool, datadir: Path | None, network: str
) -> None:
    """Print wallet NAME's receiving address (its first key's)."""
    params, ndir, wallet = _load(datadir, network, name)
    if new_key:
        passphrase = _passphrase(f"Passphrase for wallet {name!r}")
        wallet, key = keystore.add_key(ndir, params, name, passphrase, label=label)
        del passphrase
        click.echo(key.address)
        click.echo("Back up the wallet file again: older backups lack this key.", err=True)
    elif show_all:
        for key in wallet.keys:
            click.echo(f"{key.address}  {key.label}".rstrip())
    else:
        click.echo(wallet.receiving_address)


@wallet_group.command("balance")
@click.argument("name")
@_network_options
@_rpc_options
@_user_errors
def balance_cmd(
    name: str,
    datadir: Path | None,
    network: str,
    rpc_host: str,
    rpc_port: int | None,
    rpc_user: str | None,
    rpc_password: str | None,
) -> None:
    """Print wallet NAME's balance (confirmed; pending too when it differs)."""
    _, wallet, client = _wallet_and_node(name, datadir, network, rpc_host, rpc_port, rpc_user,
                                         rpc_password)  # fmt: skip
    _resubmit(wallet, client)
    accounts = [client.call("getaccount", a) for a in wallet.addresses]
    confirmed = sum(_units_field(acc, "balance_units", "getaccount") for acc in accounts)
    click.echo(f"confirmed: {format_amount(confirmed)}")
    pending = _pending_units(accounts)
    if pending is not None and pending != confirmed:
        click.echo(f"pending:   {format_amount(pending)}")
    elif pending is None:
        unconfirmed = sum(
            max(
                0,
                _units_field(acc, "pending_nonce", "getaccount")
                - _units_field(acc, "nonce", "getaccount"),
            )
            for acc in accounts
        )
        if unconfirmed:
            click.echo(f"pending:   {unconfirmed} sent transaction(s) not yet in a block")
    if len(accounts) > 1:
        for address, acc in zip(wallet.addresses, accounts, strict=True):
            units = _units_field(acc, "balance_units", "getaccount")
            click.echo(f"  {address}  {format_amount(units)}")


def _pending_units(accounts: list[Any]) -> int | None:
    """The balance counting the mempool, when the node reports one (else None)."""
    total = 0
    for acc in accounts:
        if isinstance(acc.get("pending_balance_units"), int):
            total += acc["pending_balance_units"]
        elif acc.get("pending_balance") is not None:
            try:
                total += parse_amount(_coins(acc["pending_balance"]))
            except ValueError:
                return None
        else:
            return None
    return total


@wallet_group.command("send")
@click.argument("name")
@click.argument("to")
@click.argument("amount")
@click.option("--fee", default=DEFAULT_FEE, show_default=True, help="Fee in coins.")
@click.option(
    "--from",
    "from_address",
    default=None,
    help="Spend from this wallet address (default: the first that can pay).",
)
@click.option(
    "--memo",
    default="",
    help=f"A note stored in the transaction (UTF-8, at most {MAX_MEMO_SIZE} bytes, public).",
)
@_network_options
@_rpc_options
@_user_errors
def send_cmd(
    name: str,
    to: str,
    amount: str,
    fee: str,
    from_address: str | None,
    memo: str,
    datadir: Path | None,
    network: str,
    rpc_host: str,
    rpc_port: int | None,
    rpc_user: str | None,
    rpc_password: str | None,
) -> None:
    """Send AMOUNT coins from wallet NAME to address TO; prints the txid."""
    params, ndir, wallet = _load(datadir, network, name)
    units = _amount(amount, "amount")
    if units == 0:
        raise click.ClickException("invalid amount: it must be more than zero")
    fee_units = _amount(fee, "fee")
    recipient = _account_id(to, params.address_prefix, "recipient address")
    memo_bytes = memo.encode("utf-8")
    if len(memo_bytes) > MAX_MEMO_SIZE:
        raise click.ClickException(
            f"the memo is {len(memo_bytes)} bytes, at most {MAX_MEMO_SIZE} fit"
        )
    if from_address is not None and from_address not in wallet.addresses:
        raise WalletError(f"address {from_address} is not in wallet {name!r}")

    client = _client(ndir, params, rpc_host, rpc_port, rpc_user, rpc_password)
    info = client.call("getblockchaininfo")
    chain = info.get("chain") if isinstance(info, dict) else None
    if chain in NETWORKS and chain != params.name:
        raise WalletError(
            f"the node at {client.url} runs {chain}, wallet {name!r} is for {params.name}"
        )
    _resubmit(wallet, client)  # a lost earlier send first: its nonce is not free
    need = units + fee_units
    candidates = [from_address] if from_address is not None else list(wallet.addresses)
    sender, nonce, richest = None, 0, 0
    for address in candidates:
        acc = client.call("getaccount", address)
        balance = _units_field(acc, "balance_units", "getaccount")
        if balance >= need:
            sender = address
            nonce = _units_field(acc, "pending_nonce", "getaccount")
            break
        richest = max(richest, balance)
    if sender is None:
        where = "the address" if len(candidates) == 1 else "no single address of the wallet"
        raise WalletError(
            f"insufficient funds: {format_amount(need)} needed (amount + fee), {where} holds "
            f"{format_amount(richest)}"
            + ("" if len(candidates) == 1 else " (a transaction spends from one address)")
        )

    tx = sign_transfer(_unlock(wallet, sender), params.chain_id, recipient, units, fee_units,
                       nonce, memo_bytes)  # fmt: skip
    txid = _broadcast(client, tx)
    try:
        outbox.record(outbox.outbox_path(wallet.path), sender, tx)
    except OSError as exc:  # sent all the same: say so, with the txid
        click.echo(f"warning: cannot keep the send for rebroadcast: {exc.strerror}", err=True)
    click.echo(txid)


def _resubmit(wallet: Wallet, client: RpcClient) -> outbox.Resubmitted:
    result = outbox.resubmit(outbox.outbox_path(wallet.path), client.call)
    for line in result.refused:
        click.echo(f"warning: the node refused an earlier send again: {line}", err=True)
    return result


@wallet_group.command("rebroadcast")
@click.argument("name")
@_network_options
@_rpc_options
@_user_errors
def rebroadcast_cmd(
    name: str,
    datadir: Path | None,
    network: str,
    rpc_host: str,
    rpc_port: int | None,
    rpc_user: str | None,
    rpc_password: str | None,
) -> None:
    """Hand wallet NAME's sends that no block holds yet to the node again."""
    _, wallet, client = _wallet_and_node(name, datadir, network, rpc_host, rpc_port, rpc_user,
                                         rpc_password)  # fmt: skip
    result = _resubmit(wallet, client)
    click.echo(f"resent {result.resent}, confirmed {result.confirmed}, "
               f"refused {len(result.refused)}")  # fmt: skip


@wallet_group.command("history")
@click.argument("name")
@click.option(
    "--count",
    type=click.IntRange(1, 10_000),
    default=20,
    show_default=True,
    help="How many of the latest transactions.",
)
@click.option(
    "--skip",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="Skip this many of the latest first.",
)
@_network_options
@_rpc_options
@_user_errors
def history_cmd(
    name: str,
    count: int,
    skip: int,
    datadir: Path | None,
    network: str,
    rpc_host: str,
    rpc_port: int | None,
    rpc_user: str | None,
    rpc_password: str | None,
) -> None:
    """Print wallet NAME's latest transactions.

    Shown oldest first, as bitcoin-cli's listtransactions; --skip skips the newest.
    """
    from rich.console import Console
    from rich.table import Table

    _, wallet, client = _wallet_and_node(name, datadir, network, rpc_host, rpc_port, rpc_user,
                                         rpc_password)  # fmt: skip
    rows: list[tuple[str, dict[str, Any]]] = []
    for address in wallet.addresses:
        entries = client.call("listtransactions", address, count + skip, 0)
        if not isinstance(entries, list):
            raise RpcClientError("the node's listtransactions reply is not a list")
        rows.extend((address, e) for e in entries if isinstance(e, dict))
    # Newest first to apply --skip/--count across every address, then shown oldest first.
    rows.sort(key=lambda r: (_int(r[1].get("confirmations")), -_int(r[1].get("time"))))
    rows = list(reversed(rows[skip : skip + count]))
    if not rows:
        click.echo("No transactions.")
        return
    table = Table(box=None, header_style="bold")
    for column in ("time (UTC)", "category", "amount", "fee", "counterparty", "confs", "txid"):
        table.add_column(
            column,
            justify="right" if column in ("amount", "fee", "confs") else "left",
            no_wrap=column == "txid",
        )
    if len(wallet.keys) > 1:
        table.add_column("wallet address")
    for address, e in rows:
        cells = [
            _utc(e["time"]) if isinstance(e.get("time"), int) else "",
            str(e.get("category", "")),
            _coins(e.get("amount")),
            _coins(e.get("fee")),
            str(e.get("address") or ""),
            str(e.get("confirmations", "")),
            str(e.get("txid", "")),
        ]
        table.add_row(*cells, *([address] if len(wallet.keys) > 1 else []))
    console = Console()
    if not console.is_terminal:  # piped: do not squeeze the txids into 80 columns
        console = Console(width=250)
    console.print(table)


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _utc(timestamp: int) -> str:
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")


__all__ = ["DEFAULT_FEE", "PASSPHRASE_ENV", "wallet_group"]

# The staking commands (stake, delegate, unbond, withdraw, validator register), the governance
# ones (propose, deposit, vote) and the contract commands live in their own modules and join the
# group here, once every name they import from this one exists.
from coinium.wallet import contract_cli, governance_cli, staking_cli  # noqa: E402, F401
