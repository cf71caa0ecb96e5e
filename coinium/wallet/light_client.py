"""The light-client half of account proofs: check a `getaccountproof` answer against a header.

A light client trusts headers (their proof of work, and the chain of them it follows), not the
node that answers: `check_account_proof` accepts a proof only if it folds up to the state root
that the given header commits to, and that header is the one right after the proven state
(``header.height == proof height + 1``: the state root is lagged one block, DESIGN.md). An absent
account is proven the same way, by the empty position or the other leaf found where its path
ends, so a node cannot hide an account either.

`coinium verify-proof PROOF` runs it from the command line: PROOF is the JSON object (a file,
``-`` for stdin, or the JSON text itself); the header is given as hex, or fetched from a node
by block hash (or, by default, the main-chain block at the proof's height + 1) over JSON-RPC.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import click

from coinium.consensus.errors import HeaderError
from coinium.consensus.header_rules import check_proof_of_work
from coinium.core.account import Account
from coinium.core.codec import DecodeError
from coinium.core.header import Header
from coinium.core.params import NetworkParams
from coinium.crypto.address import decode_address
from coinium.crypto.state_proof import proof_from_json, verify_proof


class ProofRejected(ValueError):
    """The proof does not hold against the header, with the reason."""


@dataclass(frozen=True, slots=True)
class ProvenAccount:
    address: str
    account_id: bytes
    account: Account | None  # None: proven absent
    height: int  # the state after this block
    header_hash: bytes  # the header that commits to it


def check_account_proof(obj: object, header: Header, params: NetworkParams) -> ProvenAccount:
    """The account a proof proves against ``header``; ProofRejected says why not."""
    try:
        proof, record, root, height = proof_from_json(obj)  # type: ignore[arg-type]
    except ValueError as exc:
        raise ProofRejected(f"malformed proof: {exc}") from None
    address, account_id = obj["address"], bytes.fromhex(obj["accountid"])  # type: ignore[index]
    try:
        _, decoded = decode_address(address, params.address_prefix)
    except ValueError as exc:
        raise ProofRejected(f"the proof's address is not a {params.name} address: {exc}") from None
    if decoded != account_id:
        raise ProofRejected("the proof's address and account id differ")
    try:
        check_proof_of_work(header, params)
    except HeaderError as exc:
        raise ProofRejected(f"the header has no valid proof of work ({exc.reason})") from None
    if header.height != height + 1:
        raise ProofRejected(f"the proof is of the state after block {height}, which block "
                            f"{height + 1} commits to, not block {header.height}")  # fmt: skip
    if root != header.state_root:
        raise ProofRejected(f"the proof's stateroot {root.hex()} is not the header's "
                            f"{header.state_root.hex()}")  # fmt: skip
    account = None
    if record is not None:
        try:
            account = Account.decode(record)
        except DecodeError as exc:
            raise ProofRejected(f"the record is not an account: {exc}") from None
    if not verify_proof(proof, record, root):
        raise ProofRejected("the proof does not fold up to the state root")
    return ProvenAccount(address, account_id, account, height, header.hash)


def _read_proof(text: str) -> object:
    source = sys.stdin.read() if text == "-" else (
        Path(text).read_text() if not text.lstrip().startswith("{") else text)
    return json.loads(source)


@click.command("verify-proof")
@click.option("--network", type=click.Choice(["main", "test", "regtest"]), default="main",
              show_default=True, help="Which chain: main, test or regtest.")  # fmt: skip
@click.option("--datadir", type=click.Path(file_okay=False), default=None,
              help="Base data directory, for the node's RPC cookie [default: ~/.coinium].")
@click.option("--header", "header_hex", default=None, metavar="HEX",
              help="The committing header (124 bytes in hex); no node is asked.")
@click.option("--blockhash", default=None, metavar="HASH",
              help="Fetch the committing header by hash from the node [default: the main-chain "
                   "block at the proof's height + 1].")  # fmt: skip
@click.option("--rpc-port", type=int, default=None, help="JSON-RPC port of the node.")
@click.option("--rpc-host", default="127.0.0.1", show_default=True)
@click.option("--rpc-user", default=None)
@click.option("--rpc-password", default=None)
@click.argument("proof")
def verify_proof_command(network, datadir, header_hex, blockhash, rpc_port, rpc_host, rpc_user,
                         rpc_password, proof) -> None:  # fmt: skip
    """Check a getaccountproof PROOF (a JSON file, - for stdin, or the JSON itself) against a
    block header: exit 0 and print what it proves, or exit 1 and say why it fails."""
    from coinium.core.params import get_network

    params = get_network(network)
    try:
        obj = _read_proof(proof)
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"cannot read the proof: {exc}") from None
    try:
        raw = bytes.fromhex(header_hex) if header_hex is not None else _fetch_header(
            obj, blockhash, params, datadir, rpc_port, rpc_host, rpc_user, rpc_password)
        header = Header.decode(raw)
    except (ValueError, DecodeError) as exc:
        raise click.ClickException(f"cannot read the header: {exc}") from None
    try:
        proven = check_account_proof(obj, header, params)
    except ProofRejected as exc:
        click.echo(f"INVALID: {exc}", err=True)
        sys.exit(1)
    what = ("absent" if proven.account is None else
            f"present: balance {proven.account.balance} units, nonce {proven.account.nonce}")
    click.echo(f"VALID: account {proven.address} is {what} in the state after block "
               f"{proven.height}, committed by block {proven.header_hash.hex()}")  # fmt: skip


def _fetch_header(obj, blockhash, params, datadir, rpc_port, rpc_host, rpc_user,
                  rpc_password) -> bytes:  # fmt: skip
    from coinium.config import default_datadir
    from coinium.rpc.errors import RPC_INVALID_PARAMETER  # getblockhash: height out of range
    from coinium.wallet.keystore import network_datadir
    from coinium.wallet.rpc_client import RpcClient, RpcClientError, RpcError

    try:
        client = RpcClient.for_node(
            network_datadir(datadir or default_datadir(), params),
            rpc_port or params.rpc_port, host=rpc_host, user=rpc_user, password=rpc_password,
        )  # fmt: skip
        if blockhash is None:
            height = obj.get("height") if isinstance(obj, dict) else None
            if isinstance(height, bool) or not isinstance(height, int):
                raise ValueError("the proof has no height; give --header or --blockhash")
            try:
                blockhash = client.call("getblockhash", height + 1)
            except RpcError as exc:
                if exc.code != RPC_INVALID_PARAMETER:
                    raise
                raise ValueError(f"block {height + 1}, whose header commits to the state after "
                                 f"block {height}, is not on the node's chain yet: verify again "
                                 "once it is mined") from None  # fmt: skip
        return bytes.fromhex(client.call("getblockheader", blockhash, False))
    except RpcClientError as exc:
        raise ValueError(f"the node did not give the header: {exc}") from None
