"""The static check every upload passes: only the deterministic integer subset of WebAssembly
1.0 (MVP), only the host API's imports, bounded memories and tables.

wasmtime's configuration (`engine.py`) already turns off SIMD, threads, bulk memory, reference
types and every later proposal; but it accepts floats, whose NaN bits are not portable, and it
would accept whatever a future version enables by default. So this module reads the binary
itself and accepts only what it knows: every section, every type, every opcode of every function
body is checked here, and anything it does not list is refused. `CodeError.reason` is the reason
code a failed upload's receipt carries.
"""

from __future__ import annotations

from coinium.contracts import limits
from coinium.contracts.host_api import HOST_FUNCTIONS

MAGIC = b"\x00asm\x01\x00\x00\x00"
I32, I64 = 0x7F, 0x7E
FLOAT_TYPES = {0x7D: "f32", 0x7C: "f64"}
EMPTY_BLOCK = 0x40

# Opcodes with no immediates (the integer MVP set; sign extension 0xc0-0xc4 is deterministic).
_PLAIN = {0x00, 0x01, 0x05, 0x0B, 0x0F, 0x1A, 0x1B, 0xA7, 0xAC, 0xAD}
_PLAIN |= set(range(0x45, 0x5B))  # i32/i64 comparisons
_PLAIN |= set(range(0x67, 0x8B))  # i32/i64 arithmetic
_PLAIN |= set(range(0xC0, 0xC5))
_BLOCKS = {0x02, 0x03, 0x04}
_INDEXED = {0x0C, 0x0D, 0x10, 0x20, 0x21, 0x22, 0x23, 0x24}  # one u32 immediate
_MEMORY = {0x28, 0x29} | set(range(0x2C, 0x38)) | set(range(0x3A, 0x3F))  # loads, stores
_FORBIDDEN = {
    **{op: "float" for op in (0x2A, 0x2B, 0x38, 0x39, 0x43, 0x44)},
    **{op: "float" for op in range(0x5B, 0x67)},
    **{op: "float" for op in range(0x8B, 0xA7)},
    **{op: "float" for op in (0xA8, 0xA9, 0xAA, 0xAB)},
    **{op: "float" for op in range(0xAE, 0xC0)},
    0xFD: "simd", 0xFE: "threads", 0xFC: "bulk-memory",  # 0xfc also holds trunc_sat (floats)
    0x1C: "reference-types", 0x25: "reference-types", 0x26: "reference-types",
    0xD0: "reference-types", 0xD1: "reference-types", 0xD2: "reference-types",
    0x06: "exceptions", 0x07: "exceptions", 0x08: "exceptions", 0x09: "exceptions",
    0x0A: "exceptions", 0x18: "exceptions", 0x19: "exceptions",
    0x12: "tail-call", 0x13: "tail-call",
}  # fmt: skip


class CodeError(ValueError):
    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class _Bytes:
    __slots__ = ("data", "pos", "end")

    def __init__(self, data: bytes, pos: int = 0, end: int | None = None):
        self.data, self.pos, self.end = data, pos, len(data) if end is None else end

    def byte(self) -> int:
        if self.pos >= self.end:
            raise CodeError("code-malformed", f"truncated at byte {self.pos}")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def leb(self, bits: int = 32) -> int:
        result = shift = 0
        while True:
            byte = self.byte()
            result |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return result
            if shift >= bits + 7:
                raise CodeError("code-malformed", f"overlong LEB128 at byte {self.pos}")

    def take(self, count: int) -> bytes:
        if count > self.end - self.pos:
            raise CodeError("code-malformed", f"truncated at byte {self.pos}")
        self.pos += count
        return self.data[self.pos - count:self.pos]

    def name(self) -> str:
        try:
            return self.take(self.leb()).decode()
        except UnicodeDecodeError:
            raise CodeError("code-malformed", "a name is not UTF-8") from None


def check_code(code: bytes) -> None:
    """Raise CodeError (with a reason code) unless ``code`` is an acceptable contract."""
    if len(code) > limits.MAX_CODE_SIZE:
        raise CodeError("code-too-large", f"{len(code)} bytes exceed {limits.MAX_CODE_SIZE}")
    if code[:8] != MAGIC:
        raise CodeError("code-malformed", "not a WebAssembly 1.0 binary")
    r = _Bytes(code, 8)
    types: list[tuple[bytes, bytes]] = []
    imported_functions = 0
    declared_functions = 0
    bodies = 0
    has_memory = exports_memory = False
    last_id = 0
    while r.pos < r.end:
        section = r.byte()
        size = r.leb()
        if size > r.end - r.pos:
            raise CodeError("code-malformed", f"section {section} runs past the end")
        s = _Bytes(code, r.pos, r.pos + size)
        r.pos += size
        if section == 0:  # custom (names, producers): ignored by the VM
            continue
        if section > 11:
            raise CodeError("code-forbidden-feature",
                            f"section {section} (bulk-memory data count or later proposals)")
        if section <= last_id:
            raise CodeError("code-malformed", f"section {section} out of order")
        last_id = section
        if section == 1:
            types = [_func_type(s) for _ in range(s.leb())]
        elif section == 2:
            imported_functions = _imports(s, types)
        elif section == 3:
            declared_functions = s.leb()
            for _ in range(declared_functions):
                if s.leb() >= len(types):
                    raise CodeError("code-malformed", "a function names an unknown type")
        elif section == 4:
            for _ in range(s.leb()):
                if s.byte() != 0x70:
                    raise CodeError("code-forbidden-feature", "reference-types: table of externref")
                _limits(s, limits.MAX_TABLE_ELEMENTS, "table")
        elif section == 5:
            count = s.leb()
            if count > 1:
                raise CodeError("code-forbidden-feature", "multi-memory")
            for _ in range(count):
                _limits(s, limits.MAX_MEMORY_PAGES, "memory")
                has_memory = True
        elif section == 6:
            for _ in range(s.leb()):
                _value_type(s.byte(), "global")
                if s.byte() > 1:
                    raise CodeError("code-malformed", "a global's mutability is 0 or 1")
                _const_expression(s)
        elif section == 7:
            exports_memory = _exports(s)
        elif section == 8:
            raise CodeError("code-bad-exports", "a start function (contracts run only when called)")
        elif section == 9:
            for _ in range(s.leb()):
                if s.leb() != 0:
                    raise CodeError("code-forbidden-feature", "bulk-memory/reference-types: "
                                    "element segment other than active table 0")
                _const_expression(s)
                for _ in range(s.leb()):
                    s.leb()
        elif section == 10:
            bodies = s.leb()
            for _ in range(bodies):
                body_size = s.leb()
                if body_size > s.end - s.pos:
                    raise CodeError("code-malformed", "a function body runs past the end")
                _function_body(_Bytes(code, s.pos, s.pos + body_size))
                s.pos += body_size
        elif section == 11:
            for _ in range(s.leb()):
                if s.leb() != 0:
                    raise CodeError("code-forbidden-feature", "bulk-memory: passive data segment")
                _const_expression(s)
                s.take(s.leb())
        if s.pos != s.end:
            raise CodeError("code-malformed", f"section {section} has trailing bytes")
    if bodies != declared_functions:
        raise CodeError("code-malformed", "function and code sections disagree")
    if imported_functions + declared_functions > limits.MAX_FUNCTIONS:
        raise CodeError("code-too-large", f"more than {limits.MAX_FUNCTIONS} functions")
    if not has_memory or not exports_memory:
        raise CodeError("code-bad-exports", "a contract defines its own memory and exports it "
                        "as 'memory'")


def _value_type(byte: int, where: str) -> int:
    if byte in (I32, I64):
        return byte
    if byte in FLOAT_TYPES:
        raise CodeError("code-forbidden-feature", f"float: {FLOAT_TYPES[byte]} {where}")
    if byte == 0x7B:
        raise CodeError("code-forbidden-feature", f"simd: v128 {where}")
    if byte in (0x70, 0x6F):
        raise CodeError("code-forbidden-feature", f"reference-types: reference {where}")
    raise CodeError("code-malformed", f"unknown value type {byte:#x} in a {where}")


def _func_type(s: _Bytes) -> tuple[bytes, bytes]:
    if s.byte() != 0x60:
        raise CodeError("code-forbidden-feature", "a type other than a function type (gc)")
    params = bytes(_value_type(s.byte(), "parameter") for _ in range(s.leb()))
    results = bytes(_value_type(s.byte(), "result") for _ in range(s.leb()))
    if len(results) > 1:
        raise CodeError("code-forbidden-feature", "multi-value results")
    return params, results


def _limits(s: _Bytes, cap: int, what: str) -> None:
    flags = s.byte()
    if flags not in (0, 1):
        raise CodeError("code-forbidden-feature", f"threads/memory64: {what} limits flag {flags}")
    minimum = s.leb()
    maximum = s.leb() if flags else None
    if minimum > cap or (maximum is not None and maximum > cap):
        raise CodeError("code-too-large", f"{what} larger than {cap}")


def _imports(s: _Bytes, types: list[tuple[bytes, bytes]]) -> int:
    functions = 0
    for _ in range(s.leb()):
        module, name = s.name(), s.name()
        if s.byte() != 0:
            raise CodeError("code-bad-import", f"{module}.{name}: only functions are imported")
        index = s.leb()
        expected = HOST_FUNCTIONS.get(name) if module == "env" else None
        if expected is None:
            raise CodeError("code-bad-import", f"{module}.{name} is not in the host API")
        if index >= len(types) or types[index] != expected.signature:
            raise CodeError("code-bad-import", f"env.{name} has the wrong signature")
        functions += 1
    return functions


def _exports(s: _Bytes) -> bool:
    names = set()
    for _ in range(s.leb()):
        name = s.name()
        if name in names:
            raise CodeError("code-malformed", f"export {name} twice")
        names.add(name)
        kind = s.byte()
        s.leb()
        if name == "memory" and kind != 2:
            raise CodeError("code-bad-exports", "the export named memory is not a memory")
    return "memory" in names


def _const_expression(s: _Bytes) -> None:
    op = s.byte()
    if op == 0x41:
        s.leb(32)
    elif op == 0x42:
        s.leb(64)
    elif op == 0x23:
        s.leb()
    elif op in _FORBIDDEN:
        raise CodeError("code-forbidden-feature", f"{_FORBIDDEN[op]}: opcode {op:#04x}")
    else:
        raise CodeError("code-malformed", f"opcode {op:#04x} in a constant expression")
    if s.byte() != 0x0B:
        raise CodeError("code-malformed", "a constant expression has one instruction")


def _function_body(s: _Bytes) -> None:
    total = 0
    for _ in range(s.leb()):
        total += s.leb()
        if total > 50_000:
            raise CodeError("code-too-large", "more than 50,000 locals in a function")
        _value_type(s.byte(), "local")
    while s.pos < s.end:
        op = s.byte()
        if op in _PLAIN:
            continue
        if op in _INDEXED:
            s.leb()
        elif op in _BLOCKS:
            block_type = s.byte()
            if block_type != EMPTY_BLOCK:
                _value_type(block_type, "block type")
        elif op in _MEMORY:
            s.leb()
            s.leb()
        elif op == 0x41:
            s.leb(32)
        elif op == 0x42:
            s.leb(64)
        elif op == 0x0E:
            for _ in range(s.leb() + 1):
                s.leb()
        elif op == 0x11:
            s.leb()
            if s.byte() != 0:
                raise CodeError("code-forbidden-feature", "reference-types: call_indirect table")
        elif op in (0x3F, 0x40):
            if s.byte() != 0:
                raise CodeError("code-forbidden-feature", "multi-memory: memory index")
        elif op in _FORBIDDEN:
            raise CodeError("code-forbidden-feature", f"{_FORBIDDEN[op]}: opcode {op:#04x}")
        else:
            raise CodeError("code-malformed", f"unknown opcode {op:#04x}")
