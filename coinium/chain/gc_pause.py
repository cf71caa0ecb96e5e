"""Pausing Python's cyclic garbage collector while the chain handles a block."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a block is handled.

    Connecting a block allocates a few objects per transaction (accounts, records, tuples) and
    makes no reference cycles; reference counting frees them all the same. But the allocations
    trigger the cyclic collector again and again, and its passes over every live object cost
    ~20% of connecting a 10,000-transfer block whose signatures are cached. It runs again
    right after (it is paused for one block at a time, never across a whole sync)."""
    if not gc.isenabled():  # someone else paused it: leave it as it is
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
