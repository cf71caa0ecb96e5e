"""Opening the validator's wallet for `coinium node --validator WALLET`."""

from __future__ import annotations

import getpass
import os
from typing import TYPE_CHECKING

from coinium.config import ConfigError
from coinium.validator.client import ValidatorClient
from coinium.wallet.keystore import WalletError, load_wallet, unlock

if TYPE_CHECKING:
    from coinium.node import Node

VOTING_LABEL = "voting"


def validator_client(node: Node, wallet_name: str) -> ValidatorClient:
    """The client for the wallet: its first key is the operator, the key labelled ``voting``
    signs the votes. ConfigError when the wallet cannot be opened or has no voting key."""
    datadir = node.options.datadir
    try:
        wallet = load_wallet(datadir, node.params, wallet_name)
        index = next((i for i, k in enumerate(wallet.keys) if k.label == VOTING_LABEL), None)
        if index is None:
            raise ConfigError(f"wallet {wallet_name!r} has no voting key: run `coinium wallet "
                              "validator register` first")  # fmt: skip
        passphrase = os.environ.get("COINIUM_WALLET_PASSPHRASE")
        if passphrase is None:
            passphrase = getpass.getpass(f"passphrase of wallet {wallet_name!r}: ")
        keys = unlock(wallet, passphrase)
    except WalletError as exc:
        raise ConfigError(f"--validator: {exc}") from None
    return ValidatorClient(node, keys[0].account, keys[index], datadir)
