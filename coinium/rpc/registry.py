"""The method table: each method's handler, declared parameters, category and help.

Parameters are declared once (`Param`) and checked here before a handler runs, the way
bitcoind's ``RPCHelpMan`` does: positional or named (with bitcoind's special ``args`` key for
leading positional values), required ones present, each value of the declared JSON type
(``JSON value of type string is not of expected type number``, code -3), amounts exact. The same
declaration renders ``help``. A wrong argument count answers the method's help text with code -1,
as bitcoind does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from coinium.core.units import MAX_MONEY, parse_amount
from coinium.rpc.encoding import decimal_is_small, decimal_to_units
from coinium.rpc.errors import (
    RPC_INVALID_PARAMETER,
    RPC_MISC_ERROR,
    RPC_TYPE_ERROR,
    RpcError,
)

Handler = Callable[..., Awaitable[Any]]

REQUIRED = object()  # marks a parameter without a default
_INT64 = 1 << 63

# Declared type -> (JSON types accepted, how help names it).
_TYPES: dict[str, tuple[tuple[str, ...], str]] = {
    "number": (("number",), "numeric"),
    "amount": (("number", "string"), "numeric or string"),
    "string": (("string",), "string"),
    "hex": (("string",), "string"),
    "bool": (("bool",), "boolean"),
    "verbosity": (("number", "bool"), "numeric or boolean"),  # bitcoind accepts both
    "hash_or_height": (("string", "number"), "string or numeric"),  # getblockstats
    "array": (("array",), "json array"),
    "object": (("object",), "json object"),
}


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    type: str  # a key of _TYPES
    help: str
    default: Any = REQUIRED
    aliases: tuple[str, ...] = ()  # other names a named call may use (Core's "verbosity|verbose")

    def __post_init__(self) -> None:
        if self.type not in _TYPES:
            raise ValueError(f"unknown parameter type {self.type!r}")

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


@dataclass(frozen=True, slots=True)
class Method:
    name: str
    category: str  # "blockchain", "control", ... as bitcoind's help groups them
    handler: Handler  # async (ctx, **params) -> JSON-able result
    description: str
    result: str
    params: tuple[Param, ...] = ()
    needs_chain: bool = True  # False for methods that work while the chain loads or closes
    hidden: bool = False  # callable, not listed by help (bitcoind's "hidden" category)
    examples: tuple[str, ...] = field(default=())
    # Runs once per JSON-RPC batch with the params of every call of this method in it, before
    # they run (one by one, in order): shared work such as one signature batch. Speed only: the
    # calls' results must be the same without it.
    prepare_batch: Callable[[Any, list[Any]], Awaitable[None]] | None = None
    # Runs consecutive calls of this method in a batch as one unit (after prepare_batch): takes
    # each call's bound arguments, returns each call's result or the exception it raised, in
    # order; the same results as calling the handler for each, one after the other.
    run_batch: Callable[[Any, list[dict[str, Any]]], Awaitable[list[Any]]] | None = None

    # --- help ---------------------------------------------------------------------------------
    def signature(self) -> str:
        words: list[str] = [self.name]
        optional: list[str] = []
        for param in self.params:
            (optional if not param.required else words).append(_arg_word(param))
        if optional:
            words.append("( " + " ".join(optional) + " )")
        return " ".join(words)

    def help_text(self) -> str:
        lines = [self.signature(), "", self.description.strip()]
        if self.params:
            lines += ["", "Arguments:"]
            width = max(len(p.name) for p in self.params)
            for i, param in enumerate(self.params, 1):
                if param.required:
                    need = "required"
                elif param.default is None:
                    need = "optional"
                else:
                    need = f"optional, default={_show_default(param.default)}"
                lines.append(f"{i}. {param.name:<{width}}    ({_TYPES[param.type][1]}, {need}) "
                             f"{param.help}")  # fmt: skip
        lines += ["", "Result:", self.result.strip()]
        if self.examples:
            lines += ["", "Examples:", *(f"> coinium rpc {e}" for e in self.examples)]
        return "\n".join(lines)

    # --- arguments ----------------------------------------------------------------------------
    def bind(self, params: list[Any] | dict[str, Any]) -> dict[str, Any]:
        """The handler's keyword arguments from a request's params; raise RpcError if unusable."""
        positional = self._positional(params) if isinstance(params, dict) else list(params)
        # bitcoind treats trailing nulls as omitted (named calls leave holes as null).
        while positional and positional[-1] is None:
            positional.pop()
        if len(positional) > len(self.params):
            raise RpcError(RPC_MISC_ERROR, self.help_text())
        bound: dict[str, Any] = {}
        for i, param in enumerate(self.params):
            value = positional[i] if i < len(positional) else None
            if value is None:
                if param.required:
                    raise RpcError(RPC_MISC_ERROR, self.help_text())
                bound[param.name] = _converted_default(param)
            else:
                bound[param.name] = convert(param, value)
        return bound

    def _positional(self, named: dict[str, Any]) -> list[Any]:
        """bitcoind's transformNamedArguments: names to positions, ``args`` first."""
        index = {name: i for i, p in enumerate(self.params) for name in (p.name, *p.aliases)}
        extra = named.get("args", [])
        if not isinstance(extra, list):
            raise RpcError(RPC_TYPE_ERROR, "JSON value of type "
                           f"{json_type(extra)} is not of expected type array")  # fmt: skip
        positional: list[Any] = list(extra)
        for key, value in named.items():
            if key == "args":
                continue
            if key not in index:
                raise RpcError(RPC_INVALID_PARAMETER, f"Unknown named parameter {key}")
            i = index[key]
            if i < len(positional) and positional[i] is not None and i >= len(extra):
                raise RpcError(RPC_INVALID_PARAMETER, f"Parameter {key} specified multiple "
                               "times")  # fmt: skip
            if i < len(extra):
                raise RpcError(RPC_INVALID_PARAMETER, f"Parameter {key} specified twice both "
                               "as positional and named argument")  # fmt: skip
            positional.extend([None] * (i + 1 - len(positional)))
            positional[i] = value
        return positional


# Converted defaults that cannot change under a handler (ints, text), by the Param's id (the
# Param is kept with it, so the id is not reused): an amount default (coins as a Decimal)
# would cost a conversion per call otherwise.
_DEFAULTS: dict[int, tuple[Param, Any]] = {}
_IMMUTABLE = (int, str, bytes, Decimal, type(None))


def _converted_default(param: Param) -> Any:
    """A parameter's default as a call gets it: through the same conversion as a value sent."""
    cached = _DEFAULTS.get(id(param))
    if cached is not None and cached[0] is param:
        return cached[1]
    default = param.default
    value = default if default is None else convert(param, default)
    if isinstance(value, _IMMUTABLE) and isinstance(default, _IMMUTABLE):
        _DEFAULTS[id(param)] = (param, value)
    return value


def _arg_word(param: Param) -> str:
    if param.type in ("string", "hex"):
        return f'"{param.name}"'
    if param.type == "array":
        return f'["{param.name}",...]'
    return param.name


def _show_default(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)


def json_type(value: Any) -> str:
    """UniValue's type names, as bitcoind's messages use them."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, Decimal)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def convert(param: Param, value: Any) -> Any:
    """Check one value against its declared type and give the handler a Python value."""
    accepted, _ = _TYPES[param.type]
    kind = json_type(value)
    if kind not in accepted:
        raise RpcError(RPC_TYPE_ERROR,
                       f"JSON value of type {kind} is not of expected type {accepted[0]}")
    if param.type == "amount":
        return amount_from_value(value)
    if kind == "number":
        return to_int(value, param.name)
    return value  # hex is parsed by the handler: each method has its own message and code


def to_int(value: int | Decimal, name: str) -> int:
    if isinstance(value, Decimal):
        if not value.is_finite() or value != value.to_integral_value():
            raise RpcError(RPC_TYPE_ERROR, f"{name}: JSON value of type number is not an integer")
        if not decimal_is_small(value, 19):  # checked on the exponent: 1e1000000 stays text
            raise RpcError(RPC_MISC_ERROR, "JSON integer out of range")
        value = int(value)
    if not -_INT64 <= value < _INT64:
        raise RpcError(RPC_MISC_ERROR, "JSON integer out of range")
    return value


def amount_from_value(value: int | Decimal | str) -> int:
    """bitcoind's AmountFromValue: a number or a numeric string of coins, exact, in range."""
    try:
        if isinstance(value, str):
            units = parse_amount(value)
        else:
            units = decimal_to_units(Decimal(value))
    except ValueError:
        raise RpcError(RPC_TYPE_ERROR, "Invalid amount") from None
    if not 0 <= units <= MAX_MONEY:
        raise RpcError(RPC_TYPE_ERROR, "Amount out of range")
    return units


class MethodTable:
    """Methods by name, with bitcoind's ``help`` listing."""

    def __init__(self, methods: Iterable[Method] = ()):
        self._methods: dict[str, Method] = {}
        for method in methods:
            self.add(method)

    def add(self, method: Method) -> None:
        if method.name in self._methods:
            raise ValueError(f"RPC method {method.name} registered twice")
        self._methods[method.name] = method

    def get(self, name: str) -> Method | None:
        return self._methods.get(name)

    def __contains__(self, name: str) -> bool:
        return name in self._methods

    def names(self) -> list[str]:
        return sorted(self._methods)

    def overview(self) -> str:
        """``help`` without arguments: signatures grouped by category, as bitcoind lists them."""
        shown = sorted((m.category, m.name) for m in self._methods.values() if not m.hidden)
        lines: list[str] = []
        category = None
        for cat, name in shown:
            if cat != category:
                if category is not None:
                    lines.append("")
                lines.append(f"== {cat.capitalize()} ==")
                category = cat
            lines.append(self._methods[name].signature())
        return "\n".join(lines)

