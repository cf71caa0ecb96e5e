"""Backup and restore of the chain (``coinium backup DEST``, ``coinium restore SRC``).

Backup is hot: it opens the node's LMDB environment read-only beside the running node (LMDB
allows readers in other processes) and writes LMDB's compacting copy (``mdb_env_copy2`` with
``MDB_CP_COMPACT``), which reads one transaction: a consistent snapshot of the whole chain at one
tip, free pages left out. ``DEST`` gets ``chainstate/data.mdb`` and ``coinium-backup.json``
(network, tip, height, time).

Restore checks before it replaces anything: the manifest and the stored network must be this
network's (a foreign backup is refused), then a staged copy inside the datadir must pass
`coinium.chain.verify.check_linkage` (tip to genesis: header hashes, heights, blocks, Merkle
roots, undo records) and `check_recent` over the last `RESTORE_RECENT_BLOCKS` blocks (undo
records replayed, blocks applied again, the stored state reached). Only then is the current
chain moved aside to ``chainstate.before-restore-<time>`` (kept, never deleted) and the staged
copy renamed into place. The node must be stopped (the datadir lock says so).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from pathlib import Path
from typing import Any

import lmdb

from coinium.chain.verify import ChainCheckError, check_linkage, check_recent, reader, tip_of
from coinium.core.params import NetworkParams
from coinium.store.chainstore import (
    DATABASES,
    SCHEMA_VERSION,
    ChainStore,
    DatadirLockedError,
)

CHAIN_DIR = "chainstate"
MANIFEST = "coinium-backup.json"
FORMAT = "coinium-chain-backup"
FORMAT_VERSION = 1
RESTORE_RECENT_BLOCKS = 24


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why and what was left alone."""


def _open(path: Path, *, lock: bool) -> lmdb.Environment:
    return lmdb.open(str(path), subdir=True, readonly=True, lock=lock,
                     max_dbs=len(DATABASES) + 4, max_readers=256)  # fmt: skip


@contextlib.contextmanager
def _snapshot(env: lmdb.Environment):
    dbs = {name: env.open_db(name.encode(), create=False) for name in DATABASES}
    with env.begin(buffers=False) as txn:
        yield reader(txn, dbs)


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
        env = _open(source, lock=True)
        try:
            env.copy(str(dest / CHAIN_DIR), compact=True)
        finally:
            env.close()
        copy = _open(dest / CHAIN_DIR, lock=False)
        try:
            with _snapshot(copy) as get:
                network = (get("meta", b"network") or b"?").decode(errors="replace")
                tip = tip_of(get)
        finally:
            copy.close()
    except (lmdb.Error, ChainCheckError) as exc:
        shutil.rmtree(dest / CHAIN_DIR, ignore_errors=True)
        raise BackupError(f"cannot back up {source}: {exc}") from None
    if network != params.name:
        shutil.rmtree(dest / CHAIN_DIR, ignore_errors=True)
        raise BackupError(f"{source} holds the {network!r} chain, not {params.name!r}")
    manifest = {"format": FORMAT, "version": FORMAT_VERSION, "network": network,
                "tip": tip.hash.hex(), "height": tip.height, "created": int(time.time())}
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
        staging.mkdir()
        shutil.copyfile(data, staging / "data.mdb")
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
        staging.rename(current)
        return manifest, kept
    finally:
        lock.close()


def _check(staging: Path, params: NetworkParams, manifest: dict[str, Any]) -> None:
    try:
        env = _open(staging, lock=False)
    except lmdb.Error as exc:
        raise BackupError(f"the backup's database does not open: {exc}; nothing was replaced") \
            from None  # fmt: skip
    try:
        with _snapshot(env) as get:
            tip = check_linkage(get, params)
            if get("meta", b"version") != SCHEMA_VERSION:
                raise ChainCheckError("its storage version is not this coinium's")
            if tip.hash.hex() != manifest.get("tip"):
                raise ChainCheckError("its tip is not the one its manifest names")
            check_recent(get, params, RESTORE_RECENT_BLOCKS)
    except (ChainCheckError, lmdb.Error) as exc:
        raise BackupError(f"the backup is refused: {exc}; nothing was replaced") from None
    finally:
        env.close()
