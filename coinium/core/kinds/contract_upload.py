"""CONTRACT_UPLOAD (kind 64): store Wasm code once, addressed by its BLAKE3 hash.

Data: gas limit u64 | the Wasm module. Recipient zero, amount zero. The code must pass the
static check (`coinium.contracts.validate`) and wasmtime's validation; gas: upload_per_byte per
byte. The receipt's result is the code hash; uploading code that exists changes nothing but fee.
"""

from __future__ import annotations

import wasmtime

from coinium.contracts import governed, transactions
from coinium.contracts.engine import compile_check
from coinium.contracts.records import Receipt, code_hash
from coinium.contracts.validate import CodeError, check_code
from coinium.core.state import NS_CONTRACT_CODE

NUMBER = 64


def _shape(tx) -> None:
    transactions.require(tx.recipient == transactions.ZERO_ID and tx.amount == 0, tx,
                         "bad-txns-contract-upload", "an upload has no recipient and no amount")


def _run(tx, sender_id: bytes, gas: int, code: bytes, state) -> Receipt:
    needed = governed.schedule(state).upload_per_byte * len(code)
    if needed > gas:
        return Receipt(False, gas, reason="out-of-gas")
    try:
        check_code(code)
        compile_check(code)
    except CodeError as exc:
        return Receipt(False, gas, reason=exc.reason, result=exc.detail.encode()[:200])
    except wasmtime.WasmtimeError:
        return Receipt(False, gas, reason="code-malformed", result=b"refused by wasmtime")
    digest = code_hash(code)
    if state.peek(NS_CONTRACT_CODE, digest) is None:
        state.put(NS_CONTRACT_CODE, digest, code)
    return Receipt(True, needed, result=digest)


def _fields(tx) -> dict:
    code = transactions.kind_data(tx)
    return {"code_hash": code_hash(code).hex(), "code_size": len(code)}


KIND = transactions.make_kind(NUMBER, "contract_upload", 0, _run, _shape, _fields)
