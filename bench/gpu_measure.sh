#!/usr/bin/env bash
# One run on a GPU machine: GPU figures for docs/KERNELS.md, most important first, each step
# time-boxed so a slow one cannot eat the others. Results go to $OUT (default bench/out/gpu).
#
#   bash bench/gpu_measure.sh                 # from the repository root, on a machine with a GPU
#   NUMBA_ENABLE_CUDASIM=1 QUICK=1 bash bench/gpu_measure.sh   # a dry run on the CPU simulator
#
# Wheels in .whl/ (for a machine without a package registry) are installed to /tmp/site first.
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-bench/out/gpu}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1
if ls .whl/*.whl >/dev/null 2>&1; then
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
QUICK=${QUICK:-}

{
    date -u
    nvidia-smi -L 2>&1
    $PY -c 'import sys, numba, numpy; print(sys.version.split()[0], "numba", numba.__version__, "numpy", numpy.__version__)'
    $PY -m pip show numba-cuda 2>/dev/null | grep -E '^Version' | sed 's/^/numba-cuda /'
    nproc
} >"$OUT/env.txt" 2>&1
cat "$OUT/env.txt"

# The C kernels (CPU workers, the 1-core comparison); without them the numba backend is used.
echo "== build_ext"
if timeout 100 $PY setup.py build_ext --inplace -q >"$OUT/build.log" 2>&1; then
    echo "C extension built"
else
    echo "C extension not built (see build.log): CPU kernels fall back"
fi

echo "== raw kernel rate and coinium mine --gpu"
if [ -n "$QUICK" ]; then
    timeout 200 $PY -m bench.gpu_measure --out "$OUT" --quick --mine-seconds 20 --warmup 5 \
        2>&1 | tee "$OUT/measure.log"
else
    timeout 200 $PY -m bench.gpu_measure --out "$OUT" --mine-seconds 100 --warmup 15 \
        2>&1 | tee "$OUT/measure.log"
fi

echo "== kernel tests (simulator and GPU)"
timeout 120 $PY -m pytest -q -p no:cacheprovider tests/kernels/test_kernels_cuda.py \
    2>&1 | tail -25 | tee "$OUT/tests.log"

echo "== python -m bench.report, nonce search rows"
if [ -z "$QUICK" ]; then
    timeout 75 $PY -m pytest -q -p no:cacheprovider bench/test_bench_kernels.py \
        -k "pow and (cython or gpu or plain or ceiling)" \
        --benchmark-enable --benchmark-json="$OUT/kernels.json" \
        --benchmark-columns=min,median,rounds >/dev/null 2>&1
    $PY -m bench.report --no-run --json "$OUT/kernels.json" --chart "$OUT/kernels.png" \
        2>&1 | tee "$OUT/report.txt"
fi
echo "== done"
