"""Per-peer machinery: the priority send queue, token buckets, bounded sets."""

from __future__ import annotations

import asyncio

from hypothesis import given
from hypothesis import strategies as st

from coinium.p2p.peer import BoundedSet, Priority, SendQueue, TokenBucket


def test_blocks_before_headers_before_transactions_before_addresses():
    queue = SendQueue()
    order = [(b"addr1", Priority.ADDR), (b"tx1", Priority.TX), (b"hdr1", Priority.HEADERS),
             (b"blk1", Priority.BLOCK), (b"tx2", Priority.TX), (b"ping", Priority.CONTROL),
             (b"blk2", Priority.BLOCK)]  # fmt: skip
    for frame, priority in order:
        assert queue.put(frame, priority)
    out = [queue.pop_nowait() for _ in range(len(order))]
    assert out == [b"ping", b"blk1", b"blk2", b"hdr1", b"tx1", b"tx2", b"addr1"]
    assert queue.pop_nowait() is None and queue.bytes == 0


def test_a_full_queue_sheds_gossip_but_keeps_blocks_and_control():
    queue = SendQueue(max_bytes=100)
    assert queue.put(bytes(90), Priority.BLOCK)
    assert not queue.put(bytes(20), Priority.TX)
    assert not queue.put(bytes(20), Priority.ADDR)
    assert queue.put(bytes(20), Priority.CONTROL)
    assert queue.dropped == 2 and len(queue) == 2


def test_get_waits_for_a_frame():
    async def body():
        queue = SendQueue()
        waiter = asyncio.create_task(queue.get())
        await asyncio.sleep(0.01)
        assert not waiter.done()
        queue.put(b"x", Priority.TX)
        return await asyncio.wait_for(waiter, 1)

    assert asyncio.run(body()) == b"x"


def test_token_bucket():
    bucket = TokenBucket(rate=10, burst=5, now=0.0)
    assert all(bucket.take(now=0.0) for _ in range(5))
    assert not bucket.take(now=0.0)
    assert bucket.wait_time(1, now=0.0) == 0.1
    assert bucket.take(now=0.1)
    assert not bucket.take(now=0.1)
    assert bucket.take(3, now=10.0) and bucket.tokens == 2


def test_bounded_set_forgets_the_oldest():
    items = BoundedSet(2)
    for item in (b"a", b"b", b"c"):
        items.add(item)
    assert b"a" not in items and b"b" in items and b"c" in items and len(items) == 2


def test_a_full_send_window_holds_bulk_frames_but_lets_control_through():
    import asyncio

    from coinium.p2p.sendwindow import FLOW_PING_BYTES, SEND_WINDOW_BYTES, SendWindow

    async def run() -> None:
        queue = SendQueue(max_bytes=1 << 30)
        window = SendWindow()
        block = b"\x0c" + b"b" * (1 << 20)
        nonce = None
        while window.unacked < SEND_WINDOW_BYTES:
            nonce = window.record(len(block)) or nonce
        assert nonce is not None and window.ping_at_bytes == 4 * len(block) >= FLOW_PING_BYTES
        queue.put(block, Priority.BLOCK)
        waiting = asyncio.create_task(queue.get(window.room))
        await asyncio.sleep(0.01)
        assert not waiting.done()  # the window is full: the block waits...
        queue.put(b"\x03ping", Priority.CONTROL)
        assert await waiting == b"\x03ping"  # ...a control frame does not
        waiting = asyncio.create_task(queue.get(window.room))
        await asyncio.sleep(0.01)
        assert not waiting.done() and window.stuck(window.blocked_since + 11)
        assert not window.acknowledge(nonce + 1)  # not our ping
        assert window.acknowledge(nonce)  # the peer read up to our ping
        queue.wake()
        assert await waiting == block
        assert window.unacked == window.sent - 4 * len(block)

    asyncio.run(run())


_HASHES = st.lists(st.sampled_from([bytes([i]) * 32 for i in range(12)]), max_size=30)


@given(before=_HASHES, batch=_HASHES, limit=st.integers(1, 15))
def test_bounded_set_bulk_calls_match_one_at_a_time(before, batch, limit):
    # update and add_new (the relay's known-inventory filter) against add and `in`.
    bulk, single = BoundedSet(limit), BoundedSet(limit)
    bulk.update(before)
    for item in before:
        single.add(item)
    assert [i in bulk for i in before] == [i in single for i in before]
    new = bulk.add_new([(item, n) for n, item in enumerate(batch)])
    expected = []
    for n, item in enumerate(batch):
        if item not in single:
            single.add(item)
            expected.append((item, n))
    assert new == expected
    assert len(bulk) == len(single) <= limit
    bulk.discard_all(batch)
    assert not any(item in bulk for item in batch)
