"""Contracts (CosmWasm's queries, Ethereum's eth_call/eth_estimateGas, in bitcoind's style):
getcontract, getcontractstorage, listcontractevents, getcontractreceipt, callcontract,
estimategas. Uploading, instantiating and executing are signed transactions sent with
sendrawtransaction (the wallet's ``coinium wallet contract`` commands build them)."""

from __future__ import annotations

from typing import Any

from coinium.chain.chainstate import ChainState
from coinium.contracts import limits, query
from coinium.contracts.records import Instance, Receipt, decode_event
from coinium.core.errors import ConsensusError
from coinium.core.params import NetworkParams
from coinium.core.state import (
    NS_CONTRACT,
    NS_CONTRACT_CODE,
    NS_CONTRACT_EVENT,
    NS_CONTRACT_RECEIPT,  # fmt: skip
    NS_CONTRACT_STORAGE,
)
from coinium.rpc.args import parse_address, parse_hash, parse_transaction
from coinium.rpc.encoding import Amount
from coinium.rpc.errors import (
    RPC_INVALID_ADDRESS_OR_KEY,
    RPC_INVALID_PARAMETER,
    RPC_VERIFY_REJECTED,  # fmt: skip
    RpcError,
)
from coinium.rpc.registry import Method, Param
from coinium.rpc.server import RpcContext
from coinium.rpc.shapes import address as show_address

MAX_LIST = 1000


def _hex(text: str, name: str, limit: int) -> bytes:
    try:
        value = bytes.fromhex(text)
    except ValueError:
        raise RpcError(RPC_INVALID_PARAMETER, f"{name} must be a hex string") from None
    if len(value) > limit:
        raise RpcError(RPC_INVALID_PARAMETER, f"{name} is longer than {limit} bytes")
    return value


def _count(count: int) -> int:
    if not 0 < count <= MAX_LIST:
        raise RpcError(RPC_INVALID_PARAMETER, f"count must be 1 .. {MAX_LIST}")
    return count


def _contract(chain: ChainState, contract: bytes) -> Instance:
    raw = chain.get_record(NS_CONTRACT, contract)
    if raw is None:
        raise RpcError(RPC_INVALID_ADDRESS_OR_KEY, "No such contract")
    return Instance.decode(raw)


def receipt_json(receipt: Receipt, params: NetworkParams) -> dict[str, Any]:
    return {"ok": receipt.ok, "gas_used": receipt.gas_used,
            "contract": show_address(receipt.contract, params) if any(receipt.contract) else None,
            "reason": receipt.reason or None, "result": receipt.result.hex(),
            "events": [key.hex() for key in receipt.events]}  # fmt: skip


def event_json(key: bytes, value: bytes, params: NetworkParams) -> dict[str, Any]:
    event = decode_event(key, value)
    return {"contract": show_address(event["contract"], params), "height": event["height"],
            "sequence": event["sequence"], "txid": event["txid"].hex(),
            "topic": event["topic"].decode("utf-8", "replace"), "topic_hex": event["topic"].hex(),
            "data": event["data"].hex()}  # fmt: skip


async def getcontract(ctx: RpcContext, address: str) -> dict[str, Any]:
    params = ctx.node.params
    contract = parse_address(address, params)

    def read(chain: ChainState) -> tuple[Instance, int, int]:
        instance = _contract(chain, contract)
        code = chain.get_record(NS_CONTRACT_CODE, instance.code_hash) or b""
        return instance, len(code), chain.get_account(contract).balance

    instance, code_size, balance = await ctx.on_chain(read)
    return {"address": show_address(contract, params), "code_hash": instance.code_hash.hex(),
            "code_size": code_size,
            "admin": show_address(instance.admin, params) if instance.admin else None,
            "creator": show_address(instance.creator, params), "height": instance.height,
            "balance": Amount(balance), "balance_units": balance}  # fmt: skip


async def getcontractstorage(ctx: RpcContext, address: str, key: str = "", count: int = 100,
                             after: str = "") -> dict[str, Any]:  # fmt: skip
    params = ctx.node.params
    contract = parse_address(address, params)
    wanted = _hex(key, "key", limits.MAX_STORAGE_KEY)
    start = _hex(after, "after", limits.MAX_STORAGE_KEY)
    count = _count(count)

    def read(chain: ChainState) -> list[tuple[bytes, bytes]]:
        _contract(chain, contract)
        if wanted:
            value = chain.get_record(NS_CONTRACT_STORAGE, contract + wanted)
            return [] if value is None else [(contract + wanted, value)]
        after_key = contract + start if start else b""
        return chain.records_with_prefix(NS_CONTRACT_STORAGE, contract, count, after_key)

    entries = await ctx.on_chain(read)
    return {"address": show_address(contract, params),
            "entries": [{"key": k[20:].hex(), "value": v.hex()} for k, v in entries]}


async def listcontractevents(ctx: RpcContext, address: str, count: int = 100,
                             from_height: int = 0) -> list[dict[str, Any]]:  # fmt: skip
    params = ctx.node.params
    contract = parse_address(address, params)
    count = _count(count)
    if from_height < 0:
        raise RpcError(RPC_INVALID_PARAMETER, "from_height must be >= 0")
    after = contract + (from_height - 1).to_bytes(8, "big") + b"\xff" * 4 if from_height else b""
    entries = await ctx.on_chain(lambda chain: chain.records_with_prefix(
        NS_CONTRACT_EVENT, contract, count, after))
    return [event_json(k, v, params) for k, v in entries]


async def getcontractreceipt(ctx: RpcContext, txid: str) -> dict[str, Any]:
    digest = parse_hash(txid, "txid")
    raw = await ctx.on_chain(lambda chain: chain.get_record(NS_CONTRACT_RECEIPT, digest))
    if raw is None:
        raise RpcError(RPC_INVALID_ADDRESS_OR_KEY, "No receipt for this transaction")
    return {"txid": txid, **receipt_json(Receipt.decode(raw), ctx.node.params)}


async def callcontract(ctx: RpcContext, address: str, msg: str = "",
                       gas: int = limits.QUERY_GAS_LIMIT) -> dict[str, Any]:  # fmt: skip
    params = ctx.node.params
    contract = parse_address(address, params)
    message = _hex(msg, "msg", limits.MAX_MESSAGE_SIZE)
    if not 0 < gas <= limits.QUERY_GAS_LIMIT:
        raise RpcError(RPC_INVALID_PARAMETER, f"gas must be 1 .. {limits.QUERY_GAS_LIMIT}")
    result = await ctx.on_chain(lambda chain: chain.with_tip_state(
        lambda view, height, time: query.query(view, height, time, contract, message, gas)))
    return {"ok": result.ok, "result": result.result.hex(), "gas_used": result.gas_used,
            "reason": result.reason or None}  # fmt: skip


async def estimategas(ctx: RpcContext, hexstring: str) -> dict[str, Any]:
    tx = parse_transaction(hexstring)

    def run(chain: ChainState) -> Receipt:
        return chain.with_tip_state(lambda view, height, time: query.estimate_transaction(
            view, height, time, tx))

    try:
        receipt = await ctx.on_chain(run)
    except ValueError as exc:
        raise RpcError(RPC_INVALID_PARAMETER, str(exc)) from None
    except ConsensusError as exc:
        raise RpcError(RPC_VERIFY_REJECTED, exc.reason + (f" ({exc.detail})" if exc.detail
                                                          else "")) from None
    return receipt_json(receipt, ctx.node.params)


_RECEIPT = """\
{
  "ok" : true|false,       (boolean) whether the contract work succeeded
  "gas_used" : n,          (numeric) gas charged (all of the limit when it failed)
  "contract" : "str",      (string) the contract called or created
  "reason" : "str",        (string) the reason code when it failed, else null
  "result" : "hex",        (string) return data, or the revert message
  "events" : ["hex", ...]  (json array) the keys of the events it wrote
}"""

METHODS = [
    Method("getcontract", "contracts", getcontract,
           "Returns a contract: its code hash and size, admin, creator, creation height and\n"
           "the coins it holds.",
           '{ "address", "code_hash", "code_size", "admin", "creator", "height", "balance", '
           '"balance_units" }',
           (Param("address", "string", "The contract's address"),)),
    Method("getcontractstorage", "contracts", getcontractstorage,
           "Returns one key of a contract's storage, or up to 'count' entries in key order\n"
           "after the key 'after' (hex).",
           '{ "address", "entries" : [ { "key" : "hex", "value" : "hex" }, ... ] }',
           (Param("address", "string", "The contract's address"),
            Param("key", "hex", "One key (hex); empty lists them", ""),
            Param("count", "number", "How many entries at most", 100),
            Param("after", "hex", "List keys above this one (paging)", ""))),
    Method("listcontractevents", "contracts", listcontractevents,
           "Returns up to 'count' events a contract emitted, oldest first, from a height.",
           '[ { "contract", "height", "sequence", "txid", "topic", "topic_hex", "data" }, ... ]',
           (Param("address", "string", "The contract's address"),
            Param("count", "number", "How many events at most", 100),
            Param("from_height", "number", "The first height to list", 0))),
    Method("getcontractreceipt", "contracts", getcontractreceipt,
           "Returns the receipt of a confirmed contract transaction.", _RECEIPT,
           (Param("txid", "hex", "The transaction id"),)),
    Method("callcontract", "contracts", callcontract,
           "Calls a contract's read-only 'query' entry point on the tip's state. Free; the\n"
           "gas is capped; writes, sends and events fail with 'read-only'.",
           '{ "ok", "result" : "hex", "gas_used", "reason" }',
           (Param("address", "string", "The contract's address"),
            Param("msg", "hex", "The query message (hex)", ""),
            Param("gas", "number", "Gas cap", limits.QUERY_GAS_LIMIT))),
    Method("estimategas", "contracts", estimategas,
           "Runs a contract transaction (upload, instantiate, execute, migrate; signature not\n"
           "checked) on the tip's state exactly as the next block would, and returns the\n"
           "receipt it would get. Nothing is written.", _RECEIPT,
           (Param("hexstring", "hex", "The raw transaction"),)),
]
