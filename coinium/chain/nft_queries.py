"""Reading NFTs from the chain: tokens, classes, the owner and class listings, a token's history,
proofs, and the indexes' check and rebuild. Each function reads one LMDB snapshot, so what it
returns is one consistent state (call them on the chain thread)."""

from __future__ import annotations

from dataclasses import dataclass

from coinium.chain.chainstate import ChainState
from coinium.core.block import Block
from coinium.core.kinds.nft.common import (
    ClassRecord,
    TokenRecord,
    id_field,
    split_token_key,
    token_key,
)
from coinium.core.state import NS_NFT_CLASS, NS_NFT_TOKEN
from coinium.store import nft_index


@dataclass(frozen=True, slots=True)
class Token:
    class_id: bytes
    token_id: bytes
    record: TokenRecord


def get_token(chain: ChainState, class_id: bytes, token_id: bytes) -> Token | None:
    with chain.store.read() as txn:
        raw = chain.store.state_view(txn).get(NS_NFT_TOKEN, token_key(class_id, token_id))
    return None if raw is None else Token(class_id, token_id, TokenRecord.decode(bytes(raw)))


def get_class(chain: ChainState, class_id: bytes) -> ClassRecord | None:
    with chain.store.read() as txn:
        raw = chain.store.state_view(txn).get(NS_NFT_CLASS, class_id)
    return None if raw is None else ClassRecord.decode(bytes(raw))


def tokens_of_owner(chain: ChainState, owner: bytes, after: bytes = b"",
                    limit: int = 1000) -> list[Token]:  # fmt: skip
    """A page of an owner's tokens in (class, token) order, after the token key ``after``."""
    store = chain.store
    with store.read() as txn:
        view = store.state_view(txn)
        keys = nft_index.tokens_of_owner(store, txn, owner, after, limit)
        return [Token(*split_token_key(key), TokenRecord.decode(bytes(view.get(NS_NFT_TOKEN, key))))
                for key in keys]  # fmt: skip


def tokens_of_class(chain: ChainState, class_id: bytes, after: bytes = b"",
                    limit: int = 1000) -> list[Token]:  # fmt: skip
    """A page of a class's tokens in token order, after the token key ``after``."""
    with chain.store.read() as txn:
        found = nft_index.token_records(chain.store, txn, id_field(class_id), after, limit)
    return [Token(*split_token_key(key), TokenRecord.decode(value)) for key, value in found]


def classes(chain: ChainState, after: bytes = b"", limit: int = 1000
            ) -> list[tuple[bytes, ClassRecord]]:  # fmt: skip
    prefix = bytes((NS_NFT_CLASS,))
    found: list[tuple[bytes, ClassRecord]] = []
    with chain.store.read() as txn:
        cursor = chain.store.cursor(txn, "state")
        if not cursor.set_range(prefix + after + (b"\x00" if after else b"")):
            return found
        for key, value in cursor.iternext():
            if key[:1] != prefix or len(found) >= limit:
                break
            found.append((bytes(key[1:]), ClassRecord.decode(bytes(value))))
    return found


def token_history(chain: ChainState, class_id: bytes, token_id: bytes, limit: int = 100
                  ) -> list[tuple[int, Block, int]]:  # fmt: skip
    """(height, block, position) of the main-chain transactions about a token, oldest first."""
    with chain.store.read() as txn:
        entries = nft_index.token_history(chain.store, txn, token_key(class_id, token_id), limit)
    blocks: dict[int, Block] = {}
    out = []
    for height, position, _ in entries:
        if height not in blocks:
            blocks[height] = chain.get_block(chain.main_chain[height])
        out.append((height, blocks[height], position))
    return out


def check_indexes(chain: ChainState) -> dict[str, int | bool]:
    """Compare the stored NFT indexes with a rebuild from the records and the main chain."""
    with chain.store.read() as txn:
        want_owners, want_history = nft_index.expected(chain.store, txn, chain.main_chain)
        have_owners, have_history = nft_index.stored(chain.store, txn)
    missing = len(want_owners - have_owners) + len(want_history - have_history)
    extra = len(have_owners - want_owners) + len(have_history - want_history)
    return {"ok": missing == 0 and extra == 0, "owners": len(want_owners),
            "history": len(want_history), "missing": missing, "extra": extra}  # fmt: skip


def rebuild_indexes(chain: ChainState) -> dict[str, int]:
    return chain.store.write(lambda txn: nft_index.rebuild(chain.store, txn, chain.main_chain))
