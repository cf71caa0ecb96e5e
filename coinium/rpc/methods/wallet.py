"""Wallet: bitcoind's multiwallet RPC over the node's loaded wallets (`coinium.wallet.manager`).

createwallet, loadwallet, unloadwallet, listwallets, getwalletinfo, getnewaddress, getbalance,
getbalances, sendtoaddress, listtransactions, walletpassphrase, walletlock, backupwallet.

Which wallet a call is for: the one named by the request's ``/wallet/<name>`` path when the
server passes it on (``RpcContext.wallet``), else the only loaded one; with none loaded -18, with
several -19, as bitcoind. Accounts instead of UTXOs make a few differences, each said in the
method's help: a payment is sent from one address of the wallet (the first that holds amount
plus fee: an account transaction has one sender), balances are the chain's account balances
(no coinbase maturity), and every wallet is encrypted (createwallet needs a passphrase).
"""

from __future__ import annotations

import asyncio
from typing import Any

from coinium.chain.chainstate import ChainState
from coinium.core.transaction import sign_transfer
from coinium.crypto.address import AddressError, decode_address
from coinium.mempool import fee_estimate
from coinium.rpc.encoding import Amount
from coinium.rpc.errors import (
    RPC_INVALID_ADDRESS_OR_KEY,
    RPC_INVALID_PARAMETER,
    RPC_TYPE_ERROR,
    RPC_VERIFY_REJECTED,
    RpcError,
)
from coinium.rpc.methods import accounts
from coinium.rpc.registry import Method, Param
from coinium.rpc.server import RpcContext
from coinium.wallet import hd, keystore
from coinium.wallet.keystore import WalletError, WalletNotFoundError, check_wallet_name
from coinium.wallet.manager import (
    MAX_UNLOCK_SECONDS,
    LoadedWallet,
    WalletAlreadyLoaded,
    WalletLocked,
    WalletManager,
    WalletNotLoaded,
    WrongPassphrase,
)

# bitcoind's wallet error codes (src/rpc/protocol.h)
RPC_WALLET_ERROR = -4
RPC_WALLET_INSUFFICIENT_FUNDS = -6
RPC_WALLET_UNLOCK_NEEDED = -13
RPC_WALLET_PASSPHRASE_INCORRECT = -14
RPC_WALLET_NOT_FOUND = -18
RPC_WALLET_NOT_SPECIFIED = -19
RPC_WALLET_ALREADY_LOADED = -35
RPC_WALLET_ALREADY_EXISTS = -36


def _manager(ctx: RpcContext) -> WalletManager:
    manager = getattr(ctx.node, "wallets", None)
    if manager is None:
        raise RpcError(RPC_WALLET_NOT_FOUND, "Wallets are not available on this node")
    return manager


def _selected(ctx: RpcContext) -> LoadedWallet:
    manager = _manager(ctx)
    name = getattr(ctx, "wallet", None)  # the /wallet/<name> path, where the server passes it
    if name is not None:
        return _loaded(manager, name)
    if not manager.loaded:
        raise RpcError(RPC_WALLET_NOT_FOUND, "No wallet is loaded. Load a wallet using loadwallet "
                       "or create a new one with createwallet.")  # fmt: skip
    if len(manager.loaded) > 1:
        raise RpcError(RPC_WALLET_NOT_SPECIFIED, "Wallet file not specified (must request "
                       "wallet RPC through /wallet/<filename> uri-path).")  # fmt: skip
    return next(iter(manager.loaded.values()))


def _loaded(manager: WalletManager, name: str) -> LoadedWallet:
    try:
        return manager.get(name)
    except WalletNotLoaded as exc:
        raise RpcError(RPC_WALLET_NOT_FOUND, str(exc)) from None


def _wallet_error(exc: WalletError) -> RpcError:
    if isinstance(exc, WalletAlreadyLoaded):
        return RpcError(RPC_WALLET_ALREADY_LOADED, str(exc))
    if isinstance(exc, WalletLocked):
        return RpcError(RPC_WALLET_UNLOCK_NEEDED, str(exc))
    if isinstance(exc, WrongPassphrase):
        return RpcError(RPC_WALLET_PASSPHRASE_INCORRECT, str(exc))
    if isinstance(exc, WalletNotFoundError):
        return RpcError(RPC_WALLET_NOT_FOUND, str(exc))
    if "already exists" in str(exc):
        return RpcError(RPC_WALLET_ALREADY_EXISTS, str(exc))
    return RpcError(RPC_WALLET_ERROR, str(exc))


# --- load, unload, list -------------------------------------------------------------------------
async def createwallet(ctx: RpcContext, wallet_name: str, disable_private_keys: bool,
                       blank: bool, passphrase: str, avoid_reuse: bool, descriptors: bool,
                       load_on_startup: bool | None) -> dict[str, Any]:  # fmt: skip
    if disable_private_keys or blank or avoid_reuse:
        raise RpcError(RPC_WALLET_ERROR, "disable_private_keys, blank and avoid_reuse wallets "
                       "are not supported")  # fmt: skip
    if not passphrase:
        raise RpcError(RPC_WALLET_ERROR, "Coinium wallets are always encrypted: give a "
                       "passphrase")  # fmt: skip
    manager = _manager(ctx)
    try:
        check_wallet_name(wallet_name)
        await asyncio.to_thread(manager.create, wallet_name, passphrase)
        manager.set_load_on_startup(wallet_name, load_on_startup)
    except WalletError as exc:
        raise _wallet_error(exc) from None
    return {"name": wallet_name, "warnings": []}


async def loadwallet(ctx: RpcContext, filename: str, load_on_startup: bool | None) -> dict:
    manager = _manager(ctx)
    try:
        await asyncio.to_thread(manager.load, filename)
        manager.set_load_on_startup(filename, load_on_startup)
    except WalletError as exc:
        raise _wallet_error(exc) from None
    return {"name": filename, "warnings": []}


async def unloadwallet(ctx: RpcContext, wallet_name: str | None,
                       load_on_startup: bool | None) -> dict[str, Any]:  # fmt: skip
    manager = _manager(ctx)
    name = wallet_name if wallet_name is not None else _selected(ctx).name
    _loaded(manager, name)
    manager.unload(name)
    manager.set_load_on_startup(name, load_on_startup)
    return {"warnings": []}


async def listwallets(ctx: RpcContext) -> list[str]:
    return list(_manager(ctx).loaded)


# --- balances -----------------------------------------------------------------------------------
def _pending(ctx: RpcContext, accounts_of: list[bytes]) -> tuple[int, int]:
    """(pending spends out of, pending transfers into) the wallet's accounts."""
    mine = set(accounts_of)
    mempool = ctx.node.mempool
    outgoing = sum(e.tx.amount + e.tx.fee for a in mine for e in mempool.pending_transactions(a))
    incoming = sum(e.tx.amount for e in mempool.entries() if e.tx.recipient in mine)
    return outgoing, incoming


def _balances_on_chain(chain: ChainState, accounts_of: list[bytes]) -> tuple[int, dict]:
    total = sum(chain.get_account(a).balance for a in accounts_of)
    return total, {"hash": chain.tip.hash.hex(), "height": chain.height}


async def _balances(ctx: RpcContext, loaded: LoadedWallet) -> tuple[int, int, dict]:
    confirmed, tip = await ctx.on_chain(_balances_on_chain, loaded.accounts)
    outgoing, incoming = _pending(ctx, loaded.accounts)
    return confirmed - outgoing, incoming, tip


async def getbalance(ctx: RpcContext, dummy: str | None, minconf: int,
                     include_watchonly: bool, avoid_reuse: bool) -> Amount:  # fmt: skip
    if dummy is not None and dummy != "*":
        raise RpcError(RPC_INVALID_PARAMETER,
                       'dummy first argument must be excluded or set to "*".')  # fmt: skip
    trusted, _, _ = await _balances(ctx, _selected(ctx))
    return Amount(trusted)


async def getbalances(ctx: RpcContext) -> dict[str, Any]:
    trusted, incoming, tip = await _balances(ctx, _selected(ctx))
    return {"mine": {"trusted": Amount(trusted), "untrusted_pending": Amount(incoming),
                     "immature": Amount(0)}, "lastprocessedblock": tip}  # fmt: skip


# --- keys and locking ---------------------------------------------------------------------------
async def getnewaddress(ctx: RpcContext, label: str, address_type: str | None) -> str:
    loaded = _selected(ctx)
    try:
        return await asyncio.to_thread(_manager(ctx).new_address, loaded, label)
    except WalletError as exc:
        raise _wallet_error(exc) from None


def _is_used(chain: ChainState, account: bytes) -> bool:
    state = chain.get_account(account)
    return state.nonce > 0 or state.balance > 0 or bool(chain.account_history(account, 1))


async def walletpassphrase(ctx: RpcContext, passphrase: str, timeout: int) -> None:
    loaded = _selected(ctx)
    manager = _manager(ctx)
    if not passphrase:
        raise RpcError(RPC_INVALID_PARAMETER, "passphrase cannot be empty")
    if timeout < 0:
        raise RpcError(RPC_INVALID_PARAMETER, "Timeout cannot be negative.")
    try:
        kek, keys = await asyncio.to_thread(manager.open_keys, loaded, passphrase)
        # A wallet restored from an older backup catches up on the keys given out since.
        if loaded.wallet.hd is not None:
            added = await ctx.on_chain(lambda chain: hd.restore_used_keys(
                manager.datadir, manager.params, loaded.wallet, kek,
                lambda account: _is_used(chain, account)))  # fmt: skip
            if added:
                await asyncio.to_thread(manager.reload, loaded)
                keys = keystore.open_all(loaded.wallet, kek)
    except WalletError as exc:
        raise _wallet_error(exc) from None
    manager.unlocked(loaded, kek, keys, min(timeout, MAX_UNLOCK_SECONDS))


async def walletlock(ctx: RpcContext) -> None:
    _selected(ctx).lock()


async def backupwallet(ctx: RpcContext, destination: str) -> None:
    loaded = _selected(ctx)
    try:
        await asyncio.to_thread(_manager(ctx).backup, loaded, destination)
    except WalletError as exc:
        raise _wallet_error(exc) from None


async def getwalletinfo(ctx: RpcContext) -> dict[str, Any]:
    loaded = _selected(ctx)
    entries = await ctx.on_chain(lambda chain: sum(len(chain.account_history(a, 1 << 20))
                                                   for a in loaded.accounts))  # fmt: skip
    _, _, tip = await _balances(ctx, loaded)
    wallet = loaded.wallet
    return {
        "walletname": wallet.name,
        "walletversion": 1,
        "format": "coinium-wallet",
        "txcount": entries,
        "keypoolsize": 0,
        "unlocked_until": loaded.unlocked_until,
        "paytxfee": Amount(0),
        "private_keys_enabled": True,
        "avoid_reuse": False,
        "scanning": False,
        "descriptors": False,
        "external_signer": False,
        "blank": False,
        "birthtime": wallet.created,
        "lastprocessedblock": tip,
        "keys": len(wallet.keys),
        "hdseed": wallet.hd is not None,
        "hdpath": hd.PATH_TEXT if wallet.hd is not None else None,
    }


# --- sending ------------------------------------------------------------------------------------
async def sendtoaddress(ctx: RpcContext, address: str, amount: int, comment: str,
                        comment_to: str, subtractfeefromamount: bool, replaceable: bool | None,
                        conf_target: int | None, estimate_mode: str, avoid_reuse: bool,
                        fee_rate: int | None, verbose: bool) -> Any:  # fmt: skip
    loaded = _selected(ctx)
    node = ctx.node
    try:
        _, recipient = decode_address(address, node.params.address_prefix)
    except AddressError:
        raise RpcError(RPC_INVALID_ADDRESS_OR_KEY, "Invalid address") from None
    if amount <= 0:
        raise RpcError(RPC_TYPE_ERROR, "Invalid amount for send")
    if not loaded.unlocked:
        raise _wallet_error(WalletLocked("Error: Please enter the wallet passphrase with "
                                         "walletpassphrase first."))  # fmt: skip
    rate = await _fee_rate(ctx, conf_target or 6, estimate_mode, fee_rate)
    probe = sign_transfer(next(iter(loaded.keys.values())), node.params.chain_id, recipient,
                          1, 0, 0)  # every transfer without a memo has the same size
    fee = -(-rate * probe.size // 1000)
    send = amount - fee if subtractfeefromamount else amount
    if send <= 0:
        raise RpcError(RPC_WALLET_ERROR, "The transaction amount is too small to pay the fee")
    balances = await ctx.on_chain(lambda chain: {a: chain.get_account(a).balance
                                                 for a in loaded.accounts})  # fmt: skip
    mempool = node.mempool
    for account, key in loaded.keys.items():
        out = sum(e.tx.amount + e.tx.fee for e in mempool.pending_transactions(account))
        if balances.get(account, 0) - out >= send + fee:
            nonce = mempool.pending_nonce(account)
            tx = sign_transfer(key, node.params.chain_id, recipient, send, fee, nonce)
            try:
                await node.submit_transaction(tx)
            except Exception as exc:  # the mempool's rejection, in its words
                raise RpcError(RPC_VERIFY_REJECTED, str(exc)) from None
            txid = tx.txid.hex()
            return {"txid": txid, "fee_reason": "Fee rate"} if verbose else txid
    raise RpcError(RPC_WALLET_INSUFFICIENT_FUNDS, "Insufficient funds (no single address of "
                   "the wallet holds the amount plus the fee)")  # fmt: skip


async def _fee_rate(ctx: RpcContext, target: int, mode: str, fee_rate: int | None) -> int:
    """Base units per 1000 bytes: fee_rate (units per byte, as bitcoind's sat/vB), else the
    estimate for ``target``, never under what the mempool accepts now."""
    floor = ctx.node.mempool.min_fee_rate()
    if fee_rate is not None:
        return max(fee_rate * 1000, floor)
    blocks = await ctx.on_chain(lambda chain: [
        chain.get_block(chain.hash_at_height(h))
        for h in range(max(1, chain.height - fee_estimate.lookback(target) + 1),
                       chain.height + 1)])  # fmt: skip
    pending = [(e.fee_rate, e.size) for e in ctx.node.mempool.entries()]
    found = fee_estimate.estimate(blocks, pending, floor, target, mode.lower())
    return found.rate if found.rate is not None else floor


# --- listtransactions ---------------------------------------------------------------------------
async def listtransactions(ctx: RpcContext, label: str | None, count: int, skip: int,
                           include_watchonly: bool) -> list[dict[str, Any]]:  # fmt: skip
    """An address: that account's history, newest first (ours, see accounts.py). Else the
    wallet's, oldest first as bitcoind."""
    if label is not None and label != "*":
        try:
            decode_address(label)
        except AddressError:
            pass
        else:
            return await accounts.listtransactions(ctx, label, count, skip)
    if count < 0:
        raise RpcError(RPC_INVALID_PARAMETER, "Negative count")
    if skip < 0:
        raise RpcError(RPC_INVALID_PARAMETER, "Negative from")
    loaded = _selected(ctx)
    mine = loaded.accounts
    params = ctx.node.params
    found: list[tuple[tuple, dict[str, Any]]] = []
    for pooled in ctx.node.mempool.entries():
        for account in mine:
            for entry in _wallet_entries(pooled.tx, account, params):
                found.append(((1 << 62, pooled.sequence), {
                    **entry, "confirmations": 0, "txid": pooled.txid.hex(),
                    "time": pooled.time, "timereceived": pooled.time}))  # fmt: skip
    found += await ctx.on_chain(_chain_history, mine, count + skip)
    found.sort(key=lambda item: item[0])
    end = max(0, len(found) - skip)
    return [entry for _, entry in found[max(0, end - count):end]]


def _wallet_entries(tx, account: bytes, params) -> list[dict[str, Any]]:
    """accounts.tx_entries, with bitcoind's ``address``: ours for a receive, theirs for a send."""
    from coinium.rpc.shapes import address as show

    out = []
    for entry in accounts.tx_entries(tx, account, params):
        if entry["category"] != "send":
            entry = {**entry, "address": show(account, params)}
        out.append(entry)
    return out


def _chain_history(chain: ChainState, mine: list[bytes], wanted: int) -> list[tuple[tuple, dict]]:
    found = []
    blocks: dict[int, Any] = {}
    for account in mine:
        for height, position, _ in chain.account_history(account, wanted):
            if height not in blocks:
                blocks[height] = chain.get_block(chain.hash_at_height(height))
            block = blocks[height]
            tx = block.transactions[position]
            for entry in _wallet_entries(tx, account, chain.params):
                found.append(((height, position), {
                    **entry, "confirmations": chain.height - height + 1,
                    "blockhash": block.hash.hex(), "blockheight": height,
                    "blockindex": position, "blocktime": block.header.timestamp,
                    "txid": tx.txid.hex(), "time": block.header.timestamp,
                    "timereceived": block.header.timestamp}))  # fmt: skip
    return found


_UNLOCK_RESULT = "null"
METHODS = [
    Method(
        "createwallet", "wallet", createwallet,
        "Creates and loads a new wallet: deterministic (every address derives from its seed,\n"
        "SLIP-0010 m/44'/8888'/0'/0'/i', so one backup restores them all) and always\n"
        "encrypted with the passphrase. The file is the one `coinium wallet` uses.",
        '{ "name" : "str", "warnings" : [ "str", ... ] }',
        (Param("wallet_name", "string", "The name for the new wallet."),
         Param("disable_private_keys", "bool", "Not supported (must be false)", False),
         Param("blank", "bool", "Not supported (must be false)", False),
         Param("passphrase", "string", "Encrypt the wallet with this passphrase (required).", ""),
         Param("avoid_reuse", "bool", "Not supported (must be false)", False),
         Param("descriptors", "bool", "Ignored", True),
         Param("load_on_startup", "bool", "Save wallet name to persistent settings and load on "
               "startup. True to add wallet to startup list, false to remove, null to leave "
               "unchanged.", None)),
        needs_chain=False,
    ),
    Method(
        "loadwallet", "wallet", loadwallet,
        "Loads a wallet from <datadir>/wallets/<filename>.wallet (locked).",
        '{ "name" : "str", "warnings" : [ "str", ... ] }',
        (Param("filename", "string", "The wallet name."),
         Param("load_on_startup", "bool", "Add to (true) or remove from (false) the wallets "
               "loaded at start (<datadir>/wallets/settings.json); null leaves it", None)),
        needs_chain=False,
    ),
    Method(
        "unloadwallet", "wallet", unloadwallet,
        "Unloads the wallet named, or the one the request is for; its keys are dropped.",
        '{ "warnings" : [ "str", ... ] }',
        (Param("wallet_name", "string", "The name of the wallet to unload.", None),
         Param("load_on_startup", "bool", "Add to (true) or remove from (false) the wallets "
               "loaded at start; null leaves it", None)),
        needs_chain=False,
    ),
    Method(
        "listwallets", "wallet", listwallets, "Returns a list of currently loaded wallets.",
        '[ "walletname", ... ]', needs_chain=False,
    ),
    Method(
        "getwalletinfo", "wallet", getwalletinfo,
        "Returns an object containing various wallet state info (bitcoind's fields; plus\n"
        "keys, hdseed and hdpath).",
        """\
{
  "walletname" : "str", "walletversion" : 1, "format" : "coinium-wallet",
  "txcount" : n, "keypoolsize" : 0, "unlocked_until" : xxx, "paytxfee" : n,
  "private_keys_enabled" : true, "avoid_reuse" : false, "scanning" : false,
  "descriptors" : false, "external_signer" : false, "blank" : false, "birthtime" : xxx,
  "lastprocessedblock" : { "hash" : "hex", "height" : n },
  "keys" : n, "hdseed" : true|false, "hdpath" : "str"
}""",
    ),
    Method(
        "getnewaddress", "wallet", getnewaddress,
        "Returns a new address for receiving payments: the next key derived from the wallet's\n"
        "seed. The wallet must be unlocked (Ed25519 keys derive from private keys only).",
        '"str"    (string) The new address',
        (Param("label", "string", "The label for the address", ""),
         Param("address_type", "string", "Ignored: there is one address type", None)),
    ),
    Method(
        "getbalance", "wallet", getbalance,
        "Returns the wallet's spendable balance: its addresses' confirmed balances less their\n"
        "pending spends in the mempool.",
        "n    (numeric) The total amount in coins received for this wallet.",
        (Param("dummy", "string", 'Remains for backward compatibility. Must be "*".', None),
         Param("minconf", "number", "Ignored: balances are the chain's", 0),
         Param("include_watchonly", "bool", "Ignored", False),
         Param("avoid_reuse", "bool", "Ignored", False)),
    ),
    Method(
        "getbalances", "wallet", getbalances,
        "Returns an object with all balances in coins. There is no coinbase maturity, so\n"
        "immature is always 0.",
        """\
{
  "mine" : { "trusted" : n, "untrusted_pending" : n, "immature" : 0 },
  "lastprocessedblock" : { "hash" : "hex", "height" : n }
}""",
    ),
    Method(
        "sendtoaddress", "wallet", sendtoaddress,
        "Send an amount to a given address, from the first address of the wallet that holds\n"
        "amount plus fee (an account transaction has one sender). The wallet must be unlocked.",
        '"hex"    (string) The transaction id (with verbose: { "txid", "fee_reason" })',
        (Param("address", "string", "The address to send to."),
         Param("amount", "amount", "The amount in coins to send. eg 0.1"),
         Param("comment", "string", "Ignored (not stored)", ""),
         Param("comment_to", "string", "Ignored (not stored)", ""),
         Param("subtractfeefromamount", "bool", "The fee will be deducted from the amount",
               False),
         Param("replaceable", "bool", "Ignored: every pending transaction is replaceable", None),
         Param("conf_target", "number", "Confirmation target in blocks", None),
         Param("estimate_mode", "string", "economical or conservative", "unset"),
         Param("avoid_reuse", "bool", "Ignored", False),
         Param("fee_rate", "number", "Fee rate in base units per byte (bitcoind: sat/vB)", None),
         Param("verbose", "bool", "If true, return extra information", False)),
    ),
    Method(
        "listtransactions", "wallet", listtransactions,
        "With an address as first argument: that account's most recent transactions, newest\n"
        "first (pending first), from the node's address index (no wallet needed). Otherwise\n"
        "the wallet's: the most recent 'count' entries after skipping 'skip', oldest first,\n"
        "as bitcoind.",
        """\
[
  {
    "address" : "str", "category" : "send|receive|generate", "amount" : n, "fee" : n,
    "confirmations" : n, "blockhash" : "hex", "blockheight" : n, "blockindex" : n,
    "blocktime" : xxx, "txid" : "hex", "time" : xxx, "timereceived" : xxx
  }, ...
]""",
        (Param("label", "string", 'An address, or "*" for the whole wallet', None),
         Param("count", "number", "The number of transactions to return", 10),
         Param("skip", "number", "The number of transactions to skip", 0),
         Param("include_watchonly", "bool", "Ignored", False)),
    ),
    Method(
        "walletpassphrase", "wallet", walletpassphrase,
        "Stores the wallet decryption key in memory for 'timeout' seconds. A deterministic\n"
        "wallet restored from an older backup adds the keys the chain has seen since.",
        _UNLOCK_RESULT,
        (Param("passphrase", "string", "The wallet passphrase"),
         Param("timeout", "number", "The time to keep the decryption key in seconds")),
        needs_chain=True,
    ),
    Method(
        "walletlock", "wallet", walletlock,
        "Removes the wallet encryption key from memory, locking the wallet.", "null",
        needs_chain=False,
    ),
    Method(
        "backupwallet", "wallet", backupwallet,
        "Safely copies the wallet file (encrypted) to destination, a file or a directory.",
        "null",
        (Param("destination", "string", "The destination directory or file"),),
        needs_chain=False,
    ),
]
