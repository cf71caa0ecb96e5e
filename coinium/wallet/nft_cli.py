"""``coinium wallet nft``: every NFT kind from a wallet, and the seller's offers; ``coinium
verifynft``: re-hash a file against the content hash the chain holds for an NFT.

    coinium wallet nft create-class NAME CLASS --name TEXT [--symbol S] [--uri URI --file F]
        [--royalty-bps N --royalty-to ADDRESS] [--max-supply N] [--open-mint] [--mutable]
    coinium wallet nft mint NAME CLASS/TOKEN [--to ADDRESS] [--uri URI --file F | --hash HEX]
    coinium wallet nft transfer NAME CLASS/TOKEN TO
    coinium wallet nft burn NAME CLASS/TOKEN
    coinium wallet nft approve NAME CLASS/TOKEN (OPERATOR | --clear)
    coinium wallet nft set-operator NAME OPERATOR [--revoke]
    coinium wallet nft update NAME CLASS[/TOKEN] --uri URI (--file F | --hash HEX)
    coinium wallet nft offer NAME CLASS/TOKEN PRICE [--expiry-blocks N] [--offer-nonce N]
    coinium wallet nft buy NAME OFFER_HEX
    coinium wallet nft cancel-offer NAME OFFER_NONCE
    coinium verifynft CLASS/TOKEN FILE

Each sends from ``--from`` (default: the wallet's first address; for a token, its owner when the
wallet holds it) with the account's next pending nonce and prints the txid; ``offer`` prints the
signed offer's hex for the buyer (``buy`` shows its terms' effect on the node: it is refused
there if expired, spent or not signed by the owner). Options as ``coinium wallet``.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import click
from blake3 import blake3

from coinium.core.codec import DecodeError, Reader
from coinium.core.kinds import nft
from coinium.core.kinds.nft import (
    approve,
    burn,
    cancel_offer,
    create_class,
    mint,
    sale,
    set_operator,
    transfer,
    update_metadata,
)
from coinium.core.kinds.nft.common import (
    FLAG_MUTABLE_METADATA,
    MAX_CLASS_ID,
    NO_ACCOUNT,
    NO_HASH,
    check_id,
    parse_token_name,
)
from coinium.core.kinds.nft.offer import Offer, read_offer
from coinium.core.units import format_amount
from coinium.crypto.address import account_id, encode_address
from coinium.wallet import keystore
from coinium.wallet.cli import (
    DEFAULT_FEE,
    _account_id,
    _amount,
    _broadcast,
    _client,
    _network_options,
    _pending_nonce,
    _rpc_options,
    _unlock,
    _user_errors,
    _wallet_and_node,
    wallet_group,
)
from coinium.wallet.rpc_client import RpcError

CHUNK = 1 << 20


def content_hash(path: Path) -> bytes:
    """BLAKE3 of a file's bytes, read in chunks."""
    hasher = blake3()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            hasher.update(chunk)
    return hasher.digest()


def _token(text: str) -> tuple[bytes, bytes]:
    try:
        return parse_token_name(text)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


def _metadata(uri: str, file: Path | None, hash_hex: str | None) -> tuple[bytes, bytes]:
    if file is not None and hash_hex is not None:
        raise click.UsageError("give --file or --hash, not both")
    if file is not None:
        digest = content_hash(file)
    elif hash_hex is not None:
        try:
            digest = bytes.fromhex(hash_hex)
        except ValueError:
            digest = b""
        if len(digest) != 32:
            raise click.ClickException("--hash is 64 hex digits (BLAKE3 of the content)")
    else:
        digest = NO_HASH
    if uri and digest == NO_HASH:
        raise click.ClickException("a URI needs its content: --file or --hash")
    return uri.encode(), digest


class _Session:
    """A wallet, its node and the sending of one NFT transaction."""

    def __init__(self, opts: dict[str, Any]):
        self.params, self.wallet, self.client = _wallet_and_node(
            opts["name"], opts["datadir"], opts["network"], opts["rpc_host"], opts["rpc_port"],
            opts["rpc_user"], opts["rpc_password"])  # fmt: skip
        self.fee = _amount(opts["fee"], "fee")
        self.sender = opts["from_address"]
        if self.sender is not None and self.sender not in self.wallet.addresses:
            raise keystore.WalletError(f"address {self.sender} is not in the wallet")

    def owner_of(self, class_id: bytes, token_id: bytes) -> str:
        """The token's owner, when the wallet holds that address (for --from's default)."""
        info = self.client.call("getnft", f"{class_id.decode()}/{token_id.decode()}")
        return info["owner"]

    def send(self, number: int, body, address: str | None = None) -> str:
        if self.sender is None and address is not None and address not in self.wallet.addresses:
            raise keystore.WalletError(f"the wallet does not hold the token's owner {address} (an "
                                       "approved operator sends with --from)")  # fmt: skip
        address = self.sender or address or self.wallet.addresses[0]
        nonce = _pending_nonce(self.client, address)
        tx = nft.signed_tx(number, _unlock(self.wallet, address), self.params.chain_id, nonce,
                           self.fee, body)  # fmt: skip
        return _broadcast(self.client, tx)


def _common(f):
    f = click.option("--fee", default=DEFAULT_FEE, show_default=True, help="Fee in coins.")(f)
    f = click.option("--from", "from_address", default=None, help="Send from this address.")(f)
    return _user_errors(_rpc_options(_network_options(f)))


@wallet_group.group("nft")
def nft_group() -> None:
    """NFTs: create classes, mint, transfer, burn, approve, update metadata, sell."""


@nft_group.command("create-class")
@click.argument("name")
@click.argument("class_id")
@click.option("--name", "display_name", required=True, help="The class's name (UTF-8).")
@click.option("--symbol", default="", help="A short symbol (A-Z 0-9).")
@click.option("--uri", default="", help="Where the class's metadata lives.")
@click.option("--file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The metadata's file: its BLAKE3 hash goes on chain.")
@click.option("--hash", "hash_hex", default=None, help="The metadata's BLAKE3 hash (hex).")
@click.option("--royalty-bps", type=click.IntRange(0, 10_000), default=0, show_default=True)
@click.option("--royalty-to", default=None, help="Royalty recipient (default: the creator).")
@click.option("--max-supply", type=click.IntRange(0), default=0, help="0: no maximum.")
@click.option("--open-mint", is_flag=True, help="Anyone may mint (default: the creator only).")
@click.option("--mutable", is_flag=True, help="The creator may change metadata later.")
@_common
def create_class_cmd(class_id, display_name, symbol, uri, file, hash_hex, royalty_bps,
                     royalty_to, max_supply, open_mint, mutable, **opts) -> None:  # fmt: skip
    """Create NFT class CLASS_ID from wallet NAME; prints the txid."""
    s = _Session(opts)
    try:
        raw_id = check_id(class_id, MAX_CLASS_ID)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    creator = s.sender or s.wallet.addresses[0]
    uri_b, digest = _metadata(uri, file, hash_hex)
    body = create_class.Body(
        raw_id, display_name.encode(), symbol.encode(), uri_b, digest, royalty_bps,
        _account_id(royalty_to or creator, s.params.address_prefix), max_supply, int(open_mint),
        FLAG_MUTABLE_METADATA if mutable else 0)  # fmt: skip
    click.echo(s.send(create_class.NUMBER, body, creator))


@nft_group.command("mint")
@click.argument("name")
@click.argument("nft_id")
@click.option("--to", default=None, help="The owner (default: the sender).")
@click.option("--uri", default="")
@click.option("--file", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--hash", "hash_hex", default=None)
@_common
def mint_cmd(nft_id, to, uri, file, hash_hex, **opts) -> None:
    """Mint NFT CLASS/TOKEN; prints the txid."""
    s = _Session(opts)
    class_id, token_id = _token(nft_id)
    sender = s.sender or s.wallet.addresses[0]
    uri_b, digest = _metadata(uri, file, hash_hex)
    owner = _account_id(to or sender, s.params.address_prefix)
    click.echo(s.send(mint.NUMBER, mint.Body(class_id, token_id, owner, uri_b, digest), sender))


@nft_group.command("transfer")
@click.argument("name")
@click.argument("nft_id")
@click.argument("to")
@_common
def transfer_cmd(nft_id, to, **opts) -> None:
    """Give NFT CLASS/TOKEN to address TO; prints the txid."""
    s = _Session(opts)
    class_id, token_id = _token(nft_id)
    body = transfer.Body(class_id, token_id, _account_id(to, s.params.address_prefix))
    click.echo(s.send(transfer.NUMBER, body, s.owner_of(class_id, token_id)))


@nft_group.command("burn")
@click.argument("name")
@click.argument("nft_id")
@_common
def burn_cmd(nft_id, **opts) -> None:
    """Destroy NFT CLASS/TOKEN; prints the txid."""
    s = _Session(opts)
    class_id, token_id = _token(nft_id)
    click.echo(s.send(burn.NUMBER, burn.Body(class_id, token_id), s.owner_of(class_id, token_id)))


@nft_group.command("approve")
@click.argument("name")
@click.argument("nft_id")
@click.argument("operator", required=False)
@click.option("--clear", is_flag=True, help="Remove the token's approved operator.")
@_common
def approve_cmd(nft_id, operator, clear, **opts) -> None:
    """Approve OPERATOR to move NFT CLASS/TOKEN (one per token); prints the txid."""
    if bool(operator) == clear:
        raise click.UsageError("give OPERATOR or --clear")
    s = _Session(opts)
    class_id, token_id = _token(nft_id)
    who = NO_ACCOUNT if clear else _account_id(operator, s.params.address_prefix)
    click.echo(s.send(approve.NUMBER, approve.Body(class_id, token_id, who),
                      s.owner_of(class_id, token_id)))  # fmt: skip


@nft_group.command("set-operator")
@click.argument("name")
@click.argument("operator")
@click.option("--revoke", is_flag=True)
@_common
def set_operator_cmd(operator, revoke, **opts) -> None:
    """Approve (or --revoke) OPERATOR for all of the sender's NFTs; prints the txid."""
    s = _Session(opts)
    body = set_operator.Body(_account_id(operator, s.params.address_prefix), 0 if revoke else 1)
    click.echo(s.send(set_operator.NUMBER, body))


@nft_group.command("update")
@click.argument("name")
@click.argument("nft_id")
@click.option("--uri", required=True)
@click.option("--file", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--hash", "hash_hex", default=None)
@_common
def update_cmd(nft_id, uri, file, hash_hex, **opts) -> None:
    """Point CLASS/TOKEN (or CLASS itself) at new metadata; prints the txid."""
    s = _Session(opts)
    if "/" in nft_id:
        class_id, token_id = _token(nft_id)
    else:
        class_id, token_id = check_id(nft_id, MAX_CLASS_ID), b""
    uri_b, digest = _metadata(uri, file, hash_hex)
    click.echo(s.send(update_metadata.NUMBER,
                      update_metadata.Body(class_id, token_id, uri_b, digest)))  # fmt: skip


@nft_group.command("offer")
@click.argument("name")
@click.argument("nft_id")
@click.argument("price")
@click.option("--expiry-blocks", type=click.IntRange(1, 1_000_000), default=1008,
              show_default=True, help="The offer lapses after this many blocks.")
@click.option("--offer-nonce", type=click.IntRange(0, (1 << 64) - 1), default=None,
              help="Default: random. Spent by the sale or by cancel-offer.")
@_common
def offer_cmd(nft_id, price, expiry_blocks, offer_nonce, **opts) -> None:
    """Sign an offer to sell CLASS/TOKEN for PRICE coins; prints it as JSON with its hex."""
    s = _Session(opts)
    class_id, token_id = _token(nft_id)
    owner = s.sender or s.owner_of(class_id, token_id)
    if owner not in s.wallet.addresses:
        raise keystore.WalletError(f"the wallet does not hold {nft_id}'s owner {owner}")
    height = s.client.call("getblockchaininfo")["blocks"]
    key = _unlock(s.wallet, owner)
    nonce = secrets.randbits(63) if offer_nonce is None else offer_nonce
    offer = Offer(key.public_key, class_id, token_id, _amount(price, "price"),
                  height + expiry_blocks, nonce).signed(key, s.params.chain_id)
    click.echo(json.dumps({"offer": offer.encode().hex(), "id": nft_id, "seller": owner,
                           "price": format_amount(offer.price), "expiry": offer.expiry,
                           "offernonce": nonce}, indent=2))  # fmt: skip


@nft_group.command("buy")
@click.argument("name")
@click.argument("offer_hex")
@_common
def buy_cmd(offer_hex, **opts) -> None:
    """Buy with a seller's signed offer (OFFER_HEX from `offer`): pays its price, the class's
    royalty included; prints the txid."""
    s = _Session(opts)
    try:
        r = Reader(bytes.fromhex(offer_hex), "offer")
        offer = read_offer(r)
        r.finish()
    except (ValueError, DecodeError) as exc:
        raise click.ClickException(f"not an offer: {exc}") from None
    seller = encode_address(s.params.address_prefix, account_id(offer.seller))
    click.echo(f"buying {offer.class_id.decode()}/{offer.token_id.decode()} from {seller} for "
               f"{format_amount(offer.price)}", err=True)  # fmt: skip
    click.echo(s.send(sale.NUMBER, offer))


@nft_group.command("cancel-offer")
@click.argument("name")
@click.argument("offer_nonce", type=click.IntRange(0, (1 << 64) - 1))
@_common
def cancel_offer_cmd(offer_nonce, **opts) -> None:
    """Spend OFFER_NONCE so no sale can use an offer signed with it; prints the txid."""
    s = _Session(opts)
    click.echo(s.send(cancel_offer.NUMBER, cancel_offer.Body(offer_nonce)))


@click.command("verifynft")
@click.argument("nft_id")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_user_errors
@_rpc_options
@_network_options
def verifynft_command(nft_id, file, datadir, network, rpc_host, rpc_port, rpc_user,
                      rpc_password) -> None:  # fmt: skip
    """Re-hash FILE (BLAKE3) and compare it with the content hash the chain holds for NFT
    CLASS/TOKEN (or a class, without /TOKEN). Exit status 0 when they match, 1 when not."""
    from coinium.wallet.cli import _place

    params, ndir = _place(datadir, network)
    client = _client(ndir, params, rpc_host, rpc_port, rpc_user, rpc_password)
    try:
        info = client.call("getnft" if "/" in nft_id else "getnftclass", nft_id)
    except RpcError as exc:
        raise click.ClickException(str(exc)) from None
    actual = content_hash(file).hex()
    expected = info["contenthash"]
    if actual != expected:
        raise click.ClickException(f"MISMATCH: {file} hashes to {actual}, {nft_id} holds "
                                   f"{expected} (uri {info['uri']})")  # fmt: skip
    click.echo(f"OK: {file} matches {nft_id} (blake3 {actual})")
