"""What the compiled kernels buy: nonce search, Merkle root and signature checks per backend.

    python -m bench.report                      # runs this file and prints the table + chart
    python -m pytest bench/test_bench_kernels.py --benchmark-enable     # the raw benchmarks

Each benchmark records in extra_info what one round does (`items` of `unit`) and what it is
(`section`, `label`, `backend`, `cores`), so bench/report.py can turn times into rates and ratios.
Baselines sit beside the backends: a plain Python loop over `blake3.blake3(header).digest()`
(what a simple miner does), the `blake3` package hashing one large buffer on one thread (its
bytes/s / 64 is the compression rate this CPU allows), and a PyNaCl loop for signatures.
"""

from __future__ import annotations

import os
import random
import threading

import blake3
import numpy as np
import pytest
from nacl.bindings import crypto_sign_open
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey

from coinium.kernels import KernelBackendError, load_backend
from coinium.kernels._args import usable_cpus

CORES = usable_cpus()

# Work per round, sized so a round takes roughly 0.05-0.3 s on a 2-core Zen 5 VM.
POW_NONCES = {"cython": 1 << 24, "numba": 1 << 23, "python": 1 << 16}
PLAIN_LOOP_NONCES = 1 << 16
CEILING_BUFFER = 1 << 21  # 2 MiB: large enough for full SIMD width, small enough to stay in cache
MERKLE_SIZES = {"1k": 1_000, "100k": 100_000, "1M": 1_000_000}
N_SIGNATURES = 2_000
MESSAGE_SIZE = 200


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def backend(name: str):
    try:
        return load_backend(name)
    except KernelBackendError as exc:
        if in_ci():
            pytest.fail(str(exc))
        pytest.skip(str(exc))


def run(benchmark, fn, *, rounds: int, **info) -> None:
    benchmark.extra_info.update(info)
    benchmark.pedantic(fn, rounds=rounds, iterations=1, warmup_rounds=1)


@pytest.fixture(scope="module")
def header() -> bytes:
    return random.Random(1).randbytes(124)


# ---- nonce search --------------------------------------------------------------------------------

def test_pow_plain_python_loop(benchmark, header):
    prefix = header[:116]
    target = bytes(32)  # never met: every nonce is hashed

    def loop():
        for nonce in range(PLAIN_LOOP_NONCES):
            if blake3.blake3(prefix + nonce.to_bytes(8, "little")).digest() <= target:
                return nonce
        return None

    run(benchmark, loop, rounds=5, section="pow", label="plain Python loop (blake3 package)",
        backend="baseline", cores=1, items=PLAIN_LOOP_NONCES, unit="hashes", role="baseline")


def test_pow_ceiling_blake3_large_buffer(benchmark):
    data = os.urandom(CEILING_BUFFER)
    run(benchmark, lambda: blake3.blake3(data).digest(), rounds=20, section="pow",
        label="ceiling: blake3 package, 2 MiB buffer, 1 thread", backend="ceiling", cores=1,
        items=CEILING_BUFFER // 64, unit="compressions", role="ceiling")


@pytest.mark.parametrize("name", ["cython", "numba", "python"])
def test_pow_one_core(benchmark, header, name):
    module = backend(name)
    count = POW_NONCES[name]
    run(benchmark, lambda: module.pow_search(header, 0, 0, count), rounds=5, section="pow",
        label=f"{name} pow_search, 1 core", backend=name, cores=1, items=count, unit="hashes")


@pytest.mark.parametrize("name", ["cython", "numba"])
def test_pow_all_cores(benchmark, header, name):
    """The kernel is single-threaded and GIL-free: one thread per core on disjoint ranges."""
    module = backend(name)
    count = POW_NONCES[name]

    def search_all():
        threads = [threading.Thread(target=module.pow_search, args=(header, 0, i * count, count))
                   for i in range(CORES)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    run(benchmark, search_all, rounds=5, section="pow",
        label=f"{name} pow_search, {CORES} cores", backend=name, cores=CORES,
        items=count * CORES, unit="hashes")


# Nonces per GPU round: ~0.5 s on an H200-class GPU, long enough to hide launch gaps.
GPU_NONCES = 1 << 34


def test_pow_gpu(benchmark, header):
    """The cuda backend on GPU 0, where one is present (skipped otherwise, in CI too: CI has no
    GPU). The first (warm-up) round compiles the kernel."""
    try:
        module = load_backend("cuda")
    except KernelBackendError as exc:
        pytest.skip(f"no usable GPU: {exc}")
    if module.SIMULATOR:
        pytest.skip("the CUDA simulator is no GPU")
    name = module.device_names()[0]
    run(benchmark, lambda: module.pow_search(header, 0, 0, GPU_NONCES), rounds=5, section="pow",
        label=f"cuda pow_search, 1 GPU ({name})", backend="cuda", cores=0, items=GPU_NONCES,
        unit="hashes")


# ---- Merkle root ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def leaf_lists() -> dict[str, list[bytes]]:
    rng = np.random.default_rng(2)
    out = {}
    for size, n in MERKLE_SIZES.items():
        raw = rng.integers(0, 256, size=(n, 32), dtype=np.uint8).tobytes()
        out[size] = [raw[32 * i:32 * i + 32] for i in range(n)]
    return out


@pytest.mark.parametrize("size", list(MERKLE_SIZES))
def test_merkle_python_loop(benchmark, leaf_lists, size):
    module = backend("python")
    leaves = leaf_lists[size]
    run(benchmark, lambda: module.merkle_root(leaves), rounds=3 if size == "1M" else 5,
        section=f"merkle-{size}", label=f"Python loop (python backend), {size} leaves",
        backend="python", cores=1, items=len(leaves), unit="leaves", role="baseline")


@pytest.mark.parametrize("size", list(MERKLE_SIZES))
@pytest.mark.parametrize("name", ["cython", "numba"])
@pytest.mark.parametrize("form", ["list", "array"])
def test_merkle_compiled(benchmark, leaf_lists, name, size, form):
    module = backend(name)
    leaves = leaf_lists[size]
    if form == "array":
        leaves = np.frombuffer(b"".join(leaves), dtype=np.uint8).reshape(-1, 32)
    run(benchmark, lambda: module.merkle_root(leaves), rounds=5, section=f"merkle-{size}",
        label=f"{name} merkle_root, {size} leaves as {form}", backend=name, cores=1,
        items=len(leaves), unit="leaves", form=form)


# ---- signatures ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def signatures() -> tuple[list[bytes], list[bytes], list[bytes]]:
    rng = random.Random(3)
    keys = [SigningKey(rng.randbytes(32)) for _ in range(64)]
    pks, msgs, sigs = [], [], []
    for i in range(N_SIGNATURES):
        key = keys[i % len(keys)]
        msg = rng.randbytes(MESSAGE_SIZE)
        pks.append(key.verify_key.encode())
        msgs.append(msg)
        sigs.append(key.sign(msg).signature)
    return pks, msgs, sigs


def test_verify_pynacl_loop(benchmark, signatures):
    pks, msgs, sigs = signatures

    def loop():
        verdicts = []
        for pk, msg, sig in zip(pks, msgs, sigs, strict=True):
            try:
                crypto_sign_open(sig + msg, pk)
                verdicts.append(True)
            except BadSignatureError:
                verdicts.append(False)
        return verdicts

    run(benchmark, loop, rounds=5, section="verify", label="PyNaCl loop (crypto_sign_open)",
        backend="baseline", cores=1, items=N_SIGNATURES, unit="signatures", role="baseline")


def test_verify_python_backend(benchmark, signatures):
    module = backend("python")
    run(benchmark, lambda: module.verify_batch(*signatures), rounds=5, section="verify",
        label="python verify_batch, 1 core", backend="python", cores=1, items=N_SIGNATURES,
        unit="signatures")


@pytest.mark.parametrize("name", ["cython", "numba"])
@pytest.mark.parametrize("cores", sorted({1, CORES}))
def test_verify_compiled(benchmark, signatures, name, cores):
    module = backend(name)
    run(benchmark, lambda: module.verify_batch(*signatures, threads=cores), rounds=5,
        section="verify", label=f"{name} verify_batch, {cores} core{'s' if cores > 1 else ''}",
        backend=name, cores=cores, items=N_SIGNATURES, unit="signatures")
