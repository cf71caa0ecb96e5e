"""The GPU backend: nonce search with Numba's CUDA target (the optional `numba-cuda` package).

It provides `pow_search` only: Merkle roots and signature checks stay on the CPU backends, so
this module is never picked by default; the GPU miner loads it by name
(``coinium.kernels.load_backend("cuda")``), and ``COINIUM_KERNELS=cuda`` puts only
`kernels.pow_search` on the GPU (see `coinium.kernels`). Importing it without a usable GPU or
CUDA driver raises `NoGpuError` (an ImportError) with the driver's reason.

The header is two BLAKE3 blocks: bytes 0-63, then the rest (8 to 64 bytes, the nonce its last 8).
The first block's chaining value, the midstate, is computed here on the host once per header; on
the device each nonce costs one compression of the second block. The kernel is specialised per
header length (the nonce's position and the block's zero padding become constants the compiler
folds away), so any length from 72 to 128 bytes works: the 92-byte v1 header and the 124-byte v2
header alike. Each thread tests the leading hash word first; a hash whose leading word ties the
target's is compared in full. Qualifying nonces meet in one 64-bit atomic minimum, so the answer
is the first qualifying nonce of the range whatever order the threads ran in, and the hashes
counted are ``nonce - start + 1``, exactly as the python reference returns. A thread stops once
the minimum so far is below its next nonce (easy targets end a launch early).

Under the CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``) the same kernel runs as Python on the CPU,
slowly: the tests use it, with tiny ranges and a one-block grid.
"""

from __future__ import annotations

import threading
import warnings

import numpy as np

from coinium.kernels._args import MAX_NONCE, check_nonce_range, settled_search

try:
    from numba import config as _numba_config
    from numba import cuda
except ImportError as exc:
    raise ImportError(
        f"numba's CUDA target is not installed ({exc}); install it with pip install 'coinium[gpu]'"
    ) from exc
if getattr(cuda, "implementation", "") != "NVIDIA":  # numba's own, deprecated copy of the target
    raise ImportError("numba's CUDA target is not installed (numba-cuda); install it with "
                      "pip install 'coinium[gpu]'")  # fmt: skip

NAME = "cuda"

MIN_HEADER = 72
MAX_HEADER = 128
SIMULATOR = bool(_numba_config.ENABLE_CUDASIM)
if SIMULATOR:  # the simulator runs the kernel on NumPy scalars, whose uint32 sums warn as they wrap
    warnings.filterwarnings("ignore", "overflow encountered", RuntimeWarning)

# Most nonces in one launch (the miner asks for less, sized to ~75 ms); the kernel's range is
# also cut where the nonce's high word changes, so a launch never crosses a multiple of 2^32.
MAX_LAUNCH = 1 << 32
# The result slot's "nothing found"; a real hit at 2^64-1 is told apart on the host (`_launch`).
_NO_NONCE = np.uint64(MAX_NONCE)

CHUNK_START = 1
CHUNK_END = 2
ROOT = 8

U32 = np.uint32
U64 = np.uint64

_IV = (0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A,
       0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19)  # fmt: skip
# The message permutation applied between rounds, spelled out: row r is the order in which
# round r reads the block's words.
_SCHEDULE = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
    (2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8),
    (3, 4, 10, 12, 13, 2, 7, 14, 6, 5, 9, 0, 11, 15, 8, 1),
    (10, 7, 12, 9, 14, 3, 13, 15, 4, 0, 11, 2, 5, 8, 1, 6),
    (12, 13, 9, 11, 15, 10, 14, 8, 7, 2, 5, 3, 0, 1, 6, 4),
    (9, 14, 11, 5, 8, 12, 15, 1, 13, 3, 0, 10, 2, 6, 4, 7),
    (11, 15, 5, 0, 1, 9, 8, 6, 14, 10, 2, 12, 3, 4, 7, 13),
)


class NoGpuError(ImportError):
    """No usable CUDA device or driver on this machine."""


# ---- the host side: the midstate and a reference compression on Python ints -------------------

def _rotr(x: int, n: int) -> int:
    return ((x >> n) | (x << (32 - n))) & 0xFFFFFFFF


def compress_host(cv, block: bytes, counter: int, block_len: int, flags: int) -> list[int]:
    """One BLAKE3 compression on Python ints: the 16 output words (first 8: the new CV)."""
    m = [int.from_bytes(block[4 * i:4 * i + 4], "little") for i in range(16)]
    v = [*cv, *_IV[:4], counter & 0xFFFFFFFF, counter >> 32, block_len, flags]
    for row in _SCHEDULE:
        for i, (a, b, c, d) in enumerate(((0, 4, 8, 12), (1, 5, 9, 13), (2, 6, 10, 14),
                                          (3, 7, 11, 15), (0, 5, 10, 15), (1, 6, 11, 12),
                                          (2, 7, 8, 13), (3, 4, 9, 14))):  # fmt: skip
            x, y = m[row[2 * i]], m[row[2 * i + 1]]
            v[a] = (v[a] + v[b] + x) & 0xFFFFFFFF
            v[d] = _rotr(v[d] ^ v[a], 16)
            v[c] = (v[c] + v[d]) & 0xFFFFFFFF
            v[b] = _rotr(v[b] ^ v[c], 12)
            v[a] = (v[a] + v[b] + y) & 0xFFFFFFFF
            v[d] = _rotr(v[d] ^ v[a], 8)
            v[c] = (v[c] + v[d]) & 0xFFFFFFFF
            v[b] = _rotr(v[b] ^ v[c], 7)
    return [v[i] ^ v[i + 8] for i in range(8)] + [v[i + 8] ^ cv[i] for i in range(8)]


def midstate(header: bytes) -> list[int]:
    """The chaining value after the header's first 64 bytes (flags CHUNK_START, counter 0)."""
    return compress_host(_IV, header[:64], 0, 64, CHUNK_START)[:8]


def header_hash(header: bytes, nonce: int) -> bytes:
    """BLAKE3 of the header with this nonce in its last 8 bytes, from the midstate (host side)."""
    tail = header[64:-8] + nonce.to_bytes(8, "little")
    words = compress_host(midstate(header), tail.ljust(64, b"\0"), 0, len(tail),
                          CHUNK_END | ROOT)  # fmt: skip
    return b"".join(w.to_bytes(4, "little") for w in words[:8])


# ---- the device side --------------------------------------------------------------------------
# Every sum is cast back to uint32 (Numba widens integer arithmetic; the compiler narrows it
# again). Rotations are written as shift pairs, which become one funnel shift on the device.

def _compression(device):
    """The header's last-block compression (counter 0, CHUNK_END | ROOT), built from device
    functions made by `device`; returns compress(cv, m, block_len) -> the state after 7 rounds.

    Two builds: the nonce loop's inlines everything at Numba's level, which lets the compiler
    keep it in 32-bit registers and drop the last round's work the leading word does not need,
    but takes Numba most of a kernel's compile time; the rare full check after a tie in the
    leading word uses plain device calls, which compile in a second (their code is slower,
    which there does not matter)."""

    @device
    def g(a, b, c, d, x, y):
        a = U32(a + b + x)
        d = d ^ a
        d = U32((d >> U32(16)) | (d << U32(16)))
        c = U32(c + d)
        b = b ^ c
        b = U32((b >> U32(12)) | (b << U32(20)))
        a = U32(a + b + y)
        d = d ^ a
        d = U32((d >> U32(8)) | (d << U32(24)))
        c = U32(c + d)
        b = b ^ c
        b = U32((b >> U32(7)) | (b << U32(25)))
        return a, b, c, d

    @device
    def one_round(v, m):
        v0, v1, v2, v3, v4, v5, v6, v7, v8, v9, v10, v11, v12, v13, v14, v15 = v
        v0, v4, v8, v12 = g(v0, v4, v8, v12, m[0], m[1])
        v1, v5, v9, v13 = g(v1, v5, v9, v13, m[2], m[3])
        v2, v6, v10, v14 = g(v2, v6, v10, v14, m[4], m[5])
        v3, v7, v11, v15 = g(v3, v7, v11, v15, m[6], m[7])
        v0, v5, v10, v15 = g(v0, v5, v10, v15, m[8], m[9])
        v1, v6, v11, v12 = g(v1, v6, v11, v12, m[10], m[11])
        v2, v7, v8, v13 = g(v2, v7, v8, v13, m[12], m[13])
        v3, v4, v9, v14 = g(v3, v4, v9, v14, m[14], m[15])
        return (v0, v1, v2, v3, v4, v5, v6, v7, v8, v9, v10, v11, v12, v13, v14, v15)

    @device
    def permute(m):
        return (m[2], m[6], m[3], m[10], m[7], m[0], m[4], m[13],
                m[1], m[11], m[12], m[5], m[9], m[14], m[15], m[8])  # fmt: skip

    @device
    def compress(cv, m, block_len):
        v = (cv[0], cv[1], cv[2], cv[3], cv[4], cv[5], cv[6], cv[7],
             U32(_IV[0]), U32(_IV[1]), U32(_IV[2]), U32(_IV[3]),
             U32(0), U32(0), block_len, U32(CHUNK_END | ROOT))  # fmt: skip
        v = one_round(v, m)
        m = permute(m)
        v = one_round(v, m)
        m = permute(m)
        v = one_round(v, m)
        m = permute(m)
        v = one_round(v, m)
        m = permute(m)
        v = one_round(v, m)
        m = permute(m)
        v = one_round(v, m)
        m = permute(m)
        return one_round(v, m)

    return compress


_compress = _compression(cuda.jit(device=True, inline="always"))
_compress_rare = _compression(cuda.jit(device=True))


@cuda.jit(device=True, inline="always")
def _bswap(h):
    return U32((h >> U32(24)) | ((h >> U32(8)) & U32(0xFF00)) | ((h << U32(8)) & U32(0xFF0000))
               | (h << U32(24)))  # fmt: skip


def _nonce_word(k: int, bit: int):
    """A device function giving message word k's share of the nonce placed at bit `bit` of the
    block (both constants: the shifts fold away at compile time)."""
    shift = 32 * k - bit  # where word k starts, relative to the nonce's bit 0
    if shift >= 64 or shift <= -32:
        @cuda.jit(device=True, inline="always")
        def part(nonce):
            return U32(0)
    elif shift >= 0:
        @cuda.jit(device=True, inline="always")
        def part(nonce):
            return U32(nonce >> U64(shift))
    else:
        @cuda.jit(device=True, inline="always")
        def part(nonce):
            return U32(nonce << U64(-shift))
    return part


def _word_source(k: int, used_words: int):
    """A device function reading template word k, or the constant 0 beyond the block's data."""
    if k >= used_words:
        @cuda.jit(device=True, inline="always")
        def word(template):
            return U32(0)
    else:
        @cuda.jit(device=True, inline="always")
        def word(template):
            return template[k]
    return word


def _make_kernel(header_len: int):
    """The search kernel for one header length."""
    block_bytes = header_len - 64
    bit = 8 * (block_bytes - 8)  # the nonce's first bit within the block
    used = (block_bytes + 3) // 4
    w = [_word_source(k, used) for k in range(16)]
    p = [_nonce_word(k, bit) for k in range(16)]
    w0, w1, w2, w3, w4, w5, w6, w7, w8, w9, w10, w11, w12, w13, w14, w15 = w
    p0, p1, p2, p3, p4, p5, p6, p7, p8, p9, p10, p11, p12, p13, p14, p15 = p

    @cuda.jit(device=True, inline="always")
    def template(t):
        """The block's words with the nonce zeroed, read once into registers."""
        return (w0(t), w1(t), w2(t), w3(t), w4(t), w5(t), w6(t), w7(t),
                w8(t), w9(t), w10(t), w11(t), w12(t), w13(t), w14(t), w15(t))  # fmt: skip

    @cuda.jit(device=True, inline="always")
    def message(w, nonce):
        return (w[0] | p0(nonce), w[1] | p1(nonce), w[2] | p2(nonce), w[3] | p3(nonce),
                w[4] | p4(nonce), w[5] | p5(nonce), w[6] | p6(nonce), w[7] | p7(nonce),
                w[8] | p8(nonce), w[9] | p9(nonce), w[10] | p10(nonce), w[11] | p11(nonce),
                w[12] | p12(nonce), w[13] | p13(nonce), w[14] | p14(nonce),
                w[15] | p15(nonce))  # fmt: skip

    @cuda.jit(device=True)
    def meets_in_full(cv, t, nonce, block_len, target):
        """Every word of the hash against the target's, most significant first."""
        v = _compress_rare(cv, message(t, nonce), block_len)
        for i in range(8):
            h = _bswap(v[i] ^ v[i + 8])
            if h != target[i]:
                return h < target[i]
        return True

    @cuda.jit
    def search(params, high, low_start, count, block_len, result):
        """Nonces (high << 32) | (low_start + i) for i < count; the smallest hit to result[0].

        params: the midstate (8 words), the block template with the nonce zeroed (16), the
        target's big-endian words (8). count <= 2^32 - low_start: the high word is fixed."""
        cv = (params[0], params[1], params[2], params[3],
              params[4], params[5], params[6], params[7])  # fmt: skip
        t = template(params[8:24])
        lead = params[24]
        base = U64(high) << U64(32)
        i = U64(cuda.grid(1))
        stride = U64(cuda.gridsize(1))
        while i < count:
            nonce = base | U64(U32(low_start + i))
            if result[0] < nonce:
                return  # an earlier nonce qualifies: the rest of this thread's can't matter
            v = _compress(cv, message(t, nonce), block_len)
            h = _bswap(v[0] ^ v[8])
            if h <= lead:
                if h < lead or meets_in_full(cv, t, nonce, block_len, params[24:32]):
                    cuda.atomic.min(result, 0, nonce)
            i += stride

    return search


_kernels: dict[int, object] = {}
_lock = threading.Lock()


def _kernel(header_len: int):
    with _lock:
        kernel = _kernels.get(header_len)
        if kernel is None:
            kernel = _kernels[header_len] = _make_kernel(header_len)
        return kernel


# ---- devices ---------------------------------------------------------------------------------

def _probe() -> None:
    """Raise NoGpuError unless a CUDA driver and at least one device are usable."""
    if SIMULATOR:
        return
    try:
        count = len(cuda.gpus)
    except Exception as exc:  # noqa: BLE001 - the driver reports absence in many ways
        reason = " ".join(str(exc).split()).rstrip(" :") or type(exc).__name__
        raise NoGpuError(f"no usable CUDA driver ({reason})") from exc
    if count == 0:
        raise NoGpuError("the CUDA driver reports no GPU")


def device_count() -> int:
    """GPUs this process can use (1 under the simulator)."""
    return len(cuda.gpus)


def device_names() -> list[str]:
    if SIMULATOR:
        return ["CUDA simulator"] * device_count()
    names = []
    for gpu in cuda.gpus:
        name = gpu.name
        names.append(name.decode() if isinstance(name, bytes) else str(name))
    return names


def use_device(index: int) -> str:
    """Make GPU `index` this thread's device; returns its name."""
    if not 0 <= index < device_count():
        raise ValueError(f"no GPU {index}: this machine has {device_count()}")
    cuda.select_device(index)
    return device_names()[index]


def _grid() -> tuple[int, int]:
    """Blocks and threads per block: enough warps to hide each SM's latencies."""
    if SIMULATOR:
        return 1, 8  # every simulated thread is a Python thread
    device = cuda.get_current_device()
    return device.MULTIPROCESSOR_COUNT * 16, 256


# ---- pow_search ------------------------------------------------------------------------------

class _Prepared:
    """One header and target on the device: midstate, block template, target words."""

    __slots__ = ("header", "target", "params", "result", "block_len", "grid")

    def __init__(self, header: bytes, target: int):
        self.header, self.target = header, target
        block = header[64:-8].ljust(64, b"\0")  # the nonce bytes zeroed, then the padding
        words = [*midstate(header)]
        words += [int.from_bytes(block[4 * i:4 * i + 4], "little") for i in range(16)]
        target_bytes = target.to_bytes(32, "big")
        words += [int.from_bytes(target_bytes[4 * i:4 * i + 4], "big") for i in range(8)]
        self.params = cuda.to_device(np.array(words, dtype=np.uint32))
        self.result = cuda.device_array(1, dtype=np.uint64)
        self.block_len = U32(len(header) - 64)
        self.grid = _grid()


_state = threading.local()  # per thread: a device context belongs to its thread


def _prepare(header: bytes, target: int) -> _Prepared:
    prepared = getattr(_state, "prepared", None)
    if prepared is None or prepared.header != header or prepared.target != target:
        prepared = _state.prepared = _Prepared(header, target)
    return prepared


def _launch(prepared: _Prepared, start: int, count: int) -> int | None:
    """Search start .. start+count-1 (same high word) in one launch; the first hit or None."""
    prepared.result.copy_to_device(np.array([_NO_NONCE], dtype=np.uint64))
    blocks, threads = prepared.grid
    _kernel(len(prepared.header))[blocks, threads](
        prepared.params, U32(start >> 32), U32(start & 0xFFFFFFFF), U64(count),
        prepared.block_len, prepared.result,
    )
    found = int(prepared.result.copy_to_host()[0])
    if found == MAX_NONCE and not (start + count - 1 == MAX_NONCE and _meets(prepared, found)):
        return None  # the empty slot, unless 2^64-1 itself is in range and really qualifies
    return found


def _meets(prepared: _Prepared, nonce: int) -> bool:
    return int.from_bytes(header_hash(prepared.header, nonce), "big") <= prepared.target


def check_args(header: bytes, start_nonce: int, count: int) -> None:
    if not MIN_HEADER <= len(header) <= MAX_HEADER:
        raise ValueError(f"pow_search: header must be {MIN_HEADER}-{MAX_HEADER} bytes, "
                         f"got {len(header)}")  # fmt: skip
    check_nonce_range(start_nonce, count)


def pow_search(header: bytes, target: int, start_nonce: int, count: int) -> tuple[int | None, int]:
    """Scan nonces start_nonce .. start_nonce+count-1 on the current GPU; return (first nonce
    meeting target, hashes done), exactly as the python reference does.

    Blocks until done: a caller that must stop early (the miner, on a new tip) asks for ranges
    sized to the time it can wait.
    """
    check_args(header, start_nonce, count)
    settled = settled_search(target, start_nonce, count)
    if settled is not None:
        return settled
    prepared = _prepare(bytes(header), int(target))
    nonce, end = start_nonce, start_nonce + count
    while nonce < end:
        piece = min(end - nonce, MAX_LAUNCH - (nonce & 0xFFFFFFFF))  # never past the high word
        found = _launch(prepared, nonce, piece)
        if found is not None:
            return found, found - start_nonce + 1
        nonce += piece
    return None, count


_probe()  # at import: the selector turns NoGpuError into a KernelBackendError with this reason
