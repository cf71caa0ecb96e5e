"""``coinium wallet`` governance commands; each signs with the wallet's first key:

    coinium wallet propose NAME --set PARAM=VALUE [--set ...] --title TEXT
                           [--description TEXT] --deposit COINS
    coinium wallet deposit NAME PROPOSAL AMOUNT
    coinium wallet vote NAME PROPOSAL yes|no|abstain|veto [--validator ADDRESS]

``propose`` commits to the description by its BLAKE3 hash (the text itself is published
elsewhere, as a Cosmos proposal's metadata link). ``vote`` votes as the wallet's own validator
by default; with ``--validator`` it votes the wallet's delegation to that validator, overriding
the validator's vote for that stake. Each prints the txid; the node's refusal (-26 and the reason,
such as ``bad-gov-param-step``) ends it with status 1.
"""

from __future__ import annotations

import click

from coinium.core.governance import table
from coinium.core.governance import transactions as gtx
from coinium.core.governance.records import MAX_TITLE, OPTION_NAMES
from coinium.crypto.hashes import blake3_256
from coinium.wallet.cli import (
    DEFAULT_FEE,
    _amount,
    _network_options,
    _rpc_options,
    _user_errors,
    wallet_group,
)  # fmt: skip
from coinium.wallet.staking_cli import _fee, _submit, _validator_id


def _changes(settings: tuple[str, ...]) -> list[tuple[int, int]]:
    changes = []
    for setting in settings:
        name, sep, text = setting.partition("=")
        spec = table.BY_NAME.get(name.strip())
        if not sep or spec is None:
            raise click.UsageError(f"--set {setting!r}: PARAM=VALUE with PARAM one of "
                                   f"{', '.join(table.BY_NAME)}")  # fmt: skip
        try:
            value = int(text)
        except ValueError:
            raise click.UsageError(f"--set {setting!r}: the value is an integer") from None
        if not spec.min <= value <= spec.max:
            raise click.UsageError(f"{name} must lie in [{spec.min}, {spec.max}]")
        changes.append((spec.number, value))
    if not changes:
        raise click.UsageError("a proposal sets at least one parameter (--set PARAM=VALUE)")
    return changes


@wallet_group.command("propose")
@click.argument("name")
@click.option("--set", "settings", multiple=True, metavar="PARAM=VALUE",
              help="A parameter and its new value (repeatable; see getconsensusparams).")
@click.option("--title", required=True, help=f"The proposal's title (at most {MAX_TITLE} bytes).")
@click.option("--description", default="", help="Its description (committed to by its hash).")
@click.option("--deposit", required=True, help="Initial deposit in coins.")
@_fee
@_network_options
@_rpc_options
@_user_errors
def propose_cmd(name, settings, title, description, deposit, fee, **conn) -> None:
    """Propose changes to governed consensus parameters from wallet NAME."""
    changes = _changes(settings)
    title_bytes = title.encode()
    if not 0 < len(title_bytes) <= MAX_TITLE:
        raise click.UsageError(f"the title is 1 to {MAX_TITLE} bytes")
    units, fee_units = _amount(deposit, "deposit"), _amount(fee, "fee")
    digest = blake3_256(description.encode())
    _submit(name, conn, lambda key, cid, nonce: [
        gtx.submit(key, cid, changes, title_bytes, digest, units, fee_units, nonce)])


@wallet_group.command("deposit")
@click.argument("name")
@click.argument("proposal", type=click.IntRange(1, (1 << 32) - 1))
@click.argument("amount")
@_fee
@_network_options
@_rpc_options
@_user_errors
def deposit_cmd(name, proposal, amount, fee, **conn) -> None:
    """Add AMOUNT coins of wallet NAME to PROPOSAL's deposit."""
    units, fee_units = _amount(amount, "amount"), _amount(fee, "fee")
    _submit(name, conn,
            lambda key, cid, nonce: [gtx.deposit(key, cid, proposal, units, fee_units, nonce)])


@wallet_group.command("vote")
@click.argument("name")
@click.argument("proposal", type=click.IntRange(1, (1 << 32) - 1))
@click.argument("option", type=click.Choice(OPTION_NAMES))
@click.option("--validator", default=None,
              help="Vote the wallet's delegation to this validator (default: as the validator).")
@_fee
@_network_options
@_rpc_options
@_user_errors
def vote_cmd(name, proposal, option, validator, fee, **conn) -> None:
    """Vote OPTION on PROPOSAL with wallet NAME's stake."""
    target = None if validator is None else _validator_id(validator, conn["network"])
    choice, fee_units = OPTION_NAMES.index(option), _amount(fee, "fee")
    _submit(name, conn, lambda key, cid, nonce: [
        gtx.vote(key, cid, target or key.account, proposal, choice, fee_units, nonce)])


__all__ = ["DEFAULT_FEE"]
