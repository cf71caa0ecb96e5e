"""The node's loaded wallets (bitcoind's multiwallet): load, unload, unlock for a while, lock.

The wallet files are the ones ``coinium wallet`` reads and writes (`coinium.wallet.keystore`,
in ``<network datadir>/wallets/``), so both work on the same wallets. Keys stay sealed on disk; a
wallet unlocked with ``walletpassphrase`` holds its Argon2id key and private keys in memory
until the timeout or ``walletlock`` (Python cannot wipe memory: they are dropped, as bitcoind
drops its master key). No log line holds a secret or a passphrase.

Blocking work (Argon2id, file writes) is the caller's to run off the event loop; the relock
timer runs on the event loop that called `unlock`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from coinium.core.params import NetworkParams
from coinium.crypto.keys import PrivateKey
from coinium.wallet import hd, keystore, seed_sealing
from coinium.wallet.keystore import Wallet, WalletError
from coinium.wallet.wallet_files import ensure_private_dir

log = logging.getLogger("coinium.wallet")

SETTINGS_FILE = "settings.json"  # in the wallets folder: {"wallet": [names loaded at start]}
MAX_UNLOCK_SECONDS = 100_000_000  # bitcoind's cap on walletpassphrase's timeout
# Argon2id cost of wallets the node creates: (opslimit, memlimit) by the wallet_kdf setting.
KDF_PROFILES = {
    "moderate": (seed_sealing.DEFAULT_OPSLIMIT, seed_sealing.DEFAULT_MEMLIMIT),
    "interactive": (2, 64 << 20),
    # tests only: refused on main
    "minimum": (seed_sealing.MIN_OPSLIMIT, seed_sealing.MIN_MEMLIMIT),
}


class WalletAlreadyLoaded(WalletError):
    pass


class WalletNotLoaded(WalletError):
    pass


class WalletLocked(WalletError):
    pass


class WrongPassphrase(WalletError):
    pass


@dataclass
class LoadedWallet:
    wallet: Wallet
    kek: bytes | None = field(default=None, repr=False)  # while unlocked
    keys: dict[bytes, PrivateKey] = field(default_factory=dict, repr=False)  # account id -> key
    unlocked_until: int = 0  # unix seconds; 0 when locked
    _relock: asyncio.TimerHandle | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.wallet.name

    @property
    def accounts(self) -> list[bytes]:
        from coinium.crypto.address import account_id

        return [account_id(k.public_key) for k in self.wallet.keys]

    @property
    def unlocked(self) -> bool:
        return self.kek is not None

    def lock(self) -> None:
        if self._relock is not None:
            self._relock.cancel()
            self._relock = None
        self.kek = None
        self.keys = {}
        self.unlocked_until = 0


class WalletManager:
    def __init__(self, datadir: Path, params: NetworkParams, kdf_profile: str = "moderate"):
        self.datadir = Path(datadir)  # the network datadir
        self.params = params
        self.kdf_profile = kdf_profile
        self.loaded: dict[str, LoadedWallet] = {}

    # --- load and unload ----------------------------------------------------------------------
    def create(self, name: str, passphrase: str) -> LoadedWallet:
        if name in self.loaded:
            raise WalletAlreadyLoaded(f'Wallet "{name}" is already loaded.')
        opslimit, memlimit = KDF_PROFILES[self.kdf_profile]
        wallet = hd.create_hd_wallet(self.datadir, self.params, name, passphrase,
                                     opslimit=opslimit, memlimit=memlimit)  # fmt: skip
        log.info("created wallet %r", name)
        return self._add(wallet)

    def load(self, name: str) -> LoadedWallet:
        if name in self.loaded:
            raise WalletAlreadyLoaded(f'Wallet "{name}" is already loaded.')
        wallet = keystore.load_wallet(self.datadir, self.params, name)
        log.info("loaded wallet %r (%d keys)", name, len(wallet.keys))
        return self._add(wallet)

    def _add(self, wallet: Wallet) -> LoadedWallet:
        loaded = LoadedWallet(wallet)
        self.loaded[wallet.name] = loaded
        return loaded

    def unload(self, name: str) -> None:
        loaded = self.get(name)
        loaded.lock()
        del self.loaded[name]
        log.info("unloaded wallet %r", name)

    def get(self, name: str) -> LoadedWallet:
        loaded = self.loaded.get(name)
        if loaded is None:
            raise WalletNotLoaded("Requested wallet does not exist or is not loaded")
        return loaded

    # --- wallets loaded at start (bitcoind's settings.json "wallet" list) ----------------------
    @property
    def settings_path(self) -> Path:
        return keystore.wallets_dir(self.datadir) / SETTINGS_FILE

    def load_on_startup_names(self) -> list[str]:
        try:
            names = json.loads(self.settings_path.read_text()).get("wallet", [])
        except FileNotFoundError:
            return []
        except (OSError, ValueError, AttributeError) as exc:
            log.warning("ignoring %s: %s", self.settings_path, exc)
            return []
        return [n for n in names if isinstance(n, str)]

    def set_load_on_startup(self, name: str, load: bool | None) -> None:
        """None leaves the list as it is (bitcoind's unset load_on_startup)."""
        if load is None:
            return
        names = [n for n in self.load_on_startup_names() if n != name]
        if load:
            names.append(name)
        ensure_private_dir(self.settings_path.parent)
        tmp = self.settings_path.with_name(SETTINGS_FILE + ".tmp")
        tmp.write_text(json.dumps({"wallet": names}, indent=2) + "\n")
        os.replace(tmp, self.settings_path)

    def load_at_start(self, names: list[str]) -> None:
        """Load ``names`` (--wallet: an error stops the node) and the settings' list (a warning)."""
        for name in names:
            if name not in self.loaded:
                self.load(name)
        for name in self.load_on_startup_names():
            if name in self.loaded:
                continue
            try:
                self.load(name)
            except WalletError as exc:
                log.warning("wallet %r listed in %s not loaded: %s", name, self.settings_path,
                            exc)  # fmt: skip

    def close(self) -> None:
        for loaded in self.loaded.values():
            loaded.lock()
        self.loaded.clear()

    # --- unlock -------------------------------------------------------------------------------
    @staticmethod
    def open_keys(loaded: LoadedWallet, passphrase: str) -> tuple[bytes, list[PrivateKey]]:
        """Argon2id and every seed (seconds of CPU: run it in a thread)."""
        try:
            kek = hd.derive_kek(loaded.wallet, passphrase)
        except WalletError as exc:
            if "wrong passphrase" in str(exc):
                raise WrongPassphrase("Error: The wallet passphrase entered was incorrect.") \
                    from None  # fmt: skip
            raise
        return kek, keystore.open_all(loaded.wallet, kek)

    def unlocked(self, loaded: LoadedWallet, kek: bytes, keys: list[PrivateKey],
                 timeout: int) -> None:  # fmt: skip
        """Hold the keys for ``timeout`` seconds (a new call replaces the old timeout)."""
        loaded.lock()
        loaded.kek = kek
        loaded.keys = {k.account: k for k in keys}
        loaded.unlocked_until = int(time.time()) + timeout
        loop = asyncio.get_running_loop()
        loaded._relock = loop.call_later(timeout, loaded.lock)

    def reload(self, loaded: LoadedWallet) -> None:
        """Read the file again after keys were added to it (keys of an unlocked wallet too)."""
        loaded.wallet = keystore.load_wallet(self.datadir, self.params, loaded.name)
        if loaded.kek is not None:
            loaded.keys = {k.account: k for k in keystore.open_all(loaded.wallet, loaded.kek)}

    def new_address(self, loaded: LoadedWallet, label: str = "") -> str:
        """The next key (derived from the seed), stored sealed; the wallet must be unlocked."""
        if loaded.kek is None:
            raise WalletLocked("Error: Please enter the wallet passphrase with walletpassphrase "
                               "first.")  # fmt: skip
        _, added = hd.append_keys(self.datadir, self.params, loaded.name, loaded.kek, 1, label)
        self.reload(loaded)
        return added[0].address

    def backup(self, loaded: LoadedWallet, destination: str) -> None:
        """Copy the (encrypted) wallet file; a folder gets ``<name>.wallet`` inside it."""
        target = Path(destination).expanduser()
        if target.is_dir():
            target = target / loaded.wallet.path.name
        if target.resolve() == loaded.wallet.path.resolve():
            raise WalletError("Error: Wallet backup failed! (the destination is the wallet)")
        try:
            tmp = target.with_name(target.name + ".tmp")
            shutil.copyfile(loaded.wallet.path, tmp)
            os.chmod(tmp, 0o600)
            os.replace(tmp, target)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise WalletError(f"Error: Wallet backup failed! {exc.strerror}") from None
