"""Mempool policy settings, their defaults, and the rolling minimum fee's integer decay.

Fee rates are integers of base units per 1000 bytes (1 coin = 10^8 units), bitcoind's "per kvB"
with our transactions' size as the virtual size. Defaults, and the option that sets each
(``coinium node --FLAG`` or the same key in ``coinium.toml``):

=====================  ===============================  =========  =============================
setting                option                           default    bitcoind's
=====================  ===============================  =========  =============================
min relay fee rate     ``minrelaytxfee`` (units/kB)     1000       -minrelaytxfee 0.00001/kvB
incremental relay fee  ``incrementalrelayfee``          1000       -incrementalrelayfee
size limit             ``maxmempool`` (MB)              300        -maxmempool 300
expiry                 ``mempoolexpiry`` (hours)        336        -mempoolexpiry 336
future nonces/sender   ``max_future_per_sender``        25         (no equivalent)
future nonces, total   ``max_future_txs``               5000       -maxorphantx 100
persistence            ``persistmempool``               true       -persistmempool 1
=====================  ===============================  =========  =============================

1000 units per 1000 bytes is 0.00001 coin/kB: a 144-byte transfer pays at least 144 units.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import isqrt

DEFAULT_MIN_RELAY_FEE_RATE = 1000
DEFAULT_INCREMENTAL_RELAY_FEE_RATE = 1000
DEFAULT_MAX_MEMPOOL_MB = 300
DEFAULT_EXPIRY_HOURS = 336  # two weeks
DEFAULT_MAX_FUTURE_PER_SENDER = 25
DEFAULT_MAX_FUTURE_TXS = 5000
MAX_REPLACED = 100  # bitcoind's MAX_REPLACEMENT_CANDIDATES

# bitcoind's ROLLING_FEE_HALFLIFE: once a block has come since the floor was last raised, it
# halves every 12 hours (6 h while the pool is under half full, 3 h under a quarter).
ROLLING_FEE_HALFLIFE_S = 12 * 3600
ROLLING_FEE_MIN_INTERVAL_S = 10  # bitcoind decays at most every 10 seconds


@dataclass(frozen=True, slots=True)
class MempoolPolicy:
    min_relay_fee_rate: int = DEFAULT_MIN_RELAY_FEE_RATE
    incremental_relay_fee_rate: int = DEFAULT_INCREMENTAL_RELAY_FEE_RATE
    max_bytes: int = DEFAULT_MAX_MEMPOOL_MB * 1_000_000
    expiry_seconds: int = DEFAULT_EXPIRY_HOURS * 3600
    max_future_per_sender: int = DEFAULT_MAX_FUTURE_PER_SENDER
    max_future_txs: int = DEFAULT_MAX_FUTURE_TXS

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"mempool policy {name}: expected a whole number >= 0, "
                                 f"got {value!r}")  # fmt: skip


def fee_for(rate: int, size: int) -> int:
    """The fee ``rate`` (units per 1000 bytes) asks of ``size`` bytes, rounded up (as bitcoind's
    CFeeRate::GetFee, which never lets a fee round down to below the rate)."""
    return -(-rate * size // 1000)


def meets_rate(fee: int, size: int, rate: int) -> bool:
    """``fee / size >= rate / 1000``, exactly."""
    return fee * 1000 >= rate * size


# 2^(-1/2^(i+1)) in 32-bit fixed point, from integer square roots: 2^-1/2, 2^-1/4, ...
_FRACTION_BITS = 20
_ONE = 1 << 32
_ROOTS: list[int] = []
_root = _ONE // 2  # 2^-1
for _ in range(_FRACTION_BITS):
    _root = isqrt(_root << 32)  # the square root, still scaled by 2^32
    _ROOTS.append(_root)


def halve(value: int, elapsed: int, half_life: int) -> int:
    """``value * 2^(-elapsed/half_life)``, rounded down, in integers only.

    The remainder of whole half-lives is read as a 20-bit binary fraction and applied as the
    product of 2^(-1/2^k) for each set bit k (constants from integer square roots), then the
    whole half-lives shift, so the same inputs give the same floor everywhere, with no floating
    point."""
    if value <= 0 or elapsed <= 0:
        return max(value, 0)
    whole, rest = divmod(elapsed, half_life)
    if whole >= value.bit_length():
        return 0
    fraction = (rest << _FRACTION_BITS) // half_life
    value <<= 32  # keep 32 more bits through the products, shifted out once at the end
    for k in range(_FRACTION_BITS):
        if fraction & (1 << (_FRACTION_BITS - 1 - k)):
            value = value * _ROOTS[k] >> 32
    return value >> (32 + whole)
