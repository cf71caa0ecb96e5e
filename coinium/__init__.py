"""Coinium: a headless BLAKE3 proof-of-work blockchain node with compiled hot paths."""

__version__ = "0.1.0"
