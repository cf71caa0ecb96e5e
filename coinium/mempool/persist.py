"""The mempool across restarts: ``mempool.dat``, encrypted, with a new key at every save.

The node saves the pool at shutdown and loads it at start (``persistmempool``, default on), as
bitcoind's ``mempool.dat``. Both files live in the network's datadir, owner-only (0600), each
written atomically (a temporary file, fsync, rename, fsync of the folder).

``mempool.dat`` (integers little-endian)::

    offset  size  field
    0       8     magic b"CNMEMPL\\0"
    8       4     format version u32 (1)
    12      4     chain id u32: a file of another network is refused
    16      24    XChaCha20-Poly1305 nonce, random
    40      ...   ciphertext of the payload, then the 16-byte Poly1305 tag
                  (bytes 0-39 are the associated data: authenticated, not encrypted)

    payload:  saved_at u64 (unix seconds) | count u32 | count x record
    record:   flags u8 (0 pending, 1 held for a nonce gap) | time u64 (when it entered) |
              length u32 | the raw transaction

Pending entries come sender by sender in nonce order, then the held ones, so loading them in
file order rebuilds each sender's chain.

``mempool.key``: magic b"CNMPKEY\\0" | count u8 (1 or 2) | count x 32-byte key. Every save draws
a new random key (PyNaCl's XChaCha20-Poly1305 under os.urandom(32)) and writes, in this order,
the key file holding [new key, previous key], then ``mempool.dat`` under the new key, then the
key file holding the new key alone; a crash at any point leaves a data file that one of the
listed keys opens.

Loading decrypts, decodes, drops entries older than the expiry age, and re-admits every
transaction through the normal admission path (`Mempool.add_many`: fees, nonces, balances and
signatures are checked again against today's chain and policy; a refused one is dropped with a
debug line). A file that is truncated, corrupted, of another network or version, or that no key
opens is never fatal: a warning, an empty mempool, and the file renamed ``mempool.dat.corrupt``
for inspection. A missing file is an empty mempool.

Threat model, honestly: the encryption protects a ``mempool.dat`` copied or leaked without its
key (a backup, a support bundle, a disk image of the data file alone), and, as bitcoind's XOR
obfuscation of the same file (27.0), keeps attacker-chosen transaction bytes from lying on disk
in the clear where an antivirus scanner would flag or quarantine the file. The key rotation
means an old copy of the data file stays unreadable with a later key. It is no protection
against anyone who can read the datadir (both files sit side by side, as they must for an
unattended restart), and the pool's contents were public, relayed transactions to begin with.
"""

from __future__ import annotations

import contextlib
import logging
import os
import struct
import time
from dataclasses import dataclass
from pathlib import Path

from nacl.bindings import (
    crypto_aead_xchacha20poly1305_ietf_decrypt,
    crypto_aead_xchacha20poly1305_ietf_encrypt,
)
from nacl.exceptions import CryptoError

from coinium.core.codec import DecodeError, Reader
from coinium.core.transaction import Transaction
from coinium.mempool.pool import Mempool, MempoolEntry, MempoolReject

log = logging.getLogger("coinium.mempool")

MEMPOOL_FILE = "mempool.dat"
KEY_FILE = "mempool.key"
CORRUPT_SUFFIX = ".corrupt"
MAGIC = b"CNMEMPL\0"
KEY_MAGIC = b"CNMPKEY\0"
FORMAT_VERSION = 1
KEY_SIZE = 32
NONCE_SIZE = 24
_HEADER = struct.Struct("<8sII24s")  # magic, version, chain id, nonce
_RECORD = struct.Struct("<BQI")  # flags, time, length
FLAG_PENDING, FLAG_HELD = 0, 1
MAX_TX_BYTES = 1 << 20  # a record longer than this is corruption, not a transaction


class MempoolFileError(Exception):
    """Why a mempool file could not be read."""


@dataclass(frozen=True, slots=True)
class LoadResult:
    accepted: int = 0  # entered the pool
    held: int = 0  # held for a nonce gap again
    expired: int = 0  # older than the expiry age: not offered
    refused: int = 0  # refused by today's admission rules
    failed: bool = False  # the file could not be read (renamed .corrupt)


# --- saving -------------------------------------------------------------------------------------
def save_mempool(pool: Mempool, datadir: Path, now: int | None = None) -> int:
    """Write the pool under a new key; returns how many transactions were saved."""
    datadir = Path(datadir)
    records = _records(pool)
    payload = bytearray(struct.pack("<QI", int(time.time()) if now is None else now,
                                    len(records)))  # fmt: skip
    for flags, entered, raw in records:
        payload += _RECORD.pack(flags, entered, len(raw))
        payload += raw
    key = os.urandom(KEY_SIZE)
    nonce = os.urandom(NONCE_SIZE)
    header = _HEADER.pack(MAGIC, FORMAT_VERSION, pool.params.chain_id, nonce)
    sealed = crypto_aead_xchacha20poly1305_ietf_encrypt(bytes(payload), header, nonce, key)
    previous = _read_keys(datadir / KEY_FILE)[:1]
    _write_atomic(datadir / KEY_FILE, _key_file(key, *previous))
    _write_atomic(datadir / MEMPOOL_FILE, header + sealed)
    _write_atomic(datadir / KEY_FILE, _key_file(key))
    log.info("saved %d mempool transaction(s) to %s", len(records), datadir / MEMPOOL_FILE)
    return len(records)


def _records(pool: Mempool) -> list[tuple[int, int, bytes]]:
    by_sender: dict[bytes, list[MempoolEntry]] = {}
    for entry in pool.entries():
        by_sender.setdefault(entry.sender, []).append(entry)
    records = []
    for entries in by_sender.values():
        for entry in sorted(entries, key=lambda e: e.nonce):
            records.append((FLAG_PENDING, entry.time, entry.tx.raw))
    for item in sorted(pool.future, key=lambda i: (i.sender, i.nonce)):
        records.append((FLAG_HELD, item.time, item.tx.raw))
    return records


def _key_file(*keys: bytes) -> bytes:
    return KEY_MAGIC + bytes((len(keys),)) + b"".join(keys)


def _read_keys(path: Path) -> list[bytes]:
    """The keys in the key file, newest first; [] if it is missing or unreadable."""
    try:
        data = path.read_bytes()
    except OSError:
        return []
    if not data.startswith(KEY_MAGIC) or len(data) < len(KEY_MAGIC) + 1:
        return []
    count = data[len(KEY_MAGIC)]
    body = data[len(KEY_MAGIC) + 1:]
    if count not in (1, 2) or len(body) != count * KEY_SIZE:
        return []
    return [body[i * KEY_SIZE:(i + 1) * KEY_SIZE] for i in range(count)]


def _write_atomic(path: Path, data: bytes) -> None:
    """Owner-only from the first byte, complete on disk before it takes the name."""
    tmp = path.with_name(path.name + ".tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(tmp, flags, 0o600)
    try:
        os.fchmod(fd, 0o600)  # whatever the umask
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


# --- loading ------------------------------------------------------------------------------------
def load_mempool(pool: Mempool, datadir: Path, now: int | None = None) -> LoadResult:
    """Re-admit the saved transactions; never raises for a bad file (see the module doc)."""
    path = Path(datadir) / MEMPOOL_FILE
    if not path.exists():
        log.info("no %s: starting with an empty mempool", path)
        return LoadResult()
    now = int(time.time()) if now is None else now
    try:
        records = read_mempool_file(path, Path(datadir) / KEY_FILE, pool.params.chain_id)
    except (MempoolFileError, OSError) as exc:
        corrupt = path.with_name(path.name + CORRUPT_SUFFIX)
        try:
            os.replace(path, corrupt)
            kept = f"kept as {corrupt}"
        except OSError as move_error:
            kept = f"left in place ({move_error})"
        log.warning("cannot load %s: %s; starting with an empty mempool, the file %s", path,
                    exc, kept)  # fmt: skip
        return LoadResult(failed=True)
    cutoff = now - pool.policy.expiry_seconds
    fresh = [(entered, tx) for _, entered, tx in records if entered >= cutoff]
    expired = len(records) - len(fresh)
    results = pool.add_many([tx for _, tx in fresh], [entered for entered, _ in fresh])
    accepted = held = refused = 0
    for (_, tx), result in zip(fresh, results, strict=True):
        if isinstance(result, MempoolReject):
            refused += 1
            log.debug("not reloading %s: %s", tx.txid.hex(), result)
        elif result is None:
            held += 1
        else:
            accepted += 1
    log.info("loaded %s: %d transaction(s) accepted, %d held, %d expired, %d refused", path,
             accepted, held, expired, refused)  # fmt: skip
    return LoadResult(accepted, held, expired, refused)


def read_mempool_file(path: Path, key_path: Path,
                      chain_id: int) -> list[tuple[int, int, Transaction]]:  # fmt: skip
    """(flags, time, transaction) of every record; MempoolFileError for anything wrong."""
    data = path.read_bytes()
    if len(data) < _HEADER.size + 16:
        raise MempoolFileError(f"truncated: {len(data)} bytes")
    magic, version, file_chain, nonce = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise MempoolFileError("not a mempool file (bad magic)")
    if version != FORMAT_VERSION:
        raise MempoolFileError(f"unknown format version {version}")
    if file_chain != chain_id:
        raise MempoolFileError(f"saved by another network (chain id {file_chain})")
    keys = _read_keys(key_path)
    if not keys:
        raise MempoolFileError(f"no usable key in {key_path}")
    header, sealed = data[:_HEADER.size], data[_HEADER.size:]
    for key in keys:
        try:
            payload = crypto_aead_xchacha20poly1305_ietf_decrypt(sealed, header, nonce, key)
            break
        except CryptoError:
            continue
    else:
        raise MempoolFileError("authentication failed: corrupted, truncated or another key")
    try:
        return _decode_payload(payload)
    except (DecodeError, ValueError) as exc:
        raise MempoolFileError(f"bad payload: {exc}") from None


def _decode_payload(payload: bytes) -> list[tuple[int, int, Transaction]]:
    reader = Reader(payload, "mempool.dat")
    reader.u64("saved_at")
    count = reader.u32("count")
    records = []
    for _ in range(count):
        flags, entered, length = _RECORD.unpack(reader.fixed(_RECORD.size, "record"))
        if flags not in (FLAG_PENDING, FLAG_HELD) or length > MAX_TX_BYTES:
            raise ValueError(f"bad record (flags {flags}, length {length})")
        records.append((flags, entered, Transaction.decode(reader.fixed(length, "tx"))))
    reader.finish()
    return records
