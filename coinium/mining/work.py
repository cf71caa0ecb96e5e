"""Work for the nonce search: a block template, the miner's own coinbase, and unique headers.

A `Template` is what a node says the next block must hold: height, parent, bits, the mempool
transactions in order, the coinbase value (subsidy + fees), and the allowed time (``mintime``,
the median time past + 1; ``curtime``, the node's clock when it answered). It comes either from
``getblocktemplate`` (`Template.from_rpc`, for ``coinium mine``) or from the node's own block
builder (`Template.from_block`, for ``coinium node --mine``).

A `WorkUnit` is one header to search: the template plus a coinbase paying the miner, with an
extra-nonce in the coinbase ``extra`` field and a timestamp. The coinbase changes the Merkle root
(computed with ``kernels.merkle_root``), so every extra-nonce value gives a header no one has
hashed. `ExtraNonce` hands out ``tag || counter`` values: the tag is 8 random bytes per miner
session (two miners paying the same address never share a header), the counter never repeats
within a session. Each unit's 2^64 nonces are split among the workers given it; a worker that
uses up its range gets a fresh unit of its own (a new extra-nonce), never a range someone else
had, so no two workers ever hash the same header.

Time rolls with the clock: a unit made ``s`` seconds after the template arrived is stamped
``curtime + s`` (never below ``mintime``), which keeps the timestamp inside the window a node
accepts (above the median time past, at most two hours ahead) as long as the template is
refreshed, which the miner does every few seconds anyway.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from coinium import kernels
from coinium.consensus.pow import decode_compact
from coinium.core.block import Block
from coinium.core.codec import DecodeError
from coinium.core.header import Header
from coinium.core.transaction import MAX_COINBASE_EXTRA_SIZE, Transaction

EXTRA_TAG_SIZE = 8
EXTRA_COUNTER_SIZE = 8
U64 = 1 << 64


class TemplateError(ValueError):
    """A template that cannot be mined (malformed or inconsistent fields), with the reason."""


@dataclass(frozen=True, slots=True)
class Template:
    version: int
    height: int
    prev_hash: bytes
    state_root: bytes  # the state the block is applied to (its parent's): the header commits
    bits: int
    target: int
    transactions: tuple[Transaction, ...]  # in block order, without the coinbase
    coinbase_value: int
    mintime: int
    curtime: int
    fetched_at: float  # time.monotonic() when the node answered: the time roll starts here

    @classmethod
    def from_rpc(cls, reply: Mapping[str, Any], fetched_at: float | None = None) -> Template:
        """A ``getblocktemplate`` result (see its help text for the shape)."""
        try:
            bits = int(reply["bits"], 16)
            txs = []
            for i, entry in enumerate(reply["transactions"]):
                tx = Transaction.decode(bytes.fromhex(entry["data"]))
                if tx.is_coinbase:
                    raise TemplateError(f"transaction {i} of the template is a coinbase")
                if "txid" in entry and bytes.fromhex(entry["txid"]) != tx.txid:
                    raise TemplateError(f"transaction {i}: txid does not match its data")
                txs.append(tx)
            template = cls(
                version=int(reply["version"]),
                height=int(reply["height"]),
                prev_hash=bytes.fromhex(reply["previousblockhash"]),
                state_root=bytes.fromhex(reply["stateroot"]),
                bits=bits,
                target=decode_compact(bits),
                transactions=tuple(txs),
                coinbase_value=int(reply["coinbasevalue"]),
                mintime=int(reply["mintime"]),
                curtime=int(reply["curtime"]),
                fetched_at=time.monotonic() if fetched_at is None else fetched_at,
            )
        except TemplateError:
            raise
        except (KeyError, TypeError, ValueError, DecodeError) as exc:
            raise TemplateError(f"malformed block template: {type(exc).__name__}: {exc}") from None
        if len(template.prev_hash) != 32 or len(template.state_root) != 32:
            raise TemplateError("malformed block template: previousblockhash or stateroot is "
                                "not 32 bytes")  # fmt: skip
        if "target" in reply and int(reply["target"], 16) != template.target:
            raise TemplateError("block template target does not match its bits")
        return template

    @classmethod
    def from_block(cls, block: Block, mintime: int, fetched_at: float | None = None) -> Template:
        """The node's own unmined block (its coinbase is replaced by the miner's)."""
        header = block.header
        return cls(
            version=header.version,
            height=header.height,
            prev_hash=header.prev_hash,
            state_root=header.state_root,
            bits=header.bits,
            target=decode_compact(header.bits),
            transactions=tuple(block.transactions[1:]),
            coinbase_value=block.transactions[0].amount,
            mintime=mintime,
            curtime=header.timestamp,
            fetched_at=time.monotonic() if fetched_at is None else fetched_at,
        )

    def timestamp(self, now: float | None = None) -> int:
        """The header time for work made at monotonic time ``now``: the node's clock rolled
        forward by the time since the template arrived, never below mintime."""
        elapsed = (time.monotonic() if now is None else now) - self.fetched_at
        return max(self.mintime, self.curtime + max(0, int(elapsed)))

    def same_work(self, other: Template) -> bool:
        """Whether ``other`` asks for the same block contents (parent, bits, transactions)."""
        return (self.prev_hash == other.prev_hash and self.bits == other.bits
                and self.state_root == other.state_root
                and self.coinbase_value == other.coinbase_value
                and [t.txid for t in self.transactions]
                == [t.txid for t in other.transactions])  # fmt: skip


class ExtraNonce:
    """Coinbase extra-nonces ``tag || counter`` (16 bytes) that never repeat in a session."""

    def __init__(self, tag: bytes | None = None, start: int = 0):
        self.tag = os.urandom(EXTRA_TAG_SIZE) if tag is None else bytes(tag)
        if len(self.tag) + EXTRA_COUNTER_SIZE > MAX_COINBASE_EXTRA_SIZE:
            raise ValueError("extra-nonce tag too long for the coinbase extra field")
        self._counter = start

    def next(self) -> bytes:
        if self._counter >= U64:
            raise OverflowError("extra-nonce counter exhausted")
        value = self.tag + self._counter.to_bytes(EXTRA_COUNTER_SIZE, "little")
        self._counter += 1
        return value

    @property
    def used(self) -> int:
        return self._counter


@dataclass(frozen=True, slots=True)
class WorkUnit:
    """One header to search: the template with the miner's coinbase and a timestamp."""

    template: Template
    header: Header  # nonce 0
    transactions: tuple[Transaction, ...]  # coinbase first
    extra: bytes

    @property
    def header_bytes(self) -> bytes:
        return self.header.encode()

    def block(self, nonce: int) -> Block:
        return Block(self.header.with_nonce(nonce), self.transactions)


def make_unit(template: Template, payout: bytes, extra: bytes,
              timestamp: int | None = None) -> WorkUnit:  # fmt: skip
    """Build the coinbase paying ``payout`` (a 20-byte account id), the Merkle root and the
    header (nonce 0)."""
    coinbase = Transaction.coinbase(template.height, payout, template.coinbase_value, extra)
    txs = (coinbase, *template.transactions)
    merkle = kernels.merkle_root([tx.txid for tx in txs])
    when = template.timestamp() if timestamp is None else timestamp
    header = Header(template.version, template.height, template.prev_hash, merkle,
                    template.state_root, when, template.bits, 0)  # fmt: skip
    return WorkUnit(template, header, txs, extra)


def nonce_ranges(workers: int, span: int = U64) -> list[tuple[int, int]]:
    """``span`` nonces from 0, split into one disjoint (start, count) range per worker."""
    if not 1 <= workers <= span <= U64:
        raise ValueError(f"cannot split {span} nonces over {workers} workers")
    size = span // workers
    return [(i * size, size if i < workers - 1 else span - size * (workers - 1))
            for i in range(workers)]  # fmt: skip


def meets(block_hash: bytes, target: int) -> bool:
    return int.from_bytes(block_hash, "big") <= target

