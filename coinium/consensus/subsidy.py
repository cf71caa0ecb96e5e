"""The block reward schedule: the subsidy halves every ``halving_interval`` blocks."""

from __future__ import annotations

from coinium.core.params import NetworkParams


def block_subsidy(height: int, params: NetworkParams) -> int:
    halvings = height // params.halving_interval
    if halvings >= 64:
        return 0
    return params.initial_subsidy >> halvings
