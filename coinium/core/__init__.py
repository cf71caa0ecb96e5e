"""Data types, the canonical codec and network parameters: the bottom of the node."""
