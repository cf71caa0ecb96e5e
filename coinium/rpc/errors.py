"""bitcoind's JSON-RPC error codes (``src/rpc/protocol.h``) and the exception that carries one."""

from __future__ import annotations

# Standard JSON-RPC 2.0 codes. bitcoind maps INVALID_REQUEST to HTTP 400 and METHOD_NOT_FOUND to
# HTTP 404 for legacy requests, so they must not be used for application errors.
RPC_INVALID_REQUEST = -32600
RPC_METHOD_NOT_FOUND = -32601
RPC_INVALID_PARAMS = -32602
RPC_INTERNAL_ERROR = -32603
RPC_PARSE_ERROR = -32700

# General application errors.
RPC_MISC_ERROR = -1  # std::exception thrown in command handling
RPC_TYPE_ERROR = -3  # unexpected type was passed as parameter
RPC_INVALID_ADDRESS_OR_KEY = -5  # invalid address or key; also "Block not found"
RPC_OUT_OF_MEMORY = -7
RPC_INVALID_PARAMETER = -8  # invalid, missing or duplicate parameter
RPC_DATABASE_ERROR = -20
RPC_DESERIALIZATION_ERROR = -22  # error parsing or validating structure in raw format
RPC_VERIFY_ERROR = -25  # general error during transaction or block submission
RPC_VERIFY_REJECTED = -26  # transaction or block was rejected by network rules
RPC_VERIFY_ALREADY_IN_CHAIN = -27  # transaction already in chain
RPC_IN_WARMUP = -28  # client still warming up
RPC_METHOD_DEPRECATED = -32

# Peer-to-peer client errors.
RPC_CLIENT_NOT_CONNECTED = -9
RPC_CLIENT_IN_INITIAL_DOWNLOAD = -10

# bitcoind's aliases.
RPC_TRANSACTION_ERROR = RPC_VERIFY_ERROR
RPC_TRANSACTION_REJECTED = RPC_VERIFY_REJECTED
RPC_TRANSACTION_ALREADY_IN_CHAIN = RPC_VERIFY_ALREADY_IN_CHAIN


class RpcError(Exception):
    """An error reply: ``{"code": code, "message": message}``."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code
        self.message = message

    def to_json(self) -> dict[str, object]:
        return {"code": self.code, "message": self.message}
