"""JSON in and out of the RPC server, with amounts that are exact.

bitcoind writes amounts as JSON numbers with exactly 8 decimals (``ValueFromAmount``: 0.1 coin is
``0.10000000``), built from integers. Python's json module would print a float (``0.1``) and can
be off by one unit for large values, so results carry `Amount` (integer base units) and `dumps`
writes it digit by digit. Requests are read with ``parse_float=Decimal`` so an amount sent as
``0.1`` arrives exactly, and NaN/Infinity (which bitcoind's parser refuses) are a parse error.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from coinium.core.units import COIN, format_amount

_encode_str = json.encoder.encode_basestring  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Amount:
    """An amount in base units, written to JSON as coins with 8 decimals."""

    units: int

    def __str__(self) -> str:
        return format_amount(self.units)

    @classmethod
    def from_coins(cls, coins: float | Decimal) -> Amount:
        """An amount a lower layer already rendered as coins (a float units / COIN, which is
        correctly rounded, so going back through its shortest repr is exact for any real amount)."""
        return cls(int((Decimal(repr(coins)) * COIN).to_integral_value()))


class PlainJson(dict):
    """A dict whose keys, at every depth, are exactly ``str`` (a reply the server built around
    a parsed id and a scalar result or an error): json's C encoder writes it byte for byte as
    `dumps` would, unless it holds a Decimal, an `Amount` or a non-finite float, which `dumps`
    then writes itself. A reply per call of a batch of 1,000 is the case worth the shortcut."""


class _NotPlain(Exception):
    pass


def _not_plain(value: Any) -> Any:
    raise _NotPlain


# markers None: no cycle check (a reply built from parsed JSON has no cycles); the same string
# encoders, separators and float text as `_write`; NaN refused (`_write` writes it as null).
_plain_utf8 = json.encoder.c_make_encoder(  # type: ignore[attr-defined]
    None, _not_plain, _encode_str, None, ":", ",", False, False, False)
_plain_ascii = json.encoder.c_make_encoder(  # type: ignore[attr-defined]
    None, _not_plain, json.encoder.encode_basestring_ascii,  # type: ignore[attr-defined]
    None, ":", ",", False, False, False)


class JsonParseError(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    raise JsonParseError(f"{name} is not valid JSON")


def loads(data: bytes) -> Any:
    """Parse a request body; raise JsonParseError for anything that is not strict JSON."""
    try:
        text = data.decode("utf-8")
        return json.loads(text, parse_float=Decimal, parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise JsonParseError(str(exc)) from None


def dumps(value: Any) -> str:
    """Write a result or reply; `Amount` as an exact 8-decimal number, Decimal as written."""
    parts: list[str] = []
    _write(value, parts)
    return "".join(parts)


def dumps_bytes(value: Any) -> bytes:
    """`dumps` as UTF-8; a string that is not Unicode text (a lone surrogate) is written as its
    ``\\uXXXX`` escape instead of failing the whole reply."""
    text = dumps(value)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return _ascii_dumps(value).encode("ascii")


def _ascii_dumps(value: Any) -> str:
    parts: list[str] = []
    _write(value, parts, json.encoder.encode_basestring_ascii)  # type: ignore[attr-defined]
    return "".join(parts)


def has_lone_surrogate(value: Any) -> bool:
    """Whether a parsed JSON value holds a string (or key) that is not Unicode text: JSON lets
    ``"\\udc80"`` through, UTF-8 cannot carry it."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not item.isascii():
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError:
                    return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _write(value: Any, out: list[str], encode_str: Any = _encode_str) -> None:
    # Order matters: bool is an int subclass.
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(encode_str(value))
    elif isinstance(value, int):
        out.append(int.__repr__(value))
    elif isinstance(value, Amount):
        out.append(str(value))
    elif isinstance(value, float):
        out.append(float.__repr__(value) if math.isfinite(value) else "null")
    elif isinstance(value, Decimal):
        out.append(format(value, "f") if value.is_finite() else "null")
    elif isinstance(value, dict):
        if type(value) is PlainJson and _append_plain(value, out, encode_str):
            return
        out.append("{")
        first = True
        for key, item in value.items():
            if not first:
                out.append(",")
            first = False
            out.append(encode_str(str(key)))
            out.append(":")
            _write(item, out, encode_str)
        out.append("}")
    elif isinstance(value, (list, tuple)):
        # A batch's replies, each PlainJson: one pass of the C encoder over the whole list.
        if value and type(value[0]) is PlainJson and all(type(v) is PlainJson for v in value) \
                and _append_plain(value, out, encode_str):  # fmt: skip
            return
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _write(item, out, encode_str)
        out.append("]")
    else:
        raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _append_plain(value: PlainJson | list | tuple, out: list[str], encode_str: Any) -> bool:
    """Write ``value`` with json's C encoder; False (nothing written) where `_write` must."""
    if encode_str is _encode_str:
        encoder = _plain_utf8
    elif encode_str is json.encoder.encode_basestring_ascii:  # type: ignore[attr-defined]
        encoder = _plain_ascii
    else:
        return False
    try:
        out.append("".join(encoder(value, 0)))
    except (_NotPlain, ValueError, RecursionError):
        return False
    return True


# Coins are checked against this many digits before the point *before* any arithmetic: turning
# ``1e300000`` into an integer would take the event loop for minutes (a request's number is text
# of any size; its exponent, not its length, decides the cost).
MAX_AMOUNT_DIGITS = 20


def decimal_is_small(value: Decimal, max_digits: int) -> bool:
    """Whether a finite Decimal has at most ``max_digits`` digits before the point, read from its
    exponent alone (no conversion of a huge number)."""
    return value.is_finite() and (value.is_zero() or value.adjusted() < max_digits)


def decimal_to_units(value: Decimal) -> int:
    """Exact coins -> units; ValueError if it has more than 8 decimals, is not finite, or is far
    beyond any amount."""
    if not decimal_is_small(value, MAX_AMOUNT_DIGITS):
        raise ValueError("out of range")
    try:
        units = value * COIN
        if not units.is_finite() or units != units.to_integral_value():
            raise ValueError("more than 8 decimal places")
        return int(units)
    except InvalidOperation:
        raise ValueError("not a number") from None
