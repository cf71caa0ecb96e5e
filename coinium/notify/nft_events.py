"""The bodies of the ZMQ ``nft`` topic: one JSON object (UTF-8) per NFT mint, transfer, burn or
sale of each connected block, and again, with ``"connected": false``, for each disconnected one
(so a tool following the topic can undo what a reorg took back)::

    {"event": "mint"|"transfer"|"burn"|"sale", "id": "CLASS/TOKEN", "txid": hex,
     "blockhash": hex, "height": n, "connected": bool,
     "from": address|null (the sender; a sale's seller), "to": address|null (the new owner),
     "price_units": n (sale only)}
"""

from __future__ import annotations

import json
from collections.abc import Callable

from coinium.core.block import Block
from coinium.core.kinds.nft import NFT_KINDS, body_of, burn, mint, sale, transfer
from coinium.core.kinds.nft.common import token_name
from coinium.crypto.address import account_id, encode_address

EVENTS = {mint.NUMBER: "mint", transfer.NUMBER: "transfer", burn.NUMBER: "burn",
          sale.NUMBER: "sale"}  # fmt: skip


def nft_events(block: Block, connected: bool, prefix: str) -> list[bytes]:
    show: Callable[[bytes], str] = lambda account: encode_address(prefix, account)  # noqa: E731
    out = []
    for tx in block.transactions:
        event = EVENTS.get(int(tx.kind))
        if event is None:
            continue
        body = body_of(tx, NFT_KINDS[int(tx.kind)])
        sender = account_id(tx.sender)
        item = {"event": event, "id": token_name(body.class_id, body.token_id),
                "txid": tx.txid.hex(), "blockhash": block.hash.hex(),
                "height": block.header.height, "connected": connected}  # fmt: skip
        if event == "mint":
            item.update({"from": None, "to": show(body.owner)})
        elif event == "transfer":
            item.update({"from": show(sender), "to": show(body.to)})
        elif event == "burn":
            item.update({"from": show(sender), "to": None})
        else:
            item.update({"from": show(account_id(body.seller)), "to": show(sender),
                         "price_units": body.price})  # fmt: skip
        out.append(json.dumps(item, separators=(",", ":")).encode())
    return out
