"""Coinium's Ed25519 signature rule, written out in plain Python: the specification.

Slow and obvious on purpose. The C single and batch checks (`_ext/csrc/ed25519_*.c`) are tested
against these functions; the python and numba kernel backends fall back to them when libsodium
rejects a signature (libsodium accepting implies this rule accepting, see `verify`).

The rule is ZIP-215 (https://zips.z.cash/zip-0215) plus one check: the public key must not be a
point of small order (docs/PROTOCOL.md, "Signatures"). A signature (R || s) on message M under key
A is valid iff

* A and R are 32 bytes that decode to curve points. The encoding's y (the low 255 bits) may be
  any value below 2^255 and is taken mod p (non-canonical encodings decode); the top bit picks
  the sign of x, and x = 0 with the sign bit set decodes too;
* s, the signature's last 32 bytes read little-endian, is below L;
* k = SHA-512(R_bytes || A_bytes || M) mod L, over the bytes exactly as given;
* [8][s]B = [8]R + [8][k]A (the cofactored equation: torsion components do not matter, which is
  what makes single and batch checks agree);
* Coinium only: [8]A is not the identity. Pure ZIP-215 lets anyone sign for a small-order key
  (R = identity, s = 0 verifies every message), so such keys are refused.
"""

from __future__ import annotations

import functools
import hashlib

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)  # a square root of -1 mod p

# A point in extended coordinates (X, Y, Z, T): x = X/Z, y = Y/Z, x*y = T/Z.
Point = tuple[int, int, int, int]
IDENTITY: Point = (0, 1, 1, 0)


def decode_point(encoding: bytes) -> Point | None:
    """ZIP-215 decoding: y = low 255 bits mod p, top bit = sign of x; None if no such point."""
    if len(encoding) != 32:
        return None
    as_int = int.from_bytes(encoding, "little")
    y = (as_int & (2**255 - 1)) % P
    sign = as_int >> 255
    # x^2 = (y^2 - 1) / (d y^2 + 1); d y^2 + 1 is never 0 (d is not a square).
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P) % P
    x = pow(x2, (P + 3) // 8, P)
    if x * x % P != x2:
        x = x * SQRT_M1 % P
    if x * x % P != x2:
        return None
    if x & 1 != sign:
        x = (P - x) % P  # x = 0 with the sign bit set stays 0
    return (x, y, 1, x * y % P)


def encode_point(point: Point) -> bytes:
    """The canonical encoding: y, and x's low bit as the top bit."""
    x, y, z, _ = point
    z_inv = pow(z, P - 2, P)
    x, y = x * z_inv % P, y * z_inv % P
    return (y | (x & 1) << 255).to_bytes(32, "little")


def add(p1: Point, p2: Point) -> Point:
    """Point addition on -x^2 + y^2 = 1 + d x^2 y^2 (complete: also doubles, also the identity)."""
    x1, y1, z1, t1 = p1
    x2, y2, z2, t2 = p2
    a = (y1 - x1) * (y2 - x2) % P
    b = (y1 + x1) * (y2 + x2) % P
    c = 2 * D * t1 * t2 % P
    d = 2 * z1 * z2 % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def negate(point: Point) -> Point:
    x, y, z, t = point
    return (-x % P, y, z, -t % P)


def is_identity(point: Point) -> bool:
    x, y, z, _ = point
    return x % P == 0 and (y - z) % P == 0


BASE = decode_point(bytes.fromhex("58" + "66" * 31))
assert BASE is not None


@functools.cache
def _base_table() -> list[list[Point]]:
    """[j 16^i]B for i < 64 and j < 16, so that [s]B takes at most 64 additions.

    The reference's one concession to speed (the python and numba backends call it for every
    signature libsodium rejects), built at first use so that importing stays cheap."""
    table = []
    row_base = BASE
    for _ in range(64):
        row = [IDENTITY]
        for _ in range(15):
            row.append(add(row[-1], row_base))
        table.append(row)
        row_base = add(row[-1], row_base)  # 16^(i+1) B
    return table


def multiply_base(scalar: int) -> Point:
    """[scalar]B for 0 <= scalar < 2^256, one table entry per 4-bit digit."""
    table = _base_table()
    result = IDENTITY
    for i in range(64):
        digit = (scalar >> (4 * i)) & 15
        if digit:
            result = add(result, table[i][digit])
    return result


def multiply(scalar: int, point: Point) -> Point:
    """[scalar]point, 4 bits at a time from the top: 4 doublings, then one table addition (and
    [k]A with k < L takes 252 doublings and at most 63 additions)."""
    multiples = [IDENTITY]
    for _ in range(15):
        multiples.append(add(multiples[-1], point))
    result = IDENTITY
    for shift in reversed(range(0, max(scalar.bit_length(), 1), 4)):
        for _ in range(4):
            result = add(result, result)
        digit = (scalar >> shift) & 15
        if digit:
            result = add(result, multiples[digit])
    return result


def times_eight(point: Point) -> Point:
    for _ in range(3):
        point = add(point, point)
    return point


def has_small_order(point: Point) -> bool:
    """True for the 8 points of order dividing 8 (the identity included)."""
    return is_identity(times_eight(point))


def verify_zip215(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """ZIP-215's rule exactly (small-order keys allowed); Coinium's rule is `verify`."""
    if len(public_key) != 32 or len(signature) != 64:
        return False
    public_key, message, signature = bytes(public_key), bytes(message), bytes(signature)
    s = int.from_bytes(signature[32:], "little")
    if s >= L:
        return False
    a = decode_point(public_key)
    r = decode_point(signature[:32])
    if a is None or r is None:
        return False
    k = int.from_bytes(hashlib.sha512(signature[:32] + public_key + message).digest(), "little")
    k %= L
    # [8]([s]B - R - [k]A) is the identity  <=>  [8][s]B = [8]R + [8][k]A
    defect = add(multiply_base(s), negate(add(r, multiply(k, a))))
    return is_identity(times_eight(defect))


def verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Coinium's consensus rule: ZIP-215, and the public key is not of small order.

    Every signature libsodium's crypto_sign_verify_detached accepts is accepted here: libsodium
    requires s < L, a canonical key that is not of small order, and R + [k]A = [s]B exactly (the
    cofactorless equation, which implies the cofactored one). It rejects more (non-canonical or
    small-order R, mixed-order signatures that only satisfy the cofactored equation).
    """
    if len(public_key) != 32 or len(signature) != 64:
        return False
    a = decode_point(bytes(public_key))
    if a is None or has_small_order(a):
        return False
    return verify_zip215(public_key, message, signature)
