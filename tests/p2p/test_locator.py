"""Locators, the fork point they name, and the headers and blocks a peer is served."""

from __future__ import annotations

from coinium.chain.builder import build_block, generate, mine
from coinium.chain.locator import (
    block_locator,
    find_fork,
    header_facts,
    headers_after,
    locator_heights,
    raw_blocks,
    stored_blocks,
)


def test_locator_heights_step_back_exponentially():
    assert locator_heights(0) == [0]
    assert locator_heights(5) == [5, 4, 3, 2, 1, 0]
    heights = locator_heights(10_000)
    assert heights[:10] == list(range(10_000, 9_990, -1))
    steps = [a - b for a, b in zip(heights, heights[1:], strict=False)]
    assert steps[9:13] == [2, 4, 8, 16] and heights[-1] == 0 and len(heights) < 30


def test_locator_fork_and_headers(chain, alice):
    blocks = generate(chain, 30, alice.account)
    locator = block_locator(chain)
    assert locator[0] == chain.tip.hash and locator[-1] == chain.params.genesis_hash
    # A peer that knows our chain up to height 12 sends its own locator from there.
    theirs = block_locator(chain, blocks[11].hash)
    assert find_fork(chain, theirs) == 12
    after = headers_after(chain, theirs)
    assert [h.height for h in after] == list(range(13, 31))
    assert [h.height for h in headers_after(chain, theirs, stop=blocks[14].hash)] == [13, 14, 15]
    assert len(headers_after(chain, theirs, limit=5)) == 5
    # Nothing in common but genesis (an unknown locator): from height 1.
    assert headers_after(chain, [bytes(32)])[0].height == 1
    assert headers_after(chain, locator) == []


def test_fork_on_a_side_branch(chain, alice, bob):
    main = generate(chain, 5, alice.account)
    side = mine(build_block(chain, [], bob.account, parent=main[2].hash, extra=b"side"))
    chain.accept_block(side)
    # A peer on the side branch: its locator names the side block, then our shared past.
    assert find_fork(chain, [side.hash, main[2].hash, chain.params.genesis_hash]) == 3
    facts = header_facts(chain, [side.header])
    assert facts.parent_work == chain.index[main[2].hash].chainwork
    assert facts.parent_height == 3 and side.hash in facts.have_data
    assert facts.tip_work == chain.tip.chainwork and not facts.invalid
    assert stored_blocks(chain, [side.hash, bytes(32)]) == {side.hash}


def test_raw_blocks_are_the_stored_bytes(chain, alice):
    (block,) = generate(chain, 1, alice.account)
    assert raw_blocks(chain, [block.hash, bytes(32)]) == [(block.hash, block.encode()),
                                                          (bytes(32), None)]  # fmt: skip
    assert header_facts(chain, [block.header]).have_data == frozenset({block.hash})
    unknown = header_facts(chain, [mine(build_block(chain, [], alice.account)).header])
    assert unknown.parent_work == chain.tip.chainwork and not unknown.have_data
