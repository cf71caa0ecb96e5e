"""Signature cases for the Ed25519 rule's tests: published vectors and signatures built to order.

Imported by name (tests/kernels is on sys.path).
"""

from __future__ import annotations

import hashlib
import json
import random

from kernels_testlib import VECTORS
from nacl.signing import SigningKey

from coinium.kernels import ed25519_zip215 as ref

L = ref.L

# The eight points of order dividing 8, canonically encoded (y, and x's sign in the top bit).
SMALL_ORDER_CANONICAL = [bytes.fromhex(h) for h in (
    "0100000000000000000000000000000000000000000000000000000000000000",  # identity
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # order 2 (y = -1)
    "0000000000000000000000000000000000000000000000000000000000000000",  # order 4 (y = 0)
    "0000000000000000000000000000000000000000000000000000000000000080",  # order 4
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",  # order 8
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",  # order 8
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",  # order 8
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",  # order 8
)]  # fmt: skip
# Every non-canonical encoding of those points: x = 0 with the sign bit set (y = 1, y = -1), and
# y + p below 2^255 (only y = 0 and y = 1 have one), each with both sign bits.
SMALL_ORDER_NON_CANONICAL = [bytes.fromhex(h) for h in (
    "0100000000000000000000000000000000000000000000000000000000000080",  # identity, x = -0
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",  # order 2, x = -0
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # y = p: order 4
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",  # y = p: order 4
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # y = p + 1: identity
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",  # y = p + 1, x = -0
)]  # fmt: skip
SMALL_ORDER_ENCODINGS = SMALL_ORDER_CANONICAL + SMALL_ORDER_NON_CANONICAL


def zip215_small_order_grid() -> list[tuple[bytes, bytes, bytes]]:
    """ZIP-215's 196 test cases, regenerated from their definition (ed25519-zebra's
    tests/small_order.rs): A and R run over the 14 encodings of small-order points, s = 0, the
    message "Zcash". [8]R = [8][k]A = [8][0]B = identity, so ZIP-215 accepts every one; Coinium's
    rule refuses every one (A has small order)."""
    return [(a, b"Zcash", r + bytes(32))
            for a in SMALL_ORDER_ENCODINGS for r in SMALL_ORDER_ENCODINGS]


def load_speccheck() -> list[tuple[bytes, bytes, bytes]]:
    with open(VECTORS / "ed25519_speccheck_cases.json") as f:
        cases = json.load(f)["cases"]
    return [(bytes.fromhex(c["pub_key"]), bytes.fromhex(c["message"]),
             bytes.fromhex(c["signature"])) for c in cases]


# The file holds the 12 cases of the paper (cases.txt) at positions 1, 3, 5-14, and three more
# (0, 2, 4: cases 0, 1 and 2 again with other messages). speccheck's results.md publishes Zebra's
# (ZIP-215's) verdicts on the 12 as V V V V V V X X X V V V; positions 0, 2 and 4 share their
# twins' verdicts. Coinium's rule also refuses the small-order keys (c7176a70..., ecffff...).
SPECCHECK_ZIP215 = [True] * 9 + [False] * 3 + [True] * 3
SMALL_KEY_CASES = {0, 1, 2, 3, 13, 14}
SPECCHECK_COINIUM = [v and i not in SMALL_KEY_CASES for i, v in enumerate(SPECCHECK_ZIP215)]


def sign_with_scalar(a: int, r: int, message: bytes, torsion_a: bytes | None = None,
                     torsion_r: bytes | None = None) -> tuple[bytes, bytes]:
    """(public key, signature) for secret scalar a and nonce r, with small-order points added to
    A and R (mixed-order points): valid under the cofactored equation, usually not under the
    cofactorless one."""
    a_point = ref.multiply_base(a)
    r_point = ref.multiply_base(r)
    if torsion_a is not None:
        a_point = ref.add(a_point, ref.decode_point(torsion_a))
    if torsion_r is not None:
        r_point = ref.add(r_point, ref.decode_point(torsion_r))
    a_bytes, r_bytes = ref.encode_point(a_point), ref.encode_point(r_point)
    k = int.from_bytes(hashlib.sha512(r_bytes + a_bytes + message).digest(), "little") % L
    s = (r + k * a) % L
    return a_bytes, r_bytes + s.to_bytes(32, "little")


def flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def one_case(rng: random.Random, kind: str) -> tuple[bytes, bytes, bytes]:
    """A signature of a given kind: 'valid', 'flipped' (one bit of key, R, s or message),
    'mixed' (mixed-order A and R), 'small_key', 'small_r', 'high_s', 'zero', 'bad_length'."""
    msg = rng.randbytes(rng.choice([0, 1, 32, 100]))
    if kind == "mixed":
        pk, sig = sign_with_scalar(rng.randrange(1, L), rng.randrange(1, L), msg,
                                   rng.choice(SMALL_ORDER_CANONICAL),
                                   rng.choice(SMALL_ORDER_CANONICAL))
        return pk, msg, sig
    key = SigningKey(rng.randbytes(32))
    pk, sig = key.verify_key.encode(), key.sign(msg).signature
    if kind == "valid":
        return pk, msg, sig
    if kind == "flipped":
        whole = flip(pk + sig + msg, rng.randrange(8 * (96 + len(msg))))
        return whole[:32], whole[96:], whole[32:96]
    if kind == "small_key":
        return rng.choice(SMALL_ORDER_ENCODINGS), msg, rng.choice(SMALL_ORDER_ENCODINGS) + bytes(32)
    if kind == "small_r":
        return pk, msg, rng.choice(SMALL_ORDER_ENCODINGS) + sig[32:]
    if kind == "high_s":
        s = int.from_bytes(sig[32:], "little") + L
        return pk, msg, sig[:32] + s.to_bytes(32, "little")
    if kind == "zero":
        return rng.choice([(bytes(32), msg, sig), (pk, msg, bytes(64)),
                           (bytes(32), msg, bytes(64))])
    if kind == "bad_length":
        return rng.choice([(pk[:31], msg, sig), (pk, msg, sig[:63]), (pk + b"\0", msg, sig),
                           (pk, msg, sig + b"\0"), (b"", msg, b"")])
    raise ValueError(kind)


KINDS = ("valid", "flipped", "mixed", "small_key", "small_r", "high_s", "zero", "bad_length")
