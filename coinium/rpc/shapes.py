"""Result objects shared by several methods: block headers, blocks and transactions as JSON.

Every function that reads the chain takes the `ChainState` and is meant to run on the chain
thread (through ``node.chain_call``), so one result always describes one chain.
"""

from __future__ import annotations

from typing import Any

from coinium.chain.chainstate import ChainState
from coinium.consensus.pow import decode_compact, difficulty_for_display
from coinium.core.block import Block
from coinium.core.header import Header
from coinium.core.kinds import KINDS
from coinium.core.params import NetworkParams
from coinium.core.transaction import TX_VERSION, Transaction
from coinium.crypto.address import account_id, encode_address
from coinium.rpc.encoding import Amount
from coinium.store.records import BlockStatus, IndexEntry


def difficulty(bits: int, params: NetworkParams) -> float:
    """How many times harder than the network's easiest target (1.0 on regtest); bitcoind
    measures against 0x1d00ffff instead, so the numbers are comparable only within Coinium."""
    try:
        return difficulty_for_display(decode_compact(bits), decode_compact(params.pow_limit_bits))
    except ValueError:  # an invalid header's bits: nothing sensible to show
        return 0.0


def target_hex(bits: int) -> str:
    try:
        return f"{decode_compact(bits):064x}"
    except ValueError:
        return "0" * 64


def address(account: bytes, params: NetworkParams) -> str:
    return encode_address(params.address_prefix, account)


def tx_json(tx: Transaction, params: NetworkParams) -> dict[str, Any]:
    """decoderawtransaction's object (also getblock verbosity 2 and getrawtransaction verbose):
    the envelope, then the kind's own fields (`coinium.core.kinds`), each ``*_units`` amount
    also shown in coins without the suffix."""
    kind = KINDS[tx.kind]
    out: dict[str, Any] = {
        "txid": tx.txid.hex(),
        "hash": tx.txid.hex(),  # bitcoind's wtxid; no witness here, so the txid
        "size": tx.size,
        "version": TX_VERSION,
        "kind": kind.name,
    }
    if kind.signed:
        out["sender"] = tx.sender.hex()
        out["from"] = address(account_id(tx.sender), params)
        out["nonce"] = tx.nonce
    fields = kind.to_json(tx, lambda account: address(account, params))
    for name, value in fields.items():
        if name.endswith("_units"):
            out[name.removesuffix("_units")] = Amount(value)
        out[name] = value
    out["fee"] = Amount(tx.fee)
    out["fee_units"] = tx.fee
    return out


def confirmations(chain: ChainState, entry: IndexEntry) -> int:
    """Blocks on top of ``entry`` counting itself, or -1 when it is not on the main chain."""
    if not chain.is_on_main_chain(entry.hash):
        return -1
    return chain.height - entry.height + 1


def header_fields(chain: ChainState, entry: IndexEntry, block: Block | None) -> dict[str, Any]:
    """getblockheader's verbose object, in bitcoind's key order."""
    header: Header = entry.header
    params = chain.params
    out: dict[str, Any] = {
        "hash": entry.hash.hex(),
        "confirmations": confirmations(chain, entry),
        "height": entry.height,
        "version": header.version,
        "versionHex": f"{header.version:08x}",
        "merkleroot": header.merkle_root.hex(),
        "stateroot": header.state_root.hex(),
        "time": header.timestamp,
        "mediantime": chain.median_time_past(entry),
        "nonce": header.nonce,
        "bits": f"{header.bits:08x}",
        "target": target_hex(header.bits),
        "difficulty": difficulty(header.bits, params),
        "chainwork": f"{entry.chainwork:064x}",
        "nTx": len(block.transactions) if block is not None else 0,
        # At or below the finalized checkpoint: no reorg can remove it (Casper FFG).
        "final": chain.is_final(entry.hash),
    }
    if entry.height > 0:
        out["previousblockhash"] = header.prev_hash.hex()
    if out["confirmations"] > 0:
        following = chain.hash_at_height(entry.height + 1)
        if following is not None:
            out["nextblockhash"] = following.hex()
    return out


def block_json(
    chain: ChainState, entry: IndexEntry, block: Block, verbosity: int
) -> dict[str, Any]:
    """getblock verbosity 1 (txids) or 2 (transaction objects, each with its fee)."""
    fields = header_fields(chain, entry, block)
    out: dict[str, Any] = {}
    for key, value in fields.items():
        out[key] = value
        if key == "confirmations":
            out["size"] = block.size
        elif key == "merkleroot":
            out["tx"] = [
                tx.txid.hex() if verbosity < 2 else tx_json(tx, chain.params)
                for tx in block.transactions
            ]
    return out


def has_data(entry: IndexEntry) -> bool:
    return bool(entry.status & BlockStatus.HAVE_DATA)
