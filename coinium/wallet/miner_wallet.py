"""The wallet ``coinium node --mine`` pays on regtest when no --miner-address is given."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from coinium.core.params import NetworkParams
from coinium.wallet.keystore import WalletNotFoundError, create_wallet, load_wallet

MINER_WALLET = "miner"
PASSPHRASE_ENV = "COINIUM_WALLET_PASSPHRASE"


def regtest_miner_address(datadir: Path, params: NetworkParams) -> tuple[str, str | None]:
    """(address, passphrase if one was generated) of wallet 'miner', created if missing.

    The passphrase comes from COINIUM_WALLET_PASSPHRASE; without it a random one is made and
    returned once, for the caller to show (regtest coins are worthless, the wallet is still
    encrypted at rest like any other).
    """
    if params.name != "regtest":
        raise ValueError("a miner wallet is only created on regtest")
    try:
        return load_wallet(datadir, params, MINER_WALLET).receiving_address, None
    except WalletNotFoundError:
        pass
    passphrase = os.environ.get(PASSPHRASE_ENV)
    generated = None
    if not passphrase:
        passphrase = generated = secrets.token_urlsafe(18)
    wallet = create_wallet(datadir, params, MINER_WALLET, passphrase)
    return wallet.receiving_address, generated
