"""``coinium wallet contract``: upload, instantiate, execute and migrate contracts from a wallet
key (signed transactions, gas estimated by the node first), and read-only queries.

    coinium wallet contract upload NAME FILE.wasm [--from ADDRESS] [--fee COINS]
    coinium wallet contract instantiate NAME CODE_HASH [--msg HEX] [--coins C] [--admin ADDR]
    coinium wallet contract execute NAME CONTRACT [--msg HEX] [--coins COINS]
    coinium wallet contract migrate NAME CONTRACT CODE_HASH [--msg HEX]
    coinium wallet contract query CONTRACT [--msg HEX]

Before signing, the transaction is run by the node's ``estimategas`` with the largest gas
limit; a call that would fail is not sent (``--force`` sends it anyway: it would pay its fee for
nothing). The gas limit is the estimate plus a margin, and the fee at least the minimum for it.
Prints the txid (and for instantiate the new contract's address).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from coinium.contracts import builders, limits
from coinium.contracts.records import code_hash as hash_of_code
from coinium.contracts.records import contract_id
from coinium.core.units import format_amount
from coinium.crypto.address import encode_address
from coinium.wallet.cli import (
    DEFAULT_FEE,
    _account_id,
    _amount,
    _broadcast,
    _client,
    _load,
    _network_options,
    _pending_nonce,
    _place,
    _rpc_options,
    _unlock,
    _user_errors,
    _wallet_and_node,
    wallet_group,  # fmt: skip
)
from coinium.wallet.keystore import WalletError
from coinium.wallet.rpc_client import RpcError

GAS_MARGIN_PERCENT = 20  # estimates are exact on the tip's state; the margin covers a new tip


@wallet_group.group("contract")
def contract_group() -> None:
    """Smart contracts: upload code, instantiate, execute, migrate, query."""


def _hex(text: str, what: str) -> bytes:
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise click.ClickException(f"{what} must be hex") from None


def _send(name: str, from_address: str | None, fee: str, force: bool, build: Any, conn: dict
          ) -> tuple[str, int]:  # fmt: skip
    """Estimate, sign and send ``build(key, gas, fee, nonce)``; (txid, nonce)."""
    params, wallet, client = _wallet_and_node(name, **conn)
    sender = from_address or wallet.addresses[0]
    if sender not in wallet.addresses:
        raise WalletError(f"address {sender} is not in wallet {name!r}")
    nonce = _pending_nonce(client, sender)
    key = _unlock(wallet, sender)
    trial = build(key, limits.MAX_TX_GAS, limits.min_fee(limits.MAX_TX_GAS), nonce)
    try:
        estimate = client.call("estimategas", trial.raw.hex())
    except RpcError as exc:
        raise click.ClickException(f"the node cannot run it: {exc}") from None
    if not estimate.get("ok") and not force:
        raise click.ClickException(f"it would fail: {estimate.get('reason')} "
                                   f"{estimate.get('result', '')} (not sent; --force sends it)")
    gas = min(limits.MAX_TX_GAS, estimate["gas_used"] * (100 + GAS_MARGIN_PERCENT) // 100)
    fee_units = max(_amount(fee, "fee"), limits.min_fee(gas))
    tx = build(key, gas, fee_units, nonce)
    del key
    txid = _broadcast(client, tx)
    click.echo(f"{txid} (gas limit {gas}, fee {format_amount(fee_units)})", err=True)
    return txid, nonce


def _signing_options(f: Any) -> Any:
    for option in (
        click.option("--force", is_flag=True, help="Send even if the estimate says it fails."),
        click.option("--fee", default=DEFAULT_FEE, show_default=True,
                     help="Fee in coins (raised to the minimum for the gas if lower)."),
        click.option("--from", "from_address", default=None, help="Sign with this address."),
    ):  # fmt: skip
        f = option(f)
    return _network_options(_rpc_options(_user_errors(f)))


@contract_group.command("upload")
@click.argument("name")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_signing_options
def upload_cmd(name: str, file: Path, from_address: str | None, fee: str, force: bool,
               **conn: Any) -> None:  # fmt: skip
    """Upload the Wasm code in FILE; prints the txid and the code hash."""
    code = file.read_bytes()
    params, _ = _place(conn["datadir"], conn["network"])
    txid, _ = _send(name, from_address, fee, force, lambda key, gas, fee_units, nonce:
                    builders.upload(key, params.chain_id, code, gas=gas, fee=fee_units,
                                    nonce=nonce), conn)  # fmt: skip
    click.echo(f"{txid} {hash_of_code(code).hex()}")


@contract_group.command("instantiate")
@click.argument("name")
@click.argument("code_hash")
@click.option("--msg", default="", help="The init message (hex).")
@click.option("--coins", default="0", help="Coins to attach.")
@click.option("--admin", default=None, help="An address that may migrate it.")
@_signing_options
def instantiate_cmd(name: str, code_hash: str, msg: str, coins: str, admin: str | None,
                    from_address: str | None, fee: str, force: bool, **conn: Any) -> None:
    """Create a contract from uploaded code; prints the txid and the contract's address."""
    params, _ = _place(conn["datadir"], conn["network"])
    digest = _hex(code_hash, "code hash")
    if len(digest) != 32:
        raise click.ClickException("a code hash is 32 bytes (64 hex digits)")
    admin_id = _account_id(admin, params.address_prefix, "admin") if admin else None
    message, units = _hex(msg, "msg"), _amount(coins, "coins")
    txid, nonce = _send(name, from_address, fee, force, lambda key, gas, fee_units, nonce:
                        builders.instantiate(key, params.chain_id, digest, message, gas=gas,
                                             fee=fee_units, nonce=nonce, coins=units,
                                             admin=admin_id), conn)  # fmt: skip
    _, _, wallet = _load(conn["datadir"], conn["network"], name)
    sender = _account_id(from_address or wallet.addresses[0], params.address_prefix, "address")
    click.echo(f"{txid} {encode_address(params.address_prefix, contract_id(sender, nonce))}")


@contract_group.command("execute")
@click.argument("name")
@click.argument("contract")
@click.option("--msg", default="", help="The message (hex).")
@click.option("--coins", default="0", help="Coins to attach.")
@_signing_options
def execute_cmd(name: str, contract: str, msg: str, coins: str, from_address: str | None,
                fee: str, force: bool, **conn: Any) -> None:  # fmt: skip
    """Call CONTRACT's execute entry point; prints the txid."""
    params, _ = _place(conn["datadir"], conn["network"])
    target = _account_id(contract, params.address_prefix, "contract")
    message, units = _hex(msg, "msg"), _amount(coins, "coins")
    txid, _ = _send(name, from_address, fee, force, lambda key, gas, fee_units, nonce:
                    builders.execute(key, params.chain_id, target, message, gas=gas,
                                     fee=fee_units, nonce=nonce, coins=units), conn)  # fmt: skip
    click.echo(txid)


@contract_group.command("migrate")
@click.argument("name")
@click.argument("contract")
@click.argument("code_hash")
@click.option("--msg", default="", help="The migrate message (hex).")
@_signing_options
def migrate_cmd(name: str, contract: str, code_hash: str, msg: str, from_address: str | None,
                fee: str, force: bool, **conn: Any) -> None:  # fmt: skip
    """Move CONTRACT (you are its admin) to the code CODE_HASH; prints the txid."""
    params, _ = _place(conn["datadir"], conn["network"])
    target = _account_id(contract, params.address_prefix, "contract")
    digest, message = _hex(code_hash, "code hash"), _hex(msg, "msg")
    txid, _ = _send(name, from_address, fee, force, lambda key, gas, fee_units, nonce:
                    builders.migrate(key, params.chain_id, target, digest, message, gas=gas,
                                     fee=fee_units, nonce=nonce), conn)  # fmt: skip
    click.echo(txid)


@contract_group.command("query")
@click.argument("contract")
@click.option("--msg", default="", help="The query message (hex).")
@_network_options
@_rpc_options
@_user_errors
def query_cmd(contract: str, msg: str, **conn: Any) -> None:
    """Call CONTRACT's read-only query entry point (free); prints the result as hex."""
    params, ndir = _place(conn["datadir"], conn["network"])
    client = _client(ndir, params, conn["rpc_host"], conn["rpc_port"], conn["rpc_user"],
                     conn["rpc_password"])  # fmt: skip
    try:
        reply = client.call("callcontract", contract, msg)
    except RpcError as exc:
        raise click.ClickException(str(exc)) from None
    if not reply.get("ok"):
        message = bytes.fromhex(reply.get("result", "")).decode(errors="replace")
        raise click.ClickException(f"the query failed: {reply.get('reason')} {message}")
    click.echo(reply["result"])
