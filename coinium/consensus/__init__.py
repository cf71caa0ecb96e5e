"""Consensus rules: pure, deterministic functions (no I/O, no clocks, no floats)."""
