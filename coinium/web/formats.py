"""Template filters: how numbers, amounts, hashes and times read on a page."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from coinium.core.units import format_amount
from coinium.web.charts import si


def coins(value: Any) -> str:
    """Base units (int) or an RPC Amount/Decimal of coins -> '12.5 CNM'-style text."""
    if isinstance(value, Decimal):
        return f"{value.normalize():f}"
    if isinstance(value, int):
        return format_amount(value)
    return str(value)


def short_hash(value: str, keep: int = 10) -> str:
    return value if len(value) <= 2 * keep + 1 else f"{value[:keep]}…{value[-keep:]}"


def age(timestamp: int | float | None) -> str:
    if timestamp is None:
        return "—"
    seconds = int(time.time() - timestamp)
    if seconds < 0:
        return "in the future"
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"


def utc(timestamp: int | float | None) -> str:
    if timestamp is None:
        return "—"
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def size(value: int | float) -> str:
    return f"{si(value)}B" if value >= 1000 else f"{int(value)} B"


def rate(value: int | float, unit: str = "H/s") -> str:
    return f"{si(float(value))} {unit}"


def basis_points(value: int) -> str:
    """Basis points as a percentage: 525 -> '5.25 %'."""
    return f"{value // 100}.{value % 100:02d} %"


def share(part: int, whole: int) -> str:
    """``part`` of ``whole`` as a percentage with one decimal (integers only: no float drift)."""
    if not whole:
        return "0.0 %"
    tenths = part * 1000 // whole
    return f"{tenths // 10}.{tenths % 10} %"


FILTERS = {"coins": coins, "short_hash": short_hash, "age": age, "utc": utc, "size": size,
           "rate": rate, "si": si, "bp": basis_points, "share": share}  # fmt: skip
