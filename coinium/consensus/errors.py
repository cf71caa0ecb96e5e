"""The consensus error hierarchy (defined in `coinium.core.errors`, where the transaction kinds,
which raise them, can reach it)."""

from coinium.core.errors import BlockError, ConsensusError, HeaderError, TransactionError

__all__ = ["BlockError", "ConsensusError", "HeaderError", "TransactionError"]
