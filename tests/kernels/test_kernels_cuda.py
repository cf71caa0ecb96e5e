"""The GPU backend's pow_search against the python reference and a brute-force oracle.

CI has no GPU: the same kernel runs under Numba's CUDA simulator in a child process
(cuda_sim_child.py; NUMBA_ENABLE_CUDASIM must not leak into this process's numba), on tiny
ranges because the simulator runs every thread in Python. Where a real GPU is present, the last
tests run the compiled kernel too; elsewhere they are skipped with the reason.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import blake3
import pytest
from kernels_testlib import in_ci

from coinium.kernels import KernelBackendError, load_backend
from coinium.kernels import python_backend as reference

MAX_NONCE = (1 << 64) - 1
ALL_ONES = (1 << 256) - 1
REPO_ROOT = Path(__file__).resolve().parents[2]
HEADER_LENGTHS = (92, 124)  # the v1 and v2 headers
ODD_LENGTHS = (72, 93, 128)  # the kernel takes any header of two blocks


def hash_int(header: bytes, nonce: int) -> int:
    digest = blake3.blake3(header[:-8] + nonce.to_bytes(8, "little")).digest()
    return int.from_bytes(digest, "big")


def oracle(header: bytes, target: int, start: int, count: int) -> tuple[int | None, int]:
    """The obvious answer: hash every nonce in order (the reference's rule, any header size)."""
    if target >= ALL_ONES and count:
        return start, 1
    for i in range(count):
        if hash_int(header, start + i) <= target:
            return start + i, i + 1
    return None, count


def lowest(header: bytes, start: int, count: int) -> tuple[int, int]:
    """(nonce, hash) of the smallest hash in the range."""
    return min(((n, hash_int(header, n)) for n in range(start, start + count)),
               key=lambda item: item[1])  # fmt: skip


def cases() -> list[tuple[str, bytes, int, int, int]]:
    """(name, header, target, start, count): every rule of the search, each header length."""
    rng = random.Random(20)
    out = []
    for length in HEADER_LENGTHS + ODD_LENGTHS:
        header = rng.randbytes(length)
        start = rng.randrange(1 << 40)
        out.append((f"{length}-easy", header, (1 << 253) - 1, start, 24))
        out.append((f"{length}-many-hits", header, (1 << 255) - 1, start, 20))
        if length not in HEADER_LENGTHS:
            continue
        # Targets at the range's lowest hash: equality in every word, then a tie in the leading
        # word decided by a later word (one below: no hit; one above: the same hit).
        nonce, low = lowest(header, start, 24)
        for name, target in (("equal", low), ("just-below", low - 1), ("just-above", low + 1)):
            out.append((f"{length}-{name}", header, target, start, nonce - start + 1))
        # Across 2^32: a header whose lowest hash in the range lies after the boundary.
        first = (1 << 32) - 10
        while lowest(header, first, 20)[0] < 1 << 32:
            header = rng.randbytes(length)
        out.append((f"{length}-across-2^32", header, lowest(header, first, 20)[1], first, 20))
        # The end of the nonce space, where only 2^64-1 itself qualifies.
        tail = MAX_NONCE - 11
        while lowest(header, tail, 12)[0] != MAX_NONCE:
            header = rng.randbytes(length)
        out.append((f"{length}-only-2^64-1", header, hash_int(header, MAX_NONCE), tail, 12))
        out.append((f"{length}-end-nothing", header, 0, tail, 12))
        out.append((f"{length}-target-0", header, 0, start, 16))
        out.append((f"{length}-all-ones", header, ALL_ONES, MAX_NONCE, 1))
        out.append((f"{length}-above-all-ones", header, ALL_ONES + 5, start, 9))
        out.append((f"{length}-negative", header, -1, start, 9))
        out.append((f"{length}-count-0", header, ALL_ONES, start, 0))
    return out


CASES = cases()
BAD = [
    ("header-71", bytes(71), 1, 0, 1),
    ("header-129", bytes(129), 1, 0, 1),
    ("past-2^64", bytes(92), 1, MAX_NONCE, 2),
    ("negative-start", bytes(92), 1, -1, 2),
]


def run_in_simulator(items) -> list[dict]:
    env = {k: v for k, v in os.environ.items() if k != "COINIUM_KERNELS"}
    env["NUMBA_ENABLE_CUDASIM"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    payload = json.dumps([{"header": h.hex(), "target": str(t), "start": str(s), "count": str(c)}
                          for _, h, t, s, c in items])  # fmt: skip
    done = subprocess.run([sys.executable, str(Path(__file__).with_name("cuda_sim_child.py"))],
                          input=payload, capture_output=True, text=True, env=env,
                          timeout=600)  # fmt: skip
    if done.returncode != 0 and "numba's CUDA target is not installed" in done.stderr:
        if in_ci():
            pytest.fail(f"numba-cuda must be installed in CI: {done.stderr}")
        pytest.skip("numba-cuda is not installed (pip install 'coinium[gpu]')")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def simulated() -> dict[str, dict]:
    """The simulator's answer for every case, from one child process."""
    answers = run_in_simulator(CASES + BAD)
    return dict(zip([c[0] for c in CASES + BAD], answers, strict=True))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c[0])
def test_simulated_kernel_matches_the_oracle(simulated, case):
    name, header, target, start, count = case
    answer = simulated[name]
    expected = oracle(header, target, start, count)
    assert (answer["nonce"], answer["hashes"]) == expected
    if len(header) == reference.HEADER_SIZE:
        assert expected == reference.pow_search(header, target, start, count)


def test_simulated_cases_cover_what_they_claim():
    """The special cases really are special: a found nonce past 2^32, at 2^64-1, none."""
    by_name = {c[0]: c for c in CASES}
    for length in HEADER_LENGTHS:
        _, header, target, start, count = by_name[f"{length}-across-2^32"]
        assert oracle(header, target, start, count)[0] >= 1 << 32 > start
        _, header, target, start, count = by_name[f"{length}-only-2^64-1"]
        assert oracle(header, target, start, count) == (MAX_NONCE, count)
        _, header, target, start, count = by_name[f"{length}-just-below"]
        assert oracle(header, target, start, count) == (None, count)
        _, header, target, start, count = by_name[f"{length}-many-hits"]
        assert sum(hash_int(header, n) <= target for n in range(start, start + count)) > 3


@pytest.mark.parametrize("case", BAD, ids=lambda c: c[0])
def test_simulated_kernel_refuses_what_the_reference_refuses(simulated, case):
    name, header, target, start, count = case
    assert "error" in simulated[name]
    if len(header) != reference.HEADER_SIZE or start < 0 or start + count - 1 > MAX_NONCE:
        with pytest.raises(ValueError):
            reference.pow_search(header, target, start, count)


# ---- a real GPU, where there is one -----------------------------------------------------------

@pytest.fixture(scope="module")
def gpu():
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        pytest.skip("NUMBA_ENABLE_CUDASIM=1: the simulator is no GPU")
    try:
        return load_backend("cuda")
    except KernelBackendError as exc:
        pytest.skip(f"no usable CUDA GPU here: {exc}")


@pytest.mark.parametrize("case", CASES, ids=lambda c: c[0])
def test_gpu_kernel_matches_the_oracle(gpu, case):
    _, header, target, start, count = case
    assert gpu.pow_search(header, target, start, count) == oracle(header, target, start, count)


@pytest.mark.parametrize("length", HEADER_LENGTHS)
def test_gpu_kernel_over_large_ranges_matches_the_cpu(gpu, length):
    """Millions of nonces per launch, across 2^32, at targets a CPU backend checks quickly."""
    try:  # the C kernel checks whole ranges quickly, for the header size it takes
        cpu = load_backend("cython") if length == reference.HEADER_SIZE else reference
    except KernelBackendError:
        cpu = reference
    rng = random.Random(length)
    for bits in (12, 18, 22):
        header = rng.randbytes(length)
        target = (1 << (256 - bits)) - 1
        start = (1 << 32) - rng.randrange(1 << (bits + 1))
        nonce, hashes = gpu.pow_search(header, target, start, 1 << (bits + 4))
        assert nonce is not None and hash_int(header, nonce) <= target
        assert hashes == nonce - start + 1
        if cpu.NAME == "cython":
            assert (nonce, hashes) == cpu.pow_search(header, target, start, 1 << (bits + 4))
        elif bits == 12:  # the python loop is slow: check the first hit on the easiest target
            assert all(hash_int(header, n) > target for n in range(start, nonce))


# ---- the selector: cuda is asked for by name, never a default -----------------------------------

def python_with(code: str, **env: str) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items()
            if k not in ("COINIUM_KERNELS", "NUMBA_ENABLE_CUDASIM")}  # fmt: skip
    full["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), full.get("PYTHONPATH")]))
    full.update(env)
    return subprocess.run([sys.executable, "-c", code], env=full, capture_output=True, text=True,
                          timeout=120)  # fmt: skip


def test_cuda_is_never_a_default_backend():
    """Not even where a GPU (here the simulator's) is usable: it has no merkle_root."""
    done = python_with("from coinium import kernels as k; print(k.BACKEND, k.POW_BACKEND, "
                       "'cuda' in k.available_backends())", NUMBA_ENABLE_CUDASIM="1")
    assert done.returncode == 0, done.stderr
    backend, pow_backend, listed = done.stdout.split()
    assert backend == pow_backend != "cuda" and listed == "False"


def test_coinium_kernels_cuda_puts_only_pow_search_on_the_gpu():
    done = python_with("from coinium import kernels as k; from coinium.kernels import "
                       "cuda_backend as c; print(k.POW_BACKEND, k.BACKEND, "
                       "k.pow_search is c.pow_search, k.merkle_root.__module__)",
                       COINIUM_KERNELS="cuda", NUMBA_ENABLE_CUDASIM="1")  # fmt: skip
    if "numba's CUDA target is not installed" in done.stderr and not in_ci():
        pytest.skip("numba-cuda is not installed")
    assert done.returncode == 0, done.stderr
    pow_backend, cpu_backend, same, merkle_module = done.stdout.split()
    assert (pow_backend, same) == ("cuda", "True")
    assert cpu_backend in ("cython", "numba", "python")
    assert merkle_module == f"coinium.kernels.{cpu_backend}_backend"


def test_coinium_kernels_cuda_without_a_gpu_is_a_clear_error():
    done = python_with("import coinium.kernels", COINIUM_KERNELS="cuda")
    if done.returncode == 0:
        pytest.skip("this machine has a usable GPU")
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("coinium.kernels.KernelBackendError: kernel backend 'cuda' failed "
                           "to load: ")  # fmt: skip
    assert "CUDA" in last or "numba-cuda" in last or "coinium[gpu]" in last
