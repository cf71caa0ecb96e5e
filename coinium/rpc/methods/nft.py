"""NFTs (ours; CosmWasm's cw721 queries and Cosmos x/nft as references): getnft, getnftclass,
listnfts, listnftclasses, getnfthistory, getnftproof, nftindex."""

from __future__ import annotations

from typing import Any

from coinium.chain import nft_queries
from coinium.core.kinds.nft.common import (
    MAX_CLASS_ID,
    NO_ACCOUNT,
    ClassRecord,
    check_id,
    parse_token_name,
    token_key,
    token_name,
)
from coinium.core.state import NS_NFT_TOKEN
from coinium.crypto.state_proof import proof_to_json
from coinium.rpc.args import parse_address
from coinium.rpc.errors import RPC_INVALID_ADDRESS_OR_KEY, RPC_INVALID_PARAMETER, RpcError
from coinium.rpc.registry import Method, Param
from coinium.rpc.server import RpcContext
from coinium.rpc.shapes import address, tx_json

MAX_PAGE = 1000


def parse_nft_id(text: str) -> tuple[bytes, bytes]:
    try:
        return parse_token_name(text)
    except ValueError as exc:
        raise RpcError(RPC_INVALID_PARAMETER, f"Invalid NFT id: {exc}") from None


def parse_class_id(text: str) -> bytes:
    try:
        return check_id(text, MAX_CLASS_ID)
    except ValueError as exc:
        raise RpcError(RPC_INVALID_PARAMETER, f"Invalid class id: {exc}") from None


def token_json(token: nft_queries.Token, params,
               shown: dict[bytes, str] | None = None) -> dict[str, Any]:  # fmt: skip
    """getnft's object. ``shown``: addresses already encoded (a page of one owner's tokens
    would otherwise spend most of its time encoding the same address a thousand times)."""
    record = token.record
    if shown is None:
        shown = {}
    owner = shown.get(record.owner)
    if owner is None:
        owner = shown[record.owner] = address(record.owner, params)
    return {
        "id": token_name(token.class_id, token.token_id),
        "class": token.class_id.decode(),
        "token": token.token_id.decode(),
        "owner": owner,
        "approved": None if record.approved == NO_ACCOUNT else address(record.approved, params),
        "uri": record.uri.decode(),
        "contenthash": record.content_hash.hex(),
    }


def class_json(class_id: bytes, cls: ClassRecord, params) -> dict[str, Any]:
    return {
        "class": class_id.decode(),
        "name": cls.name.decode(),
        "symbol": cls.symbol.decode(),
        "creator": address(cls.creator, params),
        "uri": cls.uri.decode(),
        "contenthash": cls.content_hash.hex(),
        "royalty_bps": cls.royalty_bps,
        "royaltyrecipient": address(cls.royalty_to, params),
        "maxsupply": cls.max_supply,
        "minted": cls.minted,
        "burned": cls.burned,
        "supply": cls.minted - cls.burned,
        "minter": "anyone" if cls.minter else "creator",
        "mutablemetadata": cls.mutable,
    }


async def getnft(ctx: RpcContext, id: str) -> dict[str, Any]:  # noqa: A002 (bitcoind's names)
    class_id, token_id = parse_nft_id(id)
    token = await ctx.on_chain(nft_queries.get_token, class_id, token_id)
    if token is None:
        raise RpcError(RPC_INVALID_ADDRESS_OR_KEY, f"NFT {id} not found")
    return token_json(token, ctx.node.params)


async def getnftclass(ctx: RpcContext, class_id: str) -> dict[str, Any]:
    raw_id = parse_class_id(class_id)
    cls = await ctx.on_chain(nft_queries.get_class, raw_id)
    if cls is None:
        raise RpcError(RPC_INVALID_ADDRESS_OR_KEY, f"NFT class {class_id} not found")
    return class_json(raw_id, cls, ctx.node.params)


def _page_size(count: int) -> int:
    if not 0 < count <= MAX_PAGE:
        raise RpcError(RPC_INVALID_PARAMETER, f"count must be 1 to {MAX_PAGE}")
    return count


async def listnfts(ctx: RpcContext, owner: str, class_id: str, after: str,
                   count: int) -> dict[str, Any]:  # fmt: skip
    params = ctx.node.params
    limit = _page_size(count)
    if bool(owner) == bool(class_id):
        raise RpcError(RPC_INVALID_PARAMETER, "give exactly one of owner and class_id")
    start = token_key(*parse_nft_id(after)) if after else b""
    if owner:
        account = parse_address(owner, params)
        tokens = await ctx.on_chain(nft_queries.tokens_of_owner, account, start, limit)
    else:
        tokens = await ctx.on_chain(nft_queries.tokens_of_class, parse_class_id(class_id), start,
                                    limit)  # fmt: skip
    addresses: dict[bytes, str] = {}
    shown = [token_json(token, params, addresses) for token in tokens]
    return {"nfts": shown, "next": shown[-1]["id"] if len(shown) == limit else None}


async def listnftclasses(ctx: RpcContext, after: str, count: int) -> dict[str, Any]:
    limit = _page_size(count)
    start = parse_class_id(after) if after else b""
    found = await ctx.on_chain(nft_queries.classes, start, limit)
    shown = [class_json(class_id, cls, ctx.node.params) for class_id, cls in found]
    return {"classes": shown, "next": shown[-1]["class"] if len(shown) == limit else None}


async def getnfthistory(ctx: RpcContext, id: str, count: int) -> list[dict[str, Any]]:  # noqa: A002
    class_id, token_id = parse_nft_id(id)
    limit = _page_size(count)
    params = ctx.node.params

    def read(chain):
        return chain.height, nft_queries.token_history(chain, class_id, token_id, limit)

    tip, found = await ctx.on_chain(read)
    return [{"height": height, "blockhash": block.hash.hex(), "time": block.header.timestamp,
             "confirmations": tip - height + 1, **tx_json(block.transactions[position], params)}
            for height, block, position in found]  # fmt: skip


async def getnftproof(ctx: RpcContext, id: str) -> dict[str, Any]:  # noqa: A002
    class_id, token_id = parse_nft_id(id)
    key = token_key(class_id, token_id)
    proof, record, root, height = await ctx.on_chain(
        lambda chain: chain.prove_record(NS_NFT_TOKEN, key))
    out = proof_to_json(proof, record, root, height, id, b"")
    del out["address"], out["accountid"]
    return {"id": id, "namespace": NS_NFT_TOKEN, "key": key.hex(), **out}


async def nftindex(ctx: RpcContext, rebuild: bool) -> dict[str, Any]:
    """Check the NFT indexes against a rebuild from the records and the main chain; with
    rebuild, write them again first."""
    if rebuild:
        await ctx.on_chain(nft_queries.rebuild_indexes)
    return await ctx.on_chain(nft_queries.check_indexes)


_TOKEN = """\
{
  "id" : "str",             (string) CLASS/TOKEN
  "class" : "str", "token" : "str",
  "owner" : "str",          (string) the owner's address
  "approved" : "str",       (string or null) the operator approved for this token
  "uri" : "str",            (string) where the metadata lives
  "contenthash" : "hex"     (string) BLAKE3 of the metadata's bytes (`coinium verifynft`)
}"""

METHODS = [
    Method("getnft", "nft", getnft, "Returns one NFT's owner, approval and metadata.", _TOKEN,
           (Param("id", "string", "The NFT as CLASS/TOKEN"),), examples=("getnft art/1",)),
    Method("getnftclass", "nft", getnftclass,
           "Returns an NFT class: its terms (royalty, supply, minter, mutability) and counts.",
           """\
{ "class", "name", "symbol", "creator", "uri", "contenthash", "royalty_bps",
  "royaltyrecipient", "maxsupply" (0: none), "minted", "burned", "supply", "minter"
  ("creator" or "anyone"), "mutablemetadata" }""",
           (Param("class_id", "string", "The class id"),)),
    Method("listnfts", "nft", listnfts,
           "Lists the NFTs of an owner or of a class, a page at a time in token-key order\n"
           "(by class, then token; a shorter id before a longer one, so 9 before 10).\n"
           "Pass the previous page's 'next' as 'after' for the following page.",
           """{ "nfts" : [ token object as getnft, ... ], "next" : "CLASS/TOKEN" or null }""",
           (Param("owner", "string", "An owner's address", ""),
            Param("class_id", "string", "A class id (instead of owner)", ""),
            Param("after", "string", "Start after this CLASS/TOKEN", ""),
            Param("count", "number", f"Page size, 1 to {MAX_PAGE}", 100)),
           examples=("listnfts rcn1... ", 'listnfts "" art')),
    Method("listnftclasses", "nft", listnftclasses, "Lists NFT classes in id order, paged.",
           """{ "classes" : [ class object as getnftclass, ... ], "next" : "str" or null }""",
           (Param("after", "string", "Start after this class id", ""),
            Param("count", "number", f"Page size, 1 to {MAX_PAGE}", 100))),
    Method("getnfthistory", "nft", getnfthistory,
           "Returns the main-chain transactions about one NFT (mint, transfers, approvals,\n"
           "metadata updates, sales, burn), oldest first, from the node's NFT history index.",
           """[ { "height", "blockhash", "time", "confirmations", ...decoded tx }, ... ]""",
           (Param("id", "string", "The NFT as CLASS/TOKEN"),
            Param("count", "number", f"At most this many, 1 to {MAX_PAGE}", 100))),
    Method("getnftproof", "nft", getnftproof,
           "Returns a Merkle proof of an NFT's record (or of its absence) against the state\n"
           "root after the tip, in getaccountproof's form (namespace 0x21, key = the token key).",
           """{ "id", "namespace", "key", "path", "record", "siblings", "leaf", "stateroot",
  "height" }""",
           (Param("id", "string", "The NFT as CLASS/TOKEN"),)),
    Method("nftindex", "nft", nftindex,
           "Checks the NFT indexes (owner -> tokens, token history) against a rebuild from the\n"
           "token records and the main chain's blocks; with rebuild=true, rebuilds them first.",
           """{ "ok" : bool, "owners" : n, "history" : n, "missing" : n, "extra" : n }""",
           (Param("rebuild", "bool", "Rebuild before checking", False),)),
]
