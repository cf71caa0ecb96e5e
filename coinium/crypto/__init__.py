"""Hashes, Ed25519 keys, the transaction signing hash and human-readable addresses."""
