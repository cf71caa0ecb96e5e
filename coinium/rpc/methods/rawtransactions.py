"""Raw transactions: decode, look up, test and submit them."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from coinium.chain.chainstate import ChainState
from coinium.core.transaction import Transaction
from coinium.mempool.admission import SIGNATURE_CHUNK
from coinium.mempool.pool import MempoolReject
from coinium.rpc.args import parse_hash, parse_transaction
from coinium.rpc.encoding import Amount
from coinium.rpc.errors import (
    RPC_INVALID_ADDRESS_OR_KEY,
    RPC_INVALID_PARAMETER,
    RPC_TRANSACTION_ALREADY_IN_CHAIN,
    RPC_TRANSACTION_ERROR,
    RpcError,
)
from coinium.rpc.registry import Method, Param
from coinium.rpc.server import RpcContext
from coinium.rpc.shapes import tx_json

# bitcoind's DEFAULT_MAX_RAW_TX_FEE_RATE: 0.10 coin per 1000 bytes.
DEFAULT_MAX_FEE_RATE = Decimal("0.10")
MAX_TESTMEMPOOLACCEPT_TXS = 25  # bitcoind's MAX_PACKAGE_COUNT


def fee_too_high(tx: Transaction, max_fee_rate: int) -> bool:
    """Fee above ``max_fee_rate`` (units per 1000 bytes, 0 = no cap), compared exactly."""
    return max_fee_rate > 0 and tx.fee * 1000 > max_fee_rate * tx.size


# --- lookups --------------------------------------------------------------------------------------
def _find_in_block(chain: ChainState, txid: bytes, block_hash: bytes) -> dict[str, Any]:
    entry = chain.index.get(block_hash)
    if entry is None:
        raise RpcError(RPC_INVALID_ADDRESS_OR_KEY, "Block hash not found")
    block = chain.get_block(block_hash)
    tx = next((t for t in block.transactions if t.txid == txid), None) if block else None
    if tx is None:
        raise RpcError(RPC_INVALID_ADDRESS_OR_KEY,
                       "No such transaction found in the provided block")
    return _located(chain, tx, block_hash, in_active_chain=chain.is_on_main_chain(block_hash))


def _find_on_chain(chain: ChainState, txid: bytes) -> dict[str, Any] | None:
    location = chain.get_tx_location(txid)
    if location is None:
        return None
    block_hash, position = location
    block = chain.get_block(block_hash)
    if block is None or position >= len(block.transactions):
        return None
    return _located(chain, block.transactions[position], block_hash)


def _located(chain: ChainState, tx: Transaction, block_hash: bytes,
             in_active_chain: bool | None = None) -> dict[str, Any]:  # fmt: skip
    entry = chain.index[block_hash]
    on_main = chain.is_on_main_chain(block_hash)
    return {
        "tx": tx,
        "in_active_chain": in_active_chain,
        "blockhash": block_hash.hex(),
        "confirmations": chain.height - entry.height + 1 if on_main else 0,
        "time": entry.header.timestamp,
        "blocktime": entry.header.timestamp,
    }


async def getrawtransaction(ctx: RpcContext, txid: str, verbose: int | bool,
                            blockhash: str | None) -> Any:  # fmt: skip
    key = parse_hash(txid, "parameter 1")
    found: dict[str, Any] | None
    if blockhash is not None:
        found = await ctx.on_chain(_find_in_block, key, parse_hash(blockhash, "parameter 3"))
    else:
        pooled = ctx.node.mempool.get(key)
        found = {"tx": pooled.tx} if pooled is not None else await ctx.on_chain(_find_on_chain, key)
    if found is None:
        raise RpcError(RPC_INVALID_ADDRESS_OR_KEY, "No such mempool or blockchain transaction")
    tx: Transaction = found.pop("tx")
    if not verbose:
        return tx.raw.hex()
    result: dict[str, Any] = {}
    if found.get("in_active_chain") is not None:
        result["in_active_chain"] = found["in_active_chain"]
    result.update(tx_json(tx, ctx.node.params))
    result["hex"] = tx.raw.hex()
    for key_name in ("blockhash", "confirmations", "time", "blocktime"):
        if key_name in found:
            result[key_name] = found[key_name]
    return result


async def decoderawtransaction(ctx: RpcContext, hexstring: str) -> dict[str, Any]:
    return tx_json(parse_transaction(hexstring), ctx.node.params)


# --- submission -----------------------------------------------------------------------------------
def _reject_error(reject: MempoolReject) -> RpcError:
    # bitcoind's message: the reject reason, then the details in parentheses.
    return RpcError(reject.code, str(reject))


async def sendrawtransaction(ctx: RpcContext, hexstring: str, maxfeerate: int) -> str:
    tx = _decoded(ctx, hexstring)
    await ctx.node.mempool.signature_ready(tx)  # a batch's check of it, off the event loop
    try:
        return _submit(ctx, tx, maxfeerate)
    except MempoolReject as reject:
        raise await _refusal(ctx, tx, reject) from None


async def sendrawtransaction_run(ctx: RpcContext, calls: list[dict[str, Any]]) -> list[Any]:
    """A run of consecutive sendrawtransaction calls in a batch, as one unit: each call's txid
    or the exception it raises, in order; the very steps `sendrawtransaction` takes, without a
    handler invocation (or a coroutine) per call."""
    mempool = ctx.node.mempool
    outcomes: list[Any] = []
    seen: list[Transaction] = []
    try:
        for kwargs in calls:
            try:
                tx = _decoded(ctx, kwargs["hexstring"])
                seen.append(tx)
                if mempool.signature_pending(tx):
                    await mempool.signature_ready(tx)
                outcomes.append(_submit(ctx, tx, kwargs["maxfeerate"]))
            except MempoolReject as reject:
                outcomes.append(await _refusal(ctx, tx, reject))
            except Exception as exc:  # the server turns it into this call's error reply
                outcomes.append(exc)
    finally:
        mempool.forget_signatures(seen)  # those refused before their signature was read
    return outcomes


def _decoded(ctx: RpcContext, hexstring: str) -> Transaction:
    """The batch's decode of ``hexstring`` (`prepare_sendrawtransaction`), else a fresh one."""
    prepared = ctx.prepared.get("sendrawtransaction")
    tx = prepared.pop(hexstring, None) if prepared else None
    return parse_transaction(hexstring) if tx is None else tx


def _submit(ctx: RpcContext, tx: Transaction, max_fee_rate: int) -> str:
    """Admit ``tx`` (its queued signature check, if any, done): its txid, or the mempool's
    MempoolReject, or the fee cap's RpcError.

    bitcoind's BroadcastTransaction order: already confirmed, already pooled (then it only
    re-announces and succeeds), the mempool's verdict, then the fee cap. A confirmed
    transaction's nonce is below its sender's account nonce, so the mempool refuses it with
    bad-txns-nonce before anything else that could apply: only then is the chain asked
    (`_refusal`; a round trip to the chain thread per call would cost more than the admission).
    The mempool is added to directly, as `Node.submit_transaction` does."""
    mempool = ctx.node.mempool
    if tx.txid in mempool:
        return tx.txid.hex()
    if fee_too_high(tx, max_fee_rate):
        mempool.test_accept(tx)
        raise RpcError(RPC_TRANSACTION_ERROR,
                       "Fee exceeds maximum configured by user (e.g. -maxtxfee, maxfeerate)")
    mempool.add(tx)
    return tx.txid.hex()


async def _refusal(ctx: RpcContext, tx: Transaction, reject: MempoolReject) -> RpcError:
    """The RPC error for a mempool refusal: -27 for a transaction the chain already holds."""
    if reject.reason == "bad-txns-nonce" and await ctx.on_chain(
            lambda chain: chain.get_tx_location(tx.txid)) is not None:  # fmt: skip
        return RpcError(RPC_TRANSACTION_ALREADY_IN_CHAIN, "Transaction already in block chain")
    return _reject_error(reject)


async def prepare_sendrawtransaction(ctx: RpcContext, params: list[Any]) -> None:
    """Before a batch's sendrawtransaction calls run (one by one, in order): decode them once
    and start checking their signatures together, in kernel batches on the mempool's worker
    thread (`Mempool.queue_signatures`); each call awaits its verdict, then the rules. A chunk
    is queued as soon as it is decoded, so the worker checks signatures while the rest decode."""
    if len(params) < 2:
        return
    parsed: dict[str, Transaction] = {}
    chunk: list[Transaction] = []
    mempool = ctx.node.mempool
    for p in params:
        hexstring = p[0] if isinstance(p, list) and p else (
            p.get("hexstring") if isinstance(p, dict) else None)  # fmt: skip
        if isinstance(hexstring, str):
            try:
                tx = parse_transaction(hexstring)
            except RpcError:
                continue  # the call itself reports it
            parsed[hexstring] = tx
            chunk.append(tx)
            if len(chunk) == SIGNATURE_CHUNK:
                mempool.queue_signatures(chunk, decoded=True)
                chunk = []
    if chunk:
        mempool.queue_signatures(chunk, decoded=True)
    ctx.prepared["sendrawtransaction"] = parsed


async def testmempoolaccept(ctx: RpcContext, rawtxs: list[Any],
                            maxfeerate: int) -> list[dict[str, Any]]:  # fmt: skip
    if not 1 <= len(rawtxs) <= MAX_TESTMEMPOOLACCEPT_TXS:
        raise RpcError(RPC_INVALID_PARAMETER, "Array must contain between 1 and "
                       f"{MAX_TESTMEMPOOLACCEPT_TXS} transactions.")  # fmt: skip
    txs = []
    for raw in rawtxs:
        if not isinstance(raw, str):
            raise RpcError(RPC_INVALID_PARAMETER, "rawtxs must hold hex strings")
        txs.append(parse_transaction(raw))
    mempool = ctx.node.mempool
    # The signatures are checked together on the mempool's worker while the chain is asked
    # (off the event loop); each test then reads its verdict.
    mempool.queue_signatures(txs, decoded=True)
    try:
        return await _test_each(ctx, txs, maxfeerate)
    finally:
        mempool.forget_signatures(txs)  # the verdicts no test read (confirmed, refused first)


async def _test_each(ctx: RpcContext, txs: list[Transaction],
                     max_fee_rate: int) -> list[dict[str, Any]]:  # fmt: skip
    mempool = ctx.node.mempool
    confirmed = await ctx.on_chain(
        lambda chain: {tx.txid for tx in txs if chain.get_tx_location(tx.txid) is not None})
    results = []
    for tx in txs:
        result: dict[str, Any] = {"txid": tx.txid.hex(), "wtxid": tx.txid.hex()}
        reason = None
        if tx.txid in confirmed:
            reason = "txn-already-known"
        else:
            if mempool.signature_pending(tx):
                await mempool.signature_ready(tx)
            try:
                mempool.test_accept(tx)
            except MempoolReject as reject:
                reason = reject.reason
            else:
                if fee_too_high(tx, max_fee_rate):
                    reason = "max-fee-exceeded"
        result["allowed"] = reason is None
        if reason is None:
            result["vsize"] = tx.size
            result["fees"] = {
                "base": Amount(tx.fee),
                "effective-feerate": Amount(tx.fee * 1000 // tx.size),
                "effective-includes": [tx.txid.hex()],
            }
        else:
            result["reject-reason"] = reason
        results.append(result)
    return results


_TX_RESULT = """\
{
  "txid" : "hex",           (string) the transaction id
  "hash" : "hex",           (string) the same (no witness data)
  "size" : n,               (numeric) bytes
  "version" : n,            (numeric) encoding version
  "kind" : "str",           (string) "transfer" or "coinbase"
  "sender" : "hex",         (string, transfer) the sender's Ed25519 public key
  "from" : "str",           (string, transfer) the sender's address
  "nonce" : n,              (numeric, transfer) the sender's account nonce it uses
  "height" : n,             (numeric, coinbase) the block height it commits to
  "to" : "str",             (string) the recipient's address
  "amount" : n,             (numeric) coins
  "amount_units" : n,       (numeric) base units (1 coin = 100000000)
  "fee" : n,                (numeric) coins (0 for a coinbase)
  "fee_units" : n,          (numeric) base units
  "memo" : "hex"            (string, transfer) the memo; a coinbase has "extra" instead
}"""

_MAXFEERATE = Param(
    "maxfeerate", "amount", "Reject transactions whose fee rate is higher than this, in coins "
    "per 1000 bytes (0 = no cap)", DEFAULT_MAX_FEE_RATE,
)

METHODS = [
    Method(
        "getrawtransaction", "rawtransactions", getrawtransaction,
        "Return the raw transaction data, from the mempool or the main chain (the transaction\n"
        "index is always on), or from the given block.\n"
        "If verbose is false or 0, returns a string that is serialized, hex-encoded data.\n"
        "If verbose is true or 1, returns an Object with information about the transaction.",
        _TX_RESULT + """
plus "hex", and when it is in a block "blockhash", "confirmations", "time", "blocktime";
with blockhash given, "in_active_chain" too.""",
        (Param("txid", "hex", "The transaction id"),
         Param("verbose", "verbosity", "0/false for hex-encoded data, 1/true for a JSON object",
               0),
         Param("blockhash", "hex", "The block in which to look for the transaction", None)),
    ),
    Method("decoderawtransaction", "rawtransactions", decoderawtransaction,
           "Return a JSON object representing the serialized, hex-encoded transaction.",
           _TX_RESULT, (Param("hexstring", "hex", "The transaction hex string"),)),
    Method(
        "sendrawtransaction", "rawtransactions", sendrawtransaction,
        "Submit a raw transaction (serialized, hex-encoded) to the local node's mempool.\n"
        "A transaction already in the mempool succeeds again; one in the chain is -27; a\n"
        "mempool refusal has the mempool's code and \"reason (details)\" as the message.\n"
        "The fee cap is a rate, as bitcoind's, over the transaction's size.",
        '"hex"    (string) The transaction hash in hex',
        (Param("hexstring", "hex", "The hex string of the raw transaction"), _MAXFEERATE),
        prepare_batch=prepare_sendrawtransaction,
        run_batch=sendrawtransaction_run,
    ),
    Method(
        "testmempoolaccept", "rawtransactions", testmempoolaccept,
        "Returns result of mempool acceptance tests indicating if raw transaction(s) would be\n"
        "accepted by mempool. Each transaction is checked alone against the current mempool\n"
        "(no packages: a second nonce of the same sender reads nonce-gap).",
        """\
[
  {
    "txid" : "hex", "wtxid" : "hex",
    "allowed" : true|false,
    "vsize" : n,                                   (when allowed)
    "fees" : { "base" : n, "effective-feerate" : n, "effective-includes" : [ "hex" ] },
    "reject-reason" : "str"                        (when not allowed)
  }, ...
]""",
        (Param("rawtxs", "array", "An array of hex strings of raw transactions."), _MAXFEERATE),
    ),
]
