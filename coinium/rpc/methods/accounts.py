"""Accounts (ours; bitcoind has UTXOs and a wallet instead): getaccount, getaccountproof, and
listtransactions of an address (registered by coinium.rpc.methods.wallet, whose
listtransactions takes an address or the wallet)."""

from __future__ import annotations

from typing import Any

from coinium.chain.chainstate import ChainState
from coinium.core.params import NetworkParams
from coinium.core.state import NS_ACCOUNT
from coinium.core.transaction import Transaction
from coinium.crypto.address import account_id
from coinium.crypto.state_proof import proof_to_json
from coinium.rpc.args import parse_address
from coinium.rpc.encoding import Amount
from coinium.rpc.errors import RPC_INVALID_PARAMETER, RpcError
from coinium.rpc.registry import Method, Param
from coinium.rpc.server import RpcContext
from coinium.rpc.shapes import address as show_address


async def getaccount(ctx: RpcContext, address: str) -> dict[str, Any]:
    node = ctx.node
    account = parse_address(address, node.params)
    state = await ctx.on_chain(lambda chain: chain.get_account(account))
    mempool = node.mempool
    # What the pool would leave: the account's own pending spends out, pending transfers to it
    # in (those are not spendable until confirmed: the mempool never counts them).
    outgoing = sum(e.tx.amount + e.tx.fee for e in mempool.pending_transactions(account))
    incoming = sum(e.tx.amount for e in mempool.entries() if e.tx.recipient == account)
    pending = state.balance - outgoing + incoming
    return {
        "address": show_address(account, node.params),
        "balance": Amount(state.balance),
        "balance_units": state.balance,
        "nonce": state.nonce,
        "pending_nonce": mempool.pending_nonce(account),
        "pending_balance": Amount(pending),
        "pending_balance_units": pending,
    }


def tx_entries(tx: Transaction, account: bytes, params: NetworkParams) -> list[dict[str, Any]]:
    """The entries one transaction makes for ``account``: bitcoind's categories, the amount
    signed as bitcoind's (negative for a send, with a negative fee), the counterparty's address
    (null for a coinbase). A transfer to oneself gives a send and a receive."""
    out: list[dict[str, Any]] = []
    if tx.is_coinbase:
        if tx.recipient == account:
            out.append({"category": "generate", "amount": Amount(tx.amount), "address": None})
        return out
    sender = account_id(tx.sender)
    if sender == account:
        out.append({
            "category": "send",
            "amount": Amount(-tx.amount),
            "fee": Amount(-tx.fee),
            "address": show_address(tx.recipient, params),
        })  # fmt: skip
    if tx.recipient == account:
        out.append({"category": "receive", "amount": Amount(tx.amount),
                    "address": show_address(sender, params)})  # fmt: skip
    return out


def _chain_entries(chain: ChainState, account: bytes, wanted: int) -> list[dict[str, Any]]:
    """Entries newest first from the main chain, read through the address index."""
    found: list[dict[str, Any]] = []
    blocks: dict[int, Any] = {}
    # A transfer to oneself makes two entries, so ``wanted`` transactions are always enough.
    for height, position, _ in chain.account_history(account, wanted):
        if height not in blocks:
            blocks[height] = chain.get_block(chain.main_chain[height])
        block = blocks[height]
        tx = block.transactions[position]
        for entry in tx_entries(tx, account, chain.params):
            found.append({
                "txid": tx.txid.hex(),
                "blockhash": block.hash.hex(),
                "height": height,
                "time": block.header.timestamp,
                **entry,
                "confirmations": chain.height - height + 1,
            })  # fmt: skip
    return found


async def listtransactions(ctx: RpcContext, address: str, count: int,
                           skip: int) -> list[dict[str, Any]]:  # fmt: skip
    node = ctx.node
    account = parse_address(address, node.params)
    if count < 0:
        raise RpcError(RPC_INVALID_PARAMETER, "Negative count")
    if skip < 0:
        raise RpcError(RPC_INVALID_PARAMETER, "Negative from")
    wanted = count + skip
    # Pending first (newest entry first), then the chain: newest first throughout.
    found: list[dict[str, Any]] = []
    for pooled in sorted(node.mempool.entries(), key=lambda e: e.sequence, reverse=True):
        for entry in tx_entries(pooled.tx, account, node.params):
            found.append({"txid": pooled.txid.hex(), "time": pooled.time, **entry,
                          "confirmations": 0})  # fmt: skip
    if len(found) < wanted:
        found += await ctx.on_chain(_chain_entries, account, wanted - len(found))
    return found[skip:wanted]


async def getaccountproof(ctx: RpcContext, address: str) -> dict[str, Any]:
    """DESIGN.md's proof of one account (present or absent) against the state after the tip."""
    params = ctx.node.params
    account = parse_address(address, params)
    proof, record, root, height = await ctx.on_chain(
        lambda chain: chain.prove_record(NS_ACCOUNT, account))
    return proof_to_json(proof, record, root, height, show_address(account, params), account)


METHODS = [
    Method(
        "getaccount", "accounts", getaccount,
        "Returns the confirmed state of an account, and the nonce its next transaction should\n"
        "carry given the transactions it has pending in the mempool.",
        """\
{
  "address" : "str",       (string) the address
  "balance" : n,           (numeric) confirmed balance in coins
  "balance_units" : n,     (numeric) the same in base units
  "nonce" : n,             (numeric) the nonce the next confirmed transaction carries
  "pending_nonce" : n,     (numeric) the nonce for a new transaction (after pending ones)
  "pending_balance" : n,   (numeric) balance once the mempool's transactions confirm: its
                           own pending spends (amount + fee) out, pending transfers to it in
  "pending_balance_units" : n
}""",
        (Param("address", "string", "The account's address"),),
    ),
    Method(
        "getaccountproof", "accounts", getaccountproof,
        "Returns a Merkle proof of an account's record (or of its absence) in the state after\n"
        "the tip, against that state's root, which the next block's header commits to\n"
        "(stateroot; the state after block 'height' is proven by block height + 1). Check it\n"
        "with `coinium verify-proof`. Fold from the account's leaf (record set), from 'leaf'\n"
        "(another record sharing the path's first len(siblings) bits) or from an empty\n"
        "position (leaf null) up through the siblings, deepest last; see PROTOCOL.md.",
        """\
{
  "address" : "str",        (string) the address
  "accountid" : "hex",      (string) its 20-byte account id
  "path" : "hex",           (string) BLAKE3(0x01 || accountid): the record's tree path
  "record" : "hex",         (string or null) the account's 16-byte record, null if absent
  "siblings" : [ "hex" ],   (array) sibling hashes from just below the root downwards
  "leaf" : null or { "path" : "hex", "valuehash" : "hex" },  (absence: the leaf found there)
  "stateroot" : "hex",      (string) root of the state after block 'height'
  "height" : n              (numeric) the tip's height
}""",
        (Param("address", "string", "The account's address"),),
        examples=("getaccountproof rcn1...",),
    ),
]
