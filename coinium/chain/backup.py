"""Backup and restore of the chain (``coinium backup DEST``, ``coinium restore SRC``).

Backup is hot: it opens the node's LMDB environment read-only beside the running node (LMDB
allows readers in other processes) and writes LMDB's compacting copy (``mdb_env_copy2`` with
``MDB_CP_COMPACT``), which reads one transaction: a consistent snapshot of the whole chain at one
tip, free pages left out. ``DEST`` gets ``chainstate/data.mdb`` and ``coinium-backup.json``
(network, tip, height, time).

Restore checks before it replaces anything: the manifest must be this network's, then a staged
copy inside the datadir is opened as a `ChainStore` (which refuses another network or chain
format) and must pass every check of `coinium.chain.verify`: `check_linkage` (tip to genesis:
header hashes, heights, blocks, Merkle roots, undo records, each header's ``state_root`` equal to
the root recorded after its parent), `check_recent` over the last `RESTORE_RECENT_BLOCKS` blocks
(undo records replayed back to the roots the headers commit to, blocks applied again to the
recorded roots and the stored records) and `check_state_root` (every record rebuilds to the
state tree's root, which is the root recorded after the tip). Only then is the current chain
moved aside to ``chainstate.before-restore-<time>`` (kept, never deleted) and the staged copy
renamed into place. The node must be stopped (the datadir lock says so).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lmdb

from coinium.chain.verify import (
    ChainCheckError,
    check_linkage,
    check_recent,
    check_state_root,
    check_tip_root,
    tip_of,
)
from coinium.core.params import NetworkParams
from coinium.store.chainstore import (
    DATABASES,
    ChainFormatError,
    ChainStore,
    DatadirLockedError,
    StoreError,
)
from coinium.store.chainstore import FORMAT_VERSION as CHAIN_FORMAT

CHAIN_DIR = "chainstate"
MANIFEST = "coinium-backup.json"
FORMAT = "coinium-chain-backup"
FORMAT_VERSION = 2  # 1 held chain format 1 (version-1 headers, account-only state)
RESTORE_RECENT_BLOCKS = 24


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why and what was left alone."""


@contextlib.contextmanager
def _opened(place: Path, params: NetworkParams) -> Iterator[ChainStore]:
    """The chain in ``place``/chainstate opened as the node opens it: a chain of another format
    or network is refused there. ``place`` is a backup or a staged copy, never a live datadir:
    the lock files the store leaves are removed again."""
    try:
        store = ChainStore(place, params.name, sync=False)
    except ChainFormatError:
        raise ChainCheckError(f"it holds a chain in another format than this coinium's "
                              f"({CHAIN_FORMAT.decode()})") from None  # fmt: skip
    except StoreError as exc:
        raise ChainCheckError(str(exc).replace(str(place), "it")) from None
    try:
        yield store
    finally:
        store.close()
        (place / ".lock").unlink(missing_ok=True)
        (place / CHAIN_DIR / "lock.mdb").unlink(missing_ok=True)


def backup_chain(datadir: Path, dest: Path, params: NetworkParams) -> dict[str, Any]:
    """Copy the chain of ``datadir`` (the network datadir) into ``dest``; returns the manifest."""
    source = Path(datadir) / CHAIN_DIR
    if not (source / "data.mdb").exists():
        raise BackupError(f"no {params.name} chain in {datadir}")
    dest = Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise BackupError(f"{dest} exists and is not an empty folder")
    (dest / CHAIN_DIR).mkdir(parents=True, exist_ok=True)
    try:
        # A reader beside the running node (LMDB allows readers in other processes).
        env = lmdb.open(str(source), subdir=True, readonly=True, max_readers=256,
                        max_dbs=len(DATABASES) + 8)  # fmt: skip
        try:
            env.copy(str(dest / CHAIN_DIR), compact=True)
        finally:
            env.close()
        with _opened(dest, params) as store, store.read() as txn:
            tip = tip_of(store, txn)
    except (lmdb.Error, ChainCheckError) as exc:
        shutil.rmtree(dest / CHAIN_DIR, ignore_errors=True)
        (dest / ".lock").unlink(missing_ok=True)  # left by a store that failed to open
        raise BackupError(f"cannot back up {source}: {exc}") from None
    manifest = {"format": FORMAT, "version": FORMAT_VERSION, "network": params.name,
                "tip": tip.hash.hex(), "height": tip.height,
                "created": int(time.time())}  # fmt: skip
    (dest / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def read_manifest(src: Path, params: NetworkParams) -> dict[str, Any]:
    try:
        manifest = json.loads((Path(src) / MANIFEST).read_text())
    except FileNotFoundError:
        raise BackupError(f"{src} is not a coinium backup (no {MANIFEST})") from None
    except (OSError, ValueError) as exc:
        raise BackupError(f"{src}/{MANIFEST} cannot be read: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{src} is not a coinium backup")
    if manifest.get("version") != FORMAT_VERSION:
        raise BackupError(f"{src} is backup format {manifest.get('version')!r}; this coinium "
                          f"reads {FORMAT_VERSION}")  # fmt: skip
    if manifest.get("network") != params.name:
        raise BackupError(f"{src} is a backup of the {manifest.get('network')!r} chain, not "
                          f"{params.name!r}: refused, nothing was replaced")  # fmt: skip
    return manifest


def restore_chain(src: Path, datadir: Path, params: NetworkParams) -> tuple[dict, Path | None]:
    """Check the backup in ``src``, then put it in place of ``datadir``'s chain; returns the
    manifest and where the previous chain was moved (None if there was none)."""
    src = Path(src)
    manifest = read_manifest(src, params)
    data = src / CHAIN_DIR / "data.mdb"
    if not data.is_file():
        raise BackupError(f"{src} has no {CHAIN_DIR}/data.mdb")
    datadir = Path(datadir)
    datadir.mkdir(parents=True, exist_ok=True)
    try:
        lock = ChainStore._take_lock(datadir / ".lock")
    except DatadirLockedError:
        raise BackupError(f"{datadir} is in use (is the node running? stop it first)") from None
    staging = datadir / (CHAIN_DIR + ".restoring")
    try:
        shutil.rmtree(staging, ignore_errors=True)
        (staging / CHAIN_DIR).mkdir(parents=True)
        shutil.copyfile(data, staging / CHAIN_DIR / "data.mdb")
        try:
            _check(staging, params, manifest)
        except BackupError:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        current = datadir / CHAIN_DIR
        kept = None
        if current.exists():
            kept = datadir / f"{CHAIN_DIR}.before-restore-{int(time.time())}"
            current.rename(kept)
        (staging / CHAIN_DIR).rename(current)
        shutil.rmtree(staging, ignore_errors=True)
        return manifest, kept
    finally:
        lock.close()


def _check(staging: Path, params: NetworkParams, manifest: dict[str, Any]) -> None:
    """Every check of coinium.chain.verify on the staged copy (see the module docstring)."""
    try:
        with _opened(staging, params) as store:
            with store.read() as txn:
                tip = check_linkage(store, txn, params)
                check_tip_root(store, txn, tip)
                if tip.hash.hex() != manifest.get("tip"):
                    raise ChainCheckError("its tip is not the one its manifest names")
            check_recent(store, params, RESTORE_RECENT_BLOCKS)
            with store.read() as txn:
                check_state_root(store, txn, tip)
    except (ChainCheckError, lmdb.Error, ValueError) as exc:  # ValueError: a damaged record
        raise BackupError(f"the backup is refused: {exc}; nothing was replaced") from None
