"""``coinium wallet`` staking commands; every one signs with the wallet's first key (its
receiving address, which is also its validator id):

    coinium wallet validator register NAME BOND [--commission BP] [--vote-funds COINS]
    coinium wallet stake NAME AMOUNT               (bond more to the wallet's own validator)
    coinium wallet delegate NAME VALIDATOR AMOUNT
    coinium wallet unbond NAME VALIDATOR AMOUNT
    coinium wallet withdraw NAME VALIDATOR         (rewards, commission, matured unbondings)

``validator register`` adds a key labelled ``voting`` to the wallet (the key
`coinium node --validator NAME` signs votes with), registers it, and sends it ``--vote-funds``
for vote fees. Each command prints the txid(s); the node's refusal (-26 and the reason, such as
``bad-stake-amount``) ends it with status 1.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from coinium.core.staking import transactions as stx
from coinium.core.transaction import Transaction, sign_transfer
from coinium.crypto.address import decode_address
from coinium.crypto.keys import PrivateKey
from coinium.wallet import keystore
from coinium.wallet.cli import (
    DEFAULT_FEE,
    _account_id,
    _amount,
    _broadcast,
    _load,
    _network_options,
    _passphrase,
    _pending_nonce,
    _rpc_options,
    _unlock,
    _user_errors,
    _wallet_and_node,
    wallet_group,
)  # fmt: skip

VOTING_LABEL = "voting"
Build = Callable[[PrivateKey, int, int], list[Transaction]]  # (key, chain id, nonce) -> txs


def _submit(name: str, conn: dict[str, Any], build: Build) -> None:
    """Sign ``build``'s transactions with wallet NAME's first key, from its next nonce, and send
    them; ``conn``: the command's --datadir, --network and --rpc-* options."""
    params, wallet, client = _wallet_and_node(name, **conn)
    nonce = _pending_nonce(client, wallet.receiving_address)
    for tx in build(_unlock(wallet), params.chain_id, nonce):
        click.echo(_broadcast(client, tx))


def _validator_id(text: str, network: str) -> bytes:
    from coinium.core.params import get_network

    return _account_id(text, get_network(network).address_prefix, "validator address")


_fee = click.option("--fee", default=DEFAULT_FEE, show_default=True, help="Fee in coins.")


@wallet_group.group("validator")
def validator_group() -> None:
    """Run a validator: register the wallet's first key with a voting key."""


@validator_group.command("register")
@click.argument("name")
@click.argument("bond")
@click.option("--commission", type=click.IntRange(0, 10_000), default=1_000, show_default=True,
              help="Share of the stake's rewards kept before delegators', in basis points.")
@click.option("--vote-funds", default="1", show_default=True,
              help="Coins sent to the voting key for vote fees.")
@_fee
@_network_options
@_rpc_options
@_user_errors
def register_cmd(name, bond, commission, vote_funds, fee, **conn) -> None:
    """Register wallet NAME's first key as a validator bonding BOND coins."""
    params, ndir, wallet = _load(conn["datadir"], conn["network"], name)
    voting = next((k for k in wallet.keys if k.label == VOTING_LABEL), None)
    if voting is None:
        _, voting = keystore.add_key(ndir, params, name,
                                     _passphrase(f"Passphrase for wallet {name!r}"),
                                     label=VOTING_LABEL)  # fmt: skip
    bond_units, fee_units = _amount(bond, "bond"), _amount(fee, "fee")
    funds = _amount(vote_funds, "vote funds")

    def build(key: PrivateKey, chain_id: int, nonce: int) -> list[Transaction]:
        voter = decode_address(voting.address, params.address_prefix)[1]
        txs = [stx.register_validator(key, chain_id, voting.public_key, commission, bond_units,
                                      fee_units, nonce)]  # fmt: skip
        if funds:
            txs.append(sign_transfer(key, chain_id, voter, funds, fee_units, nonce + 1))
        return txs

    _submit(name, conn, build)


@wallet_group.command("stake")
@click.argument("name")
@click.argument("amount")
@_fee
@_network_options
@_rpc_options
@_user_errors
def stake_cmd(name, amount, fee, **conn) -> None:
    """Bond AMOUNT more coins to wallet NAME's own validator."""
    units, fee_units = _amount(amount, "amount"), _amount(fee, "fee")
    _submit(name, conn, lambda key, cid, nonce: [stx.bond(key, cid, units, fee_units, nonce)])


@wallet_group.command("delegate")
@click.argument("name")
@click.argument("validator")
@click.argument("amount")
@_fee
@_network_options
@_rpc_options
@_user_errors
def delegate_cmd(name, validator, amount, fee, **conn) -> None:
    """Delegate AMOUNT coins of wallet NAME to the validator at address VALIDATOR."""
    target = _validator_id(validator, conn["network"])
    units, fee_units = _amount(amount, "amount"), _amount(fee, "fee")
    _submit(name, conn,
            lambda key, cid, nonce: [stx.delegate(key, cid, target, units, fee_units, nonce)])


@wallet_group.command("unbond")
@click.argument("name")
@click.argument("validator")
@click.argument("amount")
@_fee
@_network_options
@_rpc_options
@_user_errors
def unbond_cmd(name, validator, amount, fee, **conn) -> None:
    """Unbond AMOUNT coins of wallet NAME's stake with VALIDATOR (withdrawable after the
    unbonding period)."""
    target = _validator_id(validator, conn["network"])
    units, fee_units = _amount(amount, "amount"), _amount(fee, "fee")
    _submit(name, conn,
            lambda key, cid, nonce: [stx.unbond(key, cid, target, units, fee_units, nonce)])


@wallet_group.command("withdraw")
@click.argument("name")
@click.argument("validator")
@_fee
@_network_options
@_rpc_options
@_user_errors
def withdraw_cmd(name, validator, fee, **conn) -> None:
    """Collect wallet NAME's rewards and matured unbondings from VALIDATOR."""
    target = _validator_id(validator, conn["network"])
    fee_units = _amount(fee, "fee")
    _submit(name, conn, lambda key, cid, nonce: [stx.withdraw(key, cid, target, fee_units, nonce)])
