"""Python's cyclic garbage collector in a node: paused while the chain handles a block, and set
for a long-running node process once it has started."""

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


# gen0, gen1, gen2 thresholds for a node process. A node allocates a few objects per transaction it
# admits, relays or connects and keeps most of them (mempool entries, caches), and makes few
# reference cycles. With Python's default gen0 threshold (700) the young generation is scanned
# every few hundred transactions and what survives is scanned again in the older ones: ~4 us of
# the event loop's ~24 per transaction admitted from an RPC batch (bench/profile_admission.py
# --gc-node). Reference counting frees everything that is not a cycle either way.
NODE_THRESHOLDS = (10_000, 20, 20)


def settle_for_node() -> None:
    """Once a node process has started: collect, move what it holds from its start (modules,
    tables, the loaded chain's objects) out of every later pass (`gc.freeze`), and scan the young
    generation less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*NODE_THRESHOLDS)
